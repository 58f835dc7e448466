"""The rehearsal as a chain of phases run through the fault proxy (issue 13: transient faults, soak).

Each phase runs its playbook with the proxy's faults on (``FaultConfig`` kwargs), then, with the faults
off, proves the faulty run reached the end state a fault-free run reaches: a rerun changes nothing (the
resource playbooks), or decides the same (compare.yml: the same slot result; gate.yml: the same outcome
and criteria). The simulated world (rehearsal.scheduler) runs between phases against the emulator
itself; ``invariant()`` is the customer invariant (no SMS twice, none missed).

Used by bench/bench_soak.py (many seeds, the whole rehearsal), bench/long_tests/test_phases_under_faults.py
(one chain), and for their crash helpers tests/rehearsal/test_cutover_playbooks.py and test_cutover_realign.py.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from rehearsal import world
from rehearsal.config import Config
from rehearsal.proxy import REACHED, TRANSIENT, FaultProxy, ProxiedRun, playbook_command, run_playbook

SLOT = timedelta(minutes=20)
LEDGER_OPS = ("PutItem", "DeleteItem")  # the ledger's lock and run event: every run writes them
ACK = {"by": "soak", "ref": "rehearsal/soak.py"}  # the acknowledgements a person gives at a decision point
# Decision Point 1 as the rehearsal records it (the rollback rehearsal is a person's acknowledgement)
DP1_GO = ("-e", "decision=parallel",
          "-e", json.dumps({"cutover_gate_acks": {"rollback_rehearsed": ACK}}))


# the rehearsal after Decision Point 1, in order (Chain.past_dp1; bench_soak.py --through)
PAST_DP1 = ("dp2", "cutover", "rollback", "recutover", "post_cutover", "decommission")
COMPARED_BY_PLAYBOOK = 3  # of the parallel run's slots before DP2, the last ones compared by compare.yml (faulted)


class ChainError(AssertionError):
    pass


def migration_writes(calls: list[dict]) -> list[str]:
    """Mutating calls that reached the emulator, other than the ledger's lock and run event."""
    return [c["operation"] for c in calls if c["mutating"] and c["fault"] in REACHED
            and not (c["service"] == "dynamodb" and c["operation"] in LEDGER_OPS)]


@dataclass
class Chain:
    proxy: FaultProxy
    workdir: Path
    seed: int = 13
    rate: float = 0.2
    max_faults: int = 400
    follow: bool = False  # run slots while a playbook waits for one (cutover.yml, rollback.yml: rehearsal.follow)
    log: list = field(default_factory=list)  # (phase, calls, faults injected, rc)

    def __post_init__(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = {"CUTOVER_REPORTS_DIR": str(self.workdir / "reports"),
                    "CUTOVER_STATE_DIR": str(self.workdir / "state")}
        self.cfg = Config(url=self.proxy.state.upstream, directory=self.workdir / "state" / "rehearsal")

    # --- running
    def run(self, playbook: str, *args: str, faults: bool = False) -> ProxiedRun:
        if faults:
            self.proxy.set_faults(rate=self.rate, kinds=list(TRANSIENT), seed=self.seed + len(self.log),
                                  max_faults=self.max_faults)
        else:
            self.proxy.set_faults()
        try:
            with self.following():
                run = run_playbook(self.proxy, playbook, *args, env=self.env)
        finally:
            self.proxy.set_faults()
        self.log.append((playbook + (" (faults)" if faults else ""), len(run.calls), len(run.faults), run.rc))
        return run

    def must(self, run: ProxiedRun, what: str) -> ProxiedRun:
        if run.rc != 0:
            faults = [(c["service"], c["operation"], c["fault"]) for c in run.faults]
            raise ChainError(f"{what} failed (rc {run.rc}) with faults {faults[:30]}:\n{run.stdout[-4000:]}\n"
                             f"{run.stderr[-1500:]}")
        return run

    def converge(self, playbook: str, *args: str) -> ProxiedRun:
        """Faulty run, then a fault-free rerun that must find nothing to change."""
        faulty = self.must(self.run(playbook, *args, faults=True), f"{playbook} with faults")
        again = self.must(self.run(playbook, *args), f"{playbook} rerun")
        writes = migration_writes(again.calls)
        if again.recap().get("changed", 0) or writes:
            raise ChainError(f"{playbook}: the faulty run left work for a clean rerun: changed "
                             f"{again.recap().get('changed')}, writes {writes}\n{again.stdout[-3000:]}")
        return faulty

    def following(self):
        """A Follower on this world's clock while a playbook runs (with ``follow``), else nothing."""
        from contextlib import nullcontext

        from rehearsal.follow import Follower

        return Follower(self.cfg) if self.follow else nullcontext()

    # --- the world
    def scheduler(self):
        from rehearsal.scheduler import Scheduler

        return Scheduler(self.cfg)

    def now(self) -> datetime:
        return datetime.fromisoformat(self.scheduler().state()["now"].replace("Z", "+00:00"))

    def seed_world(self, legacy_slots: int = 3) -> None:
        world.seed(self.cfg.url)
        scheduler = self.scheduler()
        scheduler.follow_world("seed")
        scheduler.run(legacy_slots, seed=self.seed)

    def slots(self, count: int) -> None:
        self.scheduler().run(count)

    def invariant(self):
        from rehearsal.invariants import check_world

        report = check_world(self.cfg)
        if not report.ok:
            raise ChainError(f"the customer invariant broke: {report.summary()}; {report.violations[:3]}")
        return report

    # --- phases
    def rehearse(self, archive: str, slots: int = 4, through: str = "dp1") -> dict:
        """The rehearsal: world, state, image, function, monitoring, sms_v2 seeded, Decision Point 1 recorded,
        parallel run, slots of both functions, comparison, Decision Point 1 again; with `through` one of PAST_DP1
        the phases after it up to that one (``past_dp1``); transient faults in every phase from monitoring on
        (image and function: tests/playbooks/test_deploy_and_create.py); the invariant."""
        self.env["CUTOVER_IMAGE_ARCHIVE"] = archive
        self.seed_world()
        self.converge("bootstrap.yml")
        self.must(self.run("deploy_image.yml", faults=True), "deploy_image.yml with faults")
        self.must(self.run("create_function.yml", faults=True), "create_function.yml with faults")
        self.converge("monitoring.yml")
        self.decide_parallel(converge=True)
        self.parallel_from = self.now()
        self.converge("start_parallel.yml", "-e", f"cutover_compare_as_of={self.as_of()}")
        self.slots(slots)
        compared = self.compare()
        decided = self.gate()
        past = self.past_dp1(through) if through != "dp1" else {}
        report = self.invariant()
        return {"compared": compared, "gate": decided, **past, "invariant": report.summary(), **self.figures()}

    def past_dp1(self, through: str = "decommission") -> dict:
        """The rehearsal after Decision Point 1, as rehearsal/demo.py runs it, up to `through` (one of PAST_DP1):
        dp2: the parallel run's slots compared as they settle (in-process), the last COMPARED_BY_PLAYBOOK by
        compare.yml (faults, then the same result without), Decision Point 2 (gate.yml decision=cutover, recorded
        through faults: cutover.yml requires its go; a clean rerun decides the same); cutover: cutover.yml
        converged (a clean rerun finds nothing to switch), live slots, the invariant so far; rollback: rollback.yml
        -e scenario=2 the same, one slot; recutover: cutover.yml again; post_cutover: post_cutover.yml day 1, the
        days until day 7 is complete, day 7 with Decision Point 3 (each through faults, then decided the same
        without); decommission: decommission.yml converged. -> what each decided."""
        from rehearsal import demo

        stages, done = PAST_DP1[:PAST_DP1.index(through) + 1], {}
        reports = self.workdir / "reports" / "comparison"
        demo.compare_each_slot(self.cfg, demo.PARALLEL_SLOTS - COMPARED_BY_PLAYBOOK, reports, show=lambda _line: None)
        for _ in range(COMPARED_BY_PLAYBOOK):
            self.slots(1)
            done["compared_by_playbook"] = self.compare()
        done["dp2"] = self.gate("cutover", *demo.dp2_args(self.now(), ACK))
        switches = (("cutover", "cutover.yml", ()), ("rollback", "rollback.yml", ("-e", "scenario=2")),
                    ("recutover", "cutover.yml", ()))
        for stage, playbook, args in switches:
            if stage not in stages:
                return done
            self.follow = True  # the switch's check waits for the next slot: the follower runs it
            try:
                self.converge(playbook, *args)
            finally:
                self.follow = False
            done[stage] = live_side(rule_pair(self.proxy.state.upstream))
            if stage == "cutover":
                self.slots(3)  # live slots
                self.invariant()
            elif stage == "rollback":
                self.slots(1)
        if "post_cutover" not in stages:
            return done
        done["post_cutover"] = [self.decide("post_cutover.yml", *args)
                                for args in demo.post_cutover_days(self.cfg, self.now(), self.parallel_from, ACK)]
        if "decommission" in stages:
            self.converge("decommission.yml")
            done["decommission"] = "converged"
        return done

    def decide_parallel(self, converge: bool = False) -> None:
        """seed_new_table.yml (with `converge`: through faults, then a clean rerun that changes nothing), then
        Decision Point 1 recorded as go (gate.yml with the rehearsal's acknowledgement): what start_parallel.yml
        requires."""
        if converge:
            self.converge("seed_new_table.yml")
        else:
            self.must(self.run("seed_new_table.yml"), "seed_new_table.yml")
        self.must(self.run("gate.yml", *DP1_GO), "gate.yml -e decision=parallel")

    def as_of(self) -> str:
        from rehearsal.comparison import grace

        return (self.now() - SLOT + grace()).isoformat()

    def compare(self) -> dict:
        """compare.yml with faults, then without: the same slots, the same result."""
        as_of = ["-e", f"cutover_compare_as_of={self.as_of()}"]
        faulty = self.must(self.run("compare.yml", *as_of, faults=True), "compare.yml with faults")
        clean = self.must(self.run("compare.yml", *as_of), "compare.yml rerun")
        first, second = slot_results(faulty.stdout), slot_results(clean.stdout)
        if not first or first != second:
            raise ChainError(f"compare.yml decided differently with faults: {first} vs {second}")
        return first

    def gate(self, decision: str = "parallel", *extra: str) -> tuple:
        """gate.yml with faults, then without: the same outcome and criteria (gate.yml records both decisions)."""
        return self.decide("gate.yml", "-e", f"decision={decision}", *extra)

    def decide(self, playbook: str, *args: str) -> tuple:
        """A deciding playbook (gate.yml, post_cutover.yml) with faults, then without: the same outcome and the
        same criteria (status and name)."""
        faulty = self.run(playbook, *args, faults=True)
        clean = self.run(playbook, *args)
        first, second = gate_outcome(faulty), gate_outcome(clean)
        if first is None or first != second:
            raise ChainError(f"{playbook} decided differently with faults: {first} vs {second}\n{faulty.stdout[-3000:]}"
                             f"\n{faulty.stderr[-1000:]}")
        return first

    def figures(self) -> dict:
        return {"runs": len(self.log), "calls": sum(c for _, c, _, _ in self.log),
                "faults": sum(f for _, _, f, _ in self.log)}


def slot_results(stdout: str) -> list[str]:
    """The lines compare.yml prints per compared slot ("<slot>: <n> % match, ...")."""
    return sorted(set(re.findall(r'"msg": "(\d{4}-\d\d-\d\dT[\d:]+Z: [^"]*% match[^"]*)"', stdout)))


def gate_outcome(run: ProxiedRun):
    """(outcome, sorted "STATUS: criterion" lines) of a gate.yml or post_cutover.yml run, or None when it printed no
    criterion: go when it passed, no_go when it stopped at "is NO_GO", else None (it failed for another reason)."""
    criteria = sorted(set(re.findall(r'"msg": "([A-Z_]+: [^"]+?) - measured', run.stdout)))
    if not criteria:
        return None
    outcome = "go" if run.rc == 0 else "no_go" if re.search(r"is NO_GO", run.stdout) else None
    return (outcome, tuple(criteria)) if outcome else None



# --- crash at a step (issue 13 item 3)
LEDGER_TABLE = "naver-sms-cutover-ledger"


def ledger_read(url: str) -> dict:
    """The ledger as status.yml shows it (lock, last events), read in-process."""
    from tests.module_runner import run_module

    return run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "read", "limit": 50}, url)


def force_unlock(url: str, reason: str) -> dict:
    from tests.module_runner import run_module

    return run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "unlock", "force_unlock": True,
                                         "unlock_reason": reason, "playbook": "crash test"}, url)


def crash_and_recover(chain: Chain, playbook: str, args: tuple, after: int | str, check=None, faults: bool = False,
                      clean_rerun: bool = True) -> dict:
    """SIGKILL `playbook` right after its `after`-th mutating call (`after` an operation name such as
    ``EnableRule``: right after its first call of that operation), check the state it left (``check(url)``),
    force_unlock the lock it left (with a reason), rerun (through transient faults with `faults`): it
    converges, and (with `clean_rerun`) a fault-free rerun changes nothing. When the playbook ends before
    that call it must have succeeded ("killed": False)."""
    url = chain.proxy.state.upstream
    count, operation = (1, after) if isinstance(after, str) else (after, "")
    with chain.following():
        crashed = run_playbook(chain.proxy, playbook, *args, env=chain.env, kill_after=count, kill_operation=operation)
    if not crashed.killed:
        chain.must(crashed, f"{playbook} (it made no mutating call {after})")
        return {"after": after, "killed": False, "mutating": len(crashed.mutating), "rc": crashed.rc}
    counted = [c for c in crashed.mutating if not operation or c["operation"] == operation]
    if len(counted) != count or crashed.mutating[-1] is not counted[-1]:
        raise ChainError(f"the kill was to follow mutating call {after}; these reached the emulator: "
                         f"{[c['operation'] for c in crashed.mutating]}")
    left = ledger_read(url)
    lock = left.get("lock")
    if lock and lock.get("playbook") != playbook:
        raise ChainError(f"the lock left after the crash names {lock.get('playbook')}, not {playbook}")
    left_by_kill = check(url) if check else None
    reason = f"{playbook} was killed after mutating call {after} (crash test)"
    if lock:
        unlocked = force_unlock(url, reason)
        if not unlocked.get("released"):
            raise ChainError(f"force_unlock did not release the lock: {unlocked}")
    chain.must(chain.run(playbook, *args, faults=faults), f"{playbook} rerun after the crash at call {after}")
    late = chain.proxy.from_killed_tree()  # what the killed processes had sent: also read after the rerun
    forwarded = [c["operation"] for c in late if c["fault"] != "killed"]
    if forwarded:
        raise ChainError(f"the proxy forwarded {forwarded} from the killed {playbook} after its call {after}")
    if clean_rerun:
        again = chain.must(chain.run(playbook, *args), f"{playbook} second rerun after the crash at call {after}")
        if again.recap().get("changed", 0) or migration_writes(again.calls):
            raise ChainError(f"{playbook} did not converge after the crash at call {after}: {again.stdout[-3000:]}")
    events = ledger_read(url)["events"]
    forced = [e for e in events if e.get("kind") == "force_unlock" and reason in str(e)]
    if lock and not forced:
        raise ChainError(f"the ledger does not show the interrupted run: {events[:5]}")
    return {"after": after, "killed": True, "lock_left": bool(lock), "operation": crashed.mutating[-1]["operation"],
            "call": len(crashed.mutating),
            "forced_unlock": bool(forced), "left": left_by_kill,
            "refused_after_kill": [c["operation"] for c in late], "forwarded_after_kill": forwarded}


# --- the switch: cutover.yml and rollback.yml crashed at every step
def rule_pair(url: str) -> tuple:
    """(old rule state, new rule state, new target's mode) read from the emulator itself."""
    import boto3

    cfg = Config()
    events = boto3.client("events", endpoint_url=url, region_name="ap-northeast-2", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    (target,) = events.list_targets_by_rule(Rule=cfg.new_rule)["Targets"]
    return (events.describe_rule(Name=cfg.old_rule)["State"], events.describe_rule(Name=cfg.new_rule)["State"],
            json.loads(target.get("Input") or "{}").get("mode"))


def live_side(pair: tuple) -> str | None:
    old, new = pair[0] == "ENABLED", pair[1] == "ENABLED" and pair[2] == "live"
    return "both" if old and new else "old" if old else "new" if new else None


def switch_left(chain: Chain):
    """A ``check`` for crash_and_recover: the rule pair right after the kill, never both sides live, and no slot
    run since the kill (here the clock stands still; on AWS the quiet window keeps the next slot >= margin away)."""
    def check(url):
        pair, runs = rule_pair(url), len(chain.scheduler().recorders.runs.all())
        if live_side(pair) == "both":
            raise ChainError(f"the crash left both sides live: {pair}")
        return {"pair": pair, "live": live_side(pair), "runs": runs}
    return check


SWITCH_PLAYBOOKS = ("cutover.yml", "rollback.yml")


def crash_the_switch(chain: Chain, after: int | str, scenario: int = 2, crash: tuple = SWITCH_PLAYBOOKS) -> list:
    """cutover.yml killed after its `after`-th mutating call (or its first call of operation `after`) and
    recovered, then rollback.yml -e scenario=N the same (each only when in `crash`: else run through): the rule
    pair after each kill, the live side after each run, one slot, the invariant."""
    outcomes = []
    for playbook, args, want in (("cutover.yml", (), "new"), ("rollback.yml", ("-e", f"scenario={scenario}"), "old")):
        if playbook in crash:
            outcome = crash_and_recover(chain, playbook, args, after, check=switch_left(chain), clean_rerun=False)
            outcomes.append(dict(outcome, playbook=playbook))
        else:
            chain.must(chain.run(playbook, *args), playbook)
        pair = rule_pair(chain.proxy.state.upstream)
        if live_side(pair) != want:
            raise ChainError(f"{playbook} after the crash at call {after} left {pair}: {want} should be live")
    chain.slots(1)
    try:
        chain.invariant()
    except ChainError as exc:
        raise ChainError(f"{exc}; after these crashes: {outcomes}") from None
    return outcomes


# --- two operators (issue 13 item 4)
def two_at_once(chain: Chain, playbook: str, *args: str, ticket: str = "CHG0000042") -> list:
    """Start `playbook` twice at the same moment (same slot): the runs' (rc, stdout), in start order."""
    import subprocess
    import threading

    from rehearsal.emulator import PROJECT_DIR

    cmd, env = playbook_command(chain.proxy, playbook, "-e", f"change_ticket={ticket}", *args, env=chain.env)
    results = [None, None]
    start = threading.Barrier(2)

    def one(index):
        start.wait()
        proc = subprocess.run(cmd, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600)
        results[index] = (proc.returncode, proc.stdout + proc.stderr)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
