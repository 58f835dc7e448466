"""Gate rules (module_utils/cutover/gate.py), table-style: measurements in, decision out."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest

from module_utils.cutover import gate

NOW = datetime(2026, 11, 26, 12, 7, tzinfo=timezone.utc)
D = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
ACK = {"by": "Kim Minsu", "ref": "CHG0012345"}
ALARMS = {"names": ["discrepancies", "error-rate"], "states": {"discrepancies": "OK", "error-rate": "INSUFFICIENT_DATA"}}

DP1 = {
    "image": {"repository": "naver-sms-automation", "tags": {"latest": D, "v1.0.0": D}},
    "function": {"exists": True, "state": "Active", "package_type": "Image", "digest": D, "timeout_s": 300},
    "alias": {"name": "live", "exists": True, "version": "1", "digest": D},
    "new_rule": {"name": "v2", "exists": True, "state": "DISABLED", "modes": ["shadow"]},
    "alarms": ALARMS,
    "topics": {"critical": {"exists": True, "confirmed": 2, "pending": 0}},
    "dashboard": {"name": "naver-sms-cutover", "exists": True},
    "backup": {"table": "sms", "name": "sms-before", "status": "AVAILABLE", "arn": "arn:b"},
    "seeded": {"table": "sms_v2", "exists": True, "source_backup_arn": "arn:b", "item_count": 50},
    "shadow_probe": {"deliveries": 0, "digest": D, "source": "SENS recorder"},
}
DP1_ACKS = {"rollback_rehearsed": ACK}

SETTINGS = {"window_days": 1}  # 72 slots
WINDOW = gate.window_of(gate.settings_of(SETTINGS), NOW)
CLEAN_ROW = {"executions": 1, "match_min": 100.0, "discrepancies_max": 0}
DP2 = {
    "window": WINDOW,
    "comparison": {s: dict(CLEAN_ROW) for s in WINDOW["slots"]},
    "lambda": {"invocations": 72, "errors": 0, "duration_max_ms": 4800.0},
    "function": {"timeout_s": 300},
    "alarms": ALARMS,
}
DP2_ACKS = {"rollback_practised": ACK, "team_comfortable": ACK, "po_approval": ACK}

DP3 = {
    "cutover_at": "2026-11-18T10:10:00Z",
    "rollbacks": [],
    "alarms": ALARMS,
    "alarms_since": {"went_to_alarm": [], "unknown": []},
    "lambda": {"invocations": 600, "errors": 2, "duration_max_ms": 5000.0},
}
DP3_ACKS = {"zero_customer_complaints": ACK, "po_approval": ACK}

BASE = {"parallel": (DP1, DP1_ACKS, {}), "cutover": (DP2, DP2_ACKS, SETTINGS), "decommission": (DP3, DP3_ACKS, {})}


def _set(data, path, value):
    keys = path.split(".")
    for key in keys[:-1]:
        data = data[key]
    if value is _DELETE:
        del data[keys[-1]]
    else:
        data[keys[-1]] = value


_DELETE = object()


def decide(decision, changes=(), acks=None, settings=None):
    measured, base_acks, base_settings = copy.deepcopy(BASE[decision])
    for path, value in changes:
        _set(measured, path, value)
    return gate.decide(decision, measured, base_acks if acks is None else acks,
                       dict(base_settings, **(settings or {})), now=NOW)


def status(result, name):
    return next(c["status"] for c in result["criteria"] if c["name"] == name)


@pytest.mark.parametrize("decision", gate.DECISIONS)
def test_all_evidence_present_and_good_is_go(decision):
    result = decide(decision)
    assert result["outcome"] == "go", result["reasons"]
    assert result["reasons"] == [] and result["counts"]["pass"] == len(result["criteria"])
    assert all({"name", "measured", "required", "status", "reason"} <= set(c) for c in result["criteria"])


CASES = [
    # decision, changes, criterion, expected status, text in the reason
    ("parallel", [("image.tags.latest", None)], "image in ECR with its tags", "fail", "latest"),
    ("parallel", [("image.tags.latest", OTHER)], "image in ECR with its tags", "fail", "different digests"),
    ("parallel", [("image", None)], "image in ECR with its tags", "inconclusive", "not read"),
    ("parallel", [("image.repository_missing", True)], "image in ECR with its tags", "fail", "deploy_image"),
    ("parallel", [("image.expected_digest", OTHER)], "image in ECR with its tags", "fail", "recorded digest"),
    ("parallel", [("function.digest", OTHER)], "function Active from the image digest", "fail", "another image"),
    ("parallel", [("function.state", "Pending")], "function Active from the image digest", "fail", ""),
    ("parallel", [("function.exists", False)], "function Active from the image digest", "fail", "create_function"),
    ("parallel", [("alias.exists", False)], "alias live", "fail", "create_function"),
    ("parallel", [("alias.version", "$LATEST")], "alias live", "fail", ""),
    ("parallel", [("alias.digest", OTHER)], "alias live", "fail", ""),
    ("parallel", [("new_rule.state", "ENABLED"), ("new_rule.modes", ["live"])],
     "new rule safe (disabled or shadow)", "fail", "reach customers"),
    ("parallel", [("new_rule.state", "ENABLED"), ("new_rule.modes", [])],
     "new rule safe (disabled or shadow)", "fail", ""),
    ("parallel", [("new_rule.exists", False)], "new rule safe (disabled or shadow)", "fail", ""),
    ("parallel", [("alarms.names", [])], "monitoring alarms present", "inconclusive", "cutover_monitoring_alarms"),
    ("parallel", [("alarms.states", {"discrepancies": "OK"})], "monitoring alarms present", "fail", "error-rate"),
    ("parallel", [("topics", {})], "alarm topics subscribed", "inconclusive", "cutover_alarm_topics"),
    ("parallel", [("topics.critical.confirmed", 0)], "alarm topics subscribed", "fail", "critical"),
    ("parallel", [("topics.critical.exists", False)], "alarm topics subscribed", "fail", "critical"),
    ("parallel", [("dashboard.exists", False)], "dashboard present", "fail", "monitoring.yml"),
    ("parallel", [("dashboard.name", "")], "dashboard present", "inconclusive", "cutover_dashboard"),
    ("parallel", [("backup.status", None)], "old table backed up", "fail", "backup"),
    ("parallel", [("backup.status", "CREATING")], "old table backed up", "fail", ""),
    ("parallel", [("seeded.exists", False)], "new table seeded from the backup", "fail", "restore"),
    ("parallel", [("seeded.source_backup_arn", None)], "new table seeded from the backup", "fail", "every booking"),
    ("parallel", [("seeded.source_backup_arn", "arn:x")], "new table seeded from the backup", "fail", "another"),
    ("parallel", [("shadow_probe", None)], "shadow probe", "inconclusive", "probe"),
    ("parallel", [("shadow_probe.deliveries", 3)], "shadow probe", "fail", "delivered 3 SMS"),
    ("parallel", [("shadow_probe.digest", OTHER)], "shadow probe", "fail", "another image"),
    ("parallel", [("shadow_probe", {"error": "alias live of f does not exist"})], "shadow probe", "fail", "alias"),
    ("cutover", [("comparison", {})], "executions compared", "inconclusive", "compare.yml running"),
    ("cutover", [("comparison", None)], "executions compared", "inconclusive", "not read"),
    ("cutover", [(f"comparison.{WINDOW['slots'][5]}", _DELETE), (f"comparison.{WINDOW['slots'][6]}", _DELETE),
                 (f"comparison.{WINDOW['slots'][7]}", _DELETE)],
     "executions compared", "inconclusive", "3 slot(s) have no comparison"),
    ("cutover", [(f"comparison.{WINDOW['slots'][5]}.executions", 0)], "executions compared", "fail", "only 71"),
    ("cutover", [(f"comparison.{WINDOW['slots'][9]}.match_min", 99.5)],
     "every compared slot 100 % match", "fail", WINDOW["slots"][9]),
    ("cutover", [(f"comparison.{WINDOW['slots'][9]}.discrepancies_max", 2)], "discrepancies", "fail",
     WINDOW["slots"][9]),
    ("cutover", [(f"comparison.{WINDOW['slots'][9]}.leak_max", 4)], "no shadow leak", "fail", "shadow"),
    ("cutover", [(f"comparison.{WINDOW['slots'][-1]}", _DELETE)],
     "no late item open past the settle window", "fail", "lags"),
    ("cutover", [("lambda.errors", 3)], "new function errors", "fail", "3 failed"),
    ("cutover", [("lambda.errors", None)], "new function errors", "inconclusive", "Errors"),
    ("cutover", [("lambda", None)], "new function errors", "inconclusive", "Invocations"),
    ("cutover", [("lambda.invocations", 0)], "max duration", "inconclusive", "did not run"),
    ("cutover", [("lambda.duration_max_ms", 251000.0)], "max duration", "fail", "251.0 s"),
    ("cutover", [("lambda.duration_max_ms", 300000.0)], "no timeout", "fail", "timeout"),
    ("cutover", [("lambda.duration_max_ms", None)], "max duration", "inconclusive", "Duration"),
    ("cutover", [("function.timeout_s", None)], "no timeout", "inconclusive", "timeout"),
    ("cutover", [("alarms.states.error-rate", "ALARM")], "no alarm in ALARM now", "fail", "error-rate"),
    ("cutover", [("alarms.states", {"discrepancies": "OK"})], "no alarm in ALARM now", "inconclusive", "missing"),
    ("cutover", [("alarms.names", [])], "no alarm in ALARM now", "inconclusive", "monitoring.yml"),
    ("decommission", [("cutover_at", "2026-11-22T00:00:00Z")], "days since cutover", "fail", "full week"),
    ("decommission", [("cutover_at", None)], "days since cutover", "inconclusive", "ledger"),
    ("decommission", [("rollbacks", ["2026-11-20 scenario 1"])], "no rollback recorded", "fail", "scenario 1"),
    ("decommission", [("rollbacks", None)], "no rollback recorded", "inconclusive", "ledger"),
    ("decommission", [("lambda.errors", 7)], "error rate since cutover", "fail", ""),
    ("decommission", [("lambda", None)], "error rate since cutover", "inconclusive", "no AWS/Lambda"),
    ("decommission", [("alarms_since.went_to_alarm", ["error-rate"])],
     "no alarm went to ALARM since cutover", "fail", "history"),
    ("decommission", [("alarms_since.unknown", ["error-rate"])],
     "no alarm went to ALARM since cutover", "inconclusive", "history"),
    ("decommission", [("alarms_since", None)], "no alarm went to ALARM since cutover", "inconclusive", ""),
]


@pytest.mark.parametrize("decision, changes, name, expected, reason", CASES,
                         ids=[f"{c[0]}:{c[2]}:{c[3]}:{i}" for i, c in enumerate(CASES)])
def test_one_bad_or_missing_measurement_makes_no_go_naming_it(decision, changes, name, expected, reason):
    result = decide(decision, changes)
    assert result["outcome"] == "no_go"
    assert status(result, name) == expected
    failing = [c for c in result["criteria"] if c["status"] != "pass"]
    assert [c["name"] for c in failing] == [name] or name in [c["name"] for c in failing]
    assert reason in next(c["reason"] for c in failing if c["name"] == name)
    assert any(r.startswith(f"{name}: {expected}") for r in result["reasons"])


@pytest.mark.parametrize("decision, missing", [(d, a) for d, names in gate.ATTESTATIONS.items() for a in names])
def test_a_missing_acknowledgement_is_no_go(decision, missing):
    acks = {k: v for k, v in BASE[decision][1].items() if k != missing}
    result = decide(decision, acks=acks)
    assert result["outcome"] == "no_go"
    assert status(result, f"attested: {missing}") == "fail"
    assert f"cutover_gate_acks.{missing}" in " ".join(result["reasons"])


@pytest.mark.parametrize("ack, ok", [
    ({"by": "Kim", "ref": "CHG1"}, True),
    ({"by": "Kim"}, False),
    ({"by": " ", "ref": "CHG1"}, False),
    ({}, False),
    (None, False),
])
def test_an_acknowledgement_names_who_and_a_reference(ack, ok):
    assert (decide("parallel", acks={"rollback_rehearsed": ack})["outcome"] == "go") is ok


@pytest.mark.parametrize("ack, expected, reason", [
    ({"by": "Kim", "ref": "CHG1", "digest": D, "test": "tests/playbooks/test_gate.py::probe"}, "pass", ""),
    ({"by": "Kim", "ref": "CHG1", "digest": OTHER, "test": "t"}, "fail", "ECR has"),
    ({"by": "Kim", "ref": "CHG1", "test": "t"}, "fail", "digest"),
    ({"by": "Kim", "ref": "CHG1", "digest": D}, "fail", "test"),
    (None, "fail", "missing acknowledgement shadow_probe"),
])
def test_on_production_the_shadow_probe_is_an_acknowledgement_naming_the_digest(ack, expected, reason):
    acks = dict(DP1_ACKS, shadow_probe=ack) if ack else DP1_ACKS
    result = decide("parallel", [("shadow_probe", None)], acks=acks, settings={"probe_mode": "acknowledge"})
    assert status(result, "shadow probe (attested)") == expected
    assert reason in next(c["reason"] for c in result["criteria"] if c["name"] == "shadow probe (attested)")


@pytest.mark.parametrize("decision, settings, message", [
    ("rollout", {}, "unknown decision 'rollout'"),
    ("cutover", {"window_days": 0}, "window_days must be more than 0"),
    ("cutover", {"window_days": -1}, "window_days must be more than 0"),
    ("cutover", {"window_days": "x"}, "must be numbers"),
    ("cutover", {"window_days": 0.0001}, "holds no whole slot"),
    ("cutover", {"allowed_gap": 1}, "allowed_gap"),
    ("cutover", {"allowed_gap": -0.1}, "allowed_gap"),
    ("cutover", {"slot_minutes": 0}, "slot_minutes"),
    ("parallel", {"probe_mode": "maybe"}, "probe_mode"),
])
def test_bad_input_is_refused_with_what_to_fix(decision, settings, message):
    with pytest.raises(gate.GateInputError, match=message.replace("(", r"\(")):
        gate.decide(decision, {}, {}, settings, now=NOW)


@pytest.mark.parametrize("acks, message", [
    ({"rollback_rehersed": ACK}, "unknown acknowledgement"),
    ({"rollback_rehearsed": "Kim"}, "must be a mapping"),
])
def test_bad_acknowledgements_are_refused(acks, message):
    with pytest.raises(gate.GateInputError, match=message):
        gate.decide("parallel", DP1, acks, now=NOW)


@pytest.mark.parametrize("gap, missing, expected", [
    (0, 0, "pass"), (0, 1, "inconclusive"), (0.05, 3, "pass"), (0.05, 4, "inconclusive"), (0.01, 1, "inconclusive"), (0.02, 1, "pass"),
])
def test_the_allowed_gap_lowers_the_executions_required(gap, missing, expected):
    changes = [(f"comparison.{WINDOW['slots'][i]}", _DELETE) for i in range(missing)]
    assert status(decide("cutover", changes, settings={"allowed_gap": gap}), "executions compared") == expected


@pytest.mark.parametrize("days, slots", [(7, 504), (1, 72), (0.25, 18), (1 / 72, 1)])
def test_the_window_holds_days_of_slots_ending_with_the_newest_settled_slot(days, slots):
    window = gate.window_of(gate.settings_of({"window_days": days}), NOW)
    assert len(window["slots"]) == slots
    # now 12:07, grace 5 min: the newest run is the 12:00 slot; settle 1 -> 11:20 is the newest settled
    assert window["last"] == "2026-11-26T11:20:00Z"
    assert window["slots"] == sorted(window["slots"])


def test_dp2_expires_after_24_hours_and_the_others_do_not():
    assert decide("cutover")["expires_at"] == "2026-11-27T12:07:00Z"
    assert decide("parallel")["expires_at"] is None
    assert decide("cutover", settings={"expires_in_hours": {"cutover": 2}})["expires_at"] == "2026-11-26T14:07:00Z"


def test_every_criterion_shows_measured_against_required():
    result = decide("cutover", [("lambda.duration_max_ms", 251000.0)])
    duration = next(c for c in result["criteria"] if c["name"] == "max duration")
    assert (duration["measured"], duration["required"]) == ("max 251000 ms", "< 240000 ms")
    executions = next(c for c in result["criteria"] if c["name"] == "executions compared")
    assert (executions["measured"], executions["required"]) == ("72 of 72 slots (0 not compared)", ">= 72")


def test_decommission_counts_days_from_the_cutover_time():
    eight_days = (NOW - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status(decide("decommission", [("cutover_at", eight_days)]), "days since cutover") == "pass"


def _run(playbook, switched_at, result="ok", **facts):
    return {"playbook": playbook, "result": result, "ticket": "CHG1",
            "facts": dict(facts, switched_at=switched_at) if switched_at else facts}


CUT1, CUT2 = _run("cutover.yml", "2026-11-18T10:10:03Z", live="new"), _run("cutover.yml", "2026-11-19T10:10:03Z", live="new")
BACK = _run("rollback.yml", "2026-11-18T12:10:00Z", live="old", scenario=2)


@pytest.mark.parametrize("events, cutover_at, rollbacks", [
    ([], None, []),
    ([_run("compare.yml", None), _run("status.yml", None)], None, []),
    ([CUT1], "2026-11-18T10:10:03Z", []),
    ([_run("cutover.yml", "2026-11-18T10:10:03Z", result="failed", live="new")], None, []),
    ([_run("cutover.yml", None, live="new")], None, []),  # no switch written: no cutover time
    ([CUT1, BACK], "2026-11-18T10:10:03Z", ["2026-11-18T12:10:00Z scenario 2 (CHG1)"]),
    ([BACK, CUT1, dict(BACK)], "2026-11-18T10:10:03Z", ["2026-11-18T12:10:00Z scenario 2 (CHG1)"]),  # rerun
    ([CUT2, BACK, CUT1], "2026-11-19T10:10:03Z", []),  # re-cutover after the rollback: counts from there
    ([CUT1, _run("rollback.yml", "2026-11-18T12:10:00Z", result="failed")], "2026-11-18T10:10:03Z", []),
    ([_run("cutover.yml", "2026-11-20T00:00:00Z", live="old"), CUT1], "2026-11-18T10:10:03Z", []),
    # the rehearsal's clock at the switch wins over the wall clock (post_cutover.yml counts days from it too)
    ([_run("cutover.yml", "2026-11-26T17:00:00Z", live="new", switch_clock_at="2026-11-19T08:10:00Z")],
     "2026-11-19T08:10:00Z", []),
])
def test_dp3_reads_the_cutover_time_and_the_rollbacks_after_it_from_the_ledger(events, cutover_at, rollbacks):
    assert gate.cutover_history(events) == (cutover_at, rollbacks)
