"""Issue 11: cutover.yml SIGKILLed in the middle of its alignment (after the switch, between two of the alignment's
writes). The rerun (after force_unlock with a reason) finds the alignment record the killed run left open in the
state bucket, proves with schedule_switch's `since`/`ran_since` that neither function ran since that run's reading,
and aligns; no SMS twice, none missed."""
from __future__ import annotations

import pytest

from rehearsal.recorders import Recorders
from rehearsal.soak import Chain, crash_and_recover, switch_left
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.conftest import LEDGER_TABLE, STATE_BUCKET, migration_writes
from tests.module_runner import run_module
from tests.rehearsal.conftest import CFG
from tests.rehearsal.cutover_world import dp2, events, pair, play, rehearsal  # noqa: F401 (fixture)
from tests.rehearsal.test_cutover_align import _diverge

RECORD = {"table": LEDGER_TABLE, "bucket": STATE_BUCKET, "account_id": "123456789012",
          "state_key": ["cutover", "alignment.json"]}

# mutating calls of cutover.yml before the alignment's first write: the lock, two backups, the open alignment
# record, the switch's two writes
ALIGN_FIRST_WRITE = 7


@pytest.mark.slow
def test_cutover_killed_mid_alignment_is_realigned_by_the_rerun(rehearsal, aws, proxy, state_dir):
    shadow_only, old_only = _diverge(rehearsal, aws)  # two items to align: the kill lands between them
    dp2(proxy.url)
    chain = Chain(proxy, state_dir.parent, follow=True)
    outcome = crash_and_recover(chain, "cutover.yml", (), ALIGN_FIRST_WRITE, check=switch_left(chain),
                                clean_rerun=False)
    assert outcome["killed"] and outcome["operation"] == "UpdateItem", outcome
    assert outcome["left"]["live"] == "new" and outcome["forced_unlock"], outcome  # switched, alignment half done
    assert pair(aws) == ("DISABLED", "ENABLED", "live")
    (rerun,) = [e for e in events(proxy.url, "cutover.yml") if e["result"] == "ok"]
    facts = rerun["facts"]
    assert facts["realigned_after"] and facts["verified"] == "ok", facts  # the killed run's id: it finished aligning
    assert facts["aligned"]["written"] == facts["aligned"]["writes"] >= 1, facts
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
