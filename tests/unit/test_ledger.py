"""The ledger's pure rules (module_utils/cutover/ledger.py), table-style."""
from __future__ import annotations

import pytest

from module_utils.cutover.ledger import (
    LedgerError,
    decision_item,
    event_item,
    latest_decisions,
    lock_decision,
    lock_item,
    lock_view,
    owner_string,
    unlock_decision,
)

NOW = 1_800_000_000
LOCK = lock_item("ana@cron", "CHG1", "compare.yml", "run-a", NOW - 60, 30)
EXPIRED = lock_item("bo@laptop", "CHG2", "start_parallel.yml", "run-b", NOW - 3600, 30)


@pytest.mark.parametrize("existing, force, reason, expected", [
    (None, False, "", "acquire"),
    (EXPIRED, True, "cron host died at 03:00", "takeover"),
    (LOCK, False, "", "locked by another run: owner ana@cron, ticket CHG1, playbook compare.yml, taken 60 s ago"),
    (LOCK, True, "impatient", "force_unlock only takes over an expired lock"),
    (EXPIRED, False, "", "-e force_unlock=true -e unlock_reason"),
    (EXPIRED, True, " ", "force_unlock needs a reason"),
], ids=["free", "expired-forced", "held", "held-forced", "expired-unforced", "forced-no-reason"])
def test_lock_decision(existing, force, reason, expected):
    if expected in ("acquire", "takeover"):
        assert lock_decision(existing, NOW, force, reason) == expected
    else:
        with pytest.raises(LedgerError, match=expected.replace("(", r"\(")):
            lock_decision(existing, NOW, force, reason)


@pytest.mark.parametrize("existing, run_id, force, expected", [
    (None, "run-a", False, "none"),
    (LOCK, "run-a", False, "release"),
    (LOCK, "run-x", False, "not_ours"),
    (LOCK, "", True, "release"),
])
def test_unlock_decision(existing, run_id, force, expected):
    assert unlock_decision(existing, run_id, force, "reason" if force else "") == expected


def test_lock_view_has_age_and_expiry():
    assert lock_view(LOCK, NOW)["age_s"] == 60 and not lock_view(LOCK, NOW)["expired"]
    assert lock_view(EXPIRED, NOW)["expired"]
    assert lock_view(None, NOW) is None


@pytest.mark.parametrize("user, host, expected", [
    ("ana", "cron.example.com", "ana@cron"), ("", "", "unknown-user@unknown-host"), ("bo", "laptop", "bo@laptop")])
def test_owner_string(user, host, expected):
    assert owner_string(user, host) == expected


@pytest.mark.parametrize("args, message", [
    (("maybe", "go", [], {}, None), "decision must be one of parallel, cutover, decommission"),
    (("cutover", "yes", [], {}, None), "outcome must be one of go, no_go"),
    (("cutover", "go", ["x"], {}, None), "criteria must be a list of mappings"),
    (("cutover", "go", [], {}, 0), "expires_in_hours must be a positive whole number"),
    (("cutover", "go", [], [], None), "evidence must be a mapping"),
])
def test_bad_decisions_are_refused(args, message):
    with pytest.raises(LedgerError, match=message):
        decision_item(*args, decided_by="gate", now=NOW)


def test_latest_decision_per_kind_with_expiry():
    items = [decision_item("cutover", "no_go", [], {}, 24, "gate", NOW - 7200),
             decision_item("cutover", "go", [{"name": "match", "ok": True}], {"n": 504}, 1, "gate", NOW - 3700),
             decision_item("parallel", "go", [], {}, None, "gate", NOW - 10)]
    latest = latest_decisions(items, NOW)
    assert latest["cutover"]["outcome"] == "go" and latest["cutover"]["expired"]
    assert latest["cutover"]["criteria"] == [{"name": "match", "ok": True}]
    assert latest["parallel"]["expired"] is False and latest["parallel"]["expires_at"] is None


@pytest.mark.parametrize("event, message", [
    ({"result": "ok"}, "needs a playbook"),
    ({"playbook": "x.yml", "result": "maybe"}, "result must be one of"),
    ({"playbook": "x.yml", "digest": "sha256:1"}, "unknown fields"),
    ({"playbook": "x.yml", "facts": [1]}, "facts must be a mapping"),
])
def test_bad_events_are_refused(event, message):
    with pytest.raises(LedgerError, match=message):
        event_item(event, "run", NOW)


def test_lock_ttl_is_bounded():
    with pytest.raises(LedgerError, match="ttl_minutes"):
        lock_item("a@b", "", "x.yml", "r", NOW, 0)
