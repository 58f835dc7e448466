"""cutover.yml and rollback.yml: bad input, scenario 1, and the lock between two runs."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from rehearsal.follow import Follower
from tests.ansible_runner import run_playbook
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.rehearsal.conftest import CFG
from tests.rehearsal.cutover_world import dp2, events, pair, play, rehearsal  # noqa: F401 (fixture)


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


@pytest.mark.slow
def test_two_cutovers_at_once_one_proceeds_and_a_rollback_meanwhile_is_refused_naming_the_holder(rehearsal, aws, proxy):
    dp2(proxy.url)
    env = {"CUTOVER_EMULATOR_URL": proxy.url}
    with ThreadPoolExecutor(2) as pool:
        # no follower yet: the run that takes the lock switches, then waits for its first live slot
        runs = [pool.submit(run_playbook, "cutover.yml", env=env) for _ in range(2)]
        loser = next(iter(wait_first(runs)))
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
    assert winner.rc == 0, winner.messages()
    assert sorted(e["result"] for e in events(proxy.url, "cutover.yml")) == ["ok", "refused"]


def wait_first(futures):
    from concurrent.futures import FIRST_COMPLETED
    from concurrent.futures import wait as wait_futures

    done, _ = wait_futures(futures, timeout=300, return_when=FIRST_COMPLETED)
    return [f.result() for f in done]
