"""cutover.yml and rollback.yml on the rehearsal world, as an operator runs them: the customer invariant.

One world carries the whole story (each world and each full cutover.yml run costs make test about 10-15 s):
two cutover.yml at once (the lock), the cutover, its idempotent rerun, live slots, rollback scenario 3, and the
re-cutover SIGKILLed between the switch's two writes and recovered (issue 13 item 3, the critical point; every
crash point of cutover.yml and rollback.yml runs in bench/bench_soak.py `--crash-points all`)."""
from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

import pytest

from rehearsal.follow import Follower
from rehearsal.invariants import check_world
from rehearsal.soak import Chain, crash_and_recover, switch_left
from tests.ansible_runner import run_playbook
from tests.conftest import migration_writes
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.rehearsal.conftest import CFG
from tests.rehearsal.cutover_world import dp2, events, pair, play, rehearsal  # noqa: F401 (fixture)

# mutating calls of the re-cutover before its switch: the lock (PutItem) and the open alignment record (S3 PUT);
# the on-demand backups of the same DP2 go are reused (the first cutover's run took them: 5 there)
SWITCH_FIRST_WRITE = 3


def two_cutovers_at_once(rehearsal, aws, proxy):
    """Two cutover.yml started together: exactly one proceeds, the other is refused by the lock naming cutover.yml;
    rollback.yml -e scenario=2 while the winner holds the lock is refused naming the holder. -> the winner's run."""
    env = {"CUTOVER_EMULATOR_URL": proxy.url}
    with ThreadPoolExecutor(2) as pool:
        # no follower yet: the run that takes the lock switches, then waits for its first live slot
        runs = [pool.submit(run_playbook, "cutover.yml", env=env) for _ in range(2)]
        done, _ = wait_futures(runs, timeout=300, return_when=FIRST_COMPLETED)
        loser = next(iter(done)).result()
        assert loser.rc != 0 and "the migration is locked by another run" in loser.messages(), loser.messages()
        assert "cutover.yml" in loser.messages()
        waited = 0
        while pair(aws)[2] != "live" and waited < 120:  # the winner switched and waits for the slot
            time.sleep(0.5)
            waited += 0.5
        refused = run_playbook("rollback.yml", extra_vars={"scenario": 2}, env=env)
        assert refused.rc != 0 and "the migration is locked by another run" in refused.messages()
        assert "cutover.yml" in refused.messages()  # names the holder's playbook (and owner, ticket, age)
        with Follower(rehearsal.cfg):
            winner = [f.result() for f in runs if f.result() is not loser][0]
    assert sorted(e["result"] for e in events(proxy.url, "cutover.yml")) == ["ok", "refused"]
    return winner


def ok_events(url, playbook):
    return [e for e in events(url, playbook) if e.get("result") == "ok"]


@pytest.mark.slow
def test_no_sms_twice_missed_or_late_over_cutover_live_slots_rollback_3_and_re_cutover(rehearsal, aws, proxy,
                                                                                       state_dir):
    dp2(proxy.url)
    proxy.clear()
    run = two_cutovers_at_once(rehearsal, aws, proxy)
    assert run.rc == 0, run.messages()
    assert pair(aws) == ("DISABLED", "ENABLED", "live")
    (event,) = ok_events(proxy.url, "cutover.yml")
    facts = event["facts"]
    assert event["result"] == "ok" and facts["live"] == "new" and facts["verified"] == "ok", facts
    assert float(facts["gap_seconds"]) < 2 and facts["switched_at"].endswith("+00:00")  # ISO UTC, last write
    assert set(facts["backup_arns"]) == {CFG.old_table, CFG.new_table} and all(facts["backup_arns"].values())
    assert {"started_at", "backups_at", "switched_at", "verified_at", "ended_at"} <= set(facts["timestamps"])
    # backups first, then old rule disabled, then the new input live (the refused runs wrote only their ledger event)
    writes = migration_writes(proxy.calls())
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
    (event,) = ok_events(proxy.url, "rollback.yml")
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
    # the re-cutover under the same DP2 go, SIGKILLed between the switch's two writes (issue 13 item 3)
    chain = Chain(proxy, state_dir.parent, follow=True)
    outcome = crash_and_recover(chain, "cutover.yml", (), SWITCH_FIRST_WRITE, check=switch_left(chain),
                                clean_rerun=False)  # cutover.yml's idempotence: the rerun above
    assert outcome["killed"] and outcome["operation"] == "DisableRule", outcome
    # nothing the killed module had sent (its PutTargets, in a keep-alive connection) reached the emulator, also
    # after the proxy was disarmed for the rerun (crash_and_recover raises otherwise; proxy: fenced_ports)
    assert outcome["forwarded_after_kill"] == [], outcome
    assert outcome["lock_left"] and outcome["forced_unlock"], outcome
    # the kill left the old rule disabled and the new input still shadow: neither side live (never both); no slot
    # fires before the rerun (the quiet window; here the clock stands still until a playbook waits for a slot)
    assert (outcome["left"]["pair"], outcome["left"]["live"]) == (("DISABLED", "ENABLED", "shadow"), None), outcome
    # the rerun finished the switch (the new input live) and verified the first live slot
    assert pair(aws) == ("DISABLED", "ENABLED", "live")
    ok = ok_events(proxy.url, "cutover.yml")
    assert len(ok) == 3 and ok[0]["facts"]["live"] == "new" and ok[0]["facts"]["verified"] == "ok", ok[:1]
    assert ok[0]["facts"]["switched_this_run"] in (True, "True"), ok[0]["facts"]
    chain.slots(2)
    # no SMS twice, none missed, none late: over the parallel slots, the cutover, the rollback, the crash and after
    report = check_world(rehearsal.cfg)
    assert report.ok, report.violations[:5]
    assert report.counts() == {} or not any(report.counts().values()), report.counts()
    assert report.delivered > 0, report.summary()
