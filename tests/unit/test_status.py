"""module_utils/cutover/status.py: the phase from the ledger's run events, the next step and its command."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from module_utils.cutover import status, status_page

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def ev(playbook, started, result="ok", **facts):
    return {"playbook": playbook, "started_at": started, "ended_at": started, "result": result, "facts": facts,
            "operator": "alice@ops1"}


PARALLEL = [ev("bootstrap.yml", "2026-11-25T01:00:00Z"), ev("deploy_image.yml", "2026-11-25T02:00:00Z"),
            ev("create_function.yml", "2026-11-25T03:00:00Z"), ev("start_parallel.yml", "2026-11-30T10:00:00Z"),
            ev("compare.yml", "2026-12-03T11:40:00Z"), ev("deploy_image.yml", "2026-12-01T00:00:00Z")]
CUTOVER = PARALLEL + [ev("cutover.yml", "2026-12-07T04:00:00Z", live="new", switched_at="2026-12-07T04:05:00Z")]
ROLLBACK = CUTOVER + [ev("rollback.yml", "2026-12-07T09:00:00Z", live="old", switched_at="2026-12-07T09:04:00Z",
                         scenario=2)]


@pytest.mark.parametrize("events, now, phase, day", [
    ([], NOW, "not_started", None),
    (PARALLEL[:1], NOW, "not_started", None),
    (PARALLEL[:2], NOW, "image", None),
    (PARALLEL[:3], NOW, "function", None),
    (PARALLEL, NOW, "parallel", 4),                       # started 30 Nov 10:00: 3 days 2 h ago -> day 4 of 7
    (PARALLEL[:3] + [ev("start_parallel.yml", "2026-11-30T10:00:00Z", result="failed")], NOW, "function", None),
    (PARALLEL + [ev("cutover.yml", "2026-12-07T04:00:00Z", live="old")], NOW, "parallel", 4),  # undone half-way
    (CUTOVER, datetime(2026, 12, 7, 5, tzinfo=timezone.utc), "cutover", None),
    (CUTOVER + [ev("post_cutover.yml", "2026-12-09T05:00:00Z")], datetime(2026, 12, 9, 6, tzinfo=timezone.utc),
     "post_cutover", 3),
    (CUTOVER + [ev("post_cutover.yml", "2026-12-09T05:00:00Z"), ev("cutover.yml", "2026-12-09T07:00:00Z", live="new")],
     datetime(2026, 12, 9, 8, tzinfo=timezone.utc), "post_cutover", 3),  # a rerun of cutover.yml once live
    (ROLLBACK, NOW, "rolled_back", None),
    (ROLLBACK + [ev("start_parallel.yml", "2026-12-08T10:00:00Z")], datetime(2026, 12, 8, 11, tzinfo=timezone.utc),
     "parallel", 1),
    (CUTOVER + [ev("post_cutover.yml", "2026-12-14T05:00:00Z"), ev("decommission.yml", "2026-12-21T05:00:00Z")],
     NOW, "decommissioned", None),
], ids=["nothing", "bootstrap", "image", "function", "parallel-day-4", "start-failed", "cutover-undone",
        "cutover", "post-day-3", "cutover-rerun", "rolled-back", "parallel-again", "decommissioned"])
def test_the_phase_follows_the_ledgers_successful_runs(events, now, phase, day):
    found = status.phase_of(list(reversed(events)), now)  # the ledger returns newest first
    assert (found["name"], found["day"]) == (phase, day)


def test_cutover_and_rollback_are_the_moments_of_the_charts():
    found = status.phase_of(ROLLBACK + [ev("cutover.yml", "2026-12-07T05:00:00Z", live="new")], NOW)
    assert found["moments"] == [{"kind": "cutover", "at": "2026-12-07T04:05:00Z", "label": "cutover (new live)"},
                                {"kind": "rollback", "at": "2026-12-07T09:04:00Z", "label": "rollback scenario 2"}]
    assert found["scenario"] == 2


GO = {"outcome": "go", "recorded_at": "2026-12-03T10:00:00Z", "expired": False}


@pytest.mark.parametrize("events, decisions, compared, lock, text, command", [
    ([], {}, 0, None, "push the image", "playbooks/deploy_image.yml -e change_ticket=CHG1"),
    (PARALLEL[:3], {}, 0, None, "seed sms_v2 from a backup of sms (seed_new_table.yml), then record Decision "
     "Point 1", "playbooks/gate.yml -e decision=parallel"),
    (PARALLEL[:3], {"parallel": dict(GO, expired=True)}, 0, None, "record Decision Point 1",
     "playbooks/gate.yml -e decision=parallel"),
    (PARALLEL[:3], {"parallel": GO}, 0, None, "start the parallel run", "playbooks/start_parallel.yml"),
    (PARALLEL, {}, 0, None, "record Decision Point 1", "playbooks/gate.yml -e decision=parallel -e change_ticket=CHG1"),
    (PARALLEL, {"parallel": GO}, 150, None, "keep comparing: 150 of 504 executions compared, day 4 of 7",
     "playbooks/compare.yml"),
    (PARALLEL, {"parallel": GO}, 504, None, "decide DP2", "playbooks/gate.yml -e decision=cutover"),
    (PARALLEL, {"parallel": GO, "cutover": dict(GO, expired=True)}, 504, None, "decide DP2",
     "gate.yml -e decision=cutover"),
    (PARALLEL, {"parallel": GO, "cutover": GO}, 504, None, "cut over", "playbooks/cutover.yml"),
    (CUTOVER, {}, 504, None, "post-cutover checks, day 1 of 7", "playbooks/post_cutover.yml"),
    (ROLLBACK, {}, 504, None, "rolled back (scenario 2): old is live; fix the cause, record Decision Point 1",
     "playbooks/gate.yml -e decision=parallel"),
    (ROLLBACK, {"parallel": GO}, 504, None, "rolled back (scenario 2)", "playbooks/start_parallel.yml"),
    (PARALLEL, {}, 0, {"owner": "bob@ops2", "playbook": "compare.yml", "expires_at": "2026-12-03T12:20:00Z"},
     "wait: bob@ops2 is running compare.yml", "playbooks/status.yml"),
    (PARALLEL, {}, 0, {"owner": "bob@ops2", "playbook": "cutover.yml", "expired": True}, "has expired",
     "playbooks/cutover.yml -e force_unlock=true -e unlock_reason='<why>' -e change_ticket=CHG1"),
    (PARALLEL + [ev("cutover.yml", "2026-12-03T11:50:00Z", result="failed")], {}, 504, None,
     "cutover.yml stopped half-way", "playbooks/cutover.yml -e change_ticket=CHG1"),
], ids=["dp1-first", "dp1-expired", "start", "dp1", "parallel", "comparing", "dp2", "dp2-expired", "cutover",
        "post", "rolled-back", "rolled-back-dp1-go", "locked", "lock-expired", "half-way"])
def test_the_next_step_names_the_exact_command(events, decisions, compared, lock, text, command):
    phase = status.phase_of(events, NOW)
    step = status.next_step(phase, decisions, {"compared": compared, "required": 504}, lock,
                            status.last_failed_run(events), "production", "CHG1")
    assert text in step["text"]
    assert step["command"].startswith("ansible-playbook -i inventories/production playbooks/")
    assert step["command"].endswith(command) or command in step["command"]


def test_gather_makes_facts_the_page_renders():
    start = NOW - timedelta(hours=2)
    stamps = [status.iso(start + i * timedelta(minutes=20)) for i in range(6)]
    series = {"executions_compared": dict.fromkeys(stamps, 1.0),
              "match_percentage": dict(dict.fromkeys(stamps, 100.0), **{stamps[3]: 96.5}),
              "discrepancies": dict(dict.fromkeys(stamps, 0.0), **{stamps[3]: 2.0})}
    evidence = [{"slot": stamps[3], "evidence": [
        {"slot": stamps[3], "kind": "text_differs", "unit": "sms", "key": {"phone": "010-1234-5678"},
         "field": "text", "old": "a", "new": "b"}]}]
    alarms = [{"AlarmName": "naver-sms-discrepancies", "StateValue": "ALARM", "StateReason": "1 > 0",
               "StateUpdatedTimestamp": stamps[3]}, {"AlarmName": "naver-sms-v2-errors", "StateValue": "OK"}]
    ledger = {"events": list(reversed(PARALLEL)), "decisions": {"parallel": dict(GO, decided_by="alice")},
              "lock": None}
    facts = status.gather(environment="test", account_id="123456789012", ledger=ledger, series=series,
                          alarms=alarms, evidence=evidence, now=NOW, ticket="CHG1")
    assert facts["phase"] == {"name": "parallel", "day": 4}
    assert facts["executions"] == {"compared": 6, "required": 504, "per_day_required": 72}
    assert [a["name"] for a in facts["open_alarms"]] == ["naver-sms-discrepancies"]
    assert facts["last_decision"]["point"] == "DP1" and facts["last_decision"]["by"] == "alice"
    [row] = facts["discrepancies"]
    assert row["kind"] == "text_differs" and "5678" in row["detail"] and "1234-5678" not in row["detail"]
    text = status_page.render_text(facts)
    assert "parallel run, day 4 of 7" in text and "6 compared of 504 required" in text
    assert "96.5 %" in text and "discrepancies  2" in text.replace("   ", "  ")
    assert "command" in text and "playbooks/compare.yml -e change_ticket=CHG1" in text
    assert status_page.render_html(facts).count("<circle") >= 6


def test_comparisons_without_a_start_are_a_parallel_run_since_the_first_one():
    events = [ev("compare.yml", "2026-12-01T13:00:00Z"), ev("compare.yml", "2026-12-03T11:00:00Z")]
    assert status.phase_of(events, NOW)["name"] == "parallel" and status.phase_of(events, NOW)["day"] == 2
