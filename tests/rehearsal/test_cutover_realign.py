"""cutover.yml's alignment of sms_v2 to sms before the new side's first live run, and its recovery (issue 11).

The alignment (the BENCHMARKS "Crash at every step of the switch" finding): the two runs of the slot before the
cutover saw different bookings (EventBridge jitter):
(a) the shadow run saw a booking the live run had not - sms_v2 has its flag, sms not: without the alignment the new
    function, live, skips it and the SMS is never sent;
(b) the live run saw a booking the shadow run had not - sms has its flag, sms_v2 not: without it the SMS goes twice.
Both are written directly into the tables, as the last parallel slot would have left them.

One world, the runs an operator would meet in turn: an alignment that cannot run stops the new rule (neither side
runs); the rerun switches again and aligns, SIGKILLed between the alignment's two writes; the next rerun (after
force_unlock with a reason) finds the alignment record the killed run left open in the state bucket, proves with
schedule_switch's `since`/`ran_since` that neither function ran since that run's reading, and aligns; no SMS twice,
none missed. The same record left open once the new function ran live is refused before any write."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from rehearsal.bookings import BookingSource
from rehearsal.recorders import Recorders
from rehearsal.soak import Chain, crash_and_recover, switch_left
from tests.conftest import LEDGER_TABLE, STATE_BUCKET, migration_writes
from tests.module_runner import run_module
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.rehearsal.conftest import CFG
from tests.rehearsal.cutover_world import dp2, events, pair, play, rehearsal  # noqa: F401 (fixture)

RECORD = {"table": LEDGER_TABLE, "bucket": STATE_BUCKET, "account_id": "123456789012",
          "state_key": ["cutover", "alignment.json"]}

# mutating calls of the rerun before the alignment's first write: the lock, the open alignment record, the switch's
# one write left (the new rule enabled again); the on-demand backups of the same DP2 go are reused
ALIGN_FIRST_WRITE = 4

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


class _Chain(Chain):
    """The rehearsal's chain, keeping its last run (what the operator read)."""
    last = None

    def run(self, *args, **kwargs):
        self.last = super().run(*args, **kwargs)
        return self.last


@pytest.mark.slow
def test_an_alignment_that_cannot_run_stops_both_and_the_rerun_killed_mid_alignment_is_realigned(
        rehearsal, aws, proxy, state_dir):
    shadow_only, old_only = _diverge(rehearsal, aws)  # two items to align: the kill lands between them
    dp2(proxy.url)
    # an alignment that cannot run (here: a refused safety margin) stops the new rule: neither side runs
    stopped = play("cutover.yml", proxy, rehearsal, cutover_align_safety_s=301)
    assert stopped.rc != 0 and "Rerun cutover.yml now" in stopped.messages(), stopped.messages()
    assert pair(aws) == ("DISABLED", "DISABLED", "live")
    (failed,) = events(proxy.url, "cutover.yml")
    assert failed["result"] == "failed" and failed["facts"]["new_rule_stopped"] is True, failed

    # the rerun switches again (enables the new rule) and aligns in that run: SIGKILLed between its two alignment
    # writes; the next rerun (force_unlock with a reason first) finishes the alignment
    chain = _Chain(proxy, state_dir.parent, follow=True)
    outcome = crash_and_recover(chain, "cutover.yml", (), ALIGN_FIRST_WRITE, check=switch_left(chain),
                                clean_rerun=False)
    assert outcome["killed"] and outcome["operation"] == "UpdateItem", outcome
    # switched (the new rule enabled, its input live), the alignment half done
    assert outcome["left"]["pair"] == ("DISABLED", "ENABLED", "live") and outcome["forced_unlock"], outcome
    assert pair(aws) == ("DISABLED", "ENABLED", "live")
    (rerun,) = [e for e in events(proxy.url, "cutover.yml") if e["result"] == "ok"]
    facts = rerun["facts"]
    assert facts["realigned_after"] and facts["verified"] == "ok", facts  # the killed run's id: it finished aligning
    # the items the killed run had not written yet (the confirms below: both bookings aligned in the end)
    assert facts["aligned"]["written"] == facts["aligned"]["writes"] >= 1, facts
    assert "aligned to sms:" in chain.last.stdout
    chain.slots(2)  # the confirm windows of both bookings close
    report = chain.invariant()  # no SMS twice, none missed
    assert report.delivered > 0, report.summary()
    sent = Recorders(rehearsal.cfg.directory).sens.all()
    confirms = {b.booking_num: [r["function"] for r in sent if r["booking_num"] == b.booking_num
                                and r["sms_type"] == "confirm"] for b in (shadow_only, old_only)}
    assert confirms == {shadow_only.booking_num: [CFG.new_function], old_only.booking_num: [CFG.old_function]}

    # the same record left open once the new function has run live (the two slots above): the rerun cannot prove
    # the alignment safe any more and refuses before any write, saying what to do
    record = run_module("cutover_ledger", dict(RECORD, action="get_state"), proxy.url)["content"]
    assert record["aligned"]["by"] != record["run_id"], record  # closed by the rerun, opened by the killed run
    reopened = run_module("cutover_ledger", dict(RECORD, action="put_state", content=dict(record, aligned=None)),
                          proxy.url)
    assert reopened["changed"], reopened
    proxy.clear()
    refused = play("cutover.yml", proxy, rehearsal)
    assert refused.rc != 0 and "may have run live since" in refused.messages(), refused.messages()
    assert "cutover_realign_skip_reason" in refused.messages() and migration_writes(proxy.calls()) == []
