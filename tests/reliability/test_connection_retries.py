"""Issue 13, the soak's two findings: a burst of dropped connections on one call (more than botocore's own
4 retries) failed sns_channel's CreateTopic in monitoring.yml and cutover_ledger's state read (S3 GetObject) in
create_function.yml. retry_decorator now retries a dropped connection once botocore gave up."""
from __future__ import annotations

import pytest

from tests.conftest import LEDGER_TABLE, STATE_BUCKET
from tests.module_runner import run_module

DROPS = 7  # botocore tries a call 5 times (legacy mode) before it raises ConnectionClosedError

CASES = {
    "sns_channel": ({"name": "naver-sms-cutover-email",
                     "subscriptions": [{"protocol": "email", "endpoint": "ops@example.com"}]}, "^CreateTopic$"),
    "cutover_ledger": ({"table": LEDGER_TABLE, "action": "get_state", "bucket": STATE_BUCKET,
                        "account_id": "123456789012", "state_key": ["function", "naverplace_send_inform_v2"]},
                       f"^GET /{STATE_BUCKET}/"),
}


@pytest.mark.parametrize("module", sorted(CASES))
def test_a_burst_of_dropped_connections_on_one_call_is_ridden_out(bootstrapped, proxy, module):
    args, operation = CASES[module]
    proxy.script(operation, "drop", DROPS)
    result = run_module(module, args, proxy.url)
    assert not result.get("failed"), result.get("msg")
    dropped = [c for c in proxy.calls() if c["fault"] == "drop"]
    assert len(dropped) == DROPS, dropped
    answered = [c for c in proxy.calls() if c["fault"] is None and c["at"] > dropped[-1]["at"]]
    assert answered, "the call was never answered after the drops"
