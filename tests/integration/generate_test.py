#!/usr/bin/env python3
"""`mnemo generate` end to end on the tiny fixture models: stdout carries exactly the
continuation llama.cpp produced (greedy_16 in the .ref.json files), --json adds the ids,
special-token names in --prompt become control tokens, and bad input is a clean error."""

import json
import os
import subprocess
import unittest

MNEMO = os.environ["MNEMO_BIN"]
MODELS = os.path.join(os.environ["MNEMO_FIXTURES_DIR"], "tiny-models")


def reference(stem, prompt_name):
    with open(os.path.join(MODELS, stem + ".ref.json"), encoding="utf-8") as f:
        for prompt in json.load(f)["prompts"]:
            if prompt["name"] == prompt_name:
                return prompt
    raise KeyError(prompt_name)


def generate(*args, check=True):
    result = subprocess.run([MNEMO, "--log-level", "warn", "generate", *args],
                            capture_output=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stderr.decode(errors='replace')}")
    return result


class GenerateTest(unittest.TestCase):
    def test_json_has_llama_cpps_prompt_ids_and_greedy_continuation(self):
        for stem in ("tiny-llama.F32", "tiny-qwen2.F32", "tiny-llama.F16"):
            for name in ("cpp_snippet", "unicode_ws", "fim"):
                with self.subTest(stem=stem, prompt=name):
                    ref = reference(stem, name)
                    out = generate("--model", os.path.join(MODELS, stem + ".gguf"),
                                   "--prompt", ref["text"], "-n", "16", "--json")
                    doc = json.loads(out.stdout)
                    self.assertEqual(doc["prompt_tokens"], ref["token_ids"])
                    self.assertEqual(doc["tokens"], ref["greedy_16"])
                    self.assertGreater(doc["timings"]["decode_tokens_per_s"], 0)

    def test_stdout_is_only_the_continuation_text(self):
        ref = reference("tiny-llama.F32", "cpp_snippet")
        text = generate("--model", os.path.join(MODELS, "tiny-llama.F32.gguf"),
                        "--prompt", ref["text"], "-n", "16").stdout
        doc = json.loads(generate("--model", os.path.join(MODELS, "tiny-llama.F32.gguf"),
                                  "--prompt", ref["text"], "-n", "16", "--json").stdout)
        # The JSON form replaces invalid UTF-8 (random weights emit partial characters).
        self.assertEqual(text.decode("utf-8", errors="replace"), doc["text"])

    def test_hf_folder_gives_the_same_continuation_as_the_gguf(self):
        ref = reference("tiny-qwen2.F32", "cpp_snippet")
        doc = json.loads(generate("--model", os.path.join(MODELS, "tiny-qwen2-hf"),
                                  "--prompt", ref["text"], "-n", "16", "--json").stdout)
        self.assertEqual(doc["tokens"], ref["greedy_16"])

    def test_fim_flags_build_the_same_prompt_as_the_special_tokens(self):
        ref = reference("tiny-llama.F32", "fim")
        doc = json.loads(generate("--model", os.path.join(MODELS, "tiny-llama.F32.gguf"),
                                  "--fim-prefix", "int add(int a, int b) {\n    ",
                                  "--fim-suffix", "\n}\n", "-n", "16", "--json").stdout)
        self.assertEqual(doc["prompt_tokens"], ref["token_ids"])
        self.assertEqual(doc["tokens"], ref["greedy_16"])

    def test_stop_at_newline_ends_the_text_before_the_newline(self):
        ref = reference("tiny-llama.F32", "cpp_snippet")
        doc = json.loads(generate("--model", os.path.join(MODELS, "tiny-llama.F32.gguf"),
                                  "--prompt", ref["text"], "-n", "64", "--stop-at-newline",
                                  "--json").stdout)
        self.assertNotIn("\n", doc["text"])
        self.assertIn(doc["stop_reason"], ("end of line", "end_of_line", "max tokens", "max_tokens"))

    def test_sampling_is_reproducible_from_the_seed(self):
        args = ("--model", os.path.join(MODELS, "tiny-llama.F32.gguf"), "--prompt", "int main",
                "-n", "24", "--temperature", "0.8", "--top-p", "0.9", "--seed", "7")
        self.assertEqual(generate(*args).stdout, generate(*args).stdout)

    def test_beam_search_returns_an_n_best_list(self):
        doc = json.loads(generate("--model", os.path.join(MODELS, "tiny-llama.F32.gguf"),
                                  "--prompt", "int main", "-n", "8", "--beam", "4",
                                  "--n-best", "3", "--json").stdout)
        self.assertEqual(len(doc["n_best"]), 3)
        scores = [g["logprob"] for g in doc["n_best"]]
        self.assertEqual(doc["text"], doc["n_best"][0]["text"])
        self.assertEqual(len(set(g["text"] for g in doc["n_best"])), 3)
        self.assertTrue(all(isinstance(s, float) for s in scores))

    def test_bad_models_are_clean_errors(self):
        for path in ("/nonexistent/model.gguf", os.path.join(MODELS, "tiny-llama.F32.ref.json"),
                     MODELS):
            with self.subTest(path=path):
                result = generate("--model", path, "--prompt", "x", check=False)
                self.assertEqual(result.returncode, 1)
                self.assertEqual(result.stdout, b"")
                self.assertIn(path.encode(), result.stderr)


if __name__ == "__main__":
    unittest.main()
