"""callback_plugins/change_record.py: every run writes a change record, nothing secret in it. (A run without a
ticket leaves its record under the date: seed_world.yml's first apply in tests/test_world.py.)"""
from __future__ import annotations

import json
from pathlib import Path

from tests.ansible_runner import run_playbook
from tests.conftest import STATE_BUCKET

SECRET = "Zq81xVv0pLr7Tt3e"


def records(reports: Path, ticket_or_date: str, suffix: str) -> list[Path]:
    return sorted((reports / "test" / ticket_or_date).glob(f"*{suffix}"))


def probe(tmp_path, check=False):
    return run_playbook("../tests/playbooks/files/change_record_probe.yml", diff=True, check=check,
                        extra_vars={"change_ticket": "CHG0000077", "probe_dir": str(tmp_path / "probe"),
                                    "probe_secret": SECRET})


def bucket_records(aws) -> dict:
    listed = aws("s3").list_objects_v2(Bucket=STATE_BUCKET, Prefix="change-records/").get("Contents", [])
    return {item["Key"]: aws("s3").get_object(Bucket=STATE_BUCKET, Key=item["Key"])["Body"].read().decode()
            for item in listed}


def test_a_run_records_who_what_when_and_before_after_and_no_secret(bootstrapped, aws, tmp_path):
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "settings.txt").write_text("mode: shadow\nslot_minutes: 20\n")
    reports = tmp_path / "reports"
    run = probe(tmp_path)
    assert run.rc == 0, run.messages()
    assert "change record: " in run.stderr
    [path] = records(reports, "CHG0000077", ".json")
    record = json.loads(path.read_text())
    assert path.name.endswith("-change_record_probe.json")
    assert record["record"] == "change" and record["check_mode"] is False
    assert record["playbook"] == "tests/playbooks/files/change_record_probe.yml"
    assert (record["inventory"], record["environment"], record["account_id"], record["ticket"]) == \
        ("inventories/test", "test", "123456789012", "CHG0000077")
    assert record["operator"] and record["caller_arn"].startswith("arn:aws:")
    assert record["started"] <= record["ended"] and record["status"] == "ok"
    assert record["stats"]["changed"] == 2
    settings, credentials = record["changes"]
    assert settings["task"] == "Write the probe's settings file"
    assert "-mode: shadow" in settings["diff"] and "+mode: live" in settings["diff"]
    assert credentials == {"task": "Write the probe's credentials file (never shown)",
                           "module": "ansible.builtin.copy", "resource": credentials["resource"],
                           "note": "output hidden by no_log"}
    assert record["figures"]["image_digest"].startswith("sha256:0123")
    assert record["figures"]["alert_webhook"] == "[REDACTED:secret_key_name]"
    assert record["figures"]["note"] == "posted with token=[REDACTED:assigned_secret]"
    markdown = path.with_suffix(".md").read_text()
    assert markdown.startswith("## Change record: tests/playbooks/files/change_record_probe.yml on test")
    assert "+mode: live" in markdown
    for text in (path.read_text(), markdown):
        assert SECRET not in text and "hunter22" not in text and "hooks.slack.com" not in text
        assert '"testing"' not in text  # the test inventory's dummy AWS keys
    # the same record (JSON and Markdown) in the state bucket, keyed by environment / ticket / run
    prefix = "change-records/123456789012/ap-northeast-2/test/CHG0000077/"
    assert bucket_records(aws) == {prefix + path.name: path.read_text(),
                                   prefix + path.with_suffix(".md").name: markdown}
    assert f"change record: s3://{STATE_BUCKET}/{prefix}{path.name}" in run.stderr


def test_a_check_run_writes_a_planned_change(bootstrapped, aws, tmp_path):
    (tmp_path / "probe").mkdir()
    run = probe(tmp_path, check=True)
    assert run.rc == 0, run.messages()
    assert not (tmp_path / "probe" / "settings.txt").exists()
    [path] = records(tmp_path / "reports", "CHG0000077", "-check.json")
    record = json.loads(path.read_text())
    assert record["record"] == "planned change" and record["check_mode"] is True
    assert [c["task"] for c in record["changes"]] == ["Write the probe's settings file",
                                                      "Write the probe's credentials file (never shown)"]
    assert "+mode: live" in record["changes"][0]["diff"]
    assert path.with_suffix(".md").read_text().startswith("## Planned change: ")
    assert bucket_records(aws) == {}  # --check writes nothing to AWS: the planned change stays local
