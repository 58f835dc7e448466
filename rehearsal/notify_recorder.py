"""Loopback stand-in for Slack, Telegram and the SNS relays: records every notification.

    python -m rehearsal.notify_recorder start|stop|status      (URL from CUTOVER_NOTIFY_URL)

A small HTTP server on 127.0.0.1 (default http://127.0.0.1:4599), started and stopped by
PID (``$CUTOVER_STATE_DIR/notify-<port>.pid``, its errors in ``notify-<port>.log`` beside it). Every POST becomes one JSON line in
``$CUTOVER_STATE_DIR/rehearsal/notify.jsonl`` (``CUTOVER_NOTIFY_FILE`` moves it)::

    {"channel": "slack", "via": "sns", "path": "/sns/slack", "received_at": "...", "body": {...}}

``channel`` is slack or telegram, ``via`` is ``sns`` (an alarm's SNS notification, path ``/sns/<channel>``)
or ``direct`` (a phase notification posted by roles/notify: ``/slack/...`` like a Slack webhook,
``/telegram/bot<token>/sendMessage`` like the Bot API; the token is masked in ``path``).
The test world's secrets point here (rehearsal/world_data.py); nothing leaves the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List, Optional

from rehearsal.emulator import _host_port, _pid_alive, _read_pid, port_in_use, require_loopback, spawn, state_dir
from rehearsal.emulator import stop as stop_pid_file

DEFAULT_URL = "http://127.0.0.1:4599"
TOKEN_RE = re.compile(r"/bot[^/]+/")


def notify_url() -> str:
    return (os.environ.get("CUTOVER_NOTIFY_URL") or DEFAULT_URL).rstrip("/")


def record_file() -> Path:
    return Path(os.environ.get("CUTOVER_NOTIFY_FILE") or state_dir() / "rehearsal" / "notify.jsonl")


def classify(path: str) -> dict:
    """'/sns/slack' -> slack via sns; '/slack/...' -> slack direct; '/telegram/bot<t>/x' -> telegram direct."""
    parts = [p for p in path.split("/") if p]
    via = "sns" if parts[:1] == ["sns"] else "direct"
    channel = (parts[1] if via == "sns" and len(parts) > 1 else parts[0]) if parts else ""
    return {"channel": channel, "via": via, "path": TOKEN_RE.sub("/bot***/", path)}


def read(path: Optional[Path] = None) -> List[dict]:
    """Every recorded notification, oldest first."""
    path = Path(path or record_file())
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def serve(port: int, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server API)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            line = dict(classify(self.path), received_at=datetime.now(timezone.utc).isoformat(), body=body)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            reply = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def pid_file(url: Optional[str] = None) -> Path:
    return state_dir() / f"notify-{_host_port(url or notify_url())[1]}.pid"


def start(url: Optional[str] = None, path: Optional[Path] = None, timeout: float = 10.0) -> int:
    """Start the recorder on url (a loopback URL); returns its PID. Idempotent for our own server."""
    url = (url or notify_url()).rstrip("/")
    require_loopback(url)
    pids = pid_file(url)
    pid = _read_pid(pids)
    if pid and _pid_alive(pid) and _answers(url):
        return pid
    host, port = _host_port(url)
    if port_in_use(host, port):
        raise RuntimeError(f"port {port} is taken by something else: choose CUTOVER_NOTIFY_URL=http://127.0.0.1:<port>")
    argv = [sys.executable, "-m", "rehearsal.notify_recorder", "serve", "--port", str(port),
            "--file", str(path or record_file())]
    return spawn(argv, pids, pids.with_suffix(".log"), lambda: _answers(url), f"the notify recorder for {url}",
                 timeout)


def stop(url: Optional[str] = None) -> bool:
    """Stop the recorder started for url, by its PID file; True when one was running."""
    return stop_pid_file(pid_file(url))


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.notify_recorder", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status", "serve"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--file")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.port, Path(args.file))
        return 0
    if args.command == "start":
        try:
            pid = start()
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"notify recorder at {notify_url()} (pid {pid}), writing {record_file()}")
    elif args.command == "stop":
        print("notify recorder stopped" if stop() else "no notify recorder was running")
    else:
        print(f"notify recorder answers at {notify_url()}" if _answers(notify_url()) else "no notify recorder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
