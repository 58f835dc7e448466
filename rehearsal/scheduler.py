"""Simulated clock and scheduler: make time pass and fire the rules moto only stores.

The clock advances one slot (``cutover_slot_minutes``, 20 min) per step. At
each step it reads every EventBridge rule from the emulator (state, schedule
expression, targets, target input), and fires each ENABLED rule whose
schedule falls in the step, in time order, by running the reference handler
of each Lambda target (rehearsal/handlers.py). A ``rate(...)`` rule counts
from the step at which the scheduler first saw it enabled. Delivery is
``jitter_s`` seconds late at most (seeded), as EventBridge may be.

The clock and the rate anchors live in ``$CUTOVER_STATE_DIR/rehearsal/clock.json``.
Its default start is midnight UTC eight days before today: CloudWatch Logs
(and moto) accept log events from the last 14 days up to 2 h ahead only, so
a simulated week must lie in the recent past.

The clock also stores the id of the world it runs in (``world_id``, the mark
``rehearsal/world.py`` writes into the emulator when it seeds): ``follow_world``
sets aside the state of a world that no longer exists, or refuses with the command
to run, so that a new emulator never inherits the clock and recorders of an old one.

Log lines, metrics and recorder lines are buffered and flushed once per
simulated day and at the end of every ``run`` (PutLogEvents / PutMetricData
batches); DynamoDB reads and writes happen in every run, as the real job's.
"""
from __future__ import annotations

import json
import random
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Dict, List, Optional

from module_utils.cutover.schedule import ScheduleError, parse, slot_iso, slot_start
from rehearsal import handlers
from rehearsal.alarms import AlarmEvaluator
from rehearsal.bookings import BookingSource
from rehearsal.config import Config, client
from rehearsal.recorders import Recorders

UTC = timezone.utc
LOGS_MAX_AGE = timedelta(days=14)
LOGS_MAX_AHEAD = timedelta(hours=2)
DEFAULT_SEED = 1
FLUSH_EVERY_STEPS = 72


class RehearsalError(RuntimeError):
    """A problem the operator can act on; the message says what to do."""


@dataclass(frozen=True)
class Target:
    target_id: str
    function: Optional[str]  # None when the target is not a Lambda function
    payload: dict


@dataclass(frozen=True)
class RuleView:
    name: str
    arn: str
    state: str
    expression: Optional[str]
    targets: tuple
    problem: Optional[str] = None  # why an enabled rule cannot fire


def default_start(now: Optional[datetime] = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=8)


def function_of(arn: str) -> Optional[str]:
    """'arn:aws:lambda:r:a:function:name[:qualifier]' -> 'name'."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
        return parts[6]
    return None


class Scheduler:
    def __init__(self, cfg: Optional[Config] = None):
        self.cfg = cfg or Config()
        self.recorders = Recorders(self.cfg.directory)
        self._clients: Dict[str, object] = {}
        self._log_streams: set = set()
        self._log_groups: set = set()

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = client(self.cfg, service)
        return self._clients[service]

    # ------------------------------------------------------------ state

    @property
    def clock_path(self):
        return self.cfg.directory / "clock.json"

    def load(self) -> Optional[dict]:
        try:
            return json.loads(self.clock_path.read_text())
        except FileNotFoundError:
            return None

    def save(self, state: dict) -> None:
        self.cfg.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.clock_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(self.clock_path)

    def _state_files(self) -> list:
        recorded = [log.path for log in (self.recorders.sens, self.recorders.telegram, self.recorders.runs)]
        return [p for p in [self.clock_path, *recorded, *self.cfg.directory.glob("pending-writes-*.json")]
                if p.exists()]

    def reset(self) -> None:
        """Forget the clock, the recorders and pending writes (the emulator is untouched)."""
        for path in self._state_files():
            path.unlink()

    def set_aside(self, world_id: Optional[str]):
        """Move the clock, recorders and pending writes to previous-<world>-<time>/; returns that directory."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.cfg.directory / f"previous-{world_id or 'unmarked'}-{stamp}"
        aside.mkdir(parents=True, exist_ok=True)
        for path in self._state_files():
            shutil.move(str(path), aside / path.name)
        return aside

    def follow_world(self, command: str) -> Optional[str]:
        """Make the local state belong to the world the emulator holds, before `command` uses it.

        Same world (or no local state): nothing to do, returns None. The state of a world that no
        longer exists is set aside when the emulator holds a seeded world and `command` starts
        one (seed, run): returns a note saying so. Otherwise raises RehearsalError with the command
        to run; it never lets the records of a gone world be checked against a new one.
        """
        from rehearsal.emulator import answers
        from rehearsal.world import world_mark

        state = self.load()
        has_state = bool(self._state_files())
        mark = world_mark(self.cfg.url)
        local = (state or {}).get("world_id")
        if not has_state:
            if mark is None and command == "run":
                raise RehearsalError(f"the emulator at {self.cfg.url} holds no seeded world: "
                                     "`python -m rehearsal seed` first")
            return None
        if local is not None and local == mark:
            return None
        gone = (f"the rehearsal state in {self.cfg.directory} belongs to world {local or '(unmarked)'}, "
                "which no longer exists")
        if mark is None:
            where = (f"the emulator at {self.cfg.url} holds no seeded world:" if answers(self.cfg.url)
                     else f"no emulator answers at {self.cfg.url}: `make emulator`, then")
            raise RehearsalError(f"{gone}; {where} `python -m rehearsal seed` starts a new world "
                                 "(the old state is set aside, not deleted)")
        if command in ("seed", "run"):
            aside = self.set_aside(local)
            return (f"{gone}: the emulator holds world {mark}; the old clock and recorders were set aside "
                    f"in {aside} and the rehearsal starts afresh")
        raise RehearsalError(f"{gone} (the emulator at {self.cfg.url} holds world {mark}): nothing to {command} "
                             "in this world yet; `python -m rehearsal run --slots 6` starts afresh "
                             "(the old state is set aside, not deleted)")

    def state(self, start: Optional[datetime] = None, seed: Optional[int] = None) -> dict:
        """The clock, created at `start` (default: 8 days ago, midnight UTC) if none exists."""
        state = self.load()
        if state is None:
            begin = slot_start(start or default_start(), self.cfg.slot_minutes)
            from rehearsal.world import world_mark

            state = {"world_start": slot_iso(begin), "now": slot_iso(begin), "world_id": world_mark(self.cfg.url),
                     "seed": DEFAULT_SEED if seed is None else seed, "anchors": {}, "fault": None}
            self.save(state)
            return state
        if start is not None and slot_iso(slot_start(start, self.cfg.slot_minutes)) != state["now"]:
            raise RehearsalError(
                f"the clock already stands at {state['now']} (started {state['world_start']}); "
                "run without --start to continue, or `python -m rehearsal reset` to start again")
        if seed is not None and seed != state["seed"]:
            raise RehearsalError(
                f"this world runs with seed {state['seed']}; `python -m rehearsal reset` to use seed {seed}")
        return state

    # ------------------------------------------------------------ rules

    def read_rules(self) -> List[RuleView]:
        events = self.client("events")
        rules, token = [], None
        while True:
            resp = events.list_rules(**({"NextToken": token} if token else {}))
            rules.extend(resp.get("Rules", []))
            token = resp.get("NextToken")
            if not token:
                break
        views = []
        for rule in rules:
            expression = rule.get("ScheduleExpression")
            if rule.get("State") != "ENABLED" or not expression:
                views.append(RuleView(rule["Name"], rule["Arn"], rule.get("State", ""), expression, ()))
                continue
            targets = []
            for target in events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
                payload: dict = {}
                if target.get("Input"):
                    try:
                        payload = json.loads(target["Input"])
                    except ValueError:
                        payload = {"_invalid_input": target["Input"]}
                targets.append(Target(target["Id"], function_of(target["Arn"]), payload))
            problem = None
            try:
                parse(expression)
            except ScheduleError as exc:
                problem = str(exc)
            views.append(RuleView(rule["Name"], rule["Arn"], "ENABLED", expression, tuple(targets), problem))
        return views

    def functions(self) -> set:
        lam, names, marker = self.client("lambda"), set(), None
        while True:
            resp = lam.list_functions(**({"Marker": marker} if marker else {}))
            names.update(f["FunctionName"] for f in resp.get("Functions", []))
            marker = resp.get("NextMarker")
            if not marker:
                return names

    # ------------------------------------------------------------ running

    def run(self, slots: int, *, start: Optional[datetime] = None, seed: Optional[int] = None,
            fault: Optional[str] = None, jitter_s: Optional[float] = None, verbose: bool = False) -> dict:
        """Advance the clock `slots` steps, firing every enabled rule; returns a summary."""
        if fault is not None and fault not in handlers.FAULTS:
            raise RehearsalError(f"unknown fault {fault!r}; choose one of {', '.join(handlers.FAULTS)}")
        if slots < 1:
            raise RehearsalError("run at least one slot")
        state = self.state(start, seed)
        step = timedelta(minutes=self.cfg.slot_minutes)
        begin = datetime.fromisoformat(state["now"].replace("Z", "+00:00"))
        end = begin + slots * step
        real_now = datetime.now(UTC)
        if begin < real_now - LOGS_MAX_AGE + timedelta(hours=1) or end > real_now + LOGS_MAX_AHEAD:
            raise RehearsalError(
                f"the run would cover {slot_iso(begin)} .. {slot_iso(end)}, but CloudWatch Logs accepts events "
                f"only from the last 14 days up to 2 h ahead (now {slot_iso(real_now)}); "
                "`python -m rehearsal reset` and run with --start inside that window")
        jitter = self.cfg.jitter_s if jitter_s is None else jitter_s
        world_start = datetime.fromisoformat(state["world_start"].replace("Z", "+00:00"))
        outputs = handlers.Outputs()
        ctx = handlers.Context(self.cfg, self.client("dynamodb"), BookingSource(state["seed"], world_start),
                               outputs, state["seed"], {self.cfg.new_function: fault})
        for service in ("events", "lambda", "logs", "cloudwatch"):  # created here, used from threads
            self.client(service)
        known = self.functions()
        wall = time.monotonic()
        summary = {"from": slot_iso(begin), "to": slot_iso(end), "steps": slots, "runs": {}, "errors": {},
                   "delivered_sms": 0, "failed_invocations": [], "skipped_rules": {}, "alarm_transitions": []}
        alarms = AlarmEvaluator(self.client, self.cfg.directory, self.cfg.region, self.cfg.account_id)
        t = begin
        state["fault"] = fault
        pool = ThreadPoolExecutor(max_workers=3)
        try:
            upcoming = pool.submit(self.read_rules)
            for index in range(slots):
                rules = upcoming.result()
                if index + 1 < slots:  # read the next step's rules while this step runs
                    upcoming = pool.submit(self.read_rules)
                invocations = self._invocations(rules, state, t, step, jitter, summary)
                ctx.source.prepare(t + 2 * step)
                for inv in invocations:
                    if inv.function not in known:
                        known = self.functions()
                # one function's runs stay in order; different functions run side by side
                by_function: Dict[str, list] = {}
                for inv in invocations:
                    by_function.setdefault(inv.function, []).append(inv)
                futures = [pool.submit(self._run_all, ctx, invs, known) for invs in by_function.values()]
                for future in futures:
                    for record in future.result():
                        self._count(summary, record, verbose)
                summary["alarm_transitions"] += alarms.after_step(t, t + step, ctx.outputs)  # rehearsal/alarms.py
                t += step
                state["now"] = slot_iso(t)
                if (index + 1) % FLUSH_EVERY_STEPS == 0:
                    self.flush(outputs)
                    outputs = ctx.outputs = handlers.Outputs()
                    self.save(state)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            # also when a step failed: what ran is recorded, the clock stands after the last whole step
            self.flush(outputs)
            self.save(state)
        summary["wall_s"] = round(time.monotonic() - wall, 2)
        return summary

    def _invocations(self, rules: List[RuleView], state: dict, t: datetime, step: timedelta,
                     jitter: float, summary: dict) -> List[handlers.Invocation]:
        invocations = []
        world_start = datetime.fromisoformat(state["world_start"].replace("Z", "+00:00"))
        for rule in rules:
            if rule.state != "ENABLED" or not rule.expression:
                state["anchors"].pop(rule.name, None)
                continue
            if rule.problem:
                summary["skipped_rules"][rule.name] = rule.problem
                continue
            anchor_text = state["anchors"].setdefault(rule.name, slot_iso(t))
            anchor = datetime.fromisoformat(anchor_text.replace("Z", "+00:00"))
            for fired in parse(rule.expression).fire_times(t, t + step, anchor):
                for target in rule.targets:
                    if target.function is None:
                        continue
                    delay = 0.0
                    if jitter:  # keyed by the second since the world began, not the date (as the bookings are)
                        since = int((fired - world_start).total_seconds())
                        rng = random.Random(f"jitter:{state['seed']}:{rule.name}:{target.target_id}:{since}")
                        delay = round(rng.uniform(0, jitter), 3)
                    invocations.append(handlers.Invocation(
                        target.function, rule.name, target.payload, fired, fired + timedelta(seconds=delay),
                        slot_start(fired, self.cfg.slot_minutes)))
        invocations.sort(key=lambda inv: (inv.delivered_at, inv.function))
        return invocations

    @staticmethod
    def _run_all(ctx: handlers.Context, invocations: List[handlers.Invocation], known: set) -> List[dict]:
        records = []
        for inv in invocations:
            if inv.function in known:
                records.append(handlers.run(ctx, inv))
                continue
            failure = {"function": inv.function, "rule": inv.rule, "slot": slot_iso(inv.slot),
                       "input_mode": inv.input_mode, "delivered_at": inv.delivered_at.isoformat(),
                       "error": "function not found (FailedInvocation)", "failed_invocation": True}
            ctx.outputs.runs.append(failure)
            records.append(failure)
        return records

    @staticmethod
    def _count(summary: dict, record: dict, verbose: bool) -> None:
        if record.get("failed_invocation"):
            summary["failed_invocations"].append(record)
        else:
            summary["runs"][record["function"]] = summary["runs"].get(record["function"], 0) + 1
            summary["delivered_sms"] += record.get("delivered", 0)
            if record["error"]:
                summary["errors"][record["function"]] = summary["errors"].get(record["function"], 0) + 1
        if verbose:
            print(json.dumps(record, ensure_ascii=False))

    # ------------------------------------------------------------ output

    def flush(self, outputs: handlers.Outputs) -> None:
        logs = self.client("logs")
        for (group, stream), events in outputs.logs.items():
            if group not in self._log_groups:
                try:
                    logs.create_log_group(logGroupName=group)
                except logs.exceptions.ResourceAlreadyExistsException:
                    pass
                self._log_groups.add(group)
            if (group, stream) not in self._log_streams:
                try:
                    logs.create_log_stream(logGroupName=group, logStreamName=stream)
                except logs.exceptions.ResourceAlreadyExistsException:
                    pass
                self._log_streams.add((group, stream))
            events.sort(key=lambda e: e["timestamp"])
            batch, size = [], 0
            for event in events + [None]:
                cost = 0 if event is None else len(event["message"].encode()) + 26
                if event is None or len(batch) == 10000 or size + cost > 1_000_000:
                    if batch:
                        resp = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
                        if resp.get("rejectedLogEventsInfo"):
                            raise RehearsalError(
                                f"CloudWatch Logs rejected events of {group} ({resp['rejectedLogEventsInfo']}): "
                                "the simulated clock must stay within the last 14 days; reset and start later")
                    batch, size = [], 0
                if event is not None:
                    batch.append(event)
                    size += cost
        cloudwatch = self.client("cloudwatch")
        for i in range(0, len(outputs.metrics), 1000):
            cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=outputs.metrics[i:i + 1000])
        for i in range(0, len(outputs.function_metrics), 1000):
            cloudwatch.put_metric_data(Namespace=self.cfg.function_namespace, MetricData=outputs.function_metrics[i:i + 1000])
        # runs of different functions ran side by side: write the recorders in delivery order
        self.recorders.sens.extend(sorted(outputs.sens, key=lambda r: (r["sent_at"], r["function"])))
        self.recorders.telegram.extend(sorted(outputs.telegram, key=lambda r: (r["sent_at"], r["function"])))
        self.recorders.runs.extend(sorted(outputs.runs, key=lambda r: (r["delivered_at"], r["function"])))
