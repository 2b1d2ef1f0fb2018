#!/usr/bin/env python3
"""scripts/check-include-directions.py: this tree passes, and each kind of wrong include in
a small tree is caught."""
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "check-include-directions.py"


def check(root=None):
    args = [sys.executable, str(CHECK)] + (["--root", str(root)] if root else [])
    return subprocess.run(args, capture_output=True, text=True)


class IncludeDirections(unittest.TestCase):
    def tree(self, files):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        for path, text in files.items():
            (Path(tmp.name) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp.name) / path).write_text(text)
        return tmp.name

    def test_the_repository_keeps_its_include_directions(self):
        result = check()
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_allowed_includes_pass(self):
        root = self.tree({
            "model/a.h": '#include "model/b.h"\n',
            "indexer/c.h": '#include "model/a.h"\n',
            "server/cli/main.cpp": '#include "server/completion/e.h"\n#include "lsp/x.h"\n',
            "server/completion/e.h": '#include "server/text/t.h"\n#include "e_detail.h"\n',
        })
        result = check(root)
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_model_may_not_include_lsp_or_server(self):
        root = self.tree({"model/a.h": '#include "lsp/json_rpc.h"\n',
                          "model/b.cpp": '#include "server/cli/main.h"\n'})
        result = check(root)
        self.assertEqual(result.returncode, 1)
        self.assertIn("model/a.h: model/ may not include lsp/json_rpc.h", result.stdout)
        self.assertIn("model/b.cpp: model/ may not include server/cli/main.h", result.stdout)

    def test_lsp_and_indexer_may_not_include_what_is_above_them(self):
        root = self.tree({"lsp/a.h": '#include "model/token.h"\n',
                          "indexer/b.h": '#include "server/names/cursor_names.h"\n'})
        result = check(root)
        self.assertEqual(result.returncode, 1)
        self.assertIn("lsp/a.h: lsp/ may not include model/token.h", result.stdout)
        self.assertIn("indexer/b.h: indexer/ may not include server/names/cursor_names.h",
                      result.stdout)

    def test_a_room_may_not_include_a_room_above_it(self):
        root = self.tree({"server/completion/a.h": '#include "server/completer/serve_memory.h"\n'})
        result = check(root)
        self.assertEqual(result.returncode, 1)
        self.assertIn("server/completion/ may not include server/completer/serve_memory.h",
                      result.stdout)

    def test_a_file_at_servers_top_or_in_an_unknown_room_is_reported(self):
        root = self.tree({"server/loose.cpp": "", "server/misc/x.cpp": ""})
        result = check(root)
        self.assertEqual(result.returncode, 1)
        self.assertIn("server/loose.cpp: server/ keeps its files in rooms", result.stdout)
        self.assertIn("server/misc/ is not a known room", result.stdout)


if __name__ == "__main__":
    unittest.main()
