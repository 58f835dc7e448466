#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: output_compare
short_description: Compare what the old and the new function did in one slot or a range of slots
description:
  - Reads both DynamoDB tables with a parallel scan (O(scan_segments)) and both log groups with
    FilterLogEvents by time (every page; no filter pattern), parses the log lines, and runs the
    pure comparison core C(module_utils/cutover/compare.py).
  - Classifies every unit (table record, SMS, Telegram message) as matched, late (settled by the
    other side within O(settle_slots)) or a discrepancy (C(missing_on_new), C(missing_on_old),
    C(field_differs), C(text_differs) with the first differing character, C(count_differs)).
  - Publishes the comparison metrics to O(namespace) with the slot as timestamp, B(then) writes one
    evidence object per slot to the state bucket, C(comparison/<account>/<region>/evidence/<YYYY-MM-DDTHH-MMZ>.json)
    (summary and capped mismatches) - a failed publish leaves the evidence unwritten, so the next run
    publishes again. A slot whose evidence object already holds the same result is not published
    again, so a rerun makes no AWS write.
  - Records are tied to the slot that last changed them through a snapshot of each table kept in the
    state bucket (C(comparison/<account>/<region>/snapshots/<table>.json)) between runs (neither function
    writes a timestamp). A missing snapshot is an error unless O(baseline=true) (only
    C(start_parallel.yml) passes it), and then the run only takes the baseline. Run it every slot
    (every 20 minutes) so that each change is seen in its own slot.
  - Every write to the bucket is conditional on the ETag read at the start of the run; an object that
    another controller wrote meanwhile fails the run with the key and what to do.
  - O(report_dir) gets a convenience copy of the evidence; it is never read back.
  - Check mode computes and returns everything, publishes and writes nothing, and reports C(changed)
    when a real run would publish or write.
options:
  old_table:
    description: Table of the old function (C(sms)).
    required: true
    type: str
  new_table:
    description: Table of the new function (C(sms_v2)).
    required: true
    type: str
  old_log_group:
    description: Log group of the old function.
    required: true
    type: str
  new_log_group:
    description: Log group of the new function.
    required: true
    type: str
  slot:
    description:
      - One slot to report (ISO date-time, any moment inside the slot).
      - Without O(slot), O(start) and O(end), the last slot both sides should have finished and whose
        settle window has closed - C(slot start + (1 + settle_slots) x slot length + grace <= as_of).
    type: str
  start:
    description: First slot of a range to report (re-check or backfill); needs O(end).
    type: str
  end:
    description: Last slot of the range (inclusive).
    type: str
  as_of:
    description: The moment of the run (ISO); default now. The rehearsal passes its simulated clock.
    type: str
  settle_slots:
    description: A difference resolved by the other side within this many slots is late, not a discrepancy.
    type: int
    default: 1
  slot_minutes:
    description: Length of a slot.
    type: int
    default: 20
  grace_s:
    description: Seconds after a slot start by which its runs have finished (EventBridge may deliver late).
    type: int
    default: 300
  evidence_cap:
    description: Mismatches kept as evidence per report (counts are never capped).
    type: int
    default: 50
  rules:
    description:
      - Comparison rules, merged over the core's defaults - C(records) (C(key), C(compare), C(ignore)),
        C(sms) (C(key), C(compare), C(text)), C(telegram) (C(masks), regexes replaced before comparing).
    type: dict
    default: {}
  old_log_format:
    description: C(json), C(legacy_text) (the legacy plain-text lines) or a format mapping (see the core).
    type: raw
    default: json
  new_log_format:
    description: Like O(old_log_format), for the new function.
    type: raw
    default: json
  namespace:
    description: CloudWatch namespace of the metrics.
    type: str
    default: naver-sms/comparison
  state_bucket:
    description: The migration's state bucket (C(cutover_state_bucket), created by C(playbooks/bootstrap.yml)).
    required: true
    type: str
  account_id:
    description: The account the bucket must belong to; also the first part of every key after the area.
    required: true
    type: str
  baseline:
    description:
      - Allow a missing table snapshot - the run then takes the baseline of the tables. Only the start
        of the parallel run passes it; otherwise a missing snapshot is an error.
    type: bool
    default: false
  report_dir:
    description: Directory for a local convenience copy of the evidence (never read back); none when omitted.
    type: path
  scan_segments:
    description: Parallel scan segments per table.
    type: int
    default: 4
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Compare the last finished slot
  output_compare:
    old_table: sms
    new_table: sms_v2
    old_log_group: /aws/lambda/naverplace_send_inform
    new_log_group: /aws/lambda/naverplace_send_inform_v2
    state_bucket: naver-sms-cutover-state-654654307503
    account_id: "654654307503"
    report_dir: "{{ playbook_dir }}/../reports/production/comparison"

- name: Re-check one day
  output_compare:
    old_table: sms
    new_table: sms_v2
    old_log_group: /aws/lambda/naverplace_send_inform
    new_log_group: /aws/lambda/naverplace_send_inform_v2
    start: "2026-11-26T00:00:00Z"
    end: "2026-11-26T23:40:00Z"
    state_bucket: naver-sms-cutover-state-654654307503
    account_id: "654654307503"
"""

RETURN = r"""
start:
  description: First reported slot (ISO, UTC).
  returned: always
  type: str
end:
  description: Last reported slot.
  returned: always
  type: str
observed_slot:
  description: The latest slot that had run when the tables were read (records changed since the previous run belong to it).
  returned: always
  type: str
baseline:
  description: True when no snapshot existed, so this run only took the baseline of the tables.
  returned: always
  type: bool
slots:
  description: Per slot - counts by side and SMS type, records created/updated, matched, late, discrepancies by kind, match_percentage.
  returned: always
  type: dict
total:
  description: The same counts over all reported slots.
  returned: always
  type: dict
evidence:
  description: Capped list of mismatches (kind, unit, key, field, old, new; for text index, code points, snippets).
  returned: always
  type: list
evidence_truncated:
  description: Mismatches left out of RV(evidence) by the cap (0 when the evidence is complete).
  returned: always
  type: int
late:
  description: Differences settled by the other side within RV(settle_slots) slots (late, not discrepancies).
  returned: always
  type: list
settle_slots:
  description: Slots a difference may take to settle before it counts as a discrepancy (O(settle_slots)).
  returned: always
  type: int
timings:
  description: Seconds spent scanning, tagging records, reading logs, comparing, writing and publishing.
  returned: always
  type: dict
published:
  description: Slots whose metrics were published by this run (would be, in check mode).
  returned: always
  type: list
report_files:
  description: Local convenience copies of the evidence written (or that would be written in check mode).
  returned: always
  type: list
evidence_objects:
  description: State bucket URLs of the evidence of every reported slot.
  returned: always
  type: list
written:
  description: State bucket URLs written by this run (or that would be, in check mode) - evidence and snapshots.
  returned: always
  type: list
records_checked:
  description: Table items read and checked against the previous snapshot (0 on a baseline run - no record compared).
  returned: always
  type: int
"""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal

try:
    import botocore
    from boto3.dynamodb.types import TypeDeserializer
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover.aws import InputError, retry_decorator
from ansible.module_utils.cutover.state_store import StateError, StateStore
from ansible.module_utils.cutover.compare import (
    JSON_FORMAT,
    LEGACY_TEXT_FORMAT,
    CompareConfigError,
    compare,
    make_config,
    parse_log_event,
    slot_iso,
    tag_records_from_snapshot,
)

LOG_FORMATS = {"json": JSON_FORMAT, "legacy_text": LEGACY_TEXT_FORMAT}
METRIC_BATCH = 500



# ----------------------------------------------------------------------------- inputs
def parse_time(value, name):
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{name} {value!r} is not an ISO date-time such as 2026-11-26T04:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def log_format(value, name):
    if isinstance(value, dict):
        return value
    if value in LOG_FORMATS:
        return LOG_FORMATS[value]
    raise InputError(f"{name} must be one of {', '.join(LOG_FORMATS)} or a format mapping, got {value!r}")


def plan(params, now=None):
    """Validate the parameters; the slots to report, the window to read, the observed slot."""
    minutes, settle = params["slot_minutes"], params["settle_slots"]
    if minutes <= 0 or settle < 0 or params["grace_s"] < 0 or params["scan_segments"] < 1:
        raise InputError("slot_minutes and scan_segments must be positive, settle_slots and grace_s not negative")
    slot = timedelta(minutes=minutes)
    as_of = parse_time(params["as_of"], "as_of") if params.get("as_of") else (now or datetime.now(timezone.utc))
    observed = parse_time(slot_iso(as_of - timedelta(seconds=params["grace_s"]), minutes), "observed")
    if params.get("slot"):
        if params.get("start") or params.get("end"):
            raise InputError("give either slot or start/end, not both")
        start = end = parse_time(slot_iso(parse_time(params["slot"], "slot"), minutes), "slot")
    elif params.get("start") or params.get("end"):
        if not (params.get("start") and params.get("end")):
            raise InputError("a range needs both start and end")
        start = parse_time(slot_iso(parse_time(params["start"], "start"), minutes), "start")
        end = parse_time(slot_iso(parse_time(params["end"], "end"), minutes), "end")
        if end < start:
            raise InputError(f"end {params['end']} is before start {params['start']}")
    else:
        start = end = observed - slot * (1 + settle)
    return {
        "start": start, "end": end, "observed": observed, "as_of": as_of,
        "read_from": start - slot * settle, "read_to": end + slot * (settle + 1),
        "unsettled": end + slot * settle > observed,
    }


def core_config(params):
    try:
        rules = dict(params["rules"] or {})
        return make_config(dict(rules, settle_slots=params["settle_slots"], slot_minutes=params["slot_minutes"],
                                evidence_cap=params["evidence_cap"]))
    except CompareConfigError as exc:
        raise InputError(f"rules: {exc}") from None


# ----------------------------------------------------------------------------- reading
def plain_values(deserializer):
    """DynamoDB-JSON value -> Python value: strings and booleans directly, the rest by boto3."""
    def value(typed):
        if len(typed) == 1:
            kind = next(iter(typed))
            if kind == "S" or kind == "BOOL":
                return typed[kind]
        return deserializer.deserialize(typed)
    return value


def scan_table(client, table, segments):
    """Every item of a table as plain Python values, read by a parallel scan."""
    value = plain_values(TypeDeserializer())

    def segment(number):
        items, kwargs = [], {"TableName": table, "Segment": number, "TotalSegments": segments}
        while True:
            page = client.scan(aws_retry=True, **kwargs)
            items.extend({k: value(v) for k, v in item.items()} for item in page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    try:
        client.describe_table(TableName=table, aws_retry=True)
    except is_boto3_error_code("ResourceNotFoundException"):
        raise InputError(f"table {table} does not exist: run playbooks/start_parallel.yml first") from None
    with ThreadPoolExecutor(max_workers=segments) as pool:
        return [item for part in pool.map(segment, range(segments)) for item in part]


def read_events(client, group, start, end, fmt, minutes):
    """SMS and Telegram observations logged between start and end (every page, no filter pattern)."""
    sms, telegram = [], []
    kwargs = {"logGroupName": group, "startTime": int(start.timestamp() * 1000),
              "endTime": int(end.timestamp() * 1000) - 1}
    while True:
        try:
            page = client.filter_log_events(aws_retry=True, **kwargs)
        except is_boto3_error_code("ResourceNotFoundException"):
            return sms, telegram, False
        for event in page.get("events", []):
            found = parse_log_event(event.get("message", ""), event.get("timestamp"), fmt, minutes)
            if found is None:
                continue
            (sms if found["event"] == "sms" else telegram).append(found)
        token = page.get("nextToken")
        if not token or token == kwargs.get("nextToken"):
            return sms, telegram, True
        kwargs["nextToken"] = token


def in_window(events, window, minutes):
    low, high = slot_iso(window["read_from"], minutes), slot_iso(window["read_to"] - timedelta(seconds=1), minutes)
    return [e for e in events if low <= e["slot"] <= high]


# ----------------------------------------------------------------------------- state and evidence
def _jsonable(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def dumps(data):
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True, default=_jsonable) + "\n"


def snapshot_key(store, table):
    return store.key("comparison", "snapshots", f"{table}.json")


def evidence_key(store, slot):
    return store.key("comparison", "evidence", report_name(slot))


def write_copy(path, text):
    """The local convenience copy (atomic); never read back."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def report_name(slot):
    return slot.replace(":00Z", "Z").replace(":", "-") + ".json"


def slot_reports(result, context):
    """One evidence document per reported slot."""
    documents = {}
    for slot, row in result["slots"].items():
        evidence = [e for e in result["evidence"] if e["slot"] == slot]
        documents[slot] = {
            "slot": slot, "settle_slots": result["settle_slots"], "summary": row,
            "evidence": evidence, "late": [e for e in result["late"] if e["slot"] == slot],
            "evidence_complete": result["evidence_truncated"] == 0, **context,
        }
    return documents


def metric_data(slot, row):
    """The DESIGN.md metrics of one slot, timestamped with the slot."""
    stamp = parse_time(slot, "slot")
    data = [
        ("discrepancies", row["discrepancies"], "Count"),
        ("match_percentage", row["match_percentage"], "Percent"),
        ("executions_compared", row["executions_compared"], "Count"),
    ]
    for side in ("old", "new"):
        data += [
            (f"sms_sent_{side}", row["sms_sent"][side]["total"], "Count"),
            (f"records_created_{side}", row["records_created"][side], "Count"),
            (f"records_updated_{side}", row["records_updated"][side], "Count"),
            (f"telegram_sent_{side}", row["telegram_sent"][side], "Count"),
        ]
    metrics = [{"MetricName": name, "Timestamp": stamp, "Value": float(value), "Unit": unit}
               for name, value, unit in data]
    for side in ("old", "new"):
        for sms_type, count in sorted(row["sms_sent"][side].items()):
            if sms_type != "total":
                metrics.append({"MetricName": f"sms_sent_{side}", "Timestamp": stamp, "Value": float(count),
                                "Unit": "Count", "Dimensions": [{"Name": "sms_type", "Value": sms_type}]})
    return metrics


def publish(client, namespace, metrics):
    for index in range(0, len(metrics), METRIC_BATCH):
        client.put_metric_data(Namespace=namespace, MetricData=metrics[index:index + METRIC_BATCH], aws_retry=True)


# ----------------------------------------------------------------------------- the run
def read_snapshots(store, params):
    """Both snapshots with their ETags, read before anything else; a missing one is an error unless baseline."""
    found = {}
    for side in ("old", "new"):
        table = params[f"{side}_table"]
        key = snapshot_key(store, table)
        text, etag = store.get(key)
        if text is None and not params.get("baseline"):
            raise InputError(
                f"no comparison snapshot of table {table} at {store.url(key)}: the comparison's baseline is taken "
                "by playbooks/start_parallel.yml when the parallel run starts. Run start_parallel.yml first; a "
                "compare run never takes a baseline itself (it would compare no table record)")
        found[side] = (key, json.loads(text) if text is not None else None, etag)
    return found


def run_comparison(params, check_mode, ddb, logs, cloudwatch, store):
    window = plan(params)
    config = core_config(params)
    formats = {"old": log_format(params["old_log_format"], "old_log_format"),
               "new": log_format(params["new_log_format"], "new_log_format")}
    minutes = params["slot_minutes"]
    observed = slot_iso(window["observed"], minutes)
    stored = read_snapshots(store, params)
    sides, snapshots, warnings, baseline, checked = {}, {}, [], False, 0
    timings = dict.fromkeys(("scan_s", "tag_s", "logs_s", "compare_s", "publish_s"), 0.0)
    clock = time.monotonic()

    def lap(name):
        nonlocal clock
        timings[name] += time.monotonic() - clock
        clock = time.monotonic()

    for side in ("old", "new"):
        table, group = params[f"{side}_table"], params[f"{side}_log_group"]
        items = scan_table(ddb, table, params["scan_segments"])
        lap("scan_s")
        key, before, etag = stored[side]
        baseline = baseline or before is None
        checked += 0 if before is None else len(items)
        records, fresh = tag_records_from_snapshot(items, before, observed, config)
        snapshots[key] = (before, fresh, etag)
        lap("tag_s")
        sms, telegram, found = read_events(logs, group, window["read_from"], window["read_to"] + timedelta(
            seconds=params["grace_s"]), formats[side], minutes)
        lap("logs_s")
        if not found:
            warnings.append(f"log group {group} does not exist: no SMS or Telegram of the {side} side was read")
        sides[side] = {"records": records, "sms": in_window(sms, window, minutes),
                       "telegram": in_window(telegram, window, minutes)}
    start, end = slot_iso(window["start"], minutes), slot_iso(window["end"], minutes)
    if window["unsettled"]:
        warnings.append(f"slots up to {end} plus {params['settle_slots']} settle slot(s) have not all run by "
                        f"{observed}: what is late cannot be told from what is missing yet")
    result = compare(sides["old"], sides["new"], config, start=start, end=end)
    lap("compare_s")
    context = {"old_table": params["old_table"], "new_table": params["new_table"],
               "old_log_group": params["old_log_group"], "new_log_group": params["new_log_group"],
               "observed_slot": observed, "baseline": baseline}
    published, files, objects, written = [], [], [], []
    for slot, document in sorted(slot_reports(result, context).items()):
        key, text = evidence_key(store, slot), dumps(document)
        objects.append(store.url(key))
        stored_text, etag = store.get(key)
        if stored_text == text:
            continue
        # metrics first, evidence second: a failed publish leaves the evidence unwritten, so the next run retries
        published.append(slot)
        written.append(store.url(key))
        if check_mode:
            continue
        publish(cloudwatch, params["namespace"], metric_data(slot, document["summary"]))
        store.put(key, text, etag)
        if params.get("report_dir"):
            path = os.path.join(params["report_dir"], report_name(slot))
            write_copy(path, text)
            files.append(path)
    for key, (before, snapshot, etag) in snapshots.items():
        if snapshot != before:
            written.append(store.url(key))
            if not check_mode:
                store.put(key, json.dumps(snapshot, ensure_ascii=False, sort_keys=True), etag)
    lap("publish_s")
    return {
        "timings": {name: round(value, 3) for name, value in timings.items()},
        "changed": bool(written), "start": start, "end": end, "observed_slot": observed, "baseline": baseline,
        "settle_slots": result["settle_slots"], "slots": result["slots"], "total": result["total"],
        "evidence": json.loads(json.dumps(result["evidence"], default=_jsonable)),
        "evidence_truncated": result["evidence_truncated"], "late": result["late"],
        "published": published, "report_files": files, "evidence_objects": objects, "written": written,
        "records_checked": checked, "warnings": warnings,
    }


def main():
    argument_spec = dict(
        old_table=dict(type="str", required=True),
        new_table=dict(type="str", required=True),
        old_log_group=dict(type="str", required=True),
        new_log_group=dict(type="str", required=True),
        slot=dict(type="str"),
        start=dict(type="str"),
        end=dict(type="str"),
        as_of=dict(type="str"),
        settle_slots=dict(type="int", default=1),
        slot_minutes=dict(type="int", default=20),
        grace_s=dict(type="int", default=300),
        evidence_cap=dict(type="int", default=50),
        rules=dict(type="dict", default={}),
        old_log_format=dict(type="raw", default="json"),
        new_log_format=dict(type="raw", default="json"),
        namespace=dict(type="str", default="naver-sms/comparison"),
        state_bucket=dict(type="str", required=True),
        account_id=dict(type="str", required=True),
        baseline=dict(type="bool", default=False),
        report_dir=dict(type="path"),
        scan_segments=dict(type="int", default=4),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    retry = retry_decorator()
    clients = [module.client(name, retry_decorator=retry) for name in ("dynamodb", "logs", "cloudwatch")]
    store = StateStore(module.client("s3", retry_decorator=retry), module.params["state_bucket"],
                       module.params["account_id"], module.region)
    try:  # run_comparison validates every input before its first AWS call
        store.require()
        result = run_comparison(module.params, module.check_mode, *clients, store)
    except (InputError, StateError) as exc:
        module.fail_json(msg=str(exc))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg="reading or publishing the comparison failed")
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
