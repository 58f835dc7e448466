#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: cutover_gate
short_description: Go / No-Go of a decision point of the cutover, from evidence measured in AWS
author:
  - naver-sms cutover team (@naver-sms-ops)
description:
  - Measures in AWS what decision point O(decision) needs and hands it to the pure rules of
    C(module_utils/cutover/gate.py), which return C(go) or C(no_go) with every criterion as measured
    value vs required value. A criterion without data is C(inconclusive) and makes the outcome
    C(no_go) - missing evidence never passes.
  - C(parallel) (DP1) - the image digest in ECR under every tag of O(image_tags) (asked of ECR), the
    function C(Active) from that digest with alias O(alias) on a published version of it, the new rule
    present and C(DISABLED) or with every target input in shadow mode, the alarms O(alarms),
    the topics O(alarm_topics) with a confirmed subscription, the dashboard O(dashboard), the backup
    O(backup_name) of O(old_table) C(AVAILABLE), O(new_table) restored from it, the shadow probe
    (O(shadow_probe), or on production the acknowledgement C(shadow_probe) naming the digest).
  - C(cutover) (DP2) - over the O(window_days) of slots ending with the newest settled slot, read with
    GetMetricData in one batched call (every page) - C(executions_compared) (Sum per slot), every
    compared slot's C(match_percentage) (Minimum) 100, C(discrepancies) (Maximum) 0, O(leak_metric)
    0 when published, C(AWS/Lambda) Errors 0, Duration below the function's timeout and below
    O(max_duration_ms), no alarm of O(alarms) in C(ALARM) now, the comparison not behind the settle window.
  - C(decommission) (DP3) - O(window_days) since the cutover (from O(history)), no alarm went to C(ALARM) since (alarm
    history; where the service does not offer it, recomputed from each single-metric alarm's series),
    error rate below O(max_error_rate), no rollback after the cutover in O(history).
  - What only a person can attest is an acknowledgement in O(acknowledgements); a missing one is C(no_go).
  - Read-only - it changes nothing (also not in check mode, where it runs the same); it does not write the
    ledger, it returns what C(cutover_ledger action=decision) records.
options:
  decision:
    description: The decision point.
    type: str
    required: true
    choices: [parallel, cutover, decommission]
  as_of:
    description: The moment of the decision (ISO); default now. The rehearsal passes its simulated clock.
    type: str
  window_days:
    description: Days of slots DP2 judges (and DP3 waits after the cutover); more than 0.
    type: float
    default: 7
  allowed_gap:
    description: Fraction of the window's slots that may lack a compared execution (DP2), 0 <= gap < 1.
    type: float
    default: 0
  slot_minutes:
    description: Length of an execution slot.
    type: int
    default: 20
  settle_slots:
    description: Settle window of the comparison, in slots.
    type: int
    default: 1
  grace_s:
    description: Seconds after a slot start by which its runs have finished.
    type: int
    default: 300
  max_duration_ms:
    description: Longest run allowed (DP2).
    type: int
    default: 240000
  max_error_rate:
    description: Error rate of the new function allowed since the cutover (DP3), a fraction.
    type: float
    default: 0.01
  expires_in_hours:
    description: Hours the decision stays valid; default 24 for C(cutover), none for the others.
    type: int
  namespace:
    description: Namespace of the comparison metrics.
    type: str
    default: naver-sms/comparison
  leak_metric:
    description: Metric of the comparison that counts SMS the new side delivered in shadow mode; judged when published.
    type: str
    default: shadow_leaks
  repository:
    description: ECR repository of the image.
    type: str
    default: naver-sms-automation
  image_tags:
    description: Tags the image must carry, all on one digest.
    type: list
    elements: str
    default: [latest]
  image_digest:
    description: The digest recorded by deploy_image.yml; when given, ECR must hold it under every tag.
    type: str
  function:
    description: The new function.
    type: str
    required: true
  alias:
    description: Alias the rule invokes.
    type: str
    default: live
  new_rule:
    description: EventBridge rule of the new function.
    type: str
  alarms:
    description: Names of the monitoring alarms (inventory C(cutover_monitoring_alarms)).
    type: list
    elements: str
    default: []
  alarm_topics:
    description: SNS topic names (inventory C(cutover_alarm_topics); a mapping's values or a list).
    type: raw
    default: []
  dashboard:
    description: CloudWatch dashboard name (inventory C(cutover_dashboard)).
    type: str
  old_table:
    description: The old function's table.
    type: str
    default: sms
  new_table:
    description: The new function's table, seeded from the backup.
    type: str
    default: sms_v2
  backup_name:
    description: Name of the on-demand backup of O(old_table) taken before the parallel run.
    type: str
  leak_record:
    description:
      - The shadow leak record of the state bucket (C(shadow/leak.json), written by C(playbooks/compare.yml) when it
        stopped the new rule; C({}) when there was none). DP2 - given, it is judged - no C(go) while the alias runs an
        image that leaked, or before another image has run the full window without a leak.
    type: dict
  shadow_probe:
    description:
      - Result of the shadow probe measured by the caller (test inventory) - C(deliveries) (SMS the
        recorder saw from one invoke of the alias in shadow mode), C(digest) (of the invoked
        version), C(source), or C(error).
    type: dict
  probe_mode:
    description: C(run) (a measured probe in O(shadow_probe)) or C(acknowledge) (production, acknowledgement C(shadow_probe)).
    type: str
    default: run
    choices: [run, acknowledge]
  history:
    description:
      - DP3 - the ledger's run events of C(cutover.yml) and C(rollback.yml) (C(cutover_ledger action=read
        playbooks=[cutover.yml, rollback.yml]), which gate.yml reads). The cutover time is C(facts.switched_at) of
        the latest C(cutover.yml) run with result C(ok); the rollbacks are the C(rollback.yml) runs with result
        C(ok) after it. Omitted - both unknown (C(inconclusive)).
    type: list
    elements: dict
  acknowledgements:
    description:
      - What only a person can attest, C(name -> {by, ref}) - C(rollback_rehearsed) (DP1),
        C(rollback_practised), C(team_comfortable), C(po_approval) (DP2), C(zero_customer_complaints),
        C(po_approval) (DP3); C(shadow_probe) also names C(digest) and C(test).
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Decide whether the cutover may start (DP2)
  cutover.local.cutover_gate:
    decision: cutover
    function: naverplace_send_inform_v2
    alarms: [naver-sms-discrepancies, naver-sms-v2-error-rate]
    acknowledgements:
      rollback_practised: {by: Kim Minsu, ref: CHG0012345}
      team_comfortable: {by: Lee Jiwoo, ref: CHG0012345}
      po_approval: {by: Park Seoyeon, ref: "https://wiki.example/approvals/42"}
  register: gate
"""

RETURN = r"""
decision:
  description: The decision point judged.
  returned: always
  type: str
outcome:
  description: C(go) or C(no_go).
  returned: always
  type: str
criteria:
  description: Every criterion - name, measured, required, status (pass, fail, inconclusive), reason.
  returned: always
  type: list
  elements: dict
reasons:
  description: One line per criterion that did not pass.
  returned: always
  type: list
  elements: str
decided_at:
  description: The moment of the decision (ISO, UTC).
  returned: always
  type: str
expires_at:
  description: When the decision stops being valid (ISO), null when it does not expire.
  returned: always
  type: str
expires_in_hours:
  description: Validity in hours, null when it does not expire.
  returned: always
  type: int
counts:
  description: Number of criteria per status.
  returned: always
  type: dict
evidence:
  description: What was measured (digest, window, per-slot comparison figures, Lambda figures, alarm states, calls made).
  returned: always
  type: dict
"""

import json
from datetime import datetime, timedelta, timezone

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover import gate
from ansible.module_utils.cutover.arn import function_digest
from ansible.module_utils.cutover.aws import get_metric_data, metric_query, retry_decorator

# DescribeAlarmHistory where the endpoint does not offer it: a code that says so, or a bare 500/501 whose body is a web
# page, not an AWS error (moto's server). AWS's own 500 names its code (InternalFailure) and is tried again.
NOT_OFFERED = ("NotImplemented", "NotImplementedError", "InvalidAction", "UnknownOperationException")
COMPARISON_STATS = {"executions": ("executions_compared", "Sum"), "match_min": ("match_percentage", "Minimum"),
                    "discrepancies_max": ("discrepancies", "Maximum")}
LAMBDA_STATS = {"invocations": ("Invocations", "Sum"), "errors": ("Errors", "Sum"), "duration_max_ms": ("Duration", "Maximum")}


# ----------------------------------------------------------------------------- metrics
def by_slot(points, combine):
    out = {}
    for stamp, value in points:
        key = gate.iso(stamp)
        out[key] = combine(out[key], value) if key in out else value
    return out


def total(points, how):
    values = [v for _t, v in points]
    if not values:
        return None
    return sum(values) if how == "Sum" else max(values) if how == "Maximum" else min(values)


# ----------------------------------------------------------------------------- AWS reads
def read_image(ecr, repository, tags, expected):
    """The digest ECR holds under each tag (one DescribeImages per tag: a missing tag is an answer, not an error)."""
    image = {"repository": repository, "tags": dict.fromkeys(tags), "expected_digest": expected or None}
    for tag in tags:
        try:
            found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}], aws_retry=True)
        except is_boto3_error_code("RepositoryNotFoundException"):
            return dict(image, repository_missing=True)
        except is_boto3_error_code("ImageNotFoundException"):
            continue
        for detail in found.get("imageDetails", []):
            if tag in (detail.get("imageTags") or []):
                image["tags"][tag] = detail.get("imageDigest")
    return image


def read_function(lam, name, alias):
    try:
        found = lam.get_function(FunctionName=name, aws_retry=True)
    except is_boto3_error_code("ResourceNotFoundException"):
        return {"exists": False}, {"name": alias, "exists": False}
    config = found["Configuration"]
    function = {"exists": True, "state": config.get("State", "Active"), "package_type": config.get("PackageType"),
                "digest": function_digest(found.get("Code"), config), "timeout_s": config.get("Timeout"),
                "arn": config.get("FunctionArn")}
    try:
        found_alias = lam.get_alias(FunctionName=name, Name=alias, aws_retry=True)
    except is_boto3_error_code("ResourceNotFoundException"):
        return function, {"name": alias, "exists": False}
    version = found_alias.get("FunctionVersion")
    at_version = lam.get_function(FunctionName=name, Qualifier=version, aws_retry=True)
    return function, {"name": alias, "exists": True, "version": version,
                      "digest": function_digest(at_version.get("Code"), at_version.get("Configuration")),
                      "deployed_at": (at_version.get("Configuration") or {}).get("LastModified")}


def read_rule(events, name):
    try:
        rule = events.describe_rule(Name=name, aws_retry=True)
    except is_boto3_error_code("ResourceNotFoundException"):
        return {"name": name, "exists": False}
    modes, kwargs = [], {"Rule": name}
    while True:
        page = events.list_targets_by_rule(aws_retry=True, **kwargs)
        for target in page.get("Targets", []):
            modes.append(mode_of(target.get("Input")))
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return {"name": name, "exists": True, "state": rule.get("State"), "modes": modes}


def mode_of(text):
    try:
        value = json.loads(text or "null")
    except ValueError:
        return None
    return value.get("mode") if isinstance(value, dict) else None


def read_alarms(cloudwatch, names):
    found = {}
    for index in range(0, len(names), 100):
        kwargs = {"AlarmNames": names[index:index + 100], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
        while True:
            page = cloudwatch.describe_alarms(aws_retry=True, **kwargs)
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                found[alarm["AlarmName"]] = alarm
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return found


def read_topics(sns, names):
    arns, kwargs = {}, {}
    while True:
        page = sns.list_topics(aws_retry=True, **kwargs)
        for topic in page.get("Topics", []):
            arns[topic["TopicArn"].rsplit(":", 1)[-1]] = topic["TopicArn"]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    topics = {}
    for name in names:
        if name not in arns:
            topics[name] = {"exists": False, "confirmed": 0, "pending": 0}
            continue
        subs, kwargs = [], {"TopicArn": arns[name]}
        while True:
            page = sns.list_subscriptions_by_topic(aws_retry=True, **kwargs)
            subs += page.get("Subscriptions", [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        pending = sum(1 for s in subs if not str(s.get("SubscriptionArn", "")).startswith("arn:"))
        topics[name] = {"exists": True, "confirmed": len(subs) - pending, "pending": pending,
                        "protocols": sorted({s.get("Protocol") for s in subs})}
    return topics


def read_dashboard(cloudwatch, name):
    if not name:
        return {"name": name, "exists": False}
    try:
        cloudwatch.get_dashboard(DashboardName=name, aws_retry=True)
    except is_boto3_error_code(["ResourceNotFound", "ResourceNotFoundException"]):
        return {"name": name, "exists": False}
    return {"name": name, "exists": True}


def read_backup(ddb, table, name):
    backup, kwargs = None, {"TableName": table, "BackupType": "USER"}
    while True:
        page = ddb.list_backups(aws_retry=True, **kwargs)
        for summary in page.get("BackupSummaries", []):
            if summary.get("BackupName") == name and (backup is None or str(summary.get("BackupCreationDateTime"))
                                                      > str(backup.get("BackupCreationDateTime"))):
                backup = summary
        if not page.get("LastEvaluatedBackupArn"):
            break
        kwargs["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]
    return {"table": table, "name": name, "status": (backup or {}).get("BackupStatus"),
            "arn": (backup or {}).get("BackupArn")}


def read_seeded(ddb, table):
    try:
        found = ddb.describe_table(TableName=table, aws_retry=True)["Table"]
    except is_boto3_error_code("ResourceNotFoundException"):
        return {"table": table, "exists": False}
    return {"table": table, "exists": True, "status": found.get("TableStatus"), "item_count": found.get("ItemCount"),
            "source_backup_arn": (found.get("RestoreSummary") or {}).get("SourceBackupArn")}


def topic_names(value):
    if isinstance(value, dict):
        return [str(v) for v in value.values() if v]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v]
    return [str(value)] if value else []


# ----------------------------------------------------------------------------- alarm history (DP3)
def not_offered(exc):
    """Whether a ClientError says the endpoint does not offer the operation (``NOT_OFFERED``)."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code"))
    return code in NOT_OFFERED or (code in ("500", "501") and "<html" in str(error.get("Message", "")).lower())


@retry_decorator()
def history_page(client, kwargs, counter):
    """One page of DescribeAlarmHistory, or None where the endpoint does not offer it (``not_offered``).

    ``client`` makes one attempt per call (no botocore retries): botocore retries any 500, so the emulator's
    not-offered answer cost 11 attempts (about 25 s) per alarm, and a throttle on the last of them hid it (soak
    seed 24, DP3 failed). This layer (``retry_decorator``) tries a throttle or an AWS 500 again and reads the
    not-offered answer at once."""
    try:
        page = client.describe_alarm_history(**kwargs)
    except botocore.exceptions.ClientError as exc:
        if not not_offered(exc):
            raise
        page = None
    counter["DescribeAlarmHistory"] = counter.get("DescribeAlarmHistory", 0) + 1
    return page


def alarms_since(cloudwatch, history, alarms, since, until, counter):
    """Which alarms went to ALARM since ``since``: alarm history read with ``history`` (a client without botocore's
    retries: ``history_page``), else, where it is not offered, recomputed from each alarm's series."""
    went = []
    for name in alarms:
        kwargs = {"AlarmName": name, "HistoryItemType": "StateUpdate", "StartDate": since, "EndDate": until}
        while True:
            page = history_page(history, kwargs, counter)
            if page is None:
                return recompute_alarms(cloudwatch, alarms, since, until, counter)
            if any("to ALARM" in (item.get("HistorySummary") or "") for item in page.get("AlarmHistoryItems", [])):
                went.append(name)
                break
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return {"went_to_alarm": went, "unknown": [], "source": "alarm history"}


BREACH = {"GreaterThanThreshold": lambda v, t: v > t, "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
          "LessThanThreshold": lambda v, t: v < t, "LessThanOrEqualToThreshold": lambda v, t: v <= t}


def recompute_alarms(cloudwatch, definitions, since, until, counter):
    """DescribeAlarmHistory is not offered (the emulator): replay single-metric alarms over their series."""
    went, unknown, queries, alarms = [], [], [], {}
    for index, (name, alarm) in enumerate(sorted(definitions.items())):
        if not alarm.get("MetricName") or alarm.get("ComparisonOperator") not in BREACH or not alarm.get("Statistic"):
            unknown.append(name)
            continue
        qid = f"a{index}"
        alarms[qid] = (name, alarm)
        queries.append(metric_query(qid, alarm["Namespace"], alarm["MetricName"], alarm["Statistic"],
                                    alarm.get("Period") or 60, alarm.get("Dimensions")))
    series = get_metric_data(cloudwatch, queries, since, until, counter) if queries else {}
    for qid, (name, alarm) in alarms.items():
        period = timedelta(seconds=alarm.get("Period") or 60)
        values = dict((gate.iso(t), v) for t, v in series.get(qid, []))
        breaching_missing = alarm.get("TreatMissingData") == "breaching"
        needed, of = alarm.get("DatapointsToAlarm") or alarm.get("EvaluationPeriods") or 1, alarm.get("EvaluationPeriods") or 1
        flags, moment = [], since
        while moment + period <= until:
            value = values.get(gate.iso(moment))
            flags.append(breaching_missing if value is None else BREACH[alarm["ComparisonOperator"]](value, alarm["Threshold"]))
            moment += period
        if any(sum(flags[i:i + of]) >= needed for i in range(max(1, len(flags) - of + 1)) if flags[i:i + of]):
            went.append(name)
    return {"went_to_alarm": went, "unknown": unknown, "source": "recomputed from the metric series",
            "reason": "metric-math alarms cannot be replayed without the alarm history" if unknown else ""}


# ----------------------------------------------------------------------------- the measurement
def measure(params, settings, now, clients):
    counter = {}
    decision = params["decision"]
    cloudwatch = clients["cloudwatch"]
    measured = {"namespace": params["namespace"]}
    names = list(params["alarms"] or [])
    alarm_defs = read_alarms(cloudwatch, names) if names else {}
    measured["alarms"] = {"names": names, "states": {n: a.get("StateValue") for n, a in alarm_defs.items()}}
    lam = clients["lambda"]
    function, alias = read_function(lam, params["function"], params["alias"])
    measured["function"] = function
    if decision == "parallel":
        measured["image"] = read_image(clients["ecr"], params["repository"], params["image_tags"], params["image_digest"])
        measured["alias"] = alias
        measured["new_rule"] = read_rule(clients["events"], params["new_rule"]) if params["new_rule"] else None
        measured["topics"] = read_topics(clients["sns"], topic_names(params["alarm_topics"]))
        measured["dashboard"] = read_dashboard(cloudwatch, params["dashboard"])
        ddb = clients["dynamodb"]
        measured["backup"] = read_backup(ddb, params["old_table"], params["backup_name"]) if params["backup_name"] else None
        measured["seeded"] = read_seeded(ddb, params["new_table"])
        measured["shadow_probe"] = params["shadow_probe"]
    elif decision == "cutover":
        window = gate.window_of(settings, now)
        measured["window"] = window
        step = timedelta(minutes=settings["slot_minutes"])
        start, end = gate.parse_time(window["first"]), gate.parse_time(window["last"]) + step
        period = int(step.total_seconds())
        queries = [metric_query(key, params["namespace"], name, stat, period)
                   for key, (name, stat) in COMPARISON_STATS.items()]
        queries.append(metric_query("leak_max", params["namespace"], params["leak_metric"], "Maximum", period))
        dims = [{"Name": "FunctionName", "Value": params["function"]}]
        queries += [metric_query(f"fn_{key}", "AWS/Lambda", name, stat, period, dims)
                    for key, (name, stat) in LAMBDA_STATS.items()]
        series = get_metric_data(cloudwatch, queries, start, end, counter)
        comparison = {}
        for key in list(COMPARISON_STATS) + ["leak_max"]:
            combine = min if key == "match_min" else max if key.endswith("_max") else (lambda a, b: a + b)
            for slot, value in by_slot(series[key], combine).items():
                comparison.setdefault(slot, {})[key] = value
        measured["comparison"] = {s: row for s, row in comparison.items() if "executions" in row}
        measured["lambda"] = {key: total(series[f"fn_{key}"], stat) for key, (_n, stat) in LAMBDA_STATS.items()}
        if params["leak_record"] is not None:
            measured["leak_record"], measured["alias"] = params["leak_record"], alias
    else:  # decommission (main() makes its alarm-history client)
        if params["history"] is not None:
            measured["cutover_at"], measured["rollbacks"] = gate.cutover_history(params["history"])
        else:
            measured["cutover_at"], measured["rollbacks"] = None, None
        if measured["cutover_at"]:
            since = gate.parse_time(measured["cutover_at"], "cutover_at")
            period = settings["slot_minutes"] * 60
            dims = [{"Name": "FunctionName", "Value": params["function"]}]
            queries = [metric_query(f"fn_{key}", "AWS/Lambda", name, stat, period, dims)
                       for key, (name, stat) in LAMBDA_STATS.items()]
            series = get_metric_data(cloudwatch, queries, since, now, counter)
            measured["lambda"] = {key: total(series[f"fn_{key}"], stat) for key, (_n, stat) in LAMBDA_STATS.items()}
            if names:
                history = clients["cloudwatch_history"]
                measured["alarms_since"] = alarms_since(cloudwatch, history, alarm_defs, since, now, counter)
            else:
                measured["alarms_since"] = {"went_to_alarm": [], "unknown": []}
    return measured, counter


def evidence_of(measured, counter):
    evidence = {k: v for k, v in measured.items() if v is not None}
    if "comparison" in evidence:
        rows = evidence.pop("comparison")
        evidence["comparison_slots"] = len(rows)
        evidence["executions_compared"] = int(sum(r.get("executions") or 0 for r in rows.values()))
        evidence["comparison_low_slots"] = {s: r for s, r in sorted(rows.items())
                                            if (r.get("match_min") or 100) < 100 or (r.get("discrepancies_max") or 0) > 0
                                            or (r.get("leak_max") or 0) > 0}
    if "window" in evidence:
        window = dict(evidence["window"])
        window["count"] = len(window.pop("slots"))
        evidence["window"] = window
    evidence["aws_calls"] = counter
    return evidence


def main():
    argument_spec = dict(
        decision=dict(type="str", required=True, choices=list(gate.DECISIONS)),
        as_of=dict(type="str"),
        window_days=dict(type="float", default=7),
        allowed_gap=dict(type="float", default=0),
        slot_minutes=dict(type="int", default=20),
        settle_slots=dict(type="int", default=1),
        grace_s=dict(type="int", default=300),
        max_duration_ms=dict(type="int", default=240000),
        max_error_rate=dict(type="float", default=0.01),
        expires_in_hours=dict(type="int"),
        namespace=dict(type="str", default="naver-sms/comparison"),
        leak_metric=dict(type="str", default="shadow_leaks"),
        repository=dict(type="str", default="naver-sms-automation"),
        image_tags=dict(type="list", elements="str", default=["latest"]),
        image_digest=dict(type="str"),
        function=dict(type="str", required=True),
        alias=dict(type="str", default="live"),
        new_rule=dict(type="str"),
        alarms=dict(type="list", elements="str", default=[]),
        alarm_topics=dict(type="raw", default=[]),
        dashboard=dict(type="str"),
        old_table=dict(type="str", default="sms"),
        new_table=dict(type="str", default="sms_v2"),
        backup_name=dict(type="str"),
        leak_record=dict(type="dict"),
        shadow_probe=dict(type="dict"),
        probe_mode=dict(type="str", default="run", choices=["run", "acknowledge"]),
        history=dict(type="list", elements="dict"),
        acknowledgements=dict(type="dict", default={}),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    overrides = {k: params[k] for k in ("window_days", "allowed_gap", "slot_minutes", "settle_slots", "grace_s",
                                        "max_duration_ms", "max_error_rate", "probe_mode")}
    if params["expires_in_hours"] is not None:
        overrides["expires_in_hours"] = {params["decision"]: params["expires_in_hours"] or None}
    try:  # every input is validated before the first AWS call
        settings = dict(gate.settings_of(overrides), _validated=True)
        gate.check_acknowledgements(params["acknowledgements"])
        now = gate.parse_time(params["as_of"], "as_of") if params["as_of"] else None
        if params["history"] is not None:
            gate.cutover_history(params["history"])  # a malformed switched_at fails here
    except gate.GateInputError as exc:
        module.fail_json(msg=str(exc))
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    retry = retry_decorator()
    clients = {name: module.client(name, retry_decorator=retry)
               for name in ("cloudwatch", "lambda", "ecr", "events", "sns", "dynamodb")}
    if params["decision"] == "decommission":  # the alarm history, one attempt per call (history_page retries)
        single = dict(module.params.get("aws_config") or {}, retries={"total_max_attempts": 1})
        clients["cloudwatch_history"] = module.client("cloudwatch", retry_decorator=retry, aws_config=single)
    try:
        measured, counter = measure(params, settings, now, clients)
        result = gate.decide(params["decision"], measured, params["acknowledgements"], settings, now=now)
    except gate.GateInputError as exc:
        module.fail_json(msg=str(exc))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"measuring decision point {params['decision']} failed")
    module.exit_json(changed=False, evidence=evidence_of(measured, counter), **result)


if __name__ == "__main__":
    main()
