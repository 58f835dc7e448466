"""A notify recorder on a free loopback port for one test, stopped by its PID also on failure."""
from __future__ import annotations

import socket

import pytest

from rehearsal import notify_recorder


@pytest.fixture
def notify(state_dir, tmp_path, monkeypatch):
    """The loopback Slack/Telegram/SNS recorder; the world seeded afterwards points its secrets here."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    path = tmp_path / "notify.jsonl"
    monkeypatch.setenv("CUTOVER_NOTIFY_URL", url)
    monkeypatch.setenv("CUTOVER_NOTIFY_FILE", str(path))
    notify_recorder.start(url, path)
    try:
        yield lambda: notify_recorder.read(path)
    finally:
        notify_recorder.stop(url)
