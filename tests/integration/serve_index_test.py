#!/usr/bin/env python3
"""`mnemo serve` keeps the workspace's symbol index current: the
first workspace root is indexed after `initialized`, shown as $/progress; a saved file and a
watched file's deletion re-index it; a second server on the same root, or one that finds the
index locked by another process, keeps serving; `--no-index` and `--index-dir`. With
`--model` (MNEMO_TINY_MODEL, a tiny fixture model) every file also goes into the long-term
memory, and an open document's unsaved text replaces its file's segment once the user
pauses: `mnemo index --model` afterwards finds that one segment made from other contents
than the file on disk. With no model configured, the built-in one (model/builtin) serves;
`--no-model` turns it off.

The client is played over stdio with Content-Length framing; it answers the server's
window/workDoneProgress/create and client/registerCapability requests with null. The index
is read back with sqlite3 in read-only mode, as another process would.
Standard library only:  MNEMO_BIN=build/mnemo python3 tests/integration/serve_index_test.py -v
"""
import fcntl
import json
import os
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

from serve_process import kill, message, read_frames, start_serve

GUARD_S = 60
BUILT_IN_MODEL = Path(__file__).resolve().parents[2] / "model" / "builtin"
TITLE = "mnemo: indexing"


def file_uri(path: Path) -> str:
    return "file://" + str(path)


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_repo(root: Path) -> None:
    write(root, "include/shapes.h", "#pragma once\nint area_of_square(int side);\n")
    write(root, "src/square.cpp",
          '#include "../include/shapes.h"\nint area_of_square(int side) { return side * side; }\n')
    write(root, "src/main.cpp",
          '#include "../include/shapes.h"\nint main() { return area_of_square(3); }\n')


def query(db: Path, sql: str, *args) -> list:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return [row[0] for row in conn.execute(sql, args)]
    except sqlite3.OperationalError:  # created, but its tables not yet
        return []


def stored_files(db: Path) -> list:
    return query(db, "SELECT path FROM files ORDER BY path")


def wait_until(predicate, what: str, timeout: float = GUARD_S):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Client:
    """`mnemo serve` on stdio. A reader thread answers the server's requests with null and
    records everything else it sends: responses by id, notifications in order."""

    def __init__(self, *args: str, cwd=None):
        self.proc = start_serve(*args, cwd=cwd)
        self.lock = threading.Condition()
        self.responses = {}
        self.notifications = []
        self.server_requests = []
        self.stderr = bytearray()
        self.write_lock = threading.Lock()
        self.next_id = 0
        for target in (self._read_stdout, self._read_stderr):
            threading.Thread(target=target, daemon=True).start()

    def _read_stdout(self) -> None:
        problem = read_frames(self.proc.stdout, self._dispatch)
        assert problem is None, problem

    def _dispatch(self, msg: dict) -> None:
        if "method" in msg and "id" in msg:
            self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
        with self.lock:
            if "method" in msg and "id" in msg:
                self.server_requests.append(msg)
            elif "method" in msg:
                self.notifications.append(msg)
            else:
                self.responses[msg["id"]] = msg
            self.lock.notify_all()

    def _read_stderr(self) -> None:
        while True:
            chunk = self.proc.stderr.read1(65536)
            if not chunk:
                return
            with self.lock:
                self.stderr += chunk

    def log(self) -> str:
        with self.lock:
            return self.stderr.decode("utf-8", errors="replace")

    def send(self, obj) -> None:
        with self.write_lock:
            self.proc.stdin.write(message(obj))
            self.proc.stdin.flush()

    def notify(self, method: str, params) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params=None) -> dict:
        self.next_id += 1
        request_id = self.next_id
        msg = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        with self.lock:
            if not self.lock.wait_for(lambda: request_id in self.responses, GUARD_S):
                raise AssertionError(f"no response to {method}; log:\n{self.log()}")
            return self.responses.pop(request_id)

    def indexing_runs(self) -> list:
        """The $/progress values of each indexing run (token whose begin has TITLE)."""
        with self.lock:
            tokens = [n["params"]["token"] for n in self.notifications
                      if n["method"] == "$/progress" and n["params"]["value"]["kind"] == "begin"
                      and n["params"]["value"].get("title") == TITLE]
            return [[n["params"]["value"] for n in self.notifications
                     if n["method"] == "$/progress" and n["params"]["token"] == token]
                    for token in tokens]

    def wait_indexing_ended(self, runs: int = 1) -> list:
        """Waits until `runs` indexing runs have ended; returns the values of the last one."""
        def ended():
            done = [r for r in self.indexing_runs() if r[-1]["kind"] == "end"]
            return done if len(done) >= runs else None
        try:
            return wait_until(ended, f"{runs} indexing run(s) to end")[runs - 1]
        except AssertionError:
            raise AssertionError(f"indexing runs {self.indexing_runs()}; log:\n{self.log()}")

    def initialize(self, root: Path, capabilities=None, options=None) -> dict:
        if capabilities is None:
            capabilities = {"window": {"workDoneProgress": True},
                            "workspace": {"didChangeWatchedFiles": {"dynamicRegistration": True}}}
        params = {
            "processId": os.getpid(), "rootUri": file_uri(root),
            "workspaceFolders": [{"uri": file_uri(root), "name": root.name}],
            "capabilities": capabilities}
        if options is not None:
            params["initializationOptions"] = options
        reply = self.request("initialize", params)
        assert "capabilities" in reply["result"], reply
        self.notify("initialized", {})
        return reply

    def completion_labels(self, path: Path, text: str, line: int, character: int) -> list:
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": file_uri(path), "languageId": "cpp", "version": 1, "text": text}})
        reply = self.request("textDocument/completion", {
            "textDocument": {"uri": file_uri(path)},
            "position": {"line": line, "character": character}})
        assert "result" in reply, reply
        return [item["label"] for item in reply["result"]["items"]]

    def shutdown_and_exit(self) -> int:
        reply = self.request("shutdown")
        assert reply.get("result", "missing") is None, reply
        self.notify("exit", None)
        return self.proc.wait(timeout=GUARD_S)

    def kill(self) -> None:
        kill(self.proc)


class ServeIndexTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name) / "repo"
        make_repo(self.root)
        self.db = self.root / ".mnemo" / "symbols.sqlite"

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def start(self, *args: str) -> Client:
        client = Client(*args)
        self.addCleanup(client.kill)
        return client

    def test_indexes_at_start_and_after_a_save_and_a_watched_deletion(self) -> None:
        client = self.start("--no-model")  # a model's memory would watch every file
        client.initialize(self.root)
        run = client.wait_indexing_ended()
        self.assertEqual(run[0]["kind"], "begin")
        self.assertTrue(run[0]["cancellable"])
        self.assertRegex(run[-1]["message"], r"^3 files indexed, 0 unchanged, 0 failed")
        self.assertEqual(stored_files(self.db),
                         ["include/shapes.h", "src/main.cpp", "src/square.cpp"])
        def registrations():
            with client.lock:
                return [r for r in client.server_requests
                        if r["method"] == "client/registerCapability"]
        wait_until(registrations, "client/registerCapability")
        registrations = registrations()
        self.assertEqual(len(registrations), 1)
        registration = registrations[0]["params"]["registrations"][0]
        self.assertEqual(registration["method"], "workspace/didChangeWatchedFiles")
        self.assertIn("cpp", registration["registerOptions"]["watchers"][0]["globPattern"])

        # A save: the saved file is parsed again and its new symbol appears.
        write(self.root, "src/square.cpp",
              '#include "../include/shapes.h"\n'
              'int area_of_square(int side) { return side * side; }\n'
              'int perimeter_of_square(int side) { return 4 * side; }\n')
        client.notify("textDocument/didSave",
                      {"textDocument": {"uri": file_uri(self.root / "src/square.cpp")}})
        wait_until(lambda: query(self.db, "SELECT name FROM symbols WHERE name = ?",
                                 "perimeter_of_square"), "the saved file's new symbol")
        run = client.wait_indexing_ended(2)
        self.assertRegex(run[-1]["message"], r"^1 files indexed, 2 unchanged, 0 failed")

        # A file deleted outside the editor: the watcher's notification removes it.
        (self.root / "src/main.cpp").unlink()
        client.notify("workspace/didChangeWatchedFiles", {
            "changes": [{"uri": file_uri(self.root / "src/main.cpp"), "type": 3}]})
        wait_until(lambda: "src/main.cpp" not in stored_files(self.db),
                   "the deleted file to leave the index")
        run = client.wait_indexing_ended(3)
        self.assertIn("1 removed", run[-1]["message"])

        # A file outside the root starts no run.
        outside = Path(self.tmp.name) / "elsewhere.cpp"
        outside.write_text("int elsewhere;\n")
        client.notify("textDocument/didSave", {"textDocument": {"uri": file_uri(outside)}})
        time.sleep(0.5)
        self.assertEqual(len(client.indexing_runs()), 3)
        self.assertEqual(client.shutdown_and_exit(), 0)

    def test_a_second_server_on_the_same_root_keeps_serving(self) -> None:
        first = self.start()
        first.initialize(self.root)
        first.wait_indexing_ended()
        second = self.start()
        second.initialize(self.root)
        labels = second.completion_labels(self.root / "src/new.cpp",
                                          "int counter_one;\nint x = counter_\n", 1, 16)
        self.assertIn("counter_one", labels)
        second.wait_indexing_ended()
        self.assertEqual(second.shutdown_and_exit(), 0)
        self.assertEqual(first.shutdown_and_exit(), 0)

    def test_an_index_locked_by_another_process_is_reported_and_serving_goes_on(self) -> None:
        (self.root / ".mnemo").mkdir()
        with open(self.root / ".mnemo" / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            client = self.start()
            client.initialize(self.root)
            run = client.wait_indexing_ended()
            self.assertIn("being written by another process", run[-1]["message"])
            self.assertIn("another process is indexing", client.log())
            labels = client.completion_labels(self.root / "src/new.cpp",
                                              "int counter_one;\nint x = counter_\n", 1, 16)
            self.assertIn("counter_one", labels)
            self.assertEqual(client.shutdown_and_exit(), 0)
        self.assertEqual(stored_files(self.db), [])

    def test_no_index_creates_no_index_folder(self) -> None:
        client = self.start("--no-index")
        client.initialize(self.root)
        labels = client.completion_labels(self.root / "src/new.cpp",
                                          "int counter_one;\nint x = counter_\n", 1, 16)
        self.assertIn("counter_one", labels)
        time.sleep(0.5)
        self.assertEqual(client.indexing_runs(), [])
        self.assertEqual(client.shutdown_and_exit(), 0)
        self.assertFalse((self.root / ".mnemo").exists())

    def test_index_dir_chooses_the_index_folder(self) -> None:
        index_dir = Path(self.tmp.name) / "elsewhere-index"
        client = self.start("--index-dir", str(index_dir))
        client.initialize(self.root)
        client.wait_indexing_ended()
        self.assertEqual(len(stored_files(index_dir / "symbols.sqlite")), 3)
        self.assertEqual(client.shutdown_and_exit(), 0)
        self.assertFalse((self.root / ".mnemo").exists())

    def test_with_a_model_every_file_and_unsaved_text_reach_the_memory(self) -> None:
        model = os.environ.get("MNEMO_TINY_MODEL")
        self.assertTrue(model and Path(model).exists(), f"MNEMO_TINY_MODEL={model}")
        write(self.root, "README.md", "A text file: the memory holds it too.\n")
        client = self.start("--model", model)
        client.initialize(self.root)
        client.wait_indexing_ended()
        segments = self.root / ".mnemo" / "memory" / "segments"
        wait_until(lambda: len(list(segments.glob("*.seg"))) == 4, "4 memory segments")
        self.assertIn("memory: 4 files encoded", client.log())
        def watched_glob():
            with client.lock:
                for r in client.server_requests:
                    if r["method"] == "client/registerCapability":
                        return r["params"]["registrations"][0]["registerOptions"]["watchers"][0][
                            "globPattern"]
        self.assertEqual(wait_until(watched_glob, "the file watchers"), "**/*")

        # Unsaved edits: a burst of changes, then a pause; the last text is encoded.
        path = self.root / "src/square.cpp"
        text = path.read_text()
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": file_uri(path), "languageId": "cpp", "version": 1, "text": text}})
        for version in range(2, 6):
            text += f"int unsaved_{version};\n"
            client.notify("textDocument/didChange", {
                "textDocument": {"uri": file_uri(path), "version": version},
                "contentChanges": [{"text": text}]})
        last_change = time.monotonic()
        wait_until(lambda: "memory: src/square.cpp updated from the editor" in client.log(),
                   "the unsaved text to reach the memory")
        print(f"\nunsaved edit in the memory {time.monotonic() - last_change:.2f} s after the "
              "last change (tiny model; debounce 0.3 s)")
        self.assertEqual(client.log().count("memory: src/square.cpp updated from the editor"), 1)
        self.assertEqual(client.shutdown_and_exit(), 0)

        # The memory holds the unsaved text, not the file on disk: a run over the disk
        # re-encodes that one file and finds the other three current.
        result = subprocess.run([os.environ["MNEMO_BIN"], "index", str(self.root), "--model",
                                 model, "--json"], capture_output=True, text=True,
                                timeout=GUARD_S)
        self.assertEqual(result.returncode, 0, result.stderr)
        memory = json.loads(result.stdout)["memory"]
        self.assertEqual((memory["encoded"], memory["unchanged"]), (1, 3), memory)

    def test_with_a_model_inline_suggestions_are_the_models_over_the_memory(self) -> None:
        model = os.environ.get("MNEMO_TINY_MODEL")
        self.assertTrue(model and Path(model).exists(), f"MNEMO_TINY_MODEL={model}")
        self.check_inline_suggestions_match_complete(self.start("--model", model), ["--model", model])

    def test_the_model_can_come_from_the_repositorys_settings_file(self) -> None:
        model = os.environ.get("MNEMO_TINY_MODEL")
        self.assertTrue(model and Path(model).exists(), f"MNEMO_TINY_MODEL={model}")
        write(self.root, ".mnemo/config.json",
              json.dumps({"model": model, "inline": {"debounceMs": 0}}))
        # No --model, here or for `mnemo complete`: both read the file. A bad setting from
        # the client is shown to the user and the rest still applies.
        self.check_inline_suggestions_match_complete(
            self.start(), [], options={"prompt": {"prefixTokens": "many"}},
            shown="prompt.prefixTokens must be an integer")

    def test_with_no_model_configured_the_built_in_model_completes(self) -> None:
        # A fresh build completes with its own model and nothing else: the server
        # and `mnemo complete` find model/builtin themselves.
        self.assertTrue((BUILT_IN_MODEL / "model.safetensors").exists(), BUILT_IN_MODEL)
        self.check_inline_suggestions_match_complete(self.start(), [])

    def test_no_model_turns_even_the_built_in_model_off(self) -> None:
        client = self.start("--no-model")
        client.initialize(self.root)
        client.wait_indexing_ended()
        self.assertEqual(stored_files(self.db), ["include/shapes.h", "src/main.cpp",
                                                 "src/square.cpp"])
        self.assertFalse((self.root / ".mnemo" / "memory").exists())
        self.assertEqual(client.shutdown_and_exit(), 0)

    def check_inline_suggestions_match_complete(self, client: Client, complete_args: list,
                                                options=None, shown=None) -> None:
        client.initialize(self.root, options=options)
        if shown is not None:
            def messages():
                with client.lock:
                    return [n["params"]["message"] for n in client.notifications
                            if n["method"] == "window/showMessage"]
            self.assertIn(shown, " ".join(wait_until(messages, "a window/showMessage")))
        client.wait_indexing_ended()
        segments = self.root / ".mnemo" / "memory" / "segments"
        wait_until(lambda: len(list(segments.glob("*.seg"))) == 3, "3 memory segments")
        path = self.root / "src/main.cpp"
        text = path.read_text()
        line, character = 1, len("int main() { return ")
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": file_uri(path), "languageId": "cpp", "version": 1, "text": text}})
        # The menu there (libclang's names in scope, once it has parsed the file opened
        # above; the identifiers' until then) is ranked by the model.
        def menu():
            reply = client.request("textDocument/completion", {
                "textDocument": {"uri": file_uri(path)},
                "position": {"line": line, "character": character}})
            return len(reply["result"]["items"]) > 1
        wait_until(menu, "a menu of libclang's names")
        # The log line travels on stderr, which may arrive after the answer on stdout.
        wait_until(lambda: "menu: the model ranked the first" in client.log(),
                   "the model's ranking of the menu")
        # Once libclang has the file, the inline suggestions begin with the names it gives
        # there, as `mnemo complete`'s do below.
        reply = client.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": file_uri(path)},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 1}})  # Invoked: up to 3
        self.assertIn("result", reply, reply)
        served = [item["insertText"] for item in reply["result"]["items"]]
        self.assertTrue(1 <= len(served) <= 3, served)
        self.assertEqual(client.shutdown_and_exit(), 0)

        # The same query through `mnemo complete`, over the memory the server wrote: the same
        # suggestions, so the server's come from the model reading that memory (with the
        # document's own file left out), not from the symbols.
        query = {"file": "src/main.cpp", "line": line, "col": character, "text": text}
        result = subprocess.run([os.environ["MNEMO_BIN"], "complete", "--repo", str(self.root),
                                 *complete_args, "--alternatives", "3", "--batch", "-"],
                                input=json.dumps(query) + "\n", capture_output=True, text=True,
                                timeout=GUARD_S)
        self.assertEqual(result.returncode, 0, result.stderr)
        completed = [s["text"] for s in json.loads(result.stdout)["suggestions"]]
        self.assertEqual(served, completed)


if __name__ == "__main__":
    unittest.main()
