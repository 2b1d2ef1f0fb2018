#!/usr/bin/env python3
"""`mnemo eval --needle`'s control with a real pretrained model: SmolLM2-135M
(from PyPI, never trained to read mnemo's memory) recalls the planted function's 8 random
hex digits when the function is in its prompt, and never without it. So a recall of 0 with
the memory measures the memory's reading, not the harness."""
import json
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

MNEMO = os.environ.get("MNEMO_BIN", "mnemo")
MODEL = os.environ["MNEMO_SMOLLM2_GGUF"]

# Three small files, each with blank lines between declarations (where the needle goes).
FILES = {
    "ring.c": "#include \"ring.h\"\n\nstatic int ring_size = 16;\n\n"
              "int ring_next(int i) { return (i + 1) % ring_size; }\n\n"
              "int ring_prev(int i) { return (i + ring_size - 1) % ring_size; }\n",
    "ring.h": "#pragma once\n\nint ring_next(int i);\n\nint ring_prev(int i);\n",
    "main.c": "#include <stdio.h>\n#include \"ring.h\"\n\n"
              "static void show(int i) { printf(\"%d\\n\", i); }\n\n"
              "int main(void) {\n  show(ring_next(3));\n  return 0;\n}\n",
}


def run(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([MNEMO, *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


class NeedleControlTest(unittest.TestCase):
    def test_a_pretrained_model_recalls_the_needle_from_its_prompt_and_never_without(self):
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp) / "repo"
            repo.mkdir()
            for name, text in FILES.items():
                (repo / name).write_text(text)
            run("index", str(repo), "--model", MODEL)
            out_file = Path(tmp) / "needle.json"
            result = run("eval", str(repo), "--model", MODEL, "--needle", "--trials", "4",
                         "--memory-tokens", "100000", "--seed", "1", "--json", str(out_file))
            self.assertIn("recall % with the function in the prompt", result.stdout)
            out = json.loads(out_file.read_text())
            # The model alone: from the prompt, never without it.
            self.assertEqual(out["no_memory"]["found_model_alone"], 0)
            self.assertGreaterEqual(out["oracle"]["found_model_alone"], 1, out)
            # The full system holds the name typed to the repository's names.
            self.assertEqual(out["no_memory"]["found"], out["config"]["trials"], out)


if __name__ == "__main__":
    unittest.main()
