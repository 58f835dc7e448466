"""Monitoring, the pure part: alarm definitions, e-mail checks, the dashboard body, alarm evaluation.

No boto3 and no Ansible here. Used by playbooks/monitoring.yml (through library/cloudwatch_alarm.py
and library/cloudwatch_dashboard.py) and by the rehearsal (rehearsal/alarms.py), which evaluates
the alarms moto only stores.
"""
from __future__ import annotations

import ast
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

# What an SNS e-mail endpoint must look like (SNS itself, and moto, accept anything).
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")

COMPARISONS = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
MISSING = ("breaching", "notBreaching", "ignore", "missing")


def invalid_emails(addresses: Iterable[str]) -> List[str]:
    """The addresses that are not a plain e-mail address (empty list: all fine)."""
    return [a for a in addresses if not isinstance(a, str) or len(a) > 254 or not EMAIL_RE.match(a)]


# ------------------------------------------------------------------ metric math


_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
        ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b}


def expression_ids(expression: str) -> List[str]:
    """The metric ids an arithmetic expression uses, in order; ValueError for anything else."""
    tree = ast.parse(expression, mode="eval")
    names = []
    for node in sorted((n for n in ast.walk(tree) if hasattr(n, "col_offset")), key=lambda n: n.col_offset):
        if isinstance(node, ast.Name):
            names.append(node.id)
    for node in ast.walk(tree):
        allowed = (ast.Name, ast.Expression, ast.BinOp, ast.Constant, ast.Load, ast.UnaryOp, ast.USub) + tuple(_OPS)
        if not isinstance(node, allowed):
            raise ValueError(f"unsupported metric math in {expression!r}: only + - * / of ids and numbers")
    return sorted(set(names), key=names.index)


def evaluate_expression(expression: str, values: Mapping[str, Optional[float]]) -> Optional[float]:
    """Arithmetic over metric ids; None when an operand is missing or a division by zero (no datapoint)."""

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values.get(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = walk(node.operand)
            return None if inner is None else -inner
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
                return None
            return _OPS[type(node.op)](left, right)
        raise ValueError(f"unsupported metric math in {expression!r}")

    return walk(ast.parse(expression, mode="eval"))


def math_metrics(expression: str, function: str, period: int, label: str = "") -> List[dict]:
    """The PutMetricAlarm `Metrics` of an AWS/Lambda ratio such as '100 * errors / invocations'.

    Each id names a Lambda metric (errors -> Errors), summed per period for FunctionName=function.
    """
    ids = expression_ids(expression)
    metrics = [{"Id": "ratio", "Expression": expression, "Label": label or expression, "ReturnData": True}]
    for metric_id in ids:
        metrics.append({
            "Id": metric_id, "ReturnData": False,
            "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": metric_id.capitalize(),
                                      "Dimensions": [{"Name": "FunctionName", "Value": function}]},
                           "Period": int(period), "Stat": "Sum"}})
    return metrics


# ------------------------------------------------------------------ alarm evaluation

Series = Dict[float, float]  # period start (epoch seconds) -> aggregated value


def queries_of(alarm: Mapping) -> List[dict]:
    """What to read for one DescribeAlarms entry: [{id, namespace, metric, dimensions, period, stat}]."""
    if alarm.get("Metrics"):
        out = []
        for metric in alarm["Metrics"]:
            stat = metric.get("MetricStat")
            if stat:
                out.append({"id": metric["Id"], "namespace": stat["Metric"]["Namespace"],
                            "metric": stat["Metric"]["MetricName"],
                            "dimensions": {d["Name"]: d["Value"] for d in stat["Metric"].get("Dimensions", [])},
                            "period": int(stat["Period"]), "stat": stat["Stat"]})
        return out
    return [{"id": "m", "namespace": alarm["Namespace"], "metric": alarm["MetricName"],
             "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
             "period": int(alarm["Period"]), "stat": alarm["Statistic"]}]


def alarm_period(alarm: Mapping) -> int:
    return int(alarm["Period"]) if not alarm.get("Metrics") else min(q["period"] for q in queries_of(alarm))


def alarm_value(alarm: Mapping, series: Mapping[str, Series], start: float) -> Optional[float]:
    """The alarm's value for the period starting at `start` (None: no datapoint)."""
    if alarm.get("Metrics"):
        values = {q["id"]: series.get(q["id"], {}).get(start) for q in queries_of(alarm)}
        returned = [m for m in alarm["Metrics"] if m.get("ReturnData", True) and m.get("Expression")]
        return evaluate_expression(returned[0]["Expression"], values) if returned else None
    return series.get("m", {}).get(start)


def evaluate(alarm: Mapping, series: Mapping[str, Series], at: float,
             current: str = "INSUFFICIENT_DATA") -> Tuple[str, str]:
    """(state, reason) of an alarm evaluated at `at` (epoch seconds), as CloudWatch would.

    The last EvaluationPeriods whole periods before `at` are looked at; DatapointsToAlarm of them
    breaching -> ALARM. Missing datapoints follow TreatMissingData.
    """
    period = alarm_period(alarm)
    count = int(alarm.get("EvaluationPeriods", 1))
    needed = int(alarm.get("DatapointsToAlarm") or count)
    missing = alarm.get("TreatMissingData") or "missing"
    check = COMPARISONS[alarm["ComparisonOperator"]]
    threshold = float(alarm["Threshold"])
    last_end = at - at % period
    breaching = present = 0
    shown = []
    for k in range(count):
        start = last_end - (count - k) * period
        value = alarm_value(alarm, series, start)
        if value is None:
            if missing == "breaching":
                breaching += 1
            elif missing == "notBreaching":
                present += 1
            shown.append("missing")
            continue
        present += 1
        breaching += int(check(value, threshold))
        shown.append(f"{value:g}")
    detail = f"[{', '.join(shown)}] ({alarm['ComparisonOperator']} {threshold:g})"
    if breaching >= needed:
        return "ALARM", f"{breaching} of the last {count} datapoints breaching {detail}"
    if present == 0 and breaching == 0:
        if missing == "ignore":
            return current, f"no data, state kept {detail}"
        return "INSUFFICIENT_DATA", f"no data in the last {count} periods {detail}"
    return "OK", f"{breaching} of the last {count} datapoints breaching, {needed} needed {detail}"


def evaluation_times(alarms: Sequence[Mapping], begin: float, end: float) -> List[float]:
    """Every period boundary in (begin, end] of any alarm: when CloudWatch's answer can change."""
    times = set()
    for alarm in alarms:
        period = alarm_period(alarm)
        t = begin - begin % period + period
        while t <= end:
            times.add(t)
            t += period
    return sorted(times)


# ------------------------------------------------------------------ dashboard


def dashboard_body(names: Mapping) -> dict:
    """The dashboard JSON of the migration, from inventory names only (deterministic).

    names: old_function, new_function, old_table, new_table, namespace, function_namespace,
    region, alarms (list of alarm ARNs), stores (store ids, may be empty), sms_types.
    """
    region = names["region"]
    ns, fns = names["namespace"], names["function_namespace"]
    old, new = names["old_function"], names["new_function"]
    widgets: List[dict] = []

    def add(title: str, metrics: list, stat: str = "Sum", period: int = 1200, view: str = "timeSeries"):
        index = len(widgets)
        widgets.append({"type": "metric", "x": (index % 2) * 12, "y": (index // 2) * 6, "width": 12, "height": 6,
                        "properties": {"title": title, "region": region, "view": view, "stat": stat,
                                       "period": period, "metrics": metrics}})

    add("SMS sent: old vs new", [[ns, "sms_sent_old"], [ns, "sms_sent_new"]])
    add("SMS sent by type", [[ns, f"sms_sent_{side}", "sms_type", t] for side in ("old", "new")
                             for t in names["sms_types"]])
    add("SMS sent by store", [[fns, "sms_sent", "FunctionName", fn, "store_id", s]
                              for fn in (old, new) for s in names["stores"]] or
        [[{"expression": f"SEARCH('{{{fns},FunctionName,store_id}} MetricName=\"sms_sent\"', 'Sum', 1200)",
           "id": "bystore", "label": "by store"}]])
    add("Records created / updated", [[ns, f"records_{what}_{side}"] for what in ("created", "updated")
                                      for side in ("old", "new")])
    add("Telegram summaries sent", [[ns, "telegram_sent_old"], [ns, "telegram_sent_new"]])
    add("Discrepancies and executions compared", [[ns, "discrepancies"], [ns, "executions_compared"]])
    add("Match percentage", [[ns, "match_percentage"]], stat="Minimum")
    add("Invocations and errors", [["AWS/Lambda", m, "FunctionName", fn] for m in ("Invocations", "Errors")
                                   for fn in (old, new)], period=300)
    add("Duration (ms)", [["AWS/Lambda", "Duration", "FunctionName", fn] for fn in (old, new)],
        stat="Maximum", period=300)
    add("DynamoDB consumed capacity", [["AWS/DynamoDB", m, "TableName", t]
                                       for m in ("ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits")
                                       for t in (names["old_table"], names["new_table"])], period=300)
    add("SENS API calls", [[fns, "sens_api_calls", "FunctionName", fn] for fn in (old, new)])
    index = len(widgets)
    widgets.append({"type": "alarm", "x": (index % 2) * 12, "y": (index // 2) * 6, "width": 12, "height": 6,
                    "properties": {"title": "Alarm states", "alarms": sorted(names["alarms"])}})
    return {"start": "-P7D", "periodOverride": "inherit", "widgets": widgets}


# ------------------------------------------------------------------ alarm comparison

ALARM_KEYS = ("AlarmDescription", "ComparisonOperator", "Threshold", "EvaluationPeriods", "DatapointsToAlarm",
              "TreatMissingData", "AlarmActions", "OKActions", "InsufficientDataActions", "Metrics")


def math_alarm(name: str, description: str, expression: str, function: str, period: int, comparison: str,
               threshold: float, evaluation_periods: int, datapoints_to_alarm: int, treat_missing_data: str,
               alarm_actions: Sequence[str], ok_actions: Sequence[str] = ()) -> dict:
    """PutMetricAlarm parameters of a metric-math alarm over an AWS/Lambda ratio; ValueError on bad input."""
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison {comparison!r} is not one of {', '.join(COMPARISONS)}")
    if treat_missing_data not in MISSING:
        raise ValueError(f"treat_missing_data {treat_missing_data!r} is not one of {', '.join(MISSING)}")
    if period < 10 or (period >= 60 and period % 60) or (period < 60 and period not in (10, 30)):
        raise ValueError(f"period {period} s: CloudWatch takes 10, 30 or a multiple of 60")
    if not 1 <= datapoints_to_alarm <= evaluation_periods:
        raise ValueError(f"datapoints_to_alarm {datapoints_to_alarm} must be between 1 and evaluation_periods "
                         f"({evaluation_periods})")
    return {"AlarmName": name, "AlarmDescription": description, "ComparisonOperator": comparison,
            "Threshold": float(threshold), "EvaluationPeriods": int(evaluation_periods),
            "DatapointsToAlarm": int(datapoints_to_alarm), "TreatMissingData": treat_missing_data,
            "AlarmActions": sorted(alarm_actions), "OKActions": sorted(ok_actions), "InsufficientDataActions": [],
            "Metrics": math_metrics(expression, function, period)}


def alarm_as_written(described: Optional[Mapping]) -> dict:
    """A DescribeAlarms entry reduced to what math_alarm() writes (empty when there is none)."""
    if not described:
        return {}
    out = {key: described.get(key) for key in ALARM_KEYS}
    out["AlarmName"] = described["AlarmName"]
    for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        out[key] = sorted(out[key] or [])
    out["Threshold"] = float(out["Threshold"]) if out["Threshold"] is not None else None
    out["TreatMissingData"] = out["TreatMissingData"] or "missing"
    metrics = []
    for metric in out["Metrics"] or []:
        clean = {k: v for k, v in metric.items() if k in ("Id", "Expression", "Label", "ReturnData", "MetricStat")}
        clean.setdefault("ReturnData", True)
        if "MetricStat" in clean:
            stat = clean["MetricStat"]
            clean["MetricStat"] = {"Metric": {"Namespace": stat["Metric"]["Namespace"],
                                              "MetricName": stat["Metric"]["MetricName"],
                                              "Dimensions": list(stat["Metric"].get("Dimensions", []))},
                                   "Period": int(stat["Period"]), "Stat": stat["Stat"]}
        metrics.append(clean)
    out["Metrics"] = metrics
    return out
