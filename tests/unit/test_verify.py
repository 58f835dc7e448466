"""The verdict on the first execution after a switch (module_utils/cutover/verify.py), table-style."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from module_utils.cutover.compare_formats import parse_log_event
from module_utils.cutover.schedule import parse
from module_utils.cutover.verify import FAILED, OK, PENDING, VerifyInputError, first_slot, judge, present_on, validate

UTC = timezone.utc
SLOT = "2026-11-23T03:00:00Z"
START = [(1, "START RequestId: a Version: $LATEST")]
END = [(2, "END RequestId: a")]


def sms(delivered, slot=SLOT):
    return json.dumps({"event": "sms", "slot": slot, "sms_type": "confirm", "booking_num": "1_1", "phone": "010",
                       "content": "x", "delivered": delivered})


def verdict(invocations, errors, lines):
    observations = [o for o in (parse_log_event(m, t, None) for t, m in lines) if o]
    return judge(SLOT, invocations, errors, lines, observations)


@pytest.mark.parametrize("invocations, errors, lines, status, reason", [
    (0, 0, [], PENDING, "no execution in the slot"),
    (0, 0, START, PENDING, "still in flight"),
    (0, 0, START + END, PENDING, "Invocations datapoint is not in yet"),
    (1, 0, START + END, OK, "no booking needed an SMS"),
    (1, 0, START + [(1, sms(True))] + END, OK, "1 SMS delivered"),
    (1, 0, START + [(1, sms(False))] + END, FAILED, "still in shadow mode"),
    (1, 0, START + [(1, sms(False, "2026-11-23T02:40:00Z"))] + END, OK, "no booking needed"),  # another slot's line
    (1, 1, START + END, FAILED, "1 error(s)"),
    (0, 1, [], FAILED, "1 error(s)"),
])
def test_judge(invocations, errors, lines, status, reason):
    result = verdict(invocations, errors, lines)
    assert result["status"] == status and reason in "; ".join(result["reasons"]), result


def test_the_slot_checked_is_the_first_fire_strictly_after_the_switch():
    cron = parse("cron(0/20 * * * ? *)")
    assert first_slot(cron, datetime(2026, 11, 23, 2, 50, tzinfo=UTC)) == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert first_slot(cron, datetime(2026, 11, 23, 3, 0, tzinfo=UTC)) == datetime(2026, 11, 23, 3, 20, tzinfo=UTC)


def test_the_present_on_the_rehearsal_clock_is_just_before_its_next_unrun_step():
    now = datetime(2026, 11, 26, tzinfo=UTC)
    assert present_on(None, now) == now
    assert present_on({"now": SLOT}, now) < datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert present_on({"at": SLOT}, now) == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    with pytest.raises(VerifyInputError):
        present_on({}, now)


@pytest.mark.parametrize("timeout, poll", [(-1, 1), (7201, 1), (10, 0), (10, 121), (None, 1)])
def test_out_of_range_settings_are_refused(timeout, poll):
    with pytest.raises(VerifyInputError):
        validate(timeout, poll)
