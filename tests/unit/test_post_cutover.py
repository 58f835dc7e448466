"""Post-cutover and decommissioning rules (module_utils/cutover/post_cutover.py), table-style."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from module_utils.cutover import post_cutover as pc
from module_utils.cutover.gate import iso

CUT = "2026-11-20T00:10:30Z"
S = pc.settings_of()


def ev(playbook, live, at, result="ok"):
    return {"playbook": playbook, "result": result, "started_at": at, "facts": {"live": live, "switched_at": at}}


CUTOVER, ROLLBACK, RECUT = ev("cutover.yml", "new", CUT), ev("rollback.yml", "old", "2026-11-20T01:10:00Z"), \
    ev("cutover.yml", "new", "2026-11-20T02:10:30Z")


@pytest.mark.parametrize("events, live, cutover_at, rollbacks, refusal", [
    ([], None, None, None, "no cutover recorded"),
    ([{"playbook": "start_parallel.yml", "result": "ok", "facts": {}}], None, None, None, "no cutover recorded"),
    ([ev("cutover.yml", "new", CUT, result="failed")], None, None, None, "no cutover recorded"),
    ([ev("cutover.yml", "new", CUT, result="check")], None, None, None, "no cutover recorded"),
    ([CUTOVER], "new", CUT, [], None),
    ([CUTOVER, ROLLBACK], None, None, None, "old function is live"),
    ([RECUT, ROLLBACK, CUTOVER], "new", "2026-11-20T02:10:30Z", ["2026-11-20T01:10:00Z"], None),  # any order
])
def test_live_state(events, live, cutover_at, rollbacks, refusal):
    if refusal:
        with pytest.raises(pc.PostCutoverError, match=refusal):
            pc.live_state(events)
        return
    state = pc.live_state(events)
    assert (state["live"], state["cutover_at"], state["rollbacks"]) == (live, cutover_at, rollbacks)


def test_switch_time_is_the_switch_clock_when_recorded():
    event = ev("cutover.yml", "new", "2026-11-26T13:55:02Z")  # wall clock of the write
    event["facts"]["switch_clock_at"] = CUT                     # the rehearsal's clock at the switch
    assert pc.live_state([event])["cutover_at"] == CUT


@pytest.mark.parametrize("now, day, expect_day, complete, slots, first", [
    ("2026-11-20T03:00:00Z", None, 1, False, 8, "2026-11-20T00:20:00Z"),   # day 1 so far: runs finished by 02:55
    ("2026-11-21T00:30:00Z", None, 1, True, 72, "2026-11-20T00:20:00Z"),
    ("2026-11-23T06:00:00Z", None, 3, True, 72, "2026-11-22T00:20:00Z"),
    ("2026-12-01T00:00:00Z", None, 7, True, 72, "2026-11-26T00:20:00Z"),   # never past the week
    ("2026-11-23T06:00:00Z", 2, 2, True, 72, "2026-11-21T00:20:00Z"),
])
def test_day_window(now, day, expect_day, complete, slots, first):
    window = pc.day_window(CUT, now, S, day)
    assert (window["day"], window["complete"], len(window["slots"]), window["slots"][0]) == \
        (expect_day, complete, slots, first)


@pytest.mark.parametrize("now, day, message", [
    ("2026-11-19T00:00:00Z", None, "before the cutover"),
    ("2026-11-21T06:00:00Z", 3, "after now"),
    ("2026-11-21T06:00:00Z", 0, "1 or more"),
])
def test_day_window_refusals(now, day, message):
    with pytest.raises(pc.PostCutoverError, match=message):
        pc.day_window(CUT, now, S, day)


@pytest.mark.parametrize("overrides, message", [
    ({"day_minutes": 30}, "whole number of slots"),
    ({"days": 0}, "at least 1"),
    ({"sms_min_ratio": 1.5}, "0 < ratio"),
    ({"days": "x"}, "whole numbers"),
])
def test_settings_refused(overrides, message):
    with pytest.raises(pc.PostCutoverError, match=message):
        pc.settings_of(overrides)


def measured_day(**change):
    window = pc.day_window(CUT, "2026-11-21T00:30:00Z", S, 1)
    slots = window["slots"]
    base = {s_: 6 for s_ in (iso(pc.parse_time(s) - timedelta(days=7)) for s in slots)}
    data = {"window": window, "invocations": dict.fromkeys(slots, 1), "errors": dict.fromkeys(slots, 0),
            "duration_max_ms": dict.fromkeys(slots, 3100.0), "alarms": {"a": "OK", "b": "INSUFFICIENT_DATA"},
            "sms_delivered": dict.fromkeys(slots, 6), "baseline": base}
    for key, value in change.items():
        data[key] = value(data) if callable(value) else value
    return data


def _first(d):
    return d["window"]["slots"][0]


@pytest.mark.parametrize("change, findings", [
    ({}, []),
    ({"errors": lambda d: {_first(d): 1}}, ["error rate"]),                              # 1 of 72 = 1.39 %
    ({"duration_max_ms": lambda d: {_first(d): 250000.0}}, ["max duration"]),
    ({"alarms": {"a": "ALARM"}}, ["no alarm in ALARM"]),
    ({"alarms": {"a": None}}, ["no alarm in ALARM"]),                                    # missing: inconclusive
    ({"invocations": lambda d: {s: 1 for s in d["window"]["slots"][1:]}}, ["every slot executed once"]),
    ({"invocations": lambda d: dict(dict.fromkeys(d["window"]["slots"], 1), **{_first(d): 2})},
     ["every slot executed once"]),
    ({"sms_delivered": lambda d: dict.fromkeys(d["window"]["slots"], 2)}, ["SMS delivered in line with the parallel week"]),
    ({"sms_delivered": lambda d: dict.fromkeys(d["window"]["slots"], 4)}, []),            # 67 %: in line
    ({"baseline": {}}, ["SMS delivered in line with the parallel week"]),                 # no data: inconclusive
    ({"baseline": {"2026-11-13T00:20:00Z": 1}}, []),                                      # too few to judge
])
def test_check_day(change, findings):
    result = pc.check_day(measured_day(**change), S)
    assert result["findings"] == findings
    assert result["ok"] is (not findings)
    assert result["line"].startswith("post-cutover day 1 (") and ("OK" if not findings else "FINDINGS") in result["line"]


def test_sms_expected_from_the_same_time_of_day_else_the_mean_when_the_weekday_is_not_covered():
    baseline = {"2026-11-19T10:00:00Z": 90, "2026-11-19T10:20:00Z": 30}  # 2 slots: mean 60 a slot
    result = pc.check_day(dict(measured_day(baseline=baseline), sms_delivered={}), S)
    assert result["expected"] == 90 + 30 + 70 * 60  # 10:00 and 10:20 by time of day, the 70 others by the mean
    assert "same time of day (2 of 72 slots" in result["criteria"][-1]["required"]
    night = pc.day_window(CUT, "2026-11-20T03:00:00Z", S, 1)  # 00:20 .. 02:40: hours the baseline never saw
    assert pc.expected_sms(night, baseline, S) == (8 * 60, "the parallel week's mean of 4320 a day (2 slots)")
    assert result["findings"] == ["SMS delivered in line with the parallel week"]


@pytest.mark.parametrize("tags, now, refusal", [
    ({}, "2026-12-30T00:00:00Z", "not archived"),
    ({"archived-at": "2026-12-01T00:00:00Z", "delete-after": "2026-12-31T00:00:00Z"}, "2026-12-30T23:59:59Z",
     "kept until 2026-12-31T00:00:00Z"),
    ({"archived-at": "2026-12-01T00:00:00Z", "delete-after": "2026-12-31T00:00:00Z"}, "2026-12-31T00:00:00Z", None),
])
def test_purge_decision(tags, now, refusal):
    found = pc.purge_decision(tags, now)
    assert (found is None) if refusal is None else (refusal in found)


def test_archive_tags_keep_the_first_date():
    now = datetime(2026, 12, 1, 3, tzinfo=timezone.utc)
    first = pc.archive_tags({}, now, 30)
    assert first == {"archived-at": "2026-12-01T03:00:00Z", "delete-after": "2026-12-31T03:00:00Z"}
    assert pc.archive_tags(first, now + timedelta(days=3), 30) == first


@pytest.mark.parametrize("layers, functions, delete, keep", [
    ({"chromedriver": ["c:1", "c:2"], "selenium": ["s:1"]}, {"old": ["c:2", "s:1"], "v2": []}, ["c:1"],
     {"c:2": ["old"], "s:1": ["old"]}),
    ({"chromedriver": ["c:2"], "selenium": ["s:1"]}, {"old": [], "other": ["s:1"]}, ["c:2"], {"s:1": ["other"]}),
    ({"chromedriver": ["c:2"]}, {"a": ["c:2"], "b": ["c:2"]}, [], {"c:2": ["a", "b"]}),
    ({}, {"a": ["c:2"]}, [], {}),
])
def test_layer_plan(layers, functions, delete, keep):
    assert pc.layer_plan(layers, functions) == {"delete": delete, "keep": keep}
