"""Each named fault of the new function produces its defect, visibly."""
from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from datetime import timedelta

import pytest

from rehearsal.bookings import BookingSource, render
from rehearsal.handlers import FAULTS, FLAGS, TYPO_STORE
from rehearsal.invariants import check_world
from tests.rehearsal.conftest import CFG, DAY

START = DAY  # 09:00 KST: a morning of confirms ...
SLOTS = 6
LONG = 35  # ... or until 20:40 KST: guides owed and the 20:00 KST event run


@functools.lru_cache(maxsize=1)
def _bookings():
    return {b.booking_num: b for b in BookingSource(1, START).all_until(START + timedelta(days=1))}


def _expected(line):
    return render(_bookings()[line["booking_num"]], line["sms_type"])


def _sms(world):
    return [line for line in world.log_lines(CFG.new_function) if line["event"] == "sms"]


def _metric(aws, name, stat):
    points = aws("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=name, StartTime=START, EndTime=START + timedelta(hours=12),
        Period=43200, Statistics=[stat], Dimensions=[{"Name": "FunctionName", "Value": CFG.new_function}])
    return points["Datapoints"][0][stat]


def template_typo(world, aws, summary):
    lines = _sms(world)
    typo = [x for x in lines if x["content"] != _expected(x)]
    assert typo and all(x["store_id"] == TYPO_STORE and x["sms_type"] == "confirm" for x in typo)
    for line in typo:
        expected = _expected(line)
        assert len(line["content"]) == len(expected)
        assert sum(a != b for a, b in zip(line["content"], expected)) == 1


def nfd_hangul(world, aws, summary):
    lines = _sms(world)
    assert lines
    for line in lines:
        assert line["content"] != _expected(line)
        assert unicodedata.normalize("NFC", line["content"]) == _expected(line)


def skip_guide(world, aws, summary):
    assert "guide" not in {x["sms_type"] for x in _sms(world)}
    assert check_world(world.cfg).counts()["missing"] > 0


def double_event(world, aws, summary):
    events = Counter(x["booking_num"] for x in _sms(world) if x["sms_type"] == "event")
    assert events and set(events.values()) == {2}
    assert check_world(world.cfg).counts()["twice"] == len(events)


def slow(world, aws, summary):
    assert _metric(aws, "Duration", "Minimum") > 240_000
    took = [float(re.search(r"took (\d+\.\d)s", x["text"]).group(1))
            for x in world.log_lines(CFG.new_function) if x["event"] == "telegram"]
    assert len(took) == SLOTS and min(took) > 240


def crash(world, aws, summary):
    assert 0 < summary["errors"][CFG.new_function] < LONG
    assert _metric(aws, "Errors", "Sum") == summary["errors"][CFG.new_function]
    assert any(x["event"] == "error" for x in world.log_lines(CFG.new_function))


def late_write(world, aws, summary):
    # the records of the last run are not in the table yet (no item, or the item without the flag of the SMS the
    # run sent: a booking confirmed earlier has its item already); they land at the start of the next run
    last_slot = (START + (SLOTS - 1) * timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    last = {(x["booking_num"], x["phone"], FLAGS[x["sms_type"]]) for x in _sms(world) if x["slot"] == last_slot}

    def recorded(items):
        return {(b, p, flag) for b, p, flag in last if items.get((b, p), {}).get(flag, {}).get("BOOL")}

    assert last and recorded(world.items(CFG.new_table)) == set()
    world.scheduler.run(1)
    assert recorded(world.items(CFG.new_table)) == last


def shadow_leak(world, aws, summary):
    assert check_world(world.cfg).counts()["shadow"] > 0


@pytest.mark.parametrize("defect,slots", [
    (template_typo, SLOTS), (nfd_hangul, SLOTS), (skip_guide, LONG), (double_event, LONG), (slow, SLOTS),
    (crash, LONG), (late_write, SLOTS), (shadow_leak, SLOTS)], ids=lambda f: getattr(f, "__name__", ""))
def test_each_fault_produces_its_defect(world, aws, defect, slots):
    world.old_rule("DISABLED")
    world.new_rule("shadow" if defect is shadow_leak else "live")
    summary = world.scheduler.run(slots, start=START, fault=defect.__name__)
    defect(world, aws, summary)


def test_without_a_fault_the_same_window_is_clean(world, aws):
    world.old_rule("DISABLED")
    world.new_rule("live")
    summary = world.scheduler.run(LONG, start=START)
    assert summary["errors"] == {}
    assert all(x["content"] == _expected(x) for x in _sms(world))
    assert check_world(world.cfg).ok
    assert {x["sms_type"] for x in _sms(world)} == {"confirm", "guide", "event"}  # what the faults spoil


def test_every_named_fault_is_tested():
    assert set(FAULTS) == {"template_typo", "nfd_hangul", "skip_guide", "double_event", "slow", "crash",
                           "late_write", "shadow_leak"}
