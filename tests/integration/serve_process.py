"""`mnemo serve` as a child process on stdio, for the Python integration tests: LSP framing,
starting it from MNEMO_BIN (which ctest sets), reading the frames it writes, and killing it.
Standard library only."""
import json
import os
import re
import subprocess


def frame(body) -> bytes:
    """`body` (bytes, or str as UTF-8) with its Content-Length header."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def message(obj) -> bytes:
    return frame(json.dumps(obj, ensure_ascii=False))


def start_serve(*args: str, cwd=None) -> subprocess.Popen:
    """`mnemo --log-level debug serve ARGS...` with pipes on stdin, stdout and stderr."""
    binary = os.environ.get("MNEMO_BIN")
    if not binary:
        raise RuntimeError("MNEMO_BIN is not set (ctest sets it to the built mnemo binary)")
    if not os.path.exists(binary):
        raise RuntimeError("MNEMO_BIN=%s does not exist" % binary)
    return subprocess.Popen([binary, "--log-level", "debug", "serve", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd)


def read_frames(stream, on_message, on_bytes=None):
    """Reads `stream` to its end: on_bytes(chunk) for every chunk read, on_message(obj) for
    every framed JSON message. Returns None at the end of the stream, or a description of
    the first header that is not `Content-Length: N` (and stops there)."""
    pending = b""
    while True:
        chunk = stream.read1(65536)
        if not chunk:
            return None
        if on_bytes is not None:
            on_bytes(chunk)
        pending += chunk
        while True:
            end = pending.find(b"\r\n\r\n")
            if end < 0:
                break
            match = re.fullmatch(rb"Content-Length: (\d+)", pending[:end])
            if not match:
                return "unexpected header %r" % pending[:end]
            length = int(match.group(1))
            if len(pending) < end + 4 + length:
                break
            body = pending[end + 4:end + 4 + length]
            pending = pending[end + 4 + length:]
            on_message(json.loads(body.decode("utf-8")))


def kill(proc: subprocess.Popen) -> None:
    """Kills the server if it still runs, reaps it and closes its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        try:
            stream.close()
        except OSError:
            pass
