"""cutover.yml and rollback.yml: bad input and scenario 1. The lock between two runs (two cutover.yml at once, a
rollback.yml meanwhile) is in test_cutover_playbooks.py, on the world of the cutover it runs anyway."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.rehearsal.conftest import CFG
from tests.rehearsal.cutover_world import pair, play, rehearsal  # noqa: F401 (fixture)


@pytest.mark.slow
def test_bad_input_is_refused_with_no_write_and_scenario_1_stops_the_new_side_only(rehearsal, aws, proxy):
    cases = [("cutover.yml", {}, "no Decision Point 2 go recorded in the last 24 h: the ledger holds no cutover"),
             ("rollback.yml", {"scenario": 4}, "unknown scenario '4'"),
             ("rollback.yml", {"scenario": 2}, "nothing to roll back: no cutover is recorded"),
             ("rollback.yml", {"scenario": 1, "cutover_switch_margin": 10}, "cutover_switch_margin must be 30-600"),
             ("cutover.yml", {"cutover_switch_max_wait": 4000}, "0-3600 seconds (got 4000)")]
    with ThreadPoolExecutor(len(cases)) as pool:
        runs = list(pool.map(lambda c: play(c[0], proxy, rehearsal, **c[1]), cases))
    for (playbook, extra, message), run in zip(cases, runs):
        assert run.rc != 0 and message in run.messages(), (playbook, extra, run.messages())
        assert "nothing was changed" in run.messages()
    assert proxy.mutating_calls() == []

    stop = play("rollback.yml", proxy, rehearsal, scenario=1)
    assert stop.rc == 0, stop.messages()
    assert pair(aws)[:2] == ("ENABLED", "DISABLED")  # the old rule untouched, the new one stopped
    assert [c["operation"] for c in proxy.mutating_calls() if c["service"] == "events"] == ["DisableRule"]
    assert aws("dynamodb").describe_table(TableName=CFG.new_table)["Table"]["ItemCount"] >= 0  # evidence kept
