"""The AWS side of ``output_compare``: read both sides, run the core, publish (not pure).

``run_comparison(params, check_mode, clients, store)`` is what the module runs; the rehearsal
calls it in-process too (``rehearsal/comparison.py``). ``clients`` holds AnsibleAWSModule-style
clients (every call takes ``aws_retry``) for ``dynamodb``, ``logs``, ``cloudwatch`` and
``events``; ``store`` is the state bucket (``state_store.StateStore``). Every input is validated
before the first AWS call; nothing is written in check mode.
"""
from __future__ import annotations

import json
import os
import time
from datetime import timedelta

try:
    from boto3.dynamodb.types import TypeDeserializer
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import (
    is_boto3_error_code,
    paginated_query_with_retries,
)

from .aws import InputError, get_or_none, retry_decorator, scan_items
from .compare import compare
from .compare_config import CompareConfigError
from .compare_formats import parse_log_event
from .compare_plan import (
    STATE_AREA,
    core_config,
    dumps,
    in_window,
    input_mode,
    jsonable,
    log_format,
    metric_data,
    plan,
    report_name,
    slot_reports,
    summary_line,
)
from .compare_snapshot import tag_records_from_snapshot
from .schedule import slot

METRIC_BATCH = 500
SUMMARY_STREAM = "output_compare"


def plain_values(deserializer):
    """DynamoDB-JSON value -> Python value: strings and booleans directly, the rest by boto3."""
    def value(typed):
        if len(typed) == 1:
            kind = next(iter(typed))
            if kind in ("S", "BOOL"):
                return typed[kind]
        return deserializer.deserialize(typed)
    return value


def scan_table(client, table, segments):
    """Every item of a table as plain Python values, read by a parallel scan (each page retried on its own)."""
    if get_or_none(client.describe_table, TableName=table) is None:
        raise InputError(f"table {table} does not exist: run playbooks/seed_new_table.yml first")
    value = plain_values(TypeDeserializer())
    return [{k: value(v) for k, v in item.items()} for item in scan_items(client, table, segments=segments)]


def read_events(client, group, start, end, fmt, minutes):
    """SMS and Telegram observations logged between start and end (every page, no filter pattern)."""
    sms, telegram = [], []
    try:
        events = paginated_query_with_retries(
            client, "filter_log_events", retry_decorator=retry_decorator(), logGroupName=group,
            startTime=int(start.timestamp() * 1000), endTime=int(end.timestamp() * 1000) - 1).get("events", [])
    except is_boto3_error_code("ResourceNotFoundException"):
        return sms, telegram, False
    for event in events:
        found = parse_log_event(event.get("message", ""), event.get("timestamp"), fmt, minutes)
        if found is not None:
            (sms if found["event"] == "sms" else telegram).append(found)
    return sms, telegram, True


def new_side_mode(client, rule):
    """``shadow`` / ``live`` from the inputs of the new rule's targets; None when it has none."""
    if not rule:
        return None
    try:
        targets = paginated_query_with_retries(client, "list_targets_by_rule", retry_decorator=retry_decorator(),
                                               Rule=rule).get("Targets", [])
    except is_boto3_error_code("ResourceNotFoundException"):
        return None
    return input_mode([target.get("Input") for target in targets])


def publish(client, namespace, metrics):
    for index in range(0, len(metrics), METRIC_BATCH):
        client.put_metric_data(Namespace=namespace, MetricData=metrics[index:index + METRIC_BATCH], aws_retry=True)


def write_summaries(client, group, lines):
    """One JSON line per compared slot in the comparison's log group (created when missing)."""
    for call, kwargs in ((client.create_log_group, {"logGroupName": group}),
                         (client.create_log_stream, {"logGroupName": group, "logStreamName": SUMMARY_STREAM})):
        try:
            call(aws_retry=True, **kwargs)
        except is_boto3_error_code("ResourceAlreadyExistsException"):
            pass
    now = int(time.time() * 1000)
    client.put_log_events(logGroupName=group, logStreamName=SUMMARY_STREAM, aws_retry=True,
                          logEvents=[{"timestamp": now, "message": line} for line in lines])


def write_copy(path, text):
    """The local convenience copy (atomic); never read back."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def read_snapshots(store, params):
    """Both snapshots with their ETags, read before anything else; a missing one is an error unless baseline."""
    found = {}
    for side in ("old", "new"):
        table = params[f"{side}_table"]
        key = store.key(STATE_AREA, "snapshots", f"{table}.json")
        text, etag = store.get(key)
        if text is None and not params.get("baseline"):
            raise InputError(
                f"no comparison snapshot of table {table} at {store.url(key)}: the comparison's baseline is taken "
                "by playbooks/start_parallel.yml when the parallel run starts. Run start_parallel.yml first; a "
                "compare run never takes a baseline itself (it would compare no table record)")
        found[side] = (key, json.loads(text) if text is not None else None, etag)
    return found


def observed_leaks(sms, observed, config):
    """Shadow leaks of the observed slot alone: SMS the new side logged as delivered in it (``sms``: the new
    side's log observations). The look compare.yml takes at the slot that just ran, so a leak is stopped
    before the next slot fires; nothing of it is published (that slot is compared once it settled)."""
    if config["new_mode"] != "shadow":
        return []
    found = [event for event in sms if event["slot"] == observed]
    return compare({}, {"sms": found}, config, start=observed, end=observed)["shadow_leaks"] if found else []


class _Laps:
    def __init__(self):
        self.timings = dict.fromkeys(("scan_s", "tag_s", "logs_s", "compare_s", "publish_s"), 0.0)
        self.clock = time.monotonic()

    def __call__(self, name):
        now = time.monotonic()
        self.timings[name] += now - self.clock
        self.clock = now


def run_comparison(params, check_mode, clients, store):
    """One run: validate, read, compare, then publish each changed slot (metrics, log line, evidence)."""
    try:
        window = plan(params)
        config = core_config(params)
        formats = {side: log_format(params[f"{side}_log_format"], f"{side}_log_format") for side in ("old", "new")}
    except CompareConfigError as exc:
        raise InputError(str(exc)) from None
    minutes = params["slot_minutes"]
    observed = slot(window["observed"], minutes)
    # the observed slot outside the reported ones: the new side's logs are read up to its end as well, for the
    # leak look (observed_shadow_leaks), in the same read
    look = not window["start"] <= window["observed"] <= window["end"]
    read_to = {"old": window["read_to"], "new": max(window["read_to"], window["observed"] + timedelta(minutes=minutes))
               if look else window["read_to"]}
    stored = read_snapshots(store, params)
    new_mode = params.get("new_mode") or new_side_mode(clients["events"], params.get("new_rule"))
    config["new_mode"] = new_mode
    sides, logged, snapshots, warnings, baseline, checked = {}, {}, {}, [], False, 0
    lap = _Laps()
    for side in ("old", "new"):
        table, group = params[f"{side}_table"], params[f"{side}_log_group"]
        items = scan_table(clients["dynamodb"], table, params["scan_segments"])
        lap("scan_s")
        key, before, etag = stored[side]
        baseline = baseline or before is None
        checked += 0 if before is None else len(items)
        records, fresh = tag_records_from_snapshot(items, before, observed, config)
        snapshots[key] = (before, fresh, etag)
        lap("tag_s")
        sms, telegram, found = read_events(clients["logs"], group, window["read_from"], read_to[side] + timedelta(
            seconds=params["grace_s"]), formats[side], minutes)
        lap("logs_s")
        if not found:
            warnings.append(f"log group {group} does not exist: no SMS or Telegram of the {side} side was read")
        sides[side] = {"records": records, "sms": in_window(sms, window, minutes),
                       "telegram": in_window(telegram, window, minutes)}
        logged[side] = sms
    start, end = slot(window["start"], minutes), slot(window["end"], minutes)
    if window["unsettled"]:
        warnings.append(f"slots up to {end} plus {params['settle_slots']} settle slot(s) have not all run by "
                        f"{observed}: what is late cannot be told from what is missing yet")
    if new_mode is None:
        warnings.append("the new side's input mode is unknown (no new_rule target, no new_mode): "
                        "shadow leaks were not looked for")
    result = compare(sides["old"], sides["new"], config, start=start, end=end)
    leaks_now = observed_leaks(logged["new"], observed, config) if look else []
    lap("compare_s")
    context = {"old_table": params["old_table"], "new_table": params["new_table"],
               "old_log_group": params["old_log_group"], "new_log_group": params["new_log_group"],
               "observed_slot": observed, "baseline": baseline, "new_mode": new_mode}
    published, files, objects, written = [], [], [], []
    for slot_text, document in sorted(slot_reports(result, context).items()):
        key, text = store.key(STATE_AREA, "evidence", report_name(slot_text)), dumps(document)
        if baseline:
            continue  # a baseline run publishes nothing: its records were not compared
        objects.append(store.url(key))
        stored_text, etag = store.get(key)
        if stored_text == text:
            continue
        # metrics first, evidence last: a failed publish leaves the evidence unwritten, so the next run retries
        published.append(slot_text)
        written.append(store.url(key))
        if check_mode:
            continue
        publish(clients["cloudwatch"], params["namespace"], metric_data(slot_text, document["summary"]))
        if params.get("log_group"):
            write_summaries(clients["logs"], params["log_group"], [summary_line(document)])
        store.put(key, text, etag)
        if params.get("report_dir"):
            path = os.path.join(params["report_dir"], report_name(slot_text))
            write_copy(path, text)
            files.append(path)
    for key, (before, snapshot, etag) in snapshots.items():
        if snapshot != before:
            written.append(store.url(key))
            if not check_mode:
                store.put(key, json.dumps(snapshot, ensure_ascii=False, sort_keys=True), etag)
    lap("publish_s")
    return {
        "timings": {name: round(value, 3) for name, value in lap.timings.items()},
        "changed": bool(written), "start": start, "end": end, "observed_slot": observed, "baseline": baseline,
        "settle_slots": result["settle_slots"], "slots": result["slots"], "total": result["total"],
        "evidence": json.loads(json.dumps(result["evidence"], default=jsonable)),
        "evidence_truncated": result["evidence_truncated"], "late": result["late"],
        "late_truncated": result["late_truncated"], "shadow_leaks": result["shadow_leaks"], "new_mode": new_mode,
        "observed_shadow_leaks": leaks_now,
        "published": published, "report_files": files, "evidence_objects": objects, "written": written,
        "records_checked": checked, "warnings": warnings,
    }
