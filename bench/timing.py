"""Where a benchmark's wall time goes: waiting on the emulator, or the controller (for the benchmarks only).

``install(path)`` records to ``path`` (JSON lines, appended by every process): each HTTP round trip botocore
makes (``Endpoint._send``: the request out, the emulator's work, the answer back; not the parsing), each
``time.sleep`` (polls, backoff) and each process's life (from Python start-up to exit). A playbook gets it
through ``env()`` (``PYTHONPATH`` holds ``bench/timing_site/sitecustomize.py``): ansible-playbook and every
module process it starts record; an in-process module run calls ``install`` itself.

``breakdown(records, start, end)`` splits ``start..end`` into four parts that never overlap, in this order:
``emulator`` (at least one AWS call in flight), ``sleep`` (a module process asleep: the wait for the next
slot, retry backoff), ``module`` (a module process running Python: start-up, imports, its own logic, botocore
signing and parsing), ``ansible`` (the rest: ansible-playbook start-up, templating, task dispatch, callbacks).
On this 2-core machine the emulator and the controller share the CPU, so ``emulator`` also holds the time the
moto server waited for a core.
"""
from __future__ import annotations

import atexit
import importlib.abc
import importlib.util
import json
import os
import sys
import threading
import time
from pathlib import Path

SITE = Path(__file__).resolve().parent / "timing_site"
ENV = "CUTOVER_BENCH_TIMING"
_lock = threading.Lock()
_state = {"path": None}


def _write(record: dict) -> None:
    line = json.dumps(dict(record, pid=os.getpid())) + "\n"
    with _lock, open(_state["path"], "a", encoding="utf-8") as out:
        out.write(line)


def _exit() -> None:
    try:
        _write({"kind": "exit", "end": time.time()})
    except OSError:  # the benchmark's temporary directory is gone already
        pass


def _operation(request) -> str:
    target = request.headers.get("X-Amz-Target")
    if target:
        return (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
    return f"{request.method} {request.url.split('//', 1)[-1].split('/', 1)[-1].split('?')[0][:60]}"


def _patch_botocore(endpoint_module) -> None:
    endpoint = endpoint_module.Endpoint
    if getattr(endpoint._send, "_timed", False):
        return
    send = endpoint._send

    def timed_send(self, request):
        started = time.time()
        try:
            return send(self, request)
        finally:
            _write({"kind": "aws", "op": _operation(request), "start": started, "end": time.time()})

    timed_send._timed = True
    endpoint._send = timed_send


class _AfterImport(importlib.abc.MetaPathFinder):
    """Patches botocore.endpoint when (if ever) a process imports it: no import cost for the others."""

    def find_spec(self, name, path, target=None):
        if name != "botocore.endpoint":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None:
            return None
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            _patch_botocore(module)

        spec.loader.exec_module = exec_module
        return spec


def install(path) -> None:
    """Record this process (and the processes it forks) to ``path``."""
    if _state["path"]:
        return
    _state["path"] = str(path)
    started = time.time()
    _write({"kind": "process", "argv": [Path(sys.argv[0]).name] if sys.argv else [], "start": started})
    atexit.register(_exit)
    sleep = time.sleep

    def timed_sleep(seconds):
        began = time.time()
        sleep(seconds)
        if seconds >= 0.01:  # not the controller's 1-ms polls of its workers
            _write({"kind": "sleep", "start": began, "end": time.time()})

    time.sleep = timed_sleep
    if "botocore.endpoint" in sys.modules:
        _patch_botocore(sys.modules["botocore.endpoint"])
    else:
        sys.meta_path.insert(0, _AfterImport())


def env(path) -> dict:
    """Environment for a playbook run whose processes record to ``path``."""
    return {ENV: str(path), "PYTHONPATH": os.pathsep.join(p for p in (str(SITE), os.environ.get("PYTHONPATH")) if p)}


def read(path) -> list[dict]:
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def breakdown(records: list[dict], start: float, end: float) -> dict:
    """Seconds of ``start..end`` per part (emulator, sleep, module, ansible) and the AWS calls made."""
    procs, exits = {}, {}
    for r in records:
        if r["kind"] == "process":
            procs[r["pid"]] = r
        elif r["kind"] == "exit":
            exits[r["pid"]] = r["end"]
    modules = {pid for pid, r in procs.items() if not any("ansible" in a for a in r["argv"])}
    spans = {"emulator": [], "sleep": [], "module": []}
    calls = [r for r in records if r["kind"] == "aws" and r["end"] > start and r["start"] < end]
    spans["emulator"] = [(r["start"], r["end"]) for r in calls]
    spans["sleep"] = [(r["start"], r["end"]) for r in records if r["kind"] == "sleep" and r["pid"] in modules]
    spans["module"] = [(procs[pid]["start"], exits.get(pid, end)) for pid in modules]
    # sweep: at each moment the first part (in this order) with something open takes it
    events = []
    for rank, part in enumerate(("emulator", "sleep", "module")):
        for a, b in spans[part]:
            a, b = max(a, start), min(b, end)
            if b > a:
                events += [(a, 1, rank), (b, -1, rank)]
    events.sort()
    open_count, totals, now = [0, 0, 0], {"emulator": 0.0, "sleep": 0.0, "module": 0.0, "ansible": 0.0}, start
    names = ("emulator", "sleep", "module")
    for at, step, rank in events:
        if at > now:
            active = next((names[i] for i in range(3) if open_count[i] > 0), "ansible")
            totals[active] += at - now
            now = at
        open_count[rank] += step
    totals["ansible"] += max(0.0, end - now)
    by_op = {}
    for r in calls:
        entry = by_op.setdefault(r["op"], [0, 0.0])
        entry[0] += 1
        entry[1] += r["end"] - r["start"]
    top = sorted(by_op.items(), key=lambda kv: -kv[1][1])[:4]
    return {**{k: round(v, 1) for k, v in totals.items()}, "wall": round(end - start, 1), "calls": len(calls),
            "modules": sum(1 for pid in modules if end > procs[pid]["start"] >= start),
            "top_calls": [f"{op} x{n} {s:.1f} s" for op, (n, s) in top]}


def line(name: str, parts: dict) -> str:
    """One printable line: wall, emulator / controller split, the parts, the calls that cost most."""
    controller = parts["module"] + parts["ansible"]
    return (f"{name}: {parts['wall']} s wall = emulator {parts['emulator']} s ({parts['calls']} AWS calls in flight) "
            f"+ waiting {parts['sleep']} s (module sleeps: slot polls, backoff) + controller {controller:.1f} s "
            f"(module Python {parts['module']} s in {parts['modules']} module runs, ansible-playbook "
            f"{parts['ansible']} s); costliest calls: {', '.join(parts['top_calls'])}")
