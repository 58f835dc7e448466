"""module_utils/cutover/change_record.py: the record of a run, its Markdown, and the secret scrub."""
from __future__ import annotations

import json

import pytest

from module_utils.cutover import change_record as cr

SLACK = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx"
TELEGRAM = "7123456789:AAHc9xYzAbCdEfGhIjKlMnOpQrStUvWxYz0"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize("text, kind, kept", [
    (f"posting to {SLACK} now", "slack_webhook", "posting to "),
    ("hook https://chat.example.org/webhook/abc123?key=1", "webhook_url", "hook "),
    (f"https://api.telegram.org/bot{TELEGRAM}/sendMessage", "telegram_bot_token", "https://api.telegram.org/"),
    ("key AKIAIOSFODNN7EXAMPLE in use", "aws_access_key_id", "key "),
    (f"aws_secret_access_key = {AWS_SECRET}", "aws_secret_access_key", "aws_secret_access_key = "),
    ("slack xoxb-1234567890-abcdefghijkl", "slack_token", "slack "),
    ("Authorization: Bearer abcdefghijklmnop.qrstuv", "bearer_token", "Authorization: "),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijk_lmnop", "jwt", "jwt "),
    ("https://admin:s3cr3t-pw@db.example.org/x", "url_password", "https://"),
    ("login failed: password=hunter22!", "assigned_secret", "login failed: password="),
    ('{"token": "abcdef123456"}', "assigned_secret", '{"token": '),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "private_key", ""),
    ("ghp_" + "a" * 36, "github_token", ""),
])
def test_credential_patterns_are_blanked_wherever_they_appear(text, kind, kept):
    found = []
    out = cr.scrub_text(text, "msg", found)
    assert f"[REDACTED:{kind}]" in out and out.startswith(kept)
    assert {"where": "msg", "kind": kind} in found
    assert cr.leaks(text) and not cr.leaks(out)


@pytest.mark.parametrize("text", [
    "function naverplace_send_inform_v2 version 3, digest sha256:" + "a" * 64,
    "secret naver/sens arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:naver/sens-AbCdEf",
    "rule naverplace_send_inform_trigger cron(0/20 * * * ? *) input {\"mode\": \"live\"}",
    "ticket CHG0012345, 504 executions, 100.0 % match, gap 0.4 s",
])
def test_ordinary_evidence_is_left_alone(text):
    assert cr.scrub_text(text) == text and cr.leaks(text) == []


@pytest.mark.parametrize("key, secret", [
    ("password", True), ("db_password", True), ("secret_key", True), ("access_key", True), ("api_key", True),
    ("token", True), ("bot_token", True), ("session_token", True), ("webhook_url", True), ("private_key", True),
    ("Authorization", True), ("credentials", True), ("secret", True),
    ("secret_name", False), ("secret_arn", False), ("token_count", False), ("access_key_id_file", False),
    ("change_ticket", False), ("name", False), ("secrets", False), ("password_required", False),
])
def test_secret_key_names(key, secret):
    out = cr.scrub({key: "not-a-pattern-value"})
    assert (out[key] == "[REDACTED:secret_key_name]") is secret


def test_phone_numbers_keep_only_the_last_four_digits():
    assert cr.scrub_text("sent to 010-1234-5678 and 01098765432") == "sent to 010-****-5678 and 010-****-5432"


def test_assert_clean_refuses_a_text_with_a_credential_and_names_only_the_kind():
    with pytest.raises(cr.SecretLeft, match=r"\(slack_webhook, webhook_url\)") as error:
        cr.assert_clean(f"see {SLACK}")
    assert SLACK not in str(error.value)
    assert cr.assert_clean("[REDACTED:slack_webhook]") == "[REDACTED:slack_webhook]"


def run(**overrides):
    facts = {
        "playbook": "playbooks/create_function.yml", "inventory": "inventories/test", "environment": "test",
        "account_id": "123456789012", "operator": "alice", "caller_arn": "arn:aws:iam::123456789012:user/alice",
        "ticket": "CHG0012345", "started": "2026-11-26T04:00:00Z", "ended": "2026-11-26T04:01:30Z",
        "check_mode": False, "status": "ok", "stats": {"ok": 10, "changed": 2, "failed": 0, "skipped": 1},
        "changes": [
            {"task": "Create the role", "module": "amazon.aws.iam_role",
             "args": {"name": "naver-sms-automation-lambda-role"},
             "diff": {"before": {}, "after": {"role_name": "naver-sms-automation-lambda-role", "max_session": 3600}}},
            {"task": "Point the rule at the alias", "module": "schedule_rule", "result": {"rule": "naverplace_v2"},
             "diff": [{"before": "input: {\"mode\": \"shadow\"}\n", "after": "input: {\"mode\": \"live\"}\n",
                       "before_header": "rule naverplace_v2", "after_header": "rule naverplace_v2"}]},
            {"task": "Store the webhook", "module": "x", "hidden": True},
        ],
        "results": [
            {"task": "Decide", "module": "cutover_gate",
             "result": {"decision": "go", "point": "DP2", "reasons": ["504 executions", "100 % match"],
                        "expires": "2026-11-27T04:00:00Z", "ledger_id": "decision#2026-11-26T04:00:00Z"}},
            {"task": "Switch", "module": "schedule_switch", "result": {"gap_seconds": 0.4, "event_id": "ev-1"}},
        ],
        "custom_stats": {"change_ticket": "CHG0012345", "image_digest": "sha256:" + "b" * 64,
                         "image_size_bytes": 123456789, "telegram_webhook": SLACK},
    }
    facts.update(overrides)
    return facts


def test_a_record_carries_who_what_when_before_after_decisions_figures_and_ledger_ids():
    record = cr.build(run())
    assert record["record"] == "change" and record["check_mode"] is False
    assert (record["playbook"], record["inventory"], record["account_id"], record["operator"], record["ticket"]) == \
        ("playbooks/create_function.yml", "inventories/test", "123456789012", "alice", "CHG0012345")
    assert (record["started"], record["ended"], record["duration_seconds"]) == \
        ("2026-11-26T04:00:00Z", "2026-11-26T04:01:30Z", 90.0)
    assert [c["resource"] for c in record["changes"]] == \
        ["naver-sms-automation-lambda-role", "naverplace_v2", "Store the webhook"]
    assert '+  "max_session": 3600,' in record["changes"][0]["diff"]
    assert record["changes"][1]["diff"][-2:] == ['-input: {"mode": "shadow"}', '+input: {"mode": "live"}']
    assert record["changes"][2]["note"] == "output hidden by no_log"
    assert record["decisions"] == [{"task": "Decide", "point": "DP2", "decision": "go",
                                    "evidence": ["504 executions", "100 % match"], "expires": "2026-11-27T04:00:00Z"}]
    assert record["figures"]["gap_seconds"] == 0.4 and record["figures"]["image_size_bytes"] == 123456789
    assert "change_ticket" not in record["figures"]
    assert record["ledger_ids"] == ["decision#2026-11-26T04:00:00Z", "ev-1"]
    assert record["figures"]["telegram_webhook"] == "[REDACTED:secret_key_name]"
    assert record["scrubbed"] == [{"where": "figures.telegram_webhook", "kind": "secret_key_name"}]
    text = json.dumps(record) + cr.to_markdown(record)
    assert SLACK not in text and cr.leaks(text) == []


def test_a_check_run_is_a_planned_change_and_says_so():
    record = cr.build(run(check_mode=True))
    assert record["record"] == "planned change"
    markdown = cr.to_markdown(record)
    assert markdown.startswith("## Planned change: playbooks/create_function.yml on test")
    assert "| record | planned change (--check: nothing was changed) |" in markdown
    assert "### Would change (3)" in markdown
    assert cr.file_stem(record) == "20261126T040000Z-create_function-check"


def test_a_run_without_changes_and_without_diff():
    assert cr.build(run(changes=[]))["record"] == "no change"
    assert "### What changed (0)\n\nNothing." in cr.to_markdown(cr.build(run(changes=[])))
    record = cr.build(run(changes=[{"task": "Create", "module": "m", "args": {"table": "sms_v2"}}]))
    assert record["changes"][0]["note"].startswith("no diff returned: run with --diff")


def test_the_markdown_is_a_ticket_comment():
    markdown = cr.to_markdown(cr.build(run(failures=[{"task": "Wait", "module": "m", "msg": "timeout | 300 s"}],
                                           status="failed")))
    assert "| ticket | CHG0012345 |" in markdown
    assert "| operator | alice (arn:aws:iam::123456789012:user/alice) |" in markdown
    assert "| start → end | 2026-11-26T04:00:00Z → 2026-11-26T04:01:30Z (90 s) |" in markdown
    assert "1. **naver-sms-automation-lambda-role** (amazon.aws.iam_role), task \"Create the role\"" in markdown
    assert "   ```diff" in markdown and '   +input: {"mode": "live"}' in markdown
    assert "- **DP2: go** (expires 2026-11-27T04:00:00Z)\n  - 504 executions\n  - 100 % match" in markdown
    assert "| gap_seconds | `0.4` |" in markdown
    assert "- `ev-1`" in markdown
    assert "- task \"Wait\" (m): timeout \\| 300 s" in markdown


def test_where_records_go():
    record = cr.build(run())
    assert cr.record_dir("/r/", record) == "/r/test/CHG0012345"
    assert cr.record_dir("/r", cr.build(run(ticket=""))) == "/r/test/2026-11-26"
    assert cr.object_key(record, "ap-northeast-2") == \
        "change-records/123456789012/ap-northeast-2/test/CHG0012345/20261126T040000Z-create_function.json"
    assert cr.object_key(cr.build(run(ticket="", check_mode=True)), "ap-northeast-2", ".md") == \
        "change-records/123456789012/ap-northeast-2/test/2026-11-26/20261126T040000Z-create_function-check.md"


def test_a_gate_decision_keeps_its_outcome_criteria_evidence_and_the_run_id_of_the_ledger():
    gate = {"decision": "cutover", "outcome": "no_go", "reasons": ["match 99.1 % < 100 %"],
            "criteria": [{"name": "match", "ok": False}], "evidence": {"match_percentage": 99.1},
            "expires_at": None}
    facts = run(results=[{"task": "Decide", "module": "cutover_gate", "result": gate},
                         {"task": "Take the lock", "module": "cutover_ledger", "result": {"run_id": "r-1"}}])
    record = cr.build(facts)
    assert record["decisions"] == [{"task": "Decide", "point": None, "decision": "cutover", "outcome": "no_go",
                                    "evidence": {"match_percentage": 99.1}, "expires": None,
                                    "criteria": [{"name": "match", "ok": False}],
                                    "reasons": ["match 99.1 % < 100 %"]}]
    assert record["ledger_ids"] == ["r-1"]
    markdown = cr.to_markdown(record)
    assert "- **cutover: no_go**\n  - match_percentage: 99.1\n  - reason: match 99.1 % < 100 %" in markdown
    # --check took no lock: its run id is recorded nowhere, so the planned change names none
    assert cr.build(dict(facts, check_mode=True))["ledger_ids"] == []


def test_a_failed_upload_is_a_warning_without_the_credential_and_the_run_goes_on(monkeypatch):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "callback_plugins" / "change_record.py"
    spec = importlib.util.spec_from_file_location("change_record_callback", path)
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)

    def refused(*args):
        raise RuntimeError("AccessDenied for AKIAIOSFODNN7EXAMPLE at https://hooks.slack.com/services/T0/B0/x")

    shown = []
    monkeypatch.setattr(plugin, "upload", refused)
    callback = plugin.CallbackModule()
    callback._aws = lambda: {}
    monkeypatch.setattr(callback._display, "warning", shown.append)
    callback._run.update(state_bucket="naver-sms-cutover-state-123456789012", region="ap-northeast-2")
    callback._upload(cr.build(run()), {".json": "{}"})  # returns: the run is not failed by its record
    [warning] = shown
    assert warning.startswith("change record not stored in the state bucket naver-sms-cutover-state-123456789012 "
                              "(RuntimeError: AccessDenied for [REDACTED:aws_access_key_id]")
    assert "AKIA" not in warning and "hooks.slack.com" not in warning and "attach it to the ticket" in warning
    shown.clear()
    for nothing_changed in (run(check_mode=True), run(changes=[])):  # --check, a refusal or a rerun: no AWS write
        callback._upload(cr.build(nothing_changed), {".json": "{}"})
    assert shown == []
