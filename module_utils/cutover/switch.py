"""Which side is live, what to write to change it, and when it is quiet enough to do so.

Pure: no boto3, botocore or Ansible import (``library/schedule_switch.py`` is the adapter).

The pair of rules:

* the **old** rule (production's legacy trigger): live when ENABLED. Only its
  state is ever changed, never its target;
* the **new** rule: its target (the new function's alias) gets the constant
  input ``{"mode": "shadow"}`` or ``{"mode": "live"}``; live when ENABLED with
  ``{"mode": "live"}``.

Order of the writes (``plan``):

* cutover (``live=new``): old rule disabled, then the new target's input set to
  live (then the new rule enabled, if it was disabled);
* rollback (``live=old``): the new side stopped first - input back to shadow
  (``after_rollback=shadow``) or the rule disabled and its input set back to
  shadow (``after_rollback=disabled``) - then the old rule enabled.

So at no moment are both sides live; for the seconds between the writes
neither is, which is harmless inside a quiet window (nothing fires).

Quiet window (``assess``): at ``now`` the switch may happen when

* the next fire time of either rule is at least ``margin`` away,
* the last fire time is at least ``SETTLE`` ago (EventBridge may deliver a run
  a few seconds late and CloudWatch Logs ingests with a small lag), and
* no invocation of either function is in flight: every ``START RequestId: x``
  line Lambda wrote to the function's log group in the last ``LOOKBACK``
  (Lambda's longest timeout plus the settle time) has its ``END RequestId: x``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable, List, Optional, Sequence, Tuple

# Schedules are module_utils/cutover/schedule.py's Schedule objects (duck-typed here: no import,
# so Ansible ships this file without resolving a sibling).
Schedule = object

UTC = timezone.utc
MARGIN_RANGE = (30, 600)  # seconds; a slot is 20 minutes and a run may take 5
MAX_WAIT_RANGE = (0, 3600)  # seconds; 0 = switch now or fail
POLL_RANGE = (0.05, 60.0)
SETTLE = timedelta(seconds=60)
LOOKBACK = timedelta(minutes=15) + SETTLE  # Lambda's longest timeout, then the settle time
SHADOW, LIVE = "shadow", "live"
ENABLED, DISABLED = "ENABLED", "DISABLED"

_START = re.compile(r"^START RequestId: (\S+)")
_END = re.compile(r"^END RequestId: (\S+)")


class SwitchInputError(ValueError):
    """Input the switch cannot work with; the message says what to do."""


def validate_range(name: str, value: float, bounds: Tuple[float, float], unit: str = "seconds") -> None:
    low, high = bounds
    if value is None or not low <= value <= high:
        raise SwitchInputError(f"{name} must be between {low} and {high} {unit}, got {value}")


# ------------------------------------------------------------ state and plan


@dataclass(frozen=True)
class PairState:
    old_state: str  # ENABLED | DISABLED
    new_state: str  # ENABLED | DISABLED
    new_mode: Optional[str]  # shadow | live | None (no input), or the raw input when it is something else

    @property
    def live(self) -> Optional[str]:
        """"old", "new", "both" (a fault: every SMS twice) or None (nothing live)."""
        old = self.old_state == ENABLED
        new = self.new_state == ENABLED and self.new_mode == LIVE
        return "both" if old and new else "old" if old else "new" if new else None

    def as_dict(self) -> dict:
        return {"old_rule_state": self.old_state, "new_rule_state": self.new_state, "new_mode": self.new_mode,
                "live": self.live}


@dataclass(frozen=True)
class Step:
    """One write: ``what`` is "old_state", "new_state" or "new_mode"; ``before`` is what undoes it."""

    what: str
    before: str
    after: str

    def describe(self) -> str:
        rule = "old rule" if self.what == "old_state" else "new rule"
        kind = "input mode" if self.what == "new_mode" else "state"
        return f"{rule} {kind} {self.before} -> {self.after}"


def mode_of(raw_input: Optional[str]) -> Optional[str]:
    """The mode of a target's constant input text; the raw text when it is not {"mode": ...}."""
    if raw_input in (None, ""):
        return None
    try:
        value = json.loads(raw_input)
    except ValueError:
        return raw_input
    if isinstance(value, dict) and set(value) == {"mode"} and value["mode"] in (SHADOW, LIVE):
        return value["mode"]
    return raw_input


def input_text(mode: str) -> str:
    return json.dumps({"mode": mode})


def target_state(live: str, after_rollback: str, current: PairState) -> PairState:
    if live == "new":
        return PairState(DISABLED, ENABLED, LIVE)
    new_state = DISABLED if after_rollback == "disabled" else current.new_state
    return PairState(ENABLED, new_state, SHADOW)


# cutover stops the old side first; rollback stops the new side first (input, or rule then input)
ORDER = {"new": ("old_state", "new_mode", "new_state"), "old": ("new_state", "new_mode", "old_state")}


def plan(live: str, after_rollback: str, current: PairState) -> List[Step]:
    """The writes, in order, that make ``live`` the live side; [] when it already is."""
    want = target_state(live, after_rollback, current)
    return [Step(what, getattr(current, what), getattr(want, what))
            for what in ORDER[live] if getattr(current, what) != getattr(want, what)]


def apply_steps(current: PairState, steps: Iterable[Step]) -> PairState:
    values = {"old_state": current.old_state, "new_state": current.new_state, "new_mode": current.new_mode}
    for step in steps:
        values[step.what] = step.after
    return PairState(**values)


def left_state(current: PairState, done: Sequence[Step], undone: Sequence[Step]) -> PairState:
    """The state after ``done`` were written and then ``undone`` (a suffix of done, reversed) rolled back."""
    return apply_steps(current, [s for s in done if s not in undone])


# ------------------------------------------------------------ in flight


def in_flight(messages: Iterable[Tuple[int, str]]) -> List[str]:
    """Request ids with a START line and no END line, from (timestamp_ms, message) log events."""
    started, ended = {}, set()
    for timestamp, message in messages:
        text = message.lstrip()
        match = _START.match(text)
        if match:
            started.setdefault(match.group(1), timestamp)
            continue
        match = _END.match(text)
        if match:
            ended.add(match.group(1))
    return sorted((rid for rid in started if rid not in ended), key=lambda rid: started[rid])


def last_start(messages: Iterable[Tuple[int, str]]) -> Optional[datetime]:
    """The newest ``START RequestId`` line's time, from (timestamp_ms, message) log events; None without one."""
    times = [timestamp for timestamp, message in messages if _START.match(message.lstrip())]
    return datetime.fromtimestamp(max(times) / 1000, UTC) if times else None


# ------------------------------------------------------------ quiet window


def previous_fire(schedules: Sequence[Schedule], at: datetime, horizon: timedelta = timedelta(days=2)) -> Optional[datetime]:
    """The last fire time of any schedule at or before ``at``."""
    last = None
    for schedule in schedules:
        for t in schedule.fire_times(at - horizon, at + timedelta(microseconds=1)):
            last = t if last is None or t > last else last
    return last


def next_fire(schedules: Sequence[Schedule], at: datetime) -> Optional[datetime]:
    """The first fire time of any schedule strictly after ``at``."""
    fires = [t for t in (s.next_fire(at) for s in schedules) if t is not None]
    return min(fires) if fires else None


def require_cron(expressions: dict, parsed: dict) -> None:
    for rule, schedule in parsed.items():
        if schedule.kind != "cron":
            raise SwitchInputError(
                f"rule {rule} runs on {expressions[rule]}: a rate rule's phase is undefined, so no quiet window "
                "can be computed; both rules must use cron(0/20 * * * ? *)")


@dataclass(frozen=True)
class Verdict:
    quiet: bool
    now: datetime
    next_fire: Optional[datetime]
    last_fire: Optional[datetime]
    running: Tuple[str, ...] = ()
    reason: str = ""
    retry_at: Optional[datetime] = None  # when it is worth looking again (None: poll)
    last_start: Optional[datetime] = None  # the newest START line over the lookback (``last_start``)

    def as_dict(self) -> dict:
        return {"quiet": self.quiet, "at": _iso(self.now), "next_fire": _iso(self.next_fire),
                "last_fire": _iso(self.last_fire), "in_flight": list(self.running), "reason": self.reason,
                "last_start": _iso(self.last_start)}


def _iso(t: Optional[datetime]) -> Optional[str]:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def assess(now: datetime, schedules: Sequence[Schedule], margin: timedelta,
           running: Sequence[str] = (), started: Optional[datetime] = None) -> Verdict:
    """Is ``now`` inside a quiet window? ``running`` = request ids in flight (``in_flight``), ``started`` =
    the newest invocation start seen (``last_start``; only reported)."""
    following, last = next_fire(schedules, now), previous_fire(schedules, now)
    base = dict(now=now, next_fire=following, last_fire=last, running=tuple(running), last_start=started)
    if following is not None and following - now < margin:
        return Verdict(False, reason=f"the next run fires at {following:%H:%M:%S}Z, "
                       f"{int((following - now).total_seconds())} s away (margin {int(margin.total_seconds())} s)",
                       retry_at=following + SETTLE, **base)
    if last is not None and now - last < SETTLE:
        return Verdict(False, reason=f"the last run fired at {last:%H:%M:%S}Z, less than "
                       f"{int(SETTLE.total_seconds())} s ago (late delivery, log lag)", retry_at=last + SETTLE, **base)
    if running:
        return Verdict(False, reason=f"{len(running)} invocation(s) still running ({', '.join(running[:3])})", **base)
    return Verdict(True, reason="quiet", **base)


def ran_between(before: Optional[dict], after: Optional[dict]) -> Tuple[bool, str]:
    """Could either function have run between two quiet-window readings? -> (ran, why).

    ``before``/``after`` are ``Verdict.as_dict()``: ``before`` read before the state was read (rollback.yml:
    before the first reconcile), ``after`` the verdict the switch was made in. False - nothing can have
    written the state in between - only when all of these hold (anything unknown counts as a run):

    * nothing was in flight at ``before`` and its last fire was at least ``SETTLE`` earlier (that run's
      invocation has started and logged by then: the quiet window's own assumption);
    * no fire time passed between the two (``last_fire`` is the same);
    * no invocation started after ``before`` less ``SETTLE`` (clock skew, log lag): the newest START line
      over the ``after`` reading's lookback, which covers the whole stretch (at most ``LOOKBACK - SETTLE``).
    """
    if not before or not after:
        return True, "no quiet-window reading before the state was read"
    try:
        start, end = parse_time(before["at"]), parse_time(after["at"])
        fired = parse_time(before["last_fire"]) if before.get("last_fire") else None
        started = parse_time(after["last_start"]) if after.get("last_start") else None
    except (KeyError, TypeError, ValueError):
        return True, f"unreadable quiet-window readings ({before}, {after})"
    if before.get("in_flight"):
        return True, f"{len(before['in_flight'])} invocation(s) were in flight at {_iso(start)}"
    if fired is not None and start - fired < SETTLE:
        return True, f"a run fired at {_iso(fired)}, less than {int(SETTLE.total_seconds())} s before {_iso(start)}"
    if after.get("last_fire") != before.get("last_fire"):
        return True, f"a run fired at {after.get('last_fire')}, between {_iso(start)} and the switch at {_iso(end)}"
    if end - start > LOOKBACK - SETTLE:
        return True, f"the switch at {_iso(end)} came too long after {_iso(start)} to see every start in the logs"
    if started is not None and started >= start - SETTLE:
        return True, f"an invocation started at {_iso(started)}, after {_iso(start - SETTLE)}"
    return False, f"no run fired, was in flight or started between {_iso(start)} and the switch at {_iso(end)}"


# ------------------------------------------------------------ injected clock


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def clock_instant(data: dict, schedules: Sequence[Schedule]) -> datetime:
    """The present on an injected clock (the rehearsal's ``clock.json``).

    ``at`` (when present) is the instant itself. Otherwise ``now`` is the
    rehearsal scheduler's: the start of the next step it has not run, every run
    before it finished. The world then stands in the quiet stretch between the
    last fire before ``now`` and ``now``: the present is its middle.
    """
    if not isinstance(data, dict) or ("at" not in data and "now" not in data):
        raise SwitchInputError("the clock file must be JSON with 'now' (the rehearsal scheduler's) or 'at'")
    try:
        if "at" in data:
            return parse_time(data["at"])
        now = parse_time(data["now"])
    except (TypeError, ValueError):
        raise SwitchInputError(f"the clock file's time is not ISO 8601: {data}") from None
    last = previous_fire(schedules, now - timedelta(microseconds=1))
    return now if last is None else last + (now - last) / 2


@dataclass
class Writes:
    """What was written and when (wall clock, UTC) - the evidence the ledger records."""

    records: List[dict] = field(default_factory=list)

    def add(self, step: Step, at: datetime, monotonic: float) -> None:
        self.records.append({"write": step.describe(), "what": step.what, "before": step.before,
                             "after": step.after, "at": at.astimezone(UTC).isoformat(timespec="milliseconds"),
                             "_mono": monotonic})

    def gap_seconds(self) -> Optional[float]:
        if len(self.records) < 2:
            return 0.0 if self.records else None
        return round(self.records[-1]["_mono"] - self.records[0]["_mono"], 3)

    def public(self) -> List[dict]:
        return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.records]
