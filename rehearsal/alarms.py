"""The rehearsal's CloudWatch: evaluate the alarms moto only stores, on the simulated clock.

After every scheduler step (rehearsal/scheduler.py) the evaluator reads the metrics of every
alarm in the emulator (one GetMetricData per step), evaluates each alarm at every period
boundary of the step as CloudWatch would (module_utils/cutover/monitoring.py ``evaluate``),
and on a change of state:

- sets it with SetAlarmState (reason stamped with the simulated time),
- delivers the alarm's actions like SNS: each subscription of each action topic gets the
  CloudWatch alarm message; http(s) endpoints (loopback only: the notify recorder) by POST,
  e-mail endpoints as one line in ``email.jsonl``,
- appends the transition to ``alarms.jsonl`` (``$CUTOVER_STATE_DIR/rehearsal/``).

With no alarm in the emulator it does nothing (one DescribeAlarms per run).
"""
from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timezone
from typing import Dict, List

from module_utils.cutover.monitoring import evaluate, evaluation_times, queries_of
from rehearsal.emulator import require_loopback
from rehearsal.recorders import JsonLines

UTC = timezone.utc
ALIGN_S = 3600  # GetMetricData buckets from StartTime: align it to every alarm period used


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AlarmEvaluator:
    def __init__(self, client, directory, region: str, account_id: str):
        self.client = client  # service -> boto3 client (the scheduler's)
        self.region, self.account_id = region, account_id
        self.transitions = JsonLines(directory / "alarms.jsonl")
        self.email = JsonLines(directory / "email.jsonl")
        cloudwatch = client("cloudwatch")
        self.alarms: List[dict] = []
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
            self.alarms.extend(page.get("MetricAlarms", []))
        self.state: Dict[str, str] = {a["AlarmName"]: a.get("StateValue", "INSUFFICIENT_DATA") for a in self.alarms}

    def after_step(self, begin: datetime, end: datetime, outputs) -> List[dict]:
        """Evaluate every alarm over (begin, end]; returns the transitions made."""
        if not self.alarms:
            return []
        cloudwatch = self.client("cloudwatch")
        if outputs.metrics:  # what the step's runs published, as the real functions would have by now
            for i in range(0, len(outputs.metrics), 1000):
                cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=outputs.metrics[i:i + 1000])
            outputs.metrics.clear()
        series = self._series(begin.timestamp(), end.timestamp())
        made = []
        for at in evaluation_times(self.alarms, begin.timestamp(), end.timestamp()):
            for alarm in self.alarms:
                name = alarm["AlarmName"]
                state, reason = evaluate(alarm, series[name], at, self.state[name])
                if state != self.state[name]:
                    made.append(self._transition(alarm, self.state[name], state, reason, at))
                    self.state[name] = state
        return made

    def _series(self, begin: float, end: float) -> Dict[str, Dict[str, Dict[float, float]]]:
        window = max(int(q["period"]) * int(a.get("EvaluationPeriods", 1))
                     for a in self.alarms for q in queries_of(a))
        start = begin - window
        start -= start % ALIGN_S
        queries, owners = [], {}
        for index, alarm in enumerate(self.alarms):
            for q in queries_of(alarm):
                qid = f"a{index}_{q['id']}"
                owners[qid] = (alarm["AlarmName"], q["id"])
                queries.append({"Id": qid, "ReturnData": True, "MetricStat": {
                    "Metric": {"Namespace": q["namespace"], "MetricName": q["metric"],
                               "Dimensions": [{"Name": k, "Value": v} for k, v in q["dimensions"].items()]},
                    "Period": q["period"], "Stat": q["stat"]}})
        series: Dict[str, Dict[str, Dict[float, float]]] = {a["AlarmName"]: {} for a in self.alarms}
        cloudwatch = self.client("cloudwatch")
        for i in range(0, len(queries), 500):
            kwargs = {"MetricDataQueries": queries[i:i + 500], "StartTime": datetime.fromtimestamp(start, UTC),
                      "EndTime": datetime.fromtimestamp(end, UTC)}
            while True:
                resp = cloudwatch.get_metric_data(**kwargs)
                for result in resp.get("MetricDataResults", []):
                    name, qid = owners[result["Id"]]
                    points = series[name].setdefault(qid, {})
                    for stamp, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                        points[stamp.timestamp()] = value
                if not resp.get("NextToken"):
                    break
                kwargs["NextToken"] = resp["NextToken"]
        return series

    def _transition(self, alarm: dict, old: str, new: str, reason: str, at: float) -> dict:
        name = alarm["AlarmName"]
        stamp = _iso(at)
        text = f"{reason} at {stamp} (simulated clock)"
        self.client("cloudwatch").set_alarm_state(
            AlarmName=name, StateValue=new, StateReason=text[:1023],
            StateReasonData=json.dumps({"simulated_time": stamp}))
        message = {"AlarmName": name, "AlarmDescription": alarm.get("AlarmDescription", ""),
                   "AWSAccountId": self.account_id, "Region": self.region, "NewStateValue": new,
                   "NewStateReason": text, "StateChangeTime": stamp, "OldStateValue": old,
                   "AlarmArn": alarm.get("AlarmArn")}
        actions = {"ALARM": alarm.get("AlarmActions", []), "OK": alarm.get("OKActions", []),
                   "INSUFFICIENT_DATA": alarm.get("InsufficientDataActions", [])}[new]
        delivered = [self._deliver(topic, message) for topic in actions]
        record = {"alarm": name, "from": old, "to": new, "at": stamp, "reason": reason,
                  "actions": list(actions), "delivered": sum(delivered, [])}
        self.transitions.extend([record])
        return record

    def _deliver(self, topic_arn: str, message: dict) -> List[str]:
        """SNS publish of one alarm message to every subscriber of topic_arn; returns the endpoints reached."""
        sns = self.client("sns")
        subject = f'{message["NewStateValue"]}: "{message["AlarmName"]}" in {self.region}'
        envelope = {"Type": "Notification", "TopicArn": topic_arn, "Subject": subject,
                    "Message": json.dumps(message, ensure_ascii=False), "Timestamp": message["StateChangeTime"]}
        reached, token = [], None
        while True:
            resp = sns.list_subscriptions_by_topic(TopicArn=topic_arn, **({"NextToken": token} if token else {}))
            for sub in resp.get("Subscriptions", []):
                protocol, endpoint = sub["Protocol"], sub["Endpoint"]
                if protocol in ("http", "https"):
                    require_loopback(endpoint)
                    request = urllib.request.Request(endpoint, data=json.dumps(envelope).encode(), method="POST",
                                                     headers={"Content-Type": "application/json",
                                                              "x-amz-sns-message-type": "Notification"})
                    try:
                        with urllib.request.urlopen(request, timeout=5):
                            pass
                    except OSError:  # SNS retries, then drops; the rehearsal records the miss
                        reached.append(f"{protocol}:{topic_arn.rsplit(':', 1)[-1]}:undelivered")
                        continue
                elif protocol == "email":
                    self.email.extend([{"to": endpoint, "subject": subject, "topic": topic_arn, "message": message}])
                else:
                    continue
                reached.append(f"{protocol}:{topic_arn.rsplit(':', 1)[-1]}")
            token = resp.get("NextToken")
            if not token:
                return reached
