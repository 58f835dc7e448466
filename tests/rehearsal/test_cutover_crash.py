"""Issue 13 item 3, the critical point: cutover.yml SIGKILLed between the switch's two writes (the old rule
disabled, the new input not yet live). Every crash point of cutover.yml and rollback.yml runs in
bench/bench_soak.py (`--crash-points all`)."""
from __future__ import annotations

import pytest

from rehearsal.soak import Chain, crash_and_recover, switch_left
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.rehearsal.cutover_world import dp2, events, pair, rehearsal  # noqa: F401 (fixture)

# mutating calls of cutover.yml before the switch: the lock (PutItem), the two on-demand backups, the open
# alignment record (S3 PUT)
SWITCH_FIRST_WRITE = 5


@pytest.mark.slow
def test_cutover_killed_between_the_switchs_two_writes_leaves_one_gap_the_rerun_closes_before_any_slot(
        rehearsal, aws, proxy, state_dir):
    dp2(proxy.url)
    chain = Chain(proxy, state_dir.parent, follow=True)
    outcome = crash_and_recover(chain, "cutover.yml", (), SWITCH_FIRST_WRITE, check=switch_left(chain),
                                clean_rerun=False)  # cutover.yml's idempotence: test_cutover_playbooks.py
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
    ok = [e for e in events(proxy.url, "cutover.yml") if e.get("result") == "ok"]
    assert ok and ok[0]["facts"]["live"] == "new" and ok[0]["facts"]["verified"] == "ok", ok[:1]
    chain.slots(2)
    report = chain.invariant()  # no SMS twice, none missed, over the slots before, around and after the crash
    assert report.delivered > 0, report.summary()
