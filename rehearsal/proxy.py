"""A recording, fault-injecting HTTP proxy in front of the emulator.

Every request is recorded as (service, operation, mutating) so tests can
assert that a run made no mutating AWS call. Faults (throttling, 5xx,
latency) are injected by seed and rate, bounded by ``max_faults``.

In tests: ``with FaultProxy(upstream) as proxy: ... proxy.url ...``.
Standalone: ``python -m rehearsal.proxy --upstream URL --port N``.
Control over HTTP: GET /__proxy/calls, POST /__proxy/config, POST /__proxy/reset.

Scripted answers (``proxy.script(match, kind, count)``) reproduce what AWS does
and moto does not: ``conflict`` answers the next ``count`` requests whose
"operation" (e.g. ``PUT /2015-03-31/functions/f/code`` for REST services, or
the X-Amz-Target action) matches the regex with a ResourceConflictException;
``pending`` forwards them and rewrites the Lambda configuration in the answer
to ``State: Pending`` / ``LastUpdateStatus: InProgress``.
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rehearsal.emulator import require_loopback

READ_PREFIXES = (
    "Describe", "List", "Get", "BatchGet", "BatchCheck", "Scan", "Query",
    "Filter", "Head", "Lookup", "Search", "Test", "Validate",
)
_CRED_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def classify(method: str, path: str, headers: dict, body: bytes) -> tuple[str, str, bool]:
    """Return (service, operation, mutating) for one AWS request."""
    auth = headers.get("authorization", "")
    match = _CRED_SERVICE.search(auth)
    service = match.group(1) if match else ""
    target = headers.get("x-amz-target", "")
    if target:
        operation = target.rsplit(".", 1)[-1]
        return service, operation, not operation.startswith(READ_PREFIXES)
    if path.startswith("/service/") and "/operation/" in path:  # smithy rpc-v2-cbor
        operation = path.rsplit("/", 1)[-1]
        return service, operation, not operation.startswith(READ_PREFIXES)
    ctype = headers.get("content-type", "")
    if "x-www-form-urlencoded" in ctype and body:
        params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        operation = params.get("Action", [""])[0]
        if operation:
            return service, operation, not operation.startswith(READ_PREFIXES)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if "Action" in query:
        operation = query["Action"][0]
        return service, operation, not operation.startswith(READ_PREFIXES)
    operation = f"{method} {urllib.parse.urlsplit(path).path}"
    return service, operation, method not in ("GET", "HEAD", "OPTIONS")


@dataclass
class FaultConfig:
    rate: float = 0.0  # probability a request gets a fault
    kinds: tuple = ("throttle",)  # throttle | 5xx | latency
    seed: int = 0
    max_faults: int = 0  # 0 = no fault at all
    latency_s: float = 0.5
    operations: tuple = ()  # empty = every operation

    @classmethod
    def from_dict(cls, data: dict) -> "FaultConfig":
        return cls(
            rate=float(data.get("rate", 0.0)),
            kinds=tuple(data.get("kinds", ("throttle",))),
            seed=int(data.get("seed", 0)),
            max_faults=int(data.get("max_faults", 0)),
            latency_s=float(data.get("latency_s", 0.5)),
            operations=tuple(data.get("operations", ())),
        )


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

    def pick_fault(self, operation: str) -> str | None:
        with self.lock:
            cfg = self.faults
            if self.injected >= cfg.max_faults or cfg.rate <= 0:
                return None
            if cfg.operations and operation not in cfg.operations:
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
            else:
                self._reply(404, b'{"message": "unknown proxy control path"}')

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/__proxy/"):
                return self._control(body)
            headers = {k.lower(): v for k, v in self.headers.items()}
            service, operation, mutating = classify(self.command, self.path, headers, body)
            fault = state.pick_fault(operation) or state.pick_script(operation)
            with state.lock:
                state.calls.append(
                    {"service": service, "operation": operation, "mutating": mutating,
                     "method": self.command, "path": self.path.split("?")[0], "fault": fault}
                )
            if fault == "throttle":
                msg = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
                return self._reply(400, msg, "application/x-amz-json-1.1",
                                   {"x-amzn-ErrorType": "ThrottlingException"})
            if fault == "5xx":
                msg = json.dumps({"__type": "ServiceUnavailableException", "message": "Service unavailable"}).encode()
                return self._reply(503, msg, "application/x-amz-json-1.1",
                                   {"x-amzn-ErrorType": "ServiceUnavailableException"})
            if fault == "conflict":
                msg = json.dumps({"Type": "User", "message": "The operation cannot be performed at this time. "
                                  "An update is in progress for resource"}).encode()
                return self._reply(409, msg, "application/json",
                                   {"x-amzn-ErrorType": "ResourceConflictException"})
            if fault == "latency":
                time.sleep(state.faults.latency_s)
            conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=120)
            try:
                fwd = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                conn.request(self.command, self.path, body=body, headers=fwd)
                resp = conn.getresponse()
                data = resp.read()
                if fault == "pending":
                    data = _pending(data)
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            finally:
                conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    return Handler


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
        """Answer the next ``count`` requests matching ``match`` as ``kind`` (conflict | pending)."""
        if kind not in ("conflict", "pending"):
            raise ValueError(f"kind must be conflict or pending, not {kind}")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.proxy")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.upstream, port=args.port)
    print(f"proxy at {proxy.url} -> {args.upstream}", flush=True)
    try:
        proxy.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
