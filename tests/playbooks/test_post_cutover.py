"""post_cutover.yml and decommission.yml as an operator runs them: refusals, then the decommissioning steps.

The rules are table-tested in tests/unit/test_post_cutover.py and the modules (four steps, purge, layers)
in tests/modules/test_post_cutover_modules.py; here only what the playbooks add: the ledger reads,
the refusals before any change, the rule disabled and kept, the idempotent rerun and the runbook.
"""
from __future__ import annotations

import pytest

from rehearsal import world
from tests.ansible_runner import run_playbook
from tests.conftest import LEDGER_TABLE
from tests.module_runner import run_module

OLD, OLD_RULE = "naverplace_send_inform", "naverplace_send_inform_trigger"


@pytest.mark.slow
def test_decommission_refuses_without_dp3_go_then_is_idempotent(bootstrapped, proxy, aws):
    """(post_cutover.yml before any cutover and purge before delete-after: refused at module level.)"""
    world.seed(bootstrapped)
    env = {"CUTOVER_EMULATOR_URL": proxy.url}
    proxy.clear()
    refused = run_playbook("decommission.yml", env=env)
    assert refused.rc != 0 and "needs a recorded Decision Point 3 go: the ledger has no decommission decision" \
        in refused.messages(), refused.messages()
    assert proxy.mutating_calls() == []  # nothing changed, not even a lock or an event

    go = run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "decision", "decision": "decommission",
                                       "outcome": "go", "criteria": [], "evidence": {}, "decided_by": "test"},
                    bootstrapped)
    assert not go.get("failed"), go
    runs = [run_playbook("decommission.yml", env=env, diff=True, extra_vars={"decommission_as_of": "2026-12-10T02:00:00Z"})
            for _ in range(2)]
    assert [r.rc for r in runs] == [0, 0], runs[0].messages() + runs[1].messages()
    assert runs[0].changed == 2 and runs[1].changed == 0  # rule disabled + function archived; then nothing
    assert "kept arn:aws:lambda:ap-northeast-2:123456789012:layer:chromedriver:1: still used by " \
           "naverplace_send_inform:$LATEST" in runs[1].stdout
    assert "delete-function-concurrency --function-name naverplace_send_inform" in runs[1].stdout  # the runbook
    assert aws("events").describe_rule(Name=OLD_RULE)["State"] == "DISABLED"  # disabled, kept
    assert aws("lambda").get_function_concurrency(FunctionName=OLD)["ReservedConcurrentExecutions"] == 0

