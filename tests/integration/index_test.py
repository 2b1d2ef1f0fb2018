#!/usr/bin/env python3
"""`mnemo index PATH` end to end: the report, a second run that re-reads only
what changed, a run killed with SIGKILL in the middle whose finished files the next run
keeps, two indexers at once, and `--status`. The index is read back with Python's sqlite3,
as a second process would (WAL lets it read while the indexer writes)."""
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

MNEMO = os.environ.get("MNEMO_BIN", "mnemo")


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_repo(root: Path, n_sources: int) -> None:
    write(root, "include/lib/api.h", "#pragma once\nnamespace lib { int api(int x); }\n")
    for i in range(n_sources):
        write(root, f"src/file{i:02d}.cpp",
              f'#include <lib/api.h>\nint f{i}() {{ return lib::api({i}); }}\n')
    write(root, "notes.md", "not C++\n")


def stored_files(root: Path) -> list:
    db = root / ".mnemo" / "symbols.sqlite"
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return [row[0] for row in conn.execute("SELECT path FROM files ORDER BY path")]
    except sqlite3.OperationalError:  # the indexer has created the file, not yet its tables
        return []


def index(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([MNEMO, "index", str(root), "--json", *args], capture_output=True,
                            text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


class IndexCommandTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name) / "repo"
        make_repo(self.root, 6)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_a_first_run_indexes_every_c_family_file_and_reports_it_as_json(self) -> None:
        report = json.loads(index(self.root).stdout)
        self.assertEqual(report["files"], 7)
        self.assertEqual(report["indexed"], 7)
        self.assertEqual(report["files_walked"], 8)
        self.assertEqual(report["parse_errors"], 0)
        self.assertEqual(len(stored_files(self.root)), 7)

    def test_a_second_run_reparses_only_the_changed_file(self) -> None:
        index(self.root)
        write(self.root, "src/file03.cpp", "int f3() { return 33; }\n")
        report = json.loads(index(self.root).stdout)
        self.assertEqual(report["indexed"], 1)
        self.assertEqual(report["unchanged"], 6)

    def test_a_killed_run_leaves_an_index_the_next_run_completes(self) -> None:
        proc = subprocess.Popen([MNEMO, "index", str(self.root), "--json",
                                 "--test-file-delay-ms", "400"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(stored_files(self.root)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done = stored_files(self.root)
        self.assertGreaterEqual(len(done), 2)
        self.assertLess(len(done), 7, "the run finished before it was killed")

        report = json.loads(index(self.root).stdout)  # the lock died with the process
        self.assertEqual(report["unchanged"], len(done))
        self.assertEqual(report["indexed"], 7 - len(done))
        self.assertEqual(len(stored_files(self.root)), 7)

    def test_a_second_indexer_is_refused_while_one_runs(self) -> None:
        proc = subprocess.Popen([MNEMO, "index", str(self.root), "--json",
                                 "--test-file-delay-ms", "300"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not stored_files(self.root) and time.monotonic() < deadline:
                time.sleep(0.05)
            second = index(self.root, check=False)
            self.assertEqual(second.returncode, 1)
            self.assertIn("another process is indexing", second.stderr)
            self.assertEqual(second.stdout, "")
        finally:
            proc.kill()
            proc.wait()

    def test_status_shows_what_is_current_changed_missing_and_gone(self) -> None:
        status = json.loads(index(self.root, "--status").stdout)
        self.assertFalse(status["exists"])
        self.assertEqual(len(status["missing"]), 7)
        index(self.root)
        write(self.root, "src/file00.cpp", "int f0() { return 0; }\n")
        write(self.root, "src/added.cpp", "int added();\n")
        os.remove(self.root / "src/file05.cpp")
        status = json.loads(index(self.root, "--status").stdout)
        self.assertTrue(status["exists"])
        self.assertEqual(status["current"], 5)
        self.assertEqual(status["changed"], ["src/file00.cpp"])
        self.assertEqual(status["missing"], ["src/added.cpp"])
        self.assertEqual(status["removed"], ["src/file05.cpp"])
        self.assertGreaterEqual(status["age_seconds"], 0)
        # The human-readable form says the same.
        text = subprocess.run([MNEMO, "index", str(self.root), "--status"], capture_output=True,
                              text=True, timeout=60).stdout
        self.assertIn("5/7 files indexed and current", text)

    def test_with_a_model_every_text_file_also_goes_into_the_memory(self) -> None:
        model = os.environ.get("MNEMO_TINY_MODEL")
        self.assertTrue(model and Path(model).exists(), f"MNEMO_TINY_MODEL={model}")
        report = json.loads(index(self.root, "--model", model).stdout)
        memory = report["memory"]
        self.assertEqual(memory["files"], 8)  # the C++ files and notes.md
        self.assertEqual(memory["encoded"], 8)
        self.assertGreater(memory["tokens_encoded"], 100)
        segments = list((self.root / ".mnemo" / "memory" / "segments").glob("*.seg"))
        self.assertEqual(len(segments), 8)
        write(self.root, "notes.md", "changed notes\n")
        memory = json.loads(index(self.root, "--model", model).stdout)["memory"]
        self.assertEqual(memory["encoded"], 1)
        self.assertEqual(memory["unchanged"], 7)
        bad = index(self.root, "--model", str(self.root / "no-such-model.gguf"), check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("no-such-model.gguf", bad.stderr)

    def test_without_a_model_named_the_built_in_model_makes_the_memory(self) -> None:
        report = json.loads(index(self.root).stdout)
        self.assertEqual(report["memory"]["files"], 8)
        self.assertEqual(report["memory"]["encoded"], 8)
        # --no-model indexes the symbols alone; the memory already made is left as it is.
        write(self.root, "src/file03.cpp", "int f3() { return 33; }\n")
        report = json.loads(index(self.root, "--no-model").stdout)
        self.assertEqual(report["indexed"], 1)
        self.assertIsNone(report["memory"])
        self.assertEqual(json.loads(index(self.root).stdout)["memory"]["encoded"], 1)

    def test_the_index_benchmark_reports_every_stage_as_json(self) -> None:
        model = os.environ.get("MNEMO_TINY_MODEL")
        result = subprocess.run([MNEMO, "bench", "index", str(self.root), "--model", model],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual(report["walk"]["files"], 8)
        self.assertGreater(report["walk"]["walk_and_hash_mb_per_s"], 0)
        self.assertEqual(report["symbols"]["indexed"], 7)
        self.assertEqual(report["symbols"]["reopen_unchanged"], 7)
        self.assertEqual(report["memory"]["files"], 8)
        self.assertEqual(report["memory"]["reopen_files"], 8)
        self.assertGreater(report["memory"]["forward_tokens_per_s"], 0)
        self.assertFalse(Path(report["index_dir"]).exists(), "the temporary index is deleted")
        self.assertFalse((self.root / ".mnemo").exists(), "the repository is left alone")

    def test_a_missing_path_is_a_clear_error(self) -> None:
        result = index(self.root / "nope", check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("nope", result.stderr)


if __name__ == "__main__":
    unittest.main()
