"""Shared by the benchmarks: their own emulator on a free loopback port, stopped by its PID."""
from __future__ import annotations

import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from rehearsal import emulator as emu  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def own_emulator(directory: Path, port: int = 0):
    """An emulator for one benchmark (state in ``directory``) on ``port`` (0: a free one); stopped also when the
    benchmark fails."""
    server = emu.start(f"http://127.0.0.1:{port or free_port()}", directory=directory)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    try:
        yield server
    finally:
        server.stop()
