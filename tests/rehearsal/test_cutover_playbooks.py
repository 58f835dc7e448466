"""cutover.yml and rollback.yml on the rehearsal world, as an operator runs them: the customer invariant."""
from __future__ import annotations


import pytest

from rehearsal.invariants import check_world
from tests.conftest import migration_writes
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.rehearsal.conftest import CFG
from tests.rehearsal.cutover_world import dp2, events, pair, play, rehearsal  # noqa: F401 (fixture)


@pytest.mark.slow
def test_no_sms_twice_missed_or_late_over_cutover_live_slots_rollback_3_and_re_cutover(rehearsal, aws, proxy):
    dp2(proxy.url)
    proxy.clear()
    run = play("cutover.yml", proxy, rehearsal)
    assert run.rc == 0, run.messages()
    assert pair(aws) == ("DISABLED", "ENABLED", "live")
    (event,) = events(proxy.url, "cutover.yml")
    facts = event["facts"]
    assert event["result"] == "ok" and facts["live"] == "new" and facts["verified"] == "ok", facts
    assert float(facts["gap_seconds"]) < 2 and facts["switched_at"].endswith("+00:00")  # ISO UTC, last write
    assert set(facts["backup_arns"]) == {CFG.old_table, CFG.new_table} and all(facts["backup_arns"].values())
    assert {"started_at", "backups_at", "switched_at", "verified_at", "ended_at"} <= set(facts["timestamps"])
    writes = migration_writes(proxy.calls())  # backups first, then old rule disabled, then the new input live
    assert writes.index("CreateBackup") < writes.index("DisableRule") < writes.index("PutTargets"), writes
    # the first live slot ran (the follower ran exactly the slot the check waited for) and delivered
    last = rehearsal.scheduler.recorders.runs.all()[-1]
    assert last["function"] == CFG.new_function and last["mode"] == "live" and last["slot"] == facts["verified_slot"]
    sent = [m["body"]["text"] for m in rehearsal.notify() if m.get("via") == "direct"]
    assert any("Cutover starts" in t for t in sent) and any("Cutover done" in t for t in sent)
    proxy.clear()
    again = play("cutover.yml", proxy, rehearsal)
    assert again.rc == 0 and again.changed == 0, again.messages()
    assert migration_writes(proxy.calls()) == []
    assert rehearsal.scheduler.recorders.runs.all()[-1] == last  # no slot was needed: already verified

    rehearsal.scheduler.run(3)  # live slots
    proxy.clear()
    back = play("rollback.yml", proxy, rehearsal, scenario=3)
    assert back.rc == 0, back.messages()
    assert pair(aws) == ("ENABLED", "ENABLED", "shadow")
    (event,) = events(proxy.url, "rollback.yml")
    facts = event["facts"]
    assert facts["live"] == "old" and facts["scenario"] == 3 and facts["sla_s"] == 900, facts
    assert float(facts["elapsed_s"]) < 900 and facts["verified"] == "ok" and facts["reconciled"]["writes"] > 0
    # the clock never moved between the reading before the first reconcile and the switch: no catch-up scan
    assert facts["ran_since_read"]["ran"] is False and facts["catch_up"] is None, facts["ran_since_read"]
    assert facts["restored_table"] == "sms-restored-" + facts["report"].rsplit("missed-sms-", 1)[1][:-5]
    assert facts["report_bookings"] == 0  # a clean world: nothing to replay by hand
    assert "of the 900 s SLA (met)" in back.stdout
    # the old function ran the slot the check waited for; the flags sms_v2 learned are in sms
    assert any(r["function"] == CFG.old_function and r["slot"] == facts["verified_slot"]
               for r in rehearsal.scheduler.recorders.runs.all())
    writes = migration_writes(proxy.calls())  # reconcile first, then the new side stopped, then the old rule enabled
    assert writes.index("BatchWriteItem") < writes.index("PutTargets") < writes.index("EnableRule"), writes
    assert "RestoreTableFromBackup" in writes

    rehearsal.scheduler.run(3)  # the old function again
    assert play("cutover.yml", proxy, rehearsal).rc == 0  # re-cutover under the same DP2 go
    rehearsal.scheduler.run(2)
    report = check_world(rehearsal.cfg)
    assert report.ok, report.violations[:5]
    assert report.counts() == {} or not any(report.counts().values()), report.counts()
