"""Soak (issue 13 items 1 and 3): the whole rehearsal, seed to decommission (or, with --through, as far as
Decision Point 1 or a later phase), again and again with different fault seeds (20 % transient faults per
service in every phase), each in a fresh emulator world; then
start_parallel.yml killed right after each of its mutating calls in turn; then, on one world brought to a
Decision Point 2 go, cutover.yml and rollback.yml -e scenario=2 killed after each of their mutating calls. Every run must converge and keep
the customer invariant. Prints the figures for bench/BENCHMARKS.md and README "Reliability".

    .venv/bin/python bench/bench_soak.py [--runs 50] [--crash-points all|N] [--minutes M]
        [--crash-playbooks start_parallel,switch|cutover|rollback] [--crash-after OPERATION[,OPERATION]]
        [--through dp1|dp2|cutover|rollback|recutover|post_cutover|decommission]

`--crash-after EnableRule --crash-playbooks rollback` kills rollback.yml right after its first EnableRule (the
proxy's kill trigger named by operation) instead of after the k-th mutating call: the call a count misses when the
world's reconcile writes 0-2 items; cutover.yml runs through before it (and the other way round for `cutover`).

`--minutes` stops starting new runs after that long (the figures say how many ran).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from common import free_port, own_emulator

from rehearsal import emulator as emu
from rehearsal import notify_recorder
from rehearsal.image_archive import build_archive
from rehearsal.proxy import FaultProxy
from rehearsal.soak import PAST_DP1, SWITCH_PLAYBOOKS, Chain, ChainError, crash_and_recover, crash_the_switch


FAILURES_DIR = emu.PROJECT_DIR / "reports" / "soak"  # a failed seed's whole message is kept here


def one_world(url: str, work: Path, seed: int) -> Chain:
    emu.reset(url)
    proxy = FaultProxy(url).start()
    chain = Chain(proxy, work, seed=seed)
    # the controller's environment as the execution environment sets it (README "Retries"): the lookups of Secrets
    # Manager (the notify role) run in the controller and take no aws_config; botocore's default 3 attempts there
    # failed rollback.yml's end announcement in the soak (seed 21: throttle, 500, drop, 503 on GetSecretValue)
    chain.env.update(AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="11")
    chain.env["CUTOVER_IMAGE_ARCHIVE"] = str(build_archive(work / "image.tar", layers=[4096, 8192], seed=seed))
    return chain


def soak(url: str, root: Path, runs: int, deadline: float, first: int = 1, through: str = "decommission",
         rate: float = 0.2) -> dict:
    done, failures, faults, calls, seconds = 0, [], 0, 0, []
    for seed in range(first, first + runs):
        if time.monotonic() > deadline:
            break
        started = time.monotonic()
        chain = one_world(url, root / f"soak-{seed}", seed)
        chain.rate = rate
        try:
            result = chain.rehearse(chain.env["CUTOVER_IMAGE_ARCHIVE"], through=through)
            decided = {k: result[k] for k in ("gate", *PAST_DP1) if k in result}
            print(f"seed {seed} through {through}: decided {decided}", flush=True)
            print(f"seed {seed}: converged, invariant ok ({result['invariant']}); {result['runs']} runs, "
                  f"{result['calls']} calls, {result['faults']} faults ({time.monotonic() - started:.0f} s)", flush=True)
            print(f"seed {seed} phases (playbook, calls, faults, rc): {chain.log}", flush=True)
        except ChainError as exc:
            message = str(exc)
            failures.append((seed, message[:2000]))
            kept = FAILURES_DIR / f"seed-{seed}.txt"  # the whole message (the failed run's output): the world is gone
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(f"{message}\n\nphases (playbook, calls, faults, rc): {chain.log}\n")
            print(f"seed {seed}: FAILED {message[:600]} (all of it: {kept})", flush=True)
        finally:
            chain.proxy.stop()
        figures = chain.figures()
        done, faults, calls = done + 1, faults + figures["faults"], calls + figures["calls"]
        seconds.append(time.monotonic() - started)
    return {"runs": done, "converged": done - len(failures), "faults": faults, "calls": calls,
            "seconds_per_run": round(sum(seconds) / max(len(seconds), 1)), "failures": failures}


def to_dp1_go(chain: Chain) -> None:
    """A fresh world brought without faults to the Decision Point 1 go start_parallel.yml requires."""
    chain.rate = 0.0
    chain.seed_world()
    for playbook in ("bootstrap.yml", "deploy_image.yml", "create_function.yml", "monitoring.yml"):
        chain.must(chain.run(playbook), playbook)
    chain.decide_parallel()  # seed_new_table.yml, then gate.yml -e decision=parallel


def crashes(url: str, root: Path, points, deadline: float) -> dict:
    """start_parallel.yml killed after mutating call k (fresh world each time), recovered."""
    outcomes = []
    for after in points:
        if time.monotonic() > deadline:
            break
        chain = one_world(url, root / f"crash-{after}", after)
        try:
            to_dp1_go(chain)
            outcome = crash_and_recover(chain, "start_parallel.yml",
                                        ("-e", f"cutover_compare_as_of={chain.as_of()}"), after)
            chain.slots(2)
            chain.invariant()
        except ChainError as exc:
            outcome = {"after": after, "failed": str(exc)[:600]}
        finally:
            chain.proxy.stop()
        print(f"crash after mutating call {after}: {outcome}", flush=True)
        outcomes.append(outcome)
        if outcome.get("killed") is False:
            break  # past the last mutating call of the playbook
    return {"points": len([o for o in outcomes if o.get("killed")]),
            "recovered": len([o for o in outcomes if o.get("killed") and "failed" not in o]),
            "failed": [o for o in outcomes if "failed" in o]}


def switch_crashes(url: str, root: Path, points, deadline: float, scenario: int = 2,
                   crash: tuple = SWITCH_PLAYBOOKS) -> dict:
    """One world brought by the chain (no faults) to a recorded Decision Point 2 go; then for k = 1, 2, ... (or
    each named operation): cutover.yml killed after its k-th mutating call and recovered, rollback.yml -e
    scenario=N the same (back to the parallel run for k + 1; a playbook not in `crash` runs through); the rule
    pair right after each kill, one slot and the invariant after each k."""
    from tests.rehearsal.cutover_world import dp2

    chain, outcomes = one_world(url, root / "switch", 7), []
    try:
        to_dp1_go(chain)
        chain.must(chain.run("start_parallel.yml", "-e", f"cutover_compare_as_of={chain.as_of()}"), "start_parallel.yml")
        chain.slots(3)
        dp2(chain.proxy.url)
        chain.follow = True
        for after in points:
            if time.monotonic() > deadline:
                break
            started = time.monotonic()
            try:
                pair = crash_the_switch(chain, after, scenario, crash)
            except ChainError as exc:
                pair = [{"after": after, "failed": str(exc)[:1500]}]
            for outcome in pair:
                point = f"mutating call {after}" if isinstance(after, int) else after
                print(f"crash after {point} ({time.monotonic() - started:.0f} s): {outcome}", flush=True)
            outcomes.extend(pair)
            if any("failed" in o for o in pair) or isinstance(after, int) and not any(o.get("killed") for o in pair):
                break  # a failure (the world is not trusted), or past the last mutating call of both playbooks
    finally:
        chain.proxy.stop()
    figures = {}
    for playbook in ("cutover.yml", "rollback.yml"):
        mine = [o for o in outcomes if o.get("playbook") == playbook]
        figures[playbook] = {"points": len([o for o in mine if o.get("killed")]),
                             "recovered": len([o for o in mine if o.get("killed")]),
                             "neither_live_after_kill": [o["after"] for o in mine if (o.get("left") or {}).get("live") is None
                                                         and o.get("killed")],
                             "operations": [o.get("operation") for o in mine if o.get("killed")]}
    return {**figures, "failed": [o for o in outcomes if "failed" in o]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--crash-points", default="all", help="all, or the highest mutating call to crash after")
    parser.add_argument("--minutes", type=float, default=600)
    parser.add_argument("--crash-playbooks", default="start_parallel,switch",
                        help="start_parallel (start_parallel.yml), switch (cutover.yml and rollback.yml -e scenario=2), "
                             "cutover or rollback (only that one killed, the other run through)")
    parser.add_argument("--crash-after", default="",
                        help="comma-separated operations (e.g. EnableRule): kill right after the first call of each, "
                             "instead of after the k-th mutating call (--crash-points)")
    parser.add_argument("--through", default="decommission", choices=("dp1", *PAST_DP1),
                        help="the last phase of each faulted chain (dp1: as far as Decision Point 1, as in make test)")
    parser.add_argument("--rate", type=float, default=0.2, help="the share of calls answered by a transient fault")
    parser.add_argument("--port", type=int, default=0,
                        help="the emulator's port (the notification recorder takes the next one); 0: free ports")
    args = parser.parse_args()
    # kill <pid> (SIGTERM) unwinds like an exception: the emulator and the recorder this bench started are stopped
    # by their PIDs on the way out (the context managers and finally blocks below), never left running
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    deadline = time.monotonic() + args.minutes * 60
    points = range(1, 200) if args.crash_points == "all" else range(1, int(args.crash_points) + 1)
    if args.crash_after:
        points = args.crash_after.split(",")
    with tempfile.TemporaryDirectory() as tmp, own_emulator(Path(tmp) / "emulator", args.port) as server:
        root = Path(tmp)
        os.environ.update(CUTOVER_NOTIFY_URL=f"http://127.0.0.1:{args.port + 1 if args.port else free_port()}", CUTOVER_NOTIFY_FILE=str(root / "notify.jsonl"))
        notify_recorder.start()
        try:
            started = time.monotonic()
            soaked = soak(server.url, root, args.runs, deadline, args.first_seed, args.through, args.rate)
            which = args.crash_playbooks.split(",") if args.crash_points != "0" or args.crash_after else []
            crashed = crashes(server.url, root, points, deadline) if "start_parallel" in which else {}
            crash = tuple(p for p in SWITCH_PLAYBOOKS if {"switch", p.removesuffix(".yml")} & set(which))
            switched = switch_crashes(server.url, root, points, deadline, crash=crash) if crash else {}
        finally:
            notify_recorder.stop()
        print(json.dumps({"soak": soaked, "crash": crashed, "switch": switched,
                          "wall_s": round(time.monotonic() - started)}, indent=1))
        return 0 if not soaked["failures"] and not crashed.get("failed") and not switched.get("failed") else 1


if __name__ == "__main__":
    raise SystemExit(main())
