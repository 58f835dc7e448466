"""The pure switch core: plan order, undo state, in-flight lines, quiet verdicts, injected clock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from module_utils.cutover.schedule import parse
from module_utils.cutover.switch import (
    PairState, Step, SwitchInputError, assess, clock_instant, in_flight, last_start, left_state, mode_of, plan,
    ran_between, validate_range,
)

UTC = timezone.utc
CRON = [parse("cron(0/20 * * * ? *)")]
T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
PARALLEL = PairState("ENABLED", "ENABLED", "shadow")
CUT = PairState("DISABLED", "ENABLED", "live")


@pytest.mark.parametrize("live, after, current, expected", [
    ("new", "shadow", PARALLEL, [("old_state", "DISABLED"), ("new_mode", "live")]),
    ("new", "shadow", PairState("ENABLED", "DISABLED", "shadow"),
     [("old_state", "DISABLED"), ("new_mode", "live"), ("new_state", "ENABLED")]),
    ("new", "shadow", CUT, []),
    ("old", "shadow", CUT, [("new_mode", "shadow"), ("old_state", "ENABLED")]),
    ("old", "disabled", CUT, [("new_state", "DISABLED"), ("new_mode", "shadow"), ("old_state", "ENABLED")]),
    ("old", "shadow", PARALLEL, []),
    ("old", "disabled", PairState("ENABLED", "DISABLED", "shadow"), []),
    ("old", "shadow", PairState("ENABLED", "ENABLED", "live"), [("new_mode", "shadow")]),  # both live: stop new
])
def test_plan_orders_the_writes_so_both_sides_are_never_live(live, after, current, expected):
    steps = plan(live, after, current)
    assert [(s.what, s.after) for s in steps] == expected
    state = current
    for step in steps:  # after each write, at most one side is live
        state = left_state(state, [step], [])
        assert state.live != "both" or step is steps[0] and current.live == "both"


def test_left_state_after_a_partial_undo():
    steps = plan("old", "disabled", CUT)
    assert left_state(CUT, steps[:2], steps[:1]) == PairState("DISABLED", "ENABLED", "shadow")
    assert left_state(CUT, steps[:2], steps[:2]) == CUT


@pytest.mark.parametrize("text, mode", [
    ('{"mode": "live"}', "live"), ('{"mode":"shadow"}', "shadow"), (None, None), ("", None),
    ('{"mode": "x"}', '{"mode": "x"}'), ("not json", "not json"), ('{"mode": "live", "x": 1}', '{"mode": "live", "x": 1}'),
])
def test_mode_of_the_target_input(text, mode):
    assert mode_of(text) == mode


def test_in_flight_are_starts_without_their_end():
    lines = [(1, "START RequestId: a Version: $LATEST"), (2, '{"event": "sms"}'), (3, "START RequestId: b"),
             (4, "END RequestId: a"), (5, "REPORT RequestId: a\tDuration: 1 ms"), (6, "START RequestId: c")]
    assert in_flight(lines) == ["b", "c"]
    assert in_flight([]) == []


def test_last_start_is_the_newest_start_line():
    lines = [(T.timestamp() * 1000, "START RequestId: a"), (T.timestamp() * 1000 + 9000, "END RequestId: a"),
             (T.timestamp() * 1000 + 5000, " START RequestId: b"), (T.timestamp() * 1000 + 7000, '{"event": "sms"}')]
    assert last_start(lines) == T + timedelta(seconds=5)
    assert last_start([(1, "END RequestId: a")]) is None


def reading(minutes, last_fire=T, in_flight=(), started=None):
    """A Verdict.as_dict() taken ``minutes`` after T (the 03:00 fire)."""
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return {"at": (T + timedelta(minutes=minutes)).strftime(iso), "last_fire": last_fire and last_fire.strftime(iso),
            "in_flight": list(in_flight), "last_start": started and started.strftime(iso)}


# rollback.yml: the reading before the first reconcile (03:10) and the one the switch was made in
@pytest.mark.parametrize("before, after, ran, why", [
    (reading(10, started=T), reading(12, started=T), False, "no run fired, was in flight or started"),
    (reading(10, last_fire=None), reading(12, last_fire=None), False, "no run fired"),  # never fired yet
    (None, reading(12), True, "no quiet-window reading"),
    (reading(10), None, True, "no quiet-window reading"),
    ({"at": "soon"}, reading(12), True, "unreadable"),
    (reading(10, in_flight=["f:r1"]), reading(12), True, "1 invocation(s) were in flight at 2026-11-26T03:10:00Z"),
    (reading(0.5), reading(12), True, "less than 60 s before"),  # that run's logs may not be in yet
    (reading(10), reading(22, last_fire=T + timedelta(minutes=20)), True, "a run fired at 2026-11-26T03:20:00Z"),
    (reading(1.5), reading(17), True, "too long after"),  # the switch's lookback no longer covers 03:01:30
    (reading(10), reading(12, started=T + timedelta(minutes=11)), True, "an invocation started at 2026-11-26T03:11"),
    (reading(10), reading(12, started=T + timedelta(minutes=9, seconds=30)), True, "started"),  # skew / log lag
    (reading(10), reading(12, started=T + timedelta(minutes=8)), False, "no run fired"),  # before, and ended
])
def test_ran_between_two_readings(before, after, ran, why):
    assert ran_between(before, after)[0] is ran
    assert why in ran_between(before, after)[1]


@pytest.mark.parametrize("at, running, quiet, reason", [
    (T + timedelta(minutes=10), (), True, "quiet"),
    (T + timedelta(minutes=18), (), True, "quiet"),  # exactly the margin away
    (T + timedelta(minutes=18, seconds=1), (), False, "119 s away (margin 120 s)"),
    (T + timedelta(seconds=30), (), False, "less than 60 s ago"),
    (T + timedelta(minutes=5), ("f:r1",), False, "1 invocation(s) still running (f:r1)"),
])
def test_assess(at, running, quiet, reason):
    verdict = assess(at, CRON, timedelta(seconds=120), running)
    assert verdict.quiet is quiet and reason in verdict.reason
    assert verdict.next_fire == T + timedelta(minutes=20) and verdict.last_fire <= at


def test_retry_at_is_after_the_next_fire_settled():
    verdict = assess(T + timedelta(minutes=19), CRON, timedelta(seconds=120))
    assert verdict.retry_at == T + timedelta(minutes=21)


@pytest.mark.parametrize("data, instant", [
    ({"at": "2026-11-26T03:07:00Z"}, T + timedelta(minutes=7)),
    ({"now": "2026-11-26T03:20:00Z"}, T + timedelta(minutes=10)),  # the rehearsal scheduler's clock
    ({"now": "2026-11-26T03:20:00Z", "at": "2026-11-26T03:19:00Z"}, T + timedelta(minutes=19)),
])
def test_clock_instant(data, instant):
    assert clock_instant(data, CRON) == instant


@pytest.mark.parametrize("data", [{}, {"now": "yesterday"}, []])
def test_clock_instant_rejects_what_is_not_a_clock(data):
    with pytest.raises(SwitchInputError):
        clock_instant(data, CRON)


@pytest.mark.parametrize("value, ok", [(29, False), (30, True), (600, True), (601, False), (None, False)])
def test_validate_range(value, ok):
    if ok:
        validate_range("margin", value, (30, 600))
    else:
        with pytest.raises(SwitchInputError, match="margin must be between 30 and 600"):
            validate_range("margin", value, (30, 600))


def test_step_describes_itself():
    assert Step("new_mode", "shadow", "live").describe() == "new rule input mode shadow -> live"
