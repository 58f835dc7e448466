"""A recording, fault-injecting HTTP proxy in front of the emulator.

Every request is recorded as (service, operation, mutating) so tests can
assert that a run made no mutating AWS call. Faults are injected by seed and
rate, bounded by ``max_faults``; each is answered as the service really
answers it, in the wire protocol of the request (JSON, rest-json, query/XML,
rpc-v2-cbor):

- ``throttle``: Lambda 429 ``TooManyRequestsException``; DynamoDB 400
  ``ProvisionedThroughputExceededException`` or ``ThrottlingException`` (seeded);
  CloudWatch 400 ``Throttling`` (query code, also over CBOR with ``x-amzn-query-error``);
  IAM/STS/SNS 400 ``Throttling`` (XML); S3 503 ``SlowDown``; every other JSON service
  (ECR, Events, Logs, Secrets Manager, SSM) 400 ``ThrottlingException``;
- ``500`` (``InternalFailure``, Lambda ``ServiceException``, DynamoDB ``InternalServerError``,
  S3 ``InternalError``), ``503`` (``ServiceUnavailable``; ``5xx`` is its old name);
- ``drop``: the connection is closed without an answer (the request never reaches the emulator);
- ``latency``: the request is forwarded ``latency_s`` late.

``TRANSIENT`` is the mix of the first four, which botocore and the modules retry.

A kill trigger (``proxy.kill_after(n, pid)``) sends SIGKILL to a process, its group
and every descendant (ansible's workers run in sessions of their own) right after
the n-th mutating call the emulator answered (the answer is sent first); with
``operation="EnableRule"`` right after the n-th mutating call of that operation (the
world's writes before it vary from run to run, their count does not matter). The moment the
trigger fires no request is forwarded any more; and once the tree is stopped, the client ports
of every socket it held are fenced: a request the killed processes sent before they stopped
(waiting in a keep-alive connection's buffer or in the accept queue) is refused even after the
trigger is disarmed for the rerun. So the kill lands right after exactly that call.
``run_playbook(proxy, ...)`` runs ansible-playbook through the proxy (endpoint = proxy URL)
and returns its outcome with the calls counted.

In tests: ``with FaultProxy(upstream) as proxy: ... proxy.url ...``.
Standalone: ``python -m rehearsal.proxy --upstream URL --port N``.
Control over HTTP: GET /__proxy/calls, POST /__proxy/config, POST /__proxy/reset,
POST /__proxy/kill ``{"after": n, "pgid": pid, "operation": "EnableRule"}`` (operation optional).

Scripted answers (``proxy.script(match, kind, count)``) reproduce what AWS does
and moto does not: ``conflict`` answers the next ``count`` requests whose
"operation" (e.g. ``PUT /2015-03-31/functions/f/code`` for REST services, or
the X-Amz-Target action) matches the regex with a 409 ResourceConflictException;
``pending`` forwards them and rewrites the Lambda configuration in the answer
to ``State: Pending`` / ``LastUpdateStatus: InProgress``.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from rehearsal.emulator import PROJECT_DIR, require_loopback

READ_PREFIXES = (
    "Describe", "List", "Get", "BatchGet", "BatchCheck", "Scan", "Query",
    "Filter", "Head", "Lookup", "Search", "Test", "Validate",
)
_CRED_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")

TRANSIENT = ("throttle", "500", "503", "drop")
KINDS = TRANSIENT + ("5xx", "latency")
REACHED = (None, "latency", "pending")  # faults (or none) with which a request reaches the emulator
QUERY_NAMESPACES = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
                    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
                    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
                    "monitoring": "http://monitoring.amazonaws.com/doc/2010-08-01/"}

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def _action(path: str, headers: dict, body: bytes) -> str:
    """The named action of a request (X-Amz-Target, rpc-v2-cbor path, query Action in body or URL), or ""."""
    if headers.get("x-amz-target"):
        return headers["x-amz-target"].rsplit(".", 1)[-1]
    if path.startswith("/service/") and "/operation/" in path:  # smithy rpc-v2-cbor
        return path.rsplit("/", 1)[-1]
    if "x-www-form-urlencoded" in headers.get("content-type", "") and body:
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        if action:
            return action
    return urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("Action", [""])[0]


def classify(method: str, path: str, headers: dict, body: bytes) -> tuple[str, str, bool]:
    """Return (service, operation, mutating) for one AWS request."""
    match = _CRED_SERVICE.search(headers.get("authorization", ""))
    service = match.group(1) if match else ""
    operation = _action(path, headers, body)
    if operation:
        return service, operation, not operation.startswith(READ_PREFIXES)
    # a REST call (Lambda, S3, ...): the method and path name it
    return service, f"{method} {urllib.parse.urlsplit(path).path}", method not in ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Answer:
    """One injected error answer, as bytes on the wire."""

    status: int
    code: str
    body: bytes
    headers: dict


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    if len(data) < 24:
        return bytes([0x60 | len(data)]) + data
    if len(data) < 256:
        return bytes([0x78, len(data)]) + data
    return bytes([0x79]) + len(data).to_bytes(2, "big") + data


def cbor_map(values: dict) -> bytes:
    """A CBOR map of text to text (what an rpc-v2-cbor error body is); fewer than 24 entries."""
    out = bytes([0xA0 | len(values)])
    for key, value in values.items():
        out += _cbor_text(key) + _cbor_text(value)
    return out


def _service_error(service: str, kind: str, rng: random.Random) -> tuple[int, str, str]:
    """(status, code, message) of a fault as `service` returns it."""
    if kind == "throttle":
        if service == "lambda":
            return 429, "TooManyRequestsException", "Rate exceeded"
        if service == "dynamodb":
            return 400, rng.choice(("ProvisionedThroughputExceededException", "ThrottlingException")), (
                "The level of configured provisioned throughput for the table was exceeded")
        if service == "s3":
            return 503, "SlowDown", "Please reduce your request rate."
        if service in QUERY_NAMESPACES:
            return 400, "Throttling", "Rate exceeded"
        return 400, "ThrottlingException", "Rate exceeded"
    if kind == "500":
        code = {"lambda": "ServiceException", "dynamodb": "InternalServerError", "s3": "InternalError"}
        return 500, code.get(service, "InternalFailure"), "We encountered an internal error. Please try again."
    return 503, "ServiceUnavailable", "Service is unavailable. Please try again."


def error_answer(service: str, kind: str, headers: dict, path: str, rng: random.Random) -> Answer:
    """The answer of `service` for fault `kind`, in the protocol the request `headers`/`path` used."""
    status, code, message = _service_error(service, kind, rng)
    query_compatible = {"x-amzn-query-error": f"{code};Sender"} if service in QUERY_NAMESPACES else {}
    if path.startswith("/service/") and "/operation/" in path:  # smithy rpc-v2-cbor (CloudWatch)
        body = cbor_map({"__type": f"com.amazon.coral.service#{code}", "message": message})
        return Answer(status, code, body, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor",
                                           **query_compatible})
    target = headers.get("x-amz-target", "")
    if target:  # JSON 1.0 / 1.1
        prefix = "com.amazonaws.dynamodb.v20120810#" if service == "dynamodb" else ""
        body = json.dumps({"__type": prefix + code, "message": message}).encode()
        ctype = headers.get("content-type") or "application/x-amz-json-1.1"
        return Answer(status, code, body, {"Content-Type": ctype, **query_compatible})
    if service in QUERY_NAMESPACES:  # query protocol: XML
        body = (f'<ErrorResponse xmlns="{QUERY_NAMESPACES[service]}"><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{message}</Message></Error><RequestId>proxy-fault</RequestId></ErrorResponse>").encode()
        return Answer(status, code, body, {"Content-Type": "text/xml"})
    if service == "s3":  # rest-xml
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        return Answer(status, code, body, {"Content-Type": "application/xml"})
    # rest-json (Lambda): the code travels in x-amzn-ErrorType
    extra = {"Reason": "CallerRateLimitExceeded"} if code == "TooManyRequestsException" else {}
    body = json.dumps({"Type": "User" if status < 500 else "Service", "message": message, **extra}).encode()
    return Answer(status, code, body, {"Content-Type": "application/json", "x-amzn-ErrorType": code})


@dataclass
class FaultConfig:
    rate: float = 0.0  # probability a request gets a fault
    kinds: tuple = ("throttle",)  # see KINDS; TRANSIENT is the usual mix
    seed: int = 0
    max_faults: int = 0  # 0 = no fault at all
    latency_s: float = 0.5
    operations: tuple = ()  # empty = every operation
    services: tuple = ()  # empty = every service (signing names: lambda, dynamodb, monitoring, ...)

    def __post_init__(self):
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; choose from {', '.join(KINDS)}")

    @classmethod
    def from_dict(cls, data: dict) -> "FaultConfig":
        """From JSON-like values (lists for tuples); keys left out keep their defaults."""
        types = {"rate": float, "kinds": tuple, "seed": int, "max_faults": int, "latency_s": float,
                 "operations": tuple, "services": tuple}
        unknown = set(data) - set(types)
        if unknown:
            raise ValueError(f"unknown fault setting(s) {sorted(unknown)}; choose from {', '.join(types)}")
        return cls(**{key: types[key](value) for key, value in data.items()})


@dataclass
class Script:
    match: str  # regex searched in the operation (or "METHOD /path" for REST calls)
    kind: str  # conflict | pending
    count: int


@dataclass
class ProxyState:
    upstream: str
    calls: list = field(default_factory=list)
    faults: FaultConfig = field(default_factory=FaultConfig)
    injected: int = 0
    rng: random.Random = field(default_factory=random.Random)
    lock: threading.Lock = field(default_factory=threading.Lock)
    scripts: list = field(default_factory=list)
    kill_after: int = 0  # 0 = no kill trigger
    kill_operation: str = ""  # the trigger counts only the mutating calls of this operation ("": every one)
    kill_pgid: int = 0
    counted: int = 0  # mutating calls forwarded since the trigger was armed (of kill_operation, when named)
    killed: bool = False
    # client ports of the sockets the killed tree held: refused for good (not reset by disarming)
    fenced_ports: set = field(default_factory=set)
    kill_done: threading.Event = field(default_factory=threading.Event)
    # calls recorded while the trigger had fired or from a fenced port, until the next crash run is armed (not
    # cleared by clear(): the rerun's recording starts afresh, these stay to be checked)
    after_trigger: list = field(default_factory=list)

    def count_forwarded(self, mutating: bool, operation: str) -> int | None:
        """Count a mutating call the emulator answered; returns the process group to kill, if now."""
        if not mutating:
            return None
        with self.lock:
            if self.kill_operation and operation != self.kill_operation:
                return None
            self.counted += 1
            if self.kill_after and not self.killed and self.counted >= self.kill_after:
                self.killed = True
                self.kill_done.clear()
                return self.kill_pgid
        return None

    def kill(self, pgid: int) -> None:
        """Kill the tree the trigger fired on (``kill_tree``) and fence the client ports of its sockets."""
        try:
            ports = kill_tree(pgid)
            with self.lock:
                self.fenced_ports |= ports
        finally:
            self.kill_done.set()

    def refused(self, port: int) -> bool:
        """A request from client `port` is not forwarded: the trigger fired, or the port was the killed tree's."""
        with self.lock:
            return self.killed or port in self.fenced_ports

    def arm(self, count: int, pgid: int, operation: str = "") -> None:
        with self.lock:
            self.kill_after, self.kill_pgid, self.kill_operation = count, pgid, operation
            self.counted, self.killed = 0, False
            if count:  # a new crash run: the previous one's ports may be the kernel's again by now
                self.fenced_ports.clear()
                self.after_trigger = []

    def pick_script(self, operation: str) -> str | None:
        with self.lock:
            for script in self.scripts:
                if script.count > 0 and re.search(script.match, operation):
                    script.count -= 1
                    return script.kind
        return None

    def configure(self, config: FaultConfig) -> None:
        with self.lock:
            self.faults = config
            self.injected = 0
            self.rng = random.Random(config.seed)

    def pick_fault(self, service: str, operation: str) -> str | None:
        with self.lock:
            cfg = self.faults
            if self.injected >= cfg.max_faults or cfg.rate <= 0:
                return None
            if not service:  # not an AWS call (the emulator's own /moto-api/): AWS faults do not apply
                return None
            if cfg.operations and operation not in cfg.operations:
                return None
            if cfg.services and service not in cfg.services:
                return None
            if self.rng.random() >= cfg.rate:
                return None
            self.injected += 1
            return self.rng.choice(cfg.kinds)


def _make_handler(state: ProxyState):
    up = urllib.parse.urlsplit(state.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _reply(self, status: int, body: bytes, ctype: str = "application/json", extra: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _control(self, body: bytes) -> None:
            if self.path.startswith("/__proxy/calls"):
                with state.lock:
                    data = json.dumps({"calls": state.calls, "injected": state.injected}).encode()
                self._reply(200, data)
            elif self.path.startswith("/__proxy/config"):
                state.configure(FaultConfig.from_dict(json.loads(body or b"{}")))
                self._reply(200, b'{"status": "ok"}')
            elif self.path.startswith("/__proxy/reset"):
                with state.lock:
                    state.calls.clear()
                self._reply(200, b'{"status": "ok"}')
            elif self.path.startswith("/__proxy/kill"):
                data = json.loads(body or b"{}")
                state.arm(int(data["after"]), int(data["pgid"]), str(data.get("operation", "")))
                self._reply(200, b'{"status": "ok"}')
            else:
                self._reply(404, b'{"message": "unknown proxy control path"}')

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/__proxy/"):
                return self._control(body)
            headers = {k.lower(): v for k, v in self.headers.items()}
            service, operation, mutating = classify(self.command, self.path, headers, body)
            port = self.client_address[1]
            fault = "killed" if state.refused(port) else state.pick_fault(service, operation) or state.pick_script(operation)
            answer = None
            if fault in ("throttle", "500", "503", "5xx"):
                with state.lock:
                    answer = error_answer(service, "503" if fault == "5xx" else fault, headers, self.path, state.rng)
            record = {"service": service, "operation": operation, "mutating": mutating,
                      "method": self.command, "path": self.path.split("?")[0], "fault": fault,
                      "code": answer.code if answer else None, "at": round(time.time(), 3), "port": port}
            with state.lock:
                state.calls.append(record)
                if state.killed or port in state.fenced_ports:
                    state.after_trigger.append(record)
            if fault in ("drop", "killed"):  # no answer at all: the client sees the connection close
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            if answer:
                return self._reply(answer.status, answer.body, answer.headers.pop("Content-Type"), answer.headers)
            if fault == "conflict":
                msg = json.dumps({"Type": "User", "message": "The operation cannot be performed at this time. "
                                  "An update is in progress for resource"}).encode()
                return self._reply(409, msg, "application/json",
                                   {"x-amzn-ErrorType": "ResourceConflictException"})
            if fault == "latency":
                time.sleep(state.faults.latency_s)
            conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=120)
            pgid = None
            try:
                fwd = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                conn.request(self.command, self.path, body=body, headers=fwd)
                resp = conn.getresponse()
                data = resp.read()
                # counted (and the trigger armed) before the client sees this answer: its next call, however
                # quick, is already refused, so the kill lands right after this call and never after the next
                pgid = state.count_forwarded(mutating, operation)
                if fault == "pending":
                    data = _pending(data)
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            finally:
                conn.close()
            if pgid:
                state.kill(pgid)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    return Handler


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])  # after "pid (comm) state"
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def process_tree(root: int) -> list[int]:
    """`root` and every process descended from it."""
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def socket_ports(pids) -> set[int]:
    """Local TCP ports of the sockets processes `pids` hold open (from /proc: fd links, then net/tcp)."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:["):
                        inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def kill_tree(root: int) -> set[int]:
    """SIGKILL `root`, its process group and every descendant, as a crash of the operator's machine would.

    ansible-playbook's workers call setsid(), so the module a worker runs is in another process group:
    killing the playbook's group alone leaves that module running (it would finish its writes).
    The tree is stopped first (SIGSTOP) until it stops growing, then killed. Returns the local ports of
    the sockets the stopped tree held: a request it sent before it stopped may still wait in the proxy's
    buffers, and the proxy must never forward it."""
    stopped: set[int] = set()
    while True:
        fresh = [pid for pid in process_tree(root) if pid not in stopped]
        if not fresh:
            break
        for pid in fresh:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped.update(fresh)
    ports = socket_ports(stopped)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(root, signal.SIGKILL)
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return ports


def _pending(data: bytes) -> bytes:
    """A Lambda function (or its configuration) answer, rewritten as if an update were running."""
    try:
        body = json.loads(data)
    except ValueError:
        return data
    config = body.get("Configuration", body)
    if isinstance(config, dict) and "FunctionName" in config:
        config["State"], config["LastUpdateStatus"] = "Pending", "InProgress"
    return json.dumps(body).encode()


class FaultProxy:
    """In-process proxy on a free loopback port; a context manager."""

    def __init__(self, upstream: str, port: int = 0, host: str = "127.0.0.1"):
        require_loopback(upstream)
        require_loopback(f"http://{host}")
        self.state = ProxyState(upstream=upstream.rstrip("/"))
        self.server = ThreadingHTTPServer((host, port), _make_handler(self.state))
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set_faults(self, **kwargs) -> None:
        self.state.configure(FaultConfig.from_dict(kwargs))

    def script(self, match: str, kind: str, count: int = 1) -> None:
        """Answer the next ``count`` requests matching ``match`` as ``kind`` (conflict | pending, or one of
        ``TRANSIENT``: a burst of faults on one call)."""
        if kind not in ("conflict", "pending") + TRANSIENT:
            raise ValueError(f"kind must be conflict, pending or one of {', '.join(TRANSIENT)}, not {kind}")
        with self.state.lock:
            self.state.scripts.append(Script(match, kind, count))

    def calls(self) -> list[dict]:
        with self.state.lock:
            return list(self.state.calls)

    def mutating_calls(self) -> list[dict]:
        return [c for c in self.calls() if c["mutating"]]

    def clear(self) -> None:
        with self.state.lock:
            self.state.calls.clear()

    def injected(self) -> list[dict]:
        """The calls answered with a fault (code set for error answers)."""
        return [c for c in self.calls() if c["fault"]]

    def kill_after(self, count: int, pgid: int, operation: str = "") -> None:
        """SIGKILL process `pgid`, its group and its descendants right after the `count`-th mutating call from
        now (0: disarm); with `operation` (e.g. ``EnableRule``, or ``PUT /path`` for REST services) the
        `count`-th mutating call of that operation. Disarming does not reopen the killed tree's connections
        (``fenced_ports``)."""
        self.state.arm(count, pgid, operation)

    @property
    def killed(self) -> bool:
        return self.state.killed

    def wait_killed(self, timeout: float = 60) -> bool:
        """After the trigger fired: wait until the whole tree is killed and its ports fenced."""
        return self.state.kill_done.wait(timeout)

    def fenced(self) -> set[int]:
        """Client ports of the sockets the last killed tree held."""
        with self.state.lock:
            return set(self.state.fenced_ports)

    def from_killed_tree(self) -> list[dict]:
        """Calls that came from the killed tree's sockets after the trigger fired, also after disarming
        (``clear()`` keeps them): each must have been refused (fault ``killed``)."""
        with self.state.lock:
            return [c for c in self.state.after_trigger if c["port"] in self.state.fenced_ports]


@dataclass
class ProxiedRun:
    """An ansible-playbook run through the proxy: its outcome and the calls the proxy saw."""

    rc: int
    stdout: str
    stderr: str
    calls: list
    killed: bool

    @property
    def mutating(self) -> list:
        """Mutating calls that reached the emulator (faulted ones did not)."""
        return [c for c in self.calls if c["mutating"] and c["fault"] in REACHED]

    @property
    def faults(self) -> list:
        return [c for c in self.calls if c["fault"]]

    def recap(self) -> dict:
        """localhost's PLAY RECAP counts (ok, changed, failed, ...) from the default callback's output."""
        match = re.search(r"^localhost\s*:\s*(.*)$", self.stdout, re.M)
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))} if match else {}


def playbook_command(proxy: FaultProxy, playbook: str, *args: str, env: dict | None = None,
                     inventory: str = "test") -> tuple[list[str], dict]:
    """(command, environment) of ansible-playbook running playbooks/<playbook> with `inventory`, its endpoint
    the proxy's URL; `env` added to this process's environment."""
    bindir = Path(sys.executable).parent
    cmd = [str(bindir / "ansible-playbook"), "-i", str(PROJECT_DIR / "inventories" / inventory),
           str(PROJECT_DIR / "playbooks" / playbook), *args]
    full_env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT_DIR / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                    PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    full_env.update(env or {})
    full_env["CUTOVER_EMULATOR_URL"] = proxy.url
    return cmd, full_env


def run_playbook(proxy: FaultProxy, playbook: str, *args: str, env: dict | None = None, kill_after: int = 0,
                 kill_operation: str = "", inventory: str = "test", timeout: float = 600) -> ProxiedRun:
    """Run playbooks/<playbook> with the test inventory, its endpoint the proxy's URL.

    `args` are extra ansible-playbook arguments (``--check``, ``-e``, ...). With `kill_after`,
    the playbook's process tree is SIGKILLed right after that many mutating calls (of `kill_operation`,
    when named: ``kill_after=1, kill_operation="EnableRule"`` kills right after its first EnableRule).
    """
    cmd, full_env = playbook_command(proxy, playbook, *args, env=env, inventory=inventory)
    proxy.clear()
    proxy.kill_after(0, 0)
    proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    if kill_after:
        proxy.kill_after(kill_after, proc.pid, kill_operation)  # its own session: pgid == pid
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        stdout, stderr = proc.communicate()
    killed = proxy.killed
    if killed and not proxy.wait_killed():  # the playbook may be gone while its module is still being killed
        raise RuntimeError(f"the kill trigger fired but the process tree of {proc.pid} was not killed within 60 s")
    proxy.kill_after(0, 0)  # disarmed: the proxy forwards again (for the rerun), never from the killed tree's ports
    return ProxiedRun(proc.returncode, stdout, stderr, proxy.calls(), killed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.proxy")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0.0, help="share of calls answered with a fault")
    parser.add_argument("--kinds", default=",".join(TRANSIENT), help=f"comma-separated, from {', '.join(KINDS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-faults", type=int, default=1000)
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.upstream, port=args.port)
    if args.rate:
        proxy.set_faults(rate=args.rate, kinds=args.kinds.split(","), seed=args.seed, max_faults=args.max_faults)
    print(f"proxy at {proxy.url} -> {args.upstream} (faults: rate {args.rate})", flush=True)
    try:
        proxy.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
