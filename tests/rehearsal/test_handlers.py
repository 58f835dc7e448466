"""Reference handlers: SMS rules, de-duplication, shadow vs live, logs and metrics on the emulator."""
from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

from rehearsal import world_data
from rehearsal.bookings import BookingSource
from rehearsal.invariants import check_world
from tests.rehearsal.conftest import CFG, DAY

SLOT_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:[024]0:00Z$")


def test_a_clean_day_old_live_new_shadow(world, aws):
    world.new_rule("shadow")
    world.scheduler.run(72, start=DAY)

    report = check_world(world.cfg)
    assert report.ok, report.violations[:5]
    sens = world.scheduler.recorders.sens.all()
    assert {r["function"] for r in sens} == {CFG.old_function}  # shadow reaches no customer
    assert {r["function"] for r in world.scheduler.recorders.telegram.all()} == {CFG.old_function}
    assert {r["sms_type"] for r in sens} == {"confirm", "guide", "event"}
    assert {r["slot"] for r in sens if r["sms_type"] == "event"} == {DAY.strftime("%Y-%m-%dT11:00:00Z")}  # 20:00 KST

    old, new = world.log_lines(CFG.old_function), world.log_lines(CFG.new_function)
    old_sms = [line for line in old if line["event"] == "sms"]
    new_sms = [line for line in new if line["event"] == "sms"]
    assert all(line["delivered"] for line in old_sms) and not any(line["delivered"] for line in new_sms)
    assert set(old_sms[0]) == {"event", "slot", "sms_type", "booking_num", "phone", "store_id", "content", "delivered"}
    assert all(SLOT_FORMAT.match(line["slot"]) for line in old + new)
    # the same messages on both sides, give or take the bookings that arrived between the two runs of a slot
    key = lambda line: (line["booking_num"], line["sms_type"], line["content"])  # noqa: E731
    assert len({key(x) for x in old_sms} ^ {key(x) for x in new_sms}) <= 4
    telegrams = [line for line in old + new if line["event"] == "telegram"]
    assert len(telegrams) == 144 and all(re.search(r"took \d+\.\d+s", t["text"]) for t in telegrams)

    # the tables record what each side sent (or would have)
    seeded = {(i["booking_num"], i["phone"]) for i in world_data.sms_items()}  # history, not this day
    sms_table, v2_table = world.items(CFG.old_table), world.items(CFG.new_table)
    sent_confirms = {(r["booking_num"], r["phone"]) for r in sens if r["sms_type"] == "confirm"}
    assert {k for k, item in sms_table.items() if item["confirm_sms"]["BOOL"]} - seeded == sent_confirms
    assert {k for k, i in v2_table.items() if i["remind_sms"]["BOOL"]} == \
        {(x["booking_num"], x["phone"]) for x in new_sms if x["sms_type"] == "guide"}

    # AWS/Lambda metrics, one point per run, at the slot time
    cloudwatch = aws("cloudwatch")
    for function in (CFG.old_function, CFG.new_function):
        stats = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName="Invocations", StartTime=DAY, EndTime=DAY + timedelta(days=1),
            Period=86400, Statistics=["Sum"], Dimensions=[{"Name": "FunctionName", "Value": function}])
        assert stats["Datapoints"][0]["Sum"] == 72
        for metric in ("Errors", "Throttles"):
            stats = cloudwatch.get_metric_statistics(
                Namespace="AWS/Lambda", MetricName=metric, StartTime=DAY, EndTime=DAY + timedelta(days=1),
                Period=86400, Statistics=["Sum"], Dimensions=[{"Name": "FunctionName", "Value": function}])
            assert stats["Datapoints"][0]["Sum"] == 0
    first_slot = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Duration", StartTime=DAY, EndTime=DAY + timedelta(minutes=20),
        Period=1200, Statistics=["SampleCount", "Maximum"],
        Dimensions=[{"Name": "FunctionName", "Value": CFG.new_function}])["Datapoints"]
    assert first_slot[0]["SampleCount"] == 1 and 0 < first_slot[0]["Maximum"] < 240_000


def test_a_set_flag_means_no_second_sms(world, aws):
    """The table is the de-duplication state: a booking whose flag is set gets no SMS of that type."""
    world.new_rule("shadow", state="DISABLED")
    start = DAY + timedelta(hours=2)
    arriving = BookingSource(1, start).created_between(start, start + timedelta(hours=1))
    flagged = arriving[:3]
    aws("dynamodb").batch_write_item(RequestItems={CFG.old_table: [{"PutRequest": {"Item": {
        "booking_num": {"S": b.booking_num}, "phone": {"S": b.phone}, "name": {"S": b.name},
        "confirm_sms": {"BOOL": True}}}} for b in flagged]})
    world.scheduler.run(6, start=start)
    confirms = Counter(r["booking_num"] for r in world.scheduler.recorders.sens.all() if r["sms_type"] == "confirm")
    assert not any(b.booking_num in confirms for b in flagged)
    assert all(confirms[b.booking_num] == 1 for b in arriving[3:])  # each of the others exactly once
    # the flag set by the seed is kept (flags are never cleared)
    assert all(world.items(CFG.old_table)[(b.booking_num, b.phone)]["confirm_sms"]["BOOL"] for b in flagged)


def test_live_mode_delivers_and_an_unknown_mode_is_an_error(world, aws):
    world.old_rule("DISABLED")
    world.new_rule("live")
    start = DAY + timedelta(hours=3)
    world.scheduler.run(3, start=start)
    assert {r["function"] for r in world.scheduler.recorders.sens.all()} == {CFG.new_function}
    assert check_world(world.cfg).ok

    world.new_rule("lvie")
    summary = world.scheduler.run(1)
    assert summary["errors"] == {CFG.new_function: 1}
    errors = aws("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Errors", StartTime=start, EndTime=start + timedelta(hours=2),
        Period=3600, Statistics=["Sum"], Dimensions=[{"Name": "FunctionName", "Value": CFG.new_function}])
    assert sum(p["Sum"] for p in errors["Datapoints"]) == 1
    assert any(line["event"] == "error" and "lvie" in line["error"] for line in world.log_lines(CFG.new_function))
