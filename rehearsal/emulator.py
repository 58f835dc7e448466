"""The local AWS: a moto server on loopback, started and stopped by PID.

    python -m rehearsal.emulator start|stop|status|reset

The URL comes from ``CUTOVER_EMULATOR_URL`` (default http://127.0.0.1:4566).
The PID file and the server log live in ``CUTOVER_STATE_DIR`` (default
``.state/`` in the project). Only loopback hosts are accepted.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:4566"
TEST_ACCOUNT_ID = "123456789012"
PROJECT_DIR = Path(__file__).resolve().parent.parent
LOOPBACK_HOSTS = ("localhost", "::1")


class EmulatorError(RuntimeError):
    """A problem the operator can act on; the message says what to do."""


def emulator_url() -> str:
    return os.environ.get("CUTOVER_EMULATOR_URL") or DEFAULT_URL


def state_dir() -> Path:
    return Path(os.environ.get("CUTOVER_STATE_DIR") or PROJECT_DIR / ".state")


def is_loopback_url(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def require_loopback(url: str) -> None:
    if not is_loopback_url(url):
        raise EmulatorError(
            f"refusing endpoint {url}: the local world only talks to loopback "
            "(127.0.0.0/8, localhost, [::1])"
        )


def _host_port(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when a moto server answers at url."""
    try:
        with urllib.request.urlopen(f"{url}/moto-api/config", timeout=timeout) as resp:
            return 200 <= resp.status < 300 and "lambda" in json.loads(resp.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return False


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _post(url: str, path: str, body: dict | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(f"{url}{path}", data=data, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def configure(url: str) -> None:
    """Lambda in its no-Docker mode; must happen before any function exists."""
    _post(url, "/moto-api/config", {"lambda": {"use_docker": False}})


def reset(url: str | None = None) -> None:
    """Drop every resource; the server and its configuration stay."""
    url = url or emulator_url()
    require_loopback(url)
    _post(url, "/moto-api/reset")
    configure(url)


@dataclass
class Emulator:
    url: str
    pid: int
    pid_file: Path
    log_file: Path

    def stop(self) -> None:
        stop(self.pid_file)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def start(url: str | None = None, directory: Path | None = None, timeout: float = 60.0) -> Emulator:
    """Start moto on url; idempotent when our own server already answers there."""
    url = (url or emulator_url()).rstrip("/")
    require_loopback(url)
    directory = Path(directory or state_dir())
    directory.mkdir(parents=True, exist_ok=True)
    host, port = _host_port(url)
    pid_file = directory / f"emulator-{port}.pid"
    log_file = directory / f"emulator-{port}.log"

    pid = _read_pid(pid_file)
    if pid and _pid_alive(pid) and answers(url):
        configure(url)
        return Emulator(url, pid, pid_file, log_file)
    if pid_file.exists():
        pid_file.unlink()
    if port_in_use(host, port):
        what = "another moto server not started by us" if answers(url) else "something that is not moto"
        raise EmulatorError(
            f"port {port} on {host} is taken by {what}; stop it, or choose another port "
            f"with CUTOVER_EMULATOR_URL=http://127.0.0.1:<port>"
        )

    env = dict(os.environ)
    env.update(
        MOTO_ACCOUNT_ID=TEST_ACCOUNT_ID,
        MOTO_LAMBDA_STUB_ECR="false",
        MOTO_IAM_LOAD_MANAGED_POLICIES="true",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    env.pop("AWS_ENDPOINT_URL", None)
    pid = spawn([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)], pid_file, log_file,
                lambda: answers(url), f"the moto server for {url}", timeout, env=env)
    configure(url)
    return Emulator(url, pid, pid_file, log_file)


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log, or a note that it is missing or empty."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"(log {path} is empty)"


def spawn(argv: list, pid_file: Path, log_file: Path, ready, what: str, timeout: float, *, env: dict | None = None,
          error: type = EmulatorError) -> int:
    """Start argv as the leader of its own session (stdout and stderr appended to log_file), its PID in pid_file,
    and wait until ``ready()``; returns the PID. The one way the rehearsal starts a background process (the
    emulator, the notify recorder, the follower): stopped later by ``stop(pid_file)``. When the process exits
    first, or ``ready()`` is still false after ``timeout`` seconds (the process group is then stopped), the PID
    file is removed and ``error`` is raised with the log's tail."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(argv, cwd=PROJECT_DIR, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    pid_file.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_file.unlink(missing_ok=True)
            raise error(f"{what} exited with status {proc.returncode}; {log_file} ends:\n{tail(log_file)}")
        if ready():
            return proc.pid
        time.sleep(0.1)
    _terminate(proc.pid)
    pid_file.unlink(missing_ok=True)
    raise error(f"{what} was not ready within {timeout:.0f} s and was stopped; {log_file} ends:\n{tail(log_file)}")


def _terminate(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group `pid` leads (SIGKILL after `grace`); a process that leads no group
    (started without a session of its own, e.g. by `cmd &` in a shell) is signalled alone."""
    group = True
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        group = False
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = 0 if _pid_alive(pid) else pid
        if done or not _pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        (os.killpg if group else os.kill)(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(pid_file: Path | None = None) -> bool:
    """Stop the server recorded in pid_file; True when one was running."""
    if pid_file is None:
        _, port = _host_port(emulator_url())
        pid_file = state_dir() / f"emulator-{port}.pid"
    pid = _read_pid(pid_file)
    pid_file.unlink(missing_ok=True)
    if not pid or not _pid_alive(pid):
        return False
    _terminate(pid)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.emulator", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status", "reset"])
    args = parser.parse_args(argv)
    url = emulator_url()
    try:
        if args.command == "start":
            emu = start(url)
            print(f"emulator running at {emu.url} (pid {emu.pid}, pid file {emu.pid_file})")
        elif args.command == "stop":
            print("emulator stopped" if stop() else "no emulator was running")
        elif args.command == "reset":
            if not answers(url):
                raise EmulatorError(f"no emulator at {url}: run make emulator")
            reset(url)
            print(f"emulator at {url} reset")
        else:
            if answers(url):
                print(f"emulator answers at {url}")
            else:
                print(f"no emulator at {url}: run make emulator")
                return 1
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
