"""output_compare: which slots a run reports and which it reads (pure part of the module)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from module_utils.cutover.compare_config import CompareConfigError
from module_utils.cutover.compare_plan import plan
BASE = {"slot_minutes": 20, "settle_slots": 1, "grace_s": 300, "scan_segments": 4,
        "slot": None, "start": None, "end": None, "as_of": None}


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("params, start, end, read_from, read_to", [
    # default: slot start + (1 + settle) x 20 min + grace <= as_of
    ({"as_of": "2026-11-26T05:05:00Z"}, "04:20", "04:20", "04:00", "05:00"),
    ({"as_of": "2026-11-26T05:04:59Z"}, "04:00", "04:00", "03:40", "04:40"),
    ({"as_of": "2026-11-26T05:05:00Z", "settle_slots": 0}, "04:40", "04:40", "04:40", "05:00"),
    ({"as_of": "2026-11-26T14:05:00+09:00"}, "04:20", "04:20", "04:00", "05:00"),  # KST clock, same moment
    ({"slot": "2026-11-26T04:13:00Z", "as_of": "2026-11-26T06:00:00Z"}, "04:00", "04:00", "03:40", "04:40"),
    ({"start": "2026-11-26T01:00:00Z", "end": "2026-11-26T02:00:00Z", "as_of": "2026-11-26T06:00:00Z"},
     "01:00", "02:00", "00:40", "02:40"),
])
def test_the_slots_reported_and_the_window_read(params, start, end, read_from, read_to):
    window = plan(dict(BASE, **params))
    day = "2026-11-26T"
    assert (iso(window["start"]), iso(window["end"])) == (f"{day}{start}:00Z", f"{day}{end}:00Z")
    assert (iso(window["read_from"]), iso(window["read_to"])) == (f"{day}{read_from}:00Z", f"{day}{read_to}:00Z")


def test_without_as_of_the_clock_decides():
    now = datetime(2026, 11, 26, 5, 5, tzinfo=timezone.utc)
    assert iso(plan(dict(BASE), now=now)["start"]) == "2026-11-26T04:20:00Z"


@pytest.mark.parametrize("params, message", [
    ({"slot": "yesterday"}, "not an ISO date-time"),
    ({"slot": "2026-11-26T04:00:00Z", "start": "2026-11-26T04:00:00Z"}, "either slot or start/end"),
    ({"start": "2026-11-26T04:00:00Z"}, "needs both start and end"),
    ({"start": "2026-11-26T04:00:00Z", "end": "2026-11-26T03:00:00Z"}, "is before start"),
    ({"settle_slots": -1}, "not negative"),
])
def test_bad_input_is_refused_before_anything_is_read(params, message):
    with pytest.raises(CompareConfigError, match=message):
        plan(dict(BASE, **params))
