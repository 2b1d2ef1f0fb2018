#!/usr/bin/env python3
"""`mnemo bench memory` end to end on a small memory: stdout is one JSON object (config, one
result per size, the store section with --store), bad option values exit non-zero with a
message on stderr, and `mnemo bench` alone lists the benchmarks. No timing assertions.

Standard library only:  MNEMO_BIN=build/mnemo python3 tests/integration/bench_memory_test.py -v
"""

import json
import os
import subprocess
import tempfile
import unittest

MNEMO = os.environ["MNEMO_BIN"]
SMALL = ("--sizes", "2000,6000", "--steps", "2", "--file-tokens", "1000")


def bench(*args):
    return subprocess.run([MNEMO, "bench", *args], capture_output=True, text=True, timeout=90)


def bench_json(*args):
    result = bench("memory", *args)
    if result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stderr}")
    return json.loads(result.stdout)  # the whole of stdout: nothing but the JSON object


class BenchMemoryTest(unittest.TestCase):
    def test_stdout_is_one_json_object_with_a_result_per_size(self):
        doc = bench_json(*SMALL)
        self.assertEqual(doc["config"]["file_tokens"], 1000)
        self.assertEqual(doc["config"]["steps"], 2)
        self.assertEqual(doc["config"]["storage"], "fp16")
        self.assertIn("evicted", doc["config"]["caches"])  # the default: cold caches
        self.assertIn(doc["config"]["kernel_isa"], ("avx512-vnni", "avx2", "portable"))
        self.assertEqual([r["tokens"] for r in doc["results"]], [2000, 6000])
        for result in doc["results"]:
            for key in ("tokens", "median_ms", "selection_median_ms", "selection_fallbacks",
                        "resident_bytes_per_token"):
                self.assertIn(key, result)
            self.assertGreater(result["resident_bytes_per_token"], 0)
        self.assertNotIn("store", doc)

    def test_options_reach_the_config(self):
        doc = bench_json("--sizes", "1000", "--steps", "1", "--file-tokens", "500",
                         "--storage", "int8", "--minmax", "--heads", "2", "--kv-heads", "1",
                         "--layers", "1", "--dim", "32", "--block", "32", "--top-k", "4",
                         "--warm")
        config = doc["config"]
        self.assertEqual(config["caches"], "warm")
        self.assertEqual((config["storage"], config["representative"]), ("int8", "minmax"))
        self.assertEqual((config["heads"], config["kv_heads"], config["layers"]), (2, 1, 1))
        self.assertEqual((config["head_dim"], config["block_size"], config["top_k"]), (32, 32, 4))
        self.assertEqual(len(doc["results"]), 1)

    def test_store_section_with_a_store_folder(self):
        with tempfile.TemporaryDirectory() as folder:
            doc = bench_json("--sizes", "1000", "--steps", "1", "--file-tokens", "500",
                             "--store", os.path.join(folder, "memory"), "--no-fsync")
        store = doc["store"]
        self.assertFalse(store["durable"])
        for key in ("save_s", "disk_bytes_per_token", "at_load", "deferred"):
            self.assertIn(key, store)
        self.assertEqual(store["at_load"]["to_reindex"], 0)
        self.assertEqual(store["deferred"]["to_reindex"], 0)

    def test_bad_option_values_fail_with_a_message(self):
        for args, words in ((("--storage", "fp7"), "--storage"),
                            (("--sizes", "0"), "--sizes"),
                            (("--sizes", "ten"), "--sizes"),
                            (("--heads", "3", "--kv-heads", "2"), "--kv-heads"),
                            (("--steps", "0"), "--steps"),
                            (("--no-fsync",), "--store"),
                            (("--no-such-flag",), "--no-such-flag")):
            with self.subTest(args=args):
                result = bench("memory", *args)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn(words, result.stderr)
                self.assertEqual(result.stdout, "")

    def test_bench_alone_lists_the_benchmarks(self):
        result = bench()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("memory", result.stderr)
        self.assertEqual(result.stdout, "")


if __name__ == "__main__":
    unittest.main()
