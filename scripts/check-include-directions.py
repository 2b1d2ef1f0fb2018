#!/usr/bin/env python3
"""Checks which part of mnemo may include which, from the #include lines of the sources.

The top-level parts: lsp/ and model/ include only themselves; indexer/ includes itself and
model/; server/ may include every part. Inside server/, each folder (a room, one CMake
library) includes only the rooms below it, so the libraries link in one direction.
Prints each include that breaks a rule and exits 1 if there is any.

    scripts/check-include-directions.py [--root DIR] [--print-graph]
"""
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if "--root" in sys.argv:
    ROOT = os.path.abspath(sys.argv[sys.argv.index("--root") + 1])
PARTS = {
    "lsp": {"lsp"},
    "model": {"model"},
    "indexer": {"indexer", "model"},
    "server": {"server", "lsp", "model", "indexer"},
}
# server's rooms, each with the rooms it may include (besides itself).
ROOMS = {
    "text": set(),
    "completion": {"text"},
    "names": {"text", "completion"},
    "workspace": {"text"},
    "completer": {"text", "completion", "names", "workspace"},
    "session": {"text", "completion", "workspace"},
    "eval": {"text", "completion", "names", "workspace", "completer"},
    "bench": {"text", "completion", "names", "workspace", "completer", "session", "eval"},
    "cli": {"text", "completion", "names", "workspace", "completer", "session", "eval", "bench"},
}
SOURCE = (".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh", ".in")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def place(path):
    """(part, room) of a path relative to the root; room only for server/."""
    bits = path.split("/")
    if bits[0] not in PARTS:
        return None, None
    room = bits[1] if bits[0] == "server" and len(bits) > 2 else None
    return bits[0], room


def main():
    problems, graph = [], defaultdict(set)
    for part in PARTS:
        for folder, _, files in os.walk(os.path.join(ROOT, part)):
            for name in files:
                if not name.endswith(SOURCE):
                    continue
                path = os.path.relpath(os.path.join(folder, name), ROOT)
                src_part, src_room = place(path)
                if src_part == "server" and src_room is None:
                    problems.append(f"{path}: server/ keeps its files in rooms, not at its top")
                    continue
                if src_room is not None and src_room not in ROOMS:
                    problems.append(f"{path}: server/{src_room}/ is not a known room")
                    continue
                text = open(os.path.join(folder, name), encoding="utf-8", errors="replace").read()
                for included in INCLUDE.findall(text):
                    dst_part, dst_room = place(included)
                    if dst_part is None:
                        continue  # a file of the same folder, or a generated one
                    if dst_part not in PARTS[src_part]:
                        problems.append(f"{path}: {src_part}/ may not include {included}")
                    elif src_part == "server" and dst_part == "server":
                        graph[src_room].add(dst_room)
                        if dst_room != src_room and dst_room not in ROOMS[src_room]:
                            problems.append(f"{path}: server/{src_room}/ may not include "
                                            f"{included} (server/{dst_room}/ is not below it)")
    if "--print-graph" in sys.argv:
        for room in ROOMS:
            print(f"server/{room}/ -> " + ", ".join(sorted(graph[room] - {room})))
    for p in sorted(set(problems)):
        print(p)
    print(f"include directions: {len(set(problems))} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
