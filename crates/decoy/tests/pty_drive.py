#!/usr/bin/env python3
"""Drives an interactive program through a pseudo-terminal, like `expect`.

Usage: pty_drive.py <steps.json> <program> [args...]
steps.json is a list of [expected_text, text_to_type]; each step waits (up to 20 s) for
the expected text in the output, then types the text. Everything the program printed is
written to stdout at the end. Exits 3 when an expected text never came.
"""
import json
import os
import pty
import select
import sys
import time

steps = json.load(open(sys.argv[1]))
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])

seen = b""


def read_until(text, timeout=20.0):
    global seen
    deadline = time.time() + timeout
    while text.encode() not in seen:
        left = deadline - time.time()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return False
        if not chunk:
            return False
        seen += chunk
    return True


status = 0
for expected, typed in steps:
    if not read_until(expected):
        status = 3
        break
    # What came before this step is consumed, so the next wait needs new output.
    cut = seen.index(expected.encode()) + len(expected)
    sys.stdout.buffer.write(seen[:cut])
    seen = seen[cut:]
    os.write(fd, typed.encode())
read_until("\x00never\x00", timeout=2.0)
sys.stdout.buffer.write(seen)
sys.stdout.flush()
try:
    os.kill(pid, 9)
except OSError:
    pass
sys.exit(status)
