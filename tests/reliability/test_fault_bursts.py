"""Issue 13, the soak's findings: a burst of faults on one call, longer than botocore's own retries, failed
sns_channel's CreateTopic in monitoring.yml and cutover_ledger's state read (S3 GetObject) in create_function.yml
(dropped connections), and the state bucket's HeadBucket in start_parallel.yml (a drop, then 500 twice: a HEAD
answer has no body, so its code is "500", which AWSRetry did not know). retry_decorator now retries a dropped
connection once botocore gave up, and the bare HTTP status codes of HEAD answers."""
from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest

from tests.conftest import LEDGER_TABLE, STATE_BUCKET
from tests.module_runner import run_module

BURST = 7  # more than botocore's own attempts (3 in standard mode, 5 in legacy mode)
STATE = {"table": LEDGER_TABLE, "action": "get_state", "bucket": STATE_BUCKET, "account_id": "123456789012",
         "state_key": ["function", "naverplace_send_inform_v2"]}

CASES = {
    "sns_channel-drop": ("sns_channel", {"name": "naver-sms-cutover-email", "subscriptions": [
        {"protocol": "email", "endpoint": "ops@example.com"}]}, "^CreateTopic$", "drop"),
    "state-read-drop": ("cutover_ledger", STATE, f"^GET /{STATE_BUCKET}/", "drop"),
    "state-bucket-head-500": ("cutover_ledger", STATE, f"^HEAD /{STATE_BUCKET}$", "500"),
}


@pytest.fixture
def backoff(monkeypatch):
    """Every backoff delay (botocore's, AWSRetry's, retry_decorator's connection retries), recorded instead of
    slept: the emulator needs no pause, and the sleeping was most of these tests' time."""
    slept = []
    fake = SimpleNamespace(sleep=slept.append)
    for name in ("botocore.endpoint", "ansible_collections.amazon.aws.plugins.module_utils.cloud",
                 "ansible.module_utils.cutover.aws"):  # the name the modules import it by (tests/module_runner.py)
        monkeypatch.setattr(importlib.import_module(name), "time", fake)
    return slept


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_burst_of_faults_on_one_call_is_ridden_out(bootstrapped, proxy, backoff, case):
    module, args, operation, kind = CASES[case]
    proxy.script(operation, kind, BURST)
    result = run_module(module, args, proxy.url)
    assert not result.get("failed"), result.get("msg")
    faulted = [c for c in proxy.calls() if c["fault"] == kind]
    assert len(faulted) == BURST, faulted
    answered = [c for c in proxy.calls() if c["fault"] is None and c["at"] >= faulted[-1]["at"]]
    assert answered, "the call was never answered after the burst"
    # a backoff after each fault (a layer may add one of its own: one run of 8 for 7 faults was seen), none long
    assert len(backoff) >= BURST and all(0 <= delay <= 20 for delay in backoff), backoff
