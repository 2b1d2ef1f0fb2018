#!/usr/bin/env python3
"""Bad input on `mnemo serve`'s stdin, as raw bytes: framing errors, invalid JSON, invalid
UTF-8, unknown methods, oversized messages, requests out of lifecycle order, messages that
are not JSON-RPC. For each: the answer (or, where nothing may be answered, the log line),
then a valid request that must still be served, then shutdown + exit with code 0. stdout
must carry nothing but well-framed LSP messages.

Standard library only:  MNEMO_BIN=build/mnemo python3 tests/integration/bad_input_test.py -v
"""

import json
import queue
import re
import subprocess
import threading
import time
import unittest

from serve_process import frame, kill, message, read_frames, start_serve

GUARD_S = 15.0  # deadlock guard for every wait; never a timing assertion


def parse_frames(data):
    """Splits `data` into message bodies; raises ValueError on anything but
    `Header: value\\r\\n`... `\\r\\n` body frames with a Content-Length header."""
    bodies = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            raise ValueError("bytes after the last frame: %r" % data[pos:pos + 200])
        length = None
        for line in data[pos:end].split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                raise ValueError("malformed header line %r at byte %d" % (line, pos))
            if name.strip().lower() == b"content-length":
                if not value.strip().isdigit():
                    raise ValueError("bad Content-Length %r" % value)
                length = int(value.strip())
        if length is None:
            raise ValueError("frame without Content-Length at byte %d" % pos)
        body = data[end + 4:end + 4 + length]
        if len(body) != length:
            raise ValueError("frame at byte %d is truncated (%d of %d bytes)" % (pos, len(body), length))
        bodies.append(body)
        pos = end + 4 + length
    return bodies


class Server:
    """`mnemo serve` with a thread parsing stdout frames into a queue and one collecting
    stderr (the log)."""

    def __init__(self, *args):
        self.proc = start_serve(*args)
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.messages = queue.Queue()
        self.framing_problem = None
        self.threads = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self.threads:
            t.start()

    def _read_stdout(self):
        def record(chunk):
            with self.lock:
                self.stdout += chunk
        self.framing_problem = read_frames(self.proc.stdout, self.messages.put, record)

    def _read_stderr(self):
        while True:
            chunk = self.proc.stderr.read1(65536)
            if not chunk:
                break
            with self.changed:
                self.stderr += chunk
                self.changed.notify_all()

    def log(self):
        with self.lock:
            return self.stderr.decode("utf-8", errors="replace")

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, obj):
        self.write(message(obj))

    def next_message(self):
        try:
            return self.messages.get(timeout=GUARD_S)
        except queue.Empty:
            raise AssertionError("no message from the server within %ss (framing problem: %s); log:\n%s"
                                 % (GUARD_S, self.framing_problem, self.log())) from None

    def wait_log(self, pattern, start=0):
        """Waits until the log (from character `start`) matches `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + GUARD_S
        with self.changed:
            while True:
                text = self.stderr.decode("utf-8", errors="replace")
                match = regex.search(text, start)
                if match:
                    return match
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("log line /%s/ did not appear; log:\n%s" % (pattern, text))
                self.changed.wait(left)

    def log_size(self):
        with self.lock:
            return len(self.stderr.decode("utf-8", errors="replace"))

    def kill(self):
        kill(self.proc)


DOC_URI = "file:///mnemo-bad-input/doc.cpp"
DOC_TEXT = "int alpha_value = 1;\nint alpha_other = 2;\nint x = alp\n"


class ServerTestCase(unittest.TestCase):
    """A fresh server per test, and the helpers to talk to it."""

    server_args = ()

    def setUp(self):
        self.start_server(*self.server_args)
        self.next_id = 100

    def start_server(self, *args):
        self.server = Server(*args)
        self.addCleanup(self.server.kill)

    def initialize(self):
        reply = self.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        self.assertIn("capabilities", reply["result"])
        self.server.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        self.server.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": DOC_URI, "languageId": "cpp", "version": 1, "text": DOC_TEXT}}})

    def request(self, method, params=None, raw_id=None):
        """Sends a request and returns its response (any notifications before it are skipped;
        a response with another id fails the test)."""
        if raw_id is None:
            self.next_id += 1
            raw_id = self.next_id
        msg = {"jsonrpc": "2.0", "id": raw_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.server.send(msg)
        return self.response(raw_id)

    def response(self, expected_id):
        while True:
            msg = self.server.next_message()
            if "method" in msg:  # a notification or server request: not what we wait for
                continue
            self.assertEqual(msg.get("id"), expected_id, "unexpected response %r" % msg)
            self.assertEqual(msg.get("jsonrpc"), "2.0")
            return msg

    def assert_error(self, msg, code, expected_id):
        self.assertIn("error", msg, msg)
        self.assertNotIn("result", msg)
        self.assertEqual(msg["error"]["code"], code, msg)
        self.assertIsInstance(msg["error"]["message"], str)
        self.assertEqual(msg["id"], expected_id)

    def assert_still_served(self):
        """A valid completion request is answered with the document's identifiers."""
        reply = self.request("textDocument/completion", {
            "textDocument": {"uri": DOC_URI}, "position": {"line": 2, "character": 11}})
        self.assertIn("result", reply, reply)
        labels = [item["label"] for item in reply["result"]["items"]]
        self.assertEqual(sorted(labels), ["alpha_other", "alpha_value"])
        return reply

    def assert_no_pending_messages(self):
        # Everything the server sent so far was consumed by the test: no stray replies.
        time.sleep(0.05)
        self.assertTrue(self.server.messages.empty(),
                        "unexpected message: %r" % (None if self.server.messages.empty()
                                                    else self.server.messages.queue[0]))

    def finish(self, expected_code=0):
        reply = self.request("shutdown")
        self.assertIsNone(reply["result"])
        self.server.send({"jsonrpc": "2.0", "method": "exit"})
        try:
            code = self.server.proc.wait(timeout=GUARD_S)
        except subprocess.TimeoutExpired:
            self.fail("the server did not exit after shutdown + exit")
        self.assertEqual(code, expected_code, "exit code; log:\n" + self.server.log())
        for t in self.server.threads:
            t.join(GUARD_S)
        self.check_stdout()

    def check_stdout(self):
        with self.server.lock:
            data = bytes(self.server.stdout)
        self.assertIsNone(self.server.framing_problem)
        bodies = parse_frames(data)  # raises on anything but Content-Length frames
        self.assertGreater(len(bodies), 0)
        for body in bodies:
            msg = json.loads(body.decode("utf-8"))  # strict UTF-8, valid JSON
            self.assertIsInstance(msg, dict)
            self.assertEqual(msg.get("jsonrpc"), "2.0")


class BadInputTest(ServerTestCase):
    """Each test: a fresh server, initialized, with DOC_URI open; at the end, shutdown +
    exit must give code 0, and stdout must hold only well-framed messages."""

    def setUp(self):
        super().setUp()
        self.initialize()

    def tearDown(self):
        # Only when the test itself passed: a failure is reported as it is, not hidden
        # behind a second one from the shutdown.
        outcome = getattr(self, "_outcome", None)
        failed = outcome is not None and not outcome.success
        if not failed and self.server.proc.poll() is None:
            self.finish()

    # --- lifecycle -------------------------------------------------------------------

    def test_request_before_initialize(self):
        # A fresh server, not initialized yet (setUp's is replaced).
        self.server.kill()
        self.start_server()
        reply = self.request("textDocument/completion", {
            "textDocument": {"uri": DOC_URI}, "position": {"line": 0, "character": 0}})
        self.assert_error(reply, -32002, self.next_id)
        reply = self.request("shutdown")
        self.assert_error(reply, -32002, self.next_id)
        # A notification before initialize is dropped with a log line.
        mark = self.server.log_size()
        self.server.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": "file:///early.cpp", "languageId": "cpp", "version": 1, "text": ""}}})
        self.server.wait_log(r"dropped notification textDocument/didOpen", mark)
        self.initialize()
        self.assert_still_served()

    def test_second_initialize(self):
        reply = self.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        self.assert_error(reply, -32600, self.next_id)
        self.assert_still_served()

    # --- framing -----------------------------------------------------------------------

    def test_truncated_header(self):
        # A Content-Length header cut off before its value.
        mark = self.server.log_size()
        self.server.write(b"Content-Length: \r\n\r\n")
        self.server.wait_log(r"jsonrpc: framing error: invalid Content-Length ''", mark)
        self.assert_still_served()
        # A header line cut off before its colon.
        mark = self.server.log_size()
        self.server.write(b"Content-Len\r\n\r\n{}")
        self.server.wait_log(r"jsonrpc: framing error: malformed header line 'Content-Len'", mark)
        self.assert_still_served()
        self.assert_no_pending_messages()

    def test_header_block_without_content_length(self):
        mark = self.server.log_size()
        self.server.write(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n"
                          b'{"jsonrpc":"2.0","id":1,"method":"shutdown"}')
        self.server.wait_log(r"jsonrpc: framing error: header block without Content-Length", mark)
        # The orphan body was skipped while resynchronising (it was not a shutdown).
        self.assert_still_served()
        self.assert_no_pending_messages()

    def test_garbage_between_messages(self):
        mark = self.server.log_size()
        self.server.write(b"this is not a header at all\r\n\r\n\x00\xff garbage ")
        self.server.wait_log(r"jsonrpc: framing error: malformed header line", mark)
        self.assert_still_served()
        self.assert_no_pending_messages()

    def test_huge_content_length(self):
        mark = self.server.log_size()
        body = b'{"jsonrpc":"2.0","id":7,"method":"shutdown"}'
        self.server.write(b"Content-Length: 99999999999999\r\n\r\n" + body)
        self.server.wait_log(r"jsonrpc: framing error: message of 99999999999999 bytes exceeds the limit of "
                             r"67108864 bytes; skipped", mark)
        self.assert_still_served()
        # More digits than any length: invalid, not a wrapped-around small number.
        mark = self.server.log_size()
        self.server.write(b"Content-Length: 99999999999999999999999999\r\n\r\n" + body)
        self.server.wait_log(r"jsonrpc: framing error: invalid Content-Length '99999999999999999999999999'", mark)
        self.assert_still_served()
        self.assert_no_pending_messages()

    def test_oversized_message_with_a_small_limit(self):
        # With --max-message-bytes 1024 a 2000-byte message is skipped in full, even
        # though it arrives (a framer that waited for the body and parsed it would answer).
        self.server.kill()
        self.start_server("--max-message-bytes", "1024")
        self.initialize()
        big = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "mnemo/big", "params": {"pad": "x" * 2000}})
        mark = self.server.log_size()
        self.server.write(frame(big))
        self.server.wait_log(r"message of \d+ bytes exceeds the limit of 1024 bytes; skipped", mark)
        self.assert_still_served()
        self.assert_no_pending_messages()

    # --- JSON and JSON-RPC ---------------------------------------------------------------

    def test_invalid_json(self):
        for body in [b'{"jsonrpc":"2.0","id":5,"method":', b"{not json}", b"", b"\xff\xfe"]:
            with self.subTest(body=body):
                self.server.write(frame(body))
                reply = self.server.next_message()
                self.assert_error(reply, -32700, None)
                self.assert_still_served()

    def test_invalid_utf8_in_a_string(self):
        # In a notification: didOpen whose text has a stray Latin-1 byte. The text is
        # kept, with U+FFFD in place of the byte.
        mark = self.server.log_size()
        uri = "file:///mnemo-bad-input/latin1.cpp"
        body = ('{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":'
                '{"uri":"%s","languageId":"cpp","version":1,"text":"int caf' % uri).encode() + \
               b"\xe9" + b'_latte = 1;\\nint y = caf"}}}'
        self.server.write(frame(body))
        self.server.wait_log(r"message contained 1 invalid UTF-8 sequence\(s\)", mark)
        reply = self.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 11}})
        self.assertEqual([item["label"] for item in reply["result"]["items"]], ["caf\ufffd_latte"])
        # The range counts U+FFFD as one UTF-16 unit (the client's view of the text).
        self.assertEqual(reply["result"]["items"][0]["textEdit"]["range"],
                         {"start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 11}})
        # In a request: served, and the reply is valid UTF-8 (checked for all of stdout
        # at the end).
        mark = self.server.log_size()
        self.next_id += 1
        body = ('{"jsonrpc":"2.0","id":%d,"method":"textDocument/completion","params":{"textDocument":'
                '{"uri":"%s"},"position":{"line":2,"character":11},"context":{"triggerKind":1,'
                '"note":"' % (self.next_id, DOC_URI)).encode() + b"\xc3\x28\xf0\x9f" + b'"}}}'
        self.server.write(frame(body))
        reply = self.response(self.next_id)
        self.assertEqual(sorted(i["label"] for i in reply["result"]["items"]), ["alpha_other", "alpha_value"])
        self.server.wait_log(r"message contained 2 invalid UTF-8 sequence\(s\)", mark)

    def test_unknown_method(self):
        reply = self.request("mnemo/noSuchMethod", {})
        self.assert_error(reply, -32601, self.next_id)
        self.assertIn("mnemo/noSuchMethod", reply["error"]["message"])
        reply = self.request("mnemo/noSuchMethod", raw_id="string-id")
        self.assert_error(reply, -32601, "string-id")
        # Unknown notifications get no reply; they are logged ("$/" ones only at debug).
        mark = self.server.log_size()
        self.server.send({"jsonrpc": "2.0", "method": "mnemo/noSuchNotification", "params": {}})
        self.server.wait_log(r"unknown notification mnemo/noSuchNotification ignored", mark)
        self.server.send({"jsonrpc": "2.0", "method": "$/mnemoOptional", "params": {}})
        self.server.wait_log(r"ignored notification \$/mnemoOptional", mark)
        self.assert_still_served()
        self.assert_no_pending_messages()

    def test_message_that_is_not_an_object(self):
        for body in [b"[1, 2, 3]", b'[{"jsonrpc":"2.0","id":1,"method":"shutdown"}]', b'"hello"', b"42",
                     b"null", b"true"]:
            with self.subTest(body=body):
                self.server.write(frame(body))
                reply = self.server.next_message()
                self.assert_error(reply, -32600, None)
        self.assert_still_served()
        self.assert_no_pending_messages()

    def test_wrong_jsonrpc_version(self):
        # A shutdown with the wrong version must be refused, not executed.
        self.server.send({"jsonrpc": "1.0", "id": 7, "method": "shutdown"})
        self.assert_error(self.server.next_message(), -32600, 7)
        self.server.send({"id": 8, "method": "shutdown"})
        self.assert_error(self.server.next_message(), -32600, 8)
        self.server.send({"jsonrpc": 2.0, "id": 9, "method": "shutdown"})
        self.assert_error(self.server.next_message(), -32600, 9)
        self.assert_still_served()
        self.assert_no_pending_messages()

    def test_invalid_requests(self):
        cases = [
            ({"jsonrpc": "2.0", "id": 11, "method": 42}, 11),                       # method not a string
            ({"jsonrpc": "2.0", "id": 12, "method": "shutdown", "params": "x"}, 12),  # params not structured
            ({"jsonrpc": "2.0", "id": 1.5, "method": "shutdown"}, None),             # id not int/string
            ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "shutdown"}, None),
            ({"jsonrpc": "2.0", "id": 13}, 13),                                      # nothing
        ]
        for msg, expected_id in cases:
            with self.subTest(msg=msg):
                self.server.send(msg)
                self.assert_error(self.server.next_message(), -32600, expected_id)
        self.assert_still_served()
        self.assert_no_pending_messages()

    def test_invalid_params(self):
        cases = [
            {"textDocument": {"uri": DOC_URI}},                                         # no position
            {"textDocument": {"uri": DOC_URI}, "position": {"line": -1, "character": 0}},
            {"textDocument": {"uri": DOC_URI}, "position": {"line": "2", "character": 0}},
            {"textDocument": {}, "position": {"line": 0, "character": 0}},
            {"textDocument": {"uri": "file:///never-opened.cpp"}, "position": {"line": 0, "character": 0}},
        ]
        for params in cases:
            with self.subTest(params=params):
                reply = self.request("textDocument/completion", params)
                self.assert_error(reply, -32602, self.next_id)
        reply = self.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": DOC_URI}, "position": {"line": 2, "character": 11},
            "context": {"triggerKind": 7}})
        self.assert_error(reply, -32602, self.next_id)
        self.assert_still_served()

    def test_bad_notifications(self):
        # didChange for a document never opened: rejected in the log, no reply.
        mark = self.server.log_size()
        self.server.send({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": "file:///never-opened.cpp", "version": 2},
            "contentChanges": [{"text": "int z;"}]}})
        self.server.wait_log(r"didChange rejected: cannot change file:///never-opened\.cpp: "
                             r"the document is not open", mark)
        # A change whose range ends before it starts: the document stays as it was.
        mark = self.server.log_size()
        self.server.send({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": DOC_URI, "version": 2},
            "contentChanges": [{"range": {"start": {"line": 1, "character": 4}, "end": {"line": 0, "character": 0}},
                                "text": "oops"}]}})
        self.server.wait_log(r"didChange.*its end 0:0 is before its start 1:4", mark)
        # Notifications with params of the wrong shape: logged, no reply.
        mark = self.server.log_size()
        self.server.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": 5}})
        self.server.wait_log(r"notification textDocument/didOpen failed", mark)
        self.server.send({"jsonrpc": "2.0", "method": "textDocument/didClose", "params": "nope"})
        self.server.wait_log(r"notification textDocument/didClose: params must be an object or array", mark)
        self.server.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": [1]}})
        self.server.wait_log(r"\$/cancelRequest without a valid id", mark)
        # A response to a request the server never sent.
        self.server.send({"jsonrpc": "2.0", "id": 4242, "result": None})
        self.server.wait_log(r"response to unknown request id 4242", mark)
        self.assert_still_served()
        self.assert_no_pending_messages()

    def test_everything_in_one_write(self):
        """All the bad input back to back in a single write, then a valid request: every
        error answer arrives in order, and the request is served."""
        ok_id = 999
        blob = b"".join([
            b"Content-Length: \r\n\r\n",                                       # framing: resync
            frame(b'{"jsonrpc":"2.0","id":5,"method":'),                      # -32700, id null
            frame(b"[1,2]"),                                                  # -32600, id null
            message({"jsonrpc": "1.0", "id": 21, "method": "shutdown"}),      # -32600, id 21
            message({"jsonrpc": "2.0", "id": 22, "method": "mnemo/nothing"}),  # -32601, id 22
            b"Content-Length: 99999999999999\r\n\r\n{}",                       # framing: skipped
            message({"jsonrpc": "2.0", "id": 23, "method": "mnemo/nothing"}),  # -32601, id 23
            message({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": "file:///never-opened.cpp", "version": 1},
                "contentChanges": [{"text": ""}]}}),                          # log only
            frame(b'{"jsonrpc":"2.0","id":24,"method":"mnemo/\xff"}'),         # -32601, repaired
            message({"jsonrpc": "2.0", "id": ok_id, "method": "textDocument/completion", "params": {
                "textDocument": {"uri": DOC_URI}, "position": {"line": 2, "character": 11}}}),
        ])
        self.server.write(blob)
        expected = [(-32700, None), (-32600, None), (-32600, 21), (-32601, 22), (-32601, 23), (-32601, 24)]
        for code, expected_id in expected:
            self.assert_error(self.server.next_message(), code, expected_id)
        reply = self.response(ok_id)
        self.assertEqual(sorted(i["label"] for i in reply["result"]["items"]), ["alpha_other", "alpha_value"])
        # stderr is read by another thread: wait for the lines rather than race it.
        self.server.wait_log(re.escape("invalid Content-Length ''"))
        self.server.wait_log("exceeds the limit")
        self.server.wait_log("didChange rejected")
        self.server.wait_log(re.escape("message contained 1 invalid UTF-8 sequence(s)"))
        self.assert_no_pending_messages()


class EndOfInputTest(ServerTestCase):
    """Input that ends badly (the client died, or skipped shutdown): exit code 1, and
    nothing but frames on stdout."""

    def test_input_ends_inside_a_message(self):
        self.initialize()
        self.server.write(b"Content-Length: 500\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,")
        self.server.proc.stdin.close()
        self.assertEqual(self.server.proc.wait(timeout=GUARD_S), 1)
        self.server.wait_log(r"input ended inside a message \(\d+ bytes dropped\)")
        self.server.wait_log(r"closed the stream without 'exit'")
        for t in self.server.threads:
            t.join(GUARD_S)
        self.check_stdout()

    def test_exit_without_shutdown(self):
        self.initialize()
        self.server.send({"jsonrpc": "2.0", "method": "exit"})
        self.assertEqual(self.server.proc.wait(timeout=GUARD_S), 1)
        for t in self.server.threads:
            t.join(GUARD_S)
        self.check_stdout()



if __name__ == "__main__":
    unittest.main()
