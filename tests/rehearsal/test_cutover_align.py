"""cutover.yml aligns sms_v2 to sms before the new side's first live run (the BENCHMARKS "Crash at every step of the
switch" finding). The two runs of the slot before the cutover saw different bookings (EventBridge jitter):
(a) the shadow run saw a booking the live run had not - sms_v2 has its flag, sms not: without the alignment the new
    function, live, skips it and the SMS is never sent;
(b) the live run saw a booking the shadow run had not - sms has its flag, sms_v2 not: without it the SMS goes twice.
Both are written directly into the tables, as the last parallel slot would have left them."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from rehearsal.bookings import BookingSource
from rehearsal.invariants import check_world
from rehearsal.recorders import Recorders
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.rehearsal.conftest import CFG
from tests.rehearsal.cutover_world import dp2, events, pair, play, rehearsal  # noqa: F401 (fixture)

SLOT = timedelta(minutes=CFG.slot_minutes)


def _at(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _diverge(rehearsal, aws):
    """Bookings (a) and (b) of the slot that just ended, their flags put as the two runs would have left them."""
    runs = rehearsal.scheduler.recorders.runs.all()
    last = _at(runs[-1]["slot"])
    old_seen = max(_at(r["delivered_at"]) for r in runs if r["function"] == CFG.old_function and _at(r["slot"]) == last)
    state = rehearsal.scheduler.load()
    source = BookingSource(state["seed"], _at(state["world_start"]))
    following = last + SLOT
    # (a): arrived after the old run of the last slot, still owed a confirm at the next one (the shadow saw it)
    arrived = source.created_between(old_seen + timedelta(seconds=1), following - timedelta(seconds=30))
    shadow_only = next(b for b in arrived
                       if b.booking_time > following + SLOT and not b.cancelled(following + SLOT))
    # (b): confirmed by the old run of the last slot and still a confirm candidate at the next one
    sent = [r for r in Recorders(rehearsal.cfg.directory).sens.all()
            if r["function"] == CFG.old_function and r["sms_type"] == "confirm" and _at(r["slot"]) == last]
    bookings = {b.booking_num: b for b in source.all_until(following)}
    old_only = next(bookings[r["booking_num"]] for r in sent
                    if bookings[r["booking_num"]].booking_time > following + SLOT
                    and not bookings[r["booking_num"]].cancelled(following + SLOT))
    ddb = aws("dynamodb")
    key = {"booking_num": {"S": shadow_only.booking_num}, "phone": {"S": shadow_only.phone}}
    assert "Item" not in ddb.get_item(TableName=CFG.old_table, Key=key)
    ddb.put_item(TableName=CFG.new_table, Item=dict(key, name={"S": shadow_only.name}, confirm_sms={"BOOL": True},
                                                     remind_sms={"BOOL": False}, option_sms={"BOOL": False}))
    key_b = {"booking_num": {"S": old_only.booking_num}, "phone": {"S": old_only.phone}}
    assert ddb.get_item(TableName=CFG.old_table, Key=key_b)["Item"]["confirm_sms"] == {"BOOL": True}
    ddb.update_item(TableName=CFG.new_table, Key=key_b, UpdateExpression="SET confirm_sms = :f",
                    ExpressionAttributeValues={":f": {"BOOL": False}})
    return shadow_only, old_only


@pytest.mark.slow
def test_the_cutover_aligns_the_shadow_table_so_no_sms_is_missed_or_sent_twice(rehearsal, aws, proxy):
    shadow_only, old_only = _diverge(rehearsal, aws)
    dp2(proxy.url)
    # an alignment that cannot run (here: a refused safety margin) stops the new rule: neither side runs
    stopped = play("cutover.yml", proxy, rehearsal, cutover_align_safety_s=301)
    assert stopped.rc != 0 and "Rerun cutover.yml now" in stopped.messages(), stopped.messages()
    assert pair(aws) == ("DISABLED", "DISABLED", "live")
    (failed,) = events(proxy.url, "cutover.yml")
    assert failed["result"] == "failed" and failed["facts"]["new_rule_stopped"] is True, failed
    # the rerun switches again (enables the new rule) and aligns in that run
    run = play("cutover.yml", proxy, rehearsal)
    assert run.rc == 0, run.messages()
    assert pair(aws) == ("DISABLED", "ENABLED", "live")
    (event,) = [e for e in events(proxy.url, "cutover.yml") if e["result"] == "ok"]
    aligned = event["facts"]["aligned"]
    assert aligned["cleared"] >= 1 and aligned["set"] >= 1 and aligned["written"] == aligned["writes"], aligned
    assert "aligned to sms:" in run.stdout

    rehearsal.scheduler.run(2)  # the confirm windows of both bookings close
    report = check_world(rehearsal.cfg)
    assert report.ok, report.violations[:5]
    sent = Recorders(rehearsal.cfg.directory).sens.all()
    confirms = {b.booking_num: [r["function"] for r in sent if r["booking_num"] == b.booking_num
                                and r["sms_type"] == "confirm"] for b in (shadow_only, old_only)}
    assert confirms == {shadow_only.booking_num: [CFG.new_function], old_only.booking_num: [CFG.old_function]}
