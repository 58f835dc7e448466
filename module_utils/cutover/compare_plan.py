"""What one ``output_compare`` run reports, reads and publishes (pure: no boto3, no Ansible).

``plan(params)`` validates the module's parameters and says which slots the run reports and
which window it reads; ``slot_reports`` cuts a comparison result into one evidence document per
slot; ``metric_data`` and ``summary_line`` are what a slot publishes (CloudWatch metrics, one
JSON line in the comparison's log group).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from .compare_config import CompareConfigError, make_config
from .compare_formats import LOG_FORMATS
from .schedule import slot

STATE_AREA = "comparison"


def parse_time(value, name):
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise CompareConfigError(f"{name} {value!r} is not an ISO date-time such as 2026-11-26T04:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def log_format(value, name):
    if isinstance(value, dict):
        return value
    if value in LOG_FORMATS:
        return LOG_FORMATS[value]
    raise CompareConfigError(f"{name} must be one of {', '.join(LOG_FORMATS)} or a format mapping, got {value!r}")


def _slot_time(value, minutes, name):
    return parse_time(slot(parse_time(value, name), minutes), name)


def plan(params, now=None):
    """Validate the parameters; the slots to report, the window to read, the observed slot."""
    minutes, settle = params["slot_minutes"], params["settle_slots"]
    if minutes <= 0 or settle < 0 or params["grace_s"] < 0 or params["scan_segments"] < 1:
        raise CompareConfigError("slot_minutes and scan_segments must be positive, settle_slots and grace_s not negative")
    length = timedelta(minutes=minutes)
    as_of = parse_time(params["as_of"], "as_of") if params.get("as_of") else (now or datetime.now(timezone.utc))
    observed = _slot_time(as_of - timedelta(seconds=params["grace_s"]), minutes, "observed")
    if params.get("slot"):
        if params.get("start") or params.get("end"):
            raise CompareConfigError("give either slot or start/end, not both")
        start = end = _slot_time(params["slot"], minutes, "slot")
    elif params.get("start") or params.get("end"):
        if not (params.get("start") and params.get("end")):
            raise CompareConfigError("a range needs both start and end")
        start = _slot_time(params["start"], minutes, "start")
        end = _slot_time(params["end"], minutes, "end")
        if end < start:
            raise CompareConfigError(f"end {params['end']} is before start {params['start']}")
    else:
        start = end = observed - length * (1 + settle)
    return {
        "start": start, "end": end, "observed": observed, "as_of": as_of,
        "read_from": start - length * settle, "read_to": end + length * (settle + 1),
        "unsettled": end + length * settle > observed,
    }


def core_config(params, new_mode=None):
    """The core's configuration from the module's parameters (``rules`` merged over the defaults)."""
    try:
        rules = dict(params["rules"] or {})
        return make_config(dict(rules, settle_slots=params["settle_slots"], slot_minutes=params["slot_minutes"],
                                evidence_cap=params["evidence_cap"], new_mode=new_mode))
    except CompareConfigError as exc:
        raise CompareConfigError(f"rules: {exc}") from None


def in_window(events, window, minutes):
    low, high = slot(window["read_from"], minutes), slot(window["read_to"] - timedelta(seconds=1), minutes)
    return [e for e in events if low <= e["slot"] <= high]


def input_mode(inputs):
    """The new side's mode from its rule's target inputs (JSON text each, None for no input).

    ``shadow`` when any target says shadow or says no mode (the handlers' fail-safe reading),
    ``live`` when all say live, None without a target.
    """
    modes = []
    for text in inputs:
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        modes.append(data.get("mode") if isinstance(data, dict) else None)
    if not modes:
        return None
    return "live" if all(m == "live" for m in modes) else "shadow"


# ----------------------------------------------------------------------------- per-slot output
def jsonable(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def dumps(data):
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True, default=jsonable) + "\n"


def report_name(slot_text):
    return slot_text.replace(":00Z", "Z").replace(":", "-") + ".json"


def slot_reports(result, context):
    """One evidence document per reported slot."""
    documents = {}
    for slot_text, row in result["slots"].items():
        documents[slot_text] = {
            "slot": slot_text, "settle_slots": result["settle_slots"], "summary": row,
            "evidence": [e for e in result["evidence"] if e["slot"] == slot_text],
            "late": [e for e in result["late"] if e["slot"] == slot_text],
            "shadow_leaks": [e for e in result["shadow_leaks"] if e["slot"] == slot_text],
            "evidence_complete": result["evidence_truncated"] == 0, **context,
        }
    return documents


def metric_data(slot_text, row):
    """The DESIGN.md metrics of one slot (and ``shadow_leaks``), timestamped with the slot."""
    stamp = parse_time(slot_text, "slot")
    data = [
        ("discrepancies", row["discrepancies"], "Count"),
        ("match_percentage", row["match_percentage"], "Percent"),
        ("executions_compared", row["executions_compared"], "Count"),
        ("shadow_leaks", row["shadow_leaks"], "Count"),
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


def summary_line(document):
    """The one JSON line a compared slot writes to the comparison's log group (no SMS text)."""
    row = document["summary"]
    return json.dumps({
        "event": "comparison", "slot": document["slot"], "match_percentage": row["match_percentage"],
        "matched": row["matched"], "late": row["late"], "discrepancies": row["discrepancies"],
        "discrepancies_by_kind": {k: v for k, v in row["discrepancies_by_kind"].items() if v},
        "shadow_leaks": row["shadow_leaks"], "executions_compared": row["executions_compared"],
        "sms_sent": {side: row["sms_sent"][side]["total"] for side in ("old", "new")},
        "sms_delivered": row["sms_delivered"], "old_table": document.get("old_table"),
        "new_table": document.get("new_table"), "baseline": document.get("baseline"),
    }, ensure_ascii=False, sort_keys=True, default=jsonable)
