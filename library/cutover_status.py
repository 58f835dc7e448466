#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: cutover_status
short_description: Where the migration stands - phase, comparison figures, alarms, lock, next step - as text and a page
author:
  - naver-sms cutover team (@naver-sms-ops)
description:
  - Reads the comparison metrics of the parallel window (one batched C(GetMetricData)), the alarms of the migration
    (C(DescribeAlarms)) and the evidence of the latest slots with discrepancies (state bucket), and combines them with
    what the ledger says (O(ledger), the result of C(cutover_ledger action=read)).
  - The rules (phase from the ledger's run events, next step and its exact command) are in
    C(module_utils/cutover/status.py); the rendering (console text, one self-contained HTML page with charts) in
    C(module_utils/cutover/status_page.py).
  - Writes the page to O(html_path) and, with O(bucket), to C(status/<account>/<region>/status.html) in the state
    bucket (conditional write on the version read). Nothing else is written; check mode writes nothing.
options:
  ledger:
    description: The result of C(cutover_ledger action=read) (C(lock), C(events), C(decisions)).
    type: dict
    required: true
  environment:
    description: The inventory's environment (C(cutover_environment)).
    type: str
    required: true
    choices: [test, production]
  account_id:
    description: The inventory's account (C(cutover_account_id)); the state bucket must belong to it.
    type: str
    required: true
  ticket:
    description: The change ticket put into the commands of the next step.
    type: str
    default: ""
  namespace:
    description: Namespace of the comparison metrics (C(cutover_metric_namespace)).
    type: str
    default: naver-sms/comparison
  alarms:
    description: Names of the migration's alarms; those in state C(ALARM) are listed as open.
    type: list
    elements: str
    default: []
  window_days:
    description: Days of the parallel window (executions required = days x 72).
    type: float
    default: 7
  as_of:
    description: The moment of the status (ISO); default now. The rehearsal passes its simulated clock.
    type: str
  bucket:
    description: The state bucket (C(cutover_state_bucket)) - evidence is read from it and the page written to it.
    type: str
  html_path:
    description: Local copy of the page (C(reports/<environment>/status.html)); none when omitted.
    type: path
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Read the ledger
  cutover.local.cutover_ledger:
    table: naver-sms-cutover-ledger
    action: read
    limit: 500
  register: ledger

- name: Work out where the migration stands
  cutover.local.cutover_status:
    ledger: "{{ ledger }}"
    environment: production
    account_id: "210987654321"
    ticket: CHG0012345
    alarms: [naver-sms-discrepancies, naver-sms-v2-errors]
    bucket: naver-sms-cutover-state-210987654321
    html_path: reports/production/status.html
  register: status

- name: Show it
  ansible.builtin.debug:
    msg: "{{ status.text }}"
"""

RETURN = r"""
status:
  description: The facts of the page (C(module_utils/cutover/status_page.py) shape) - phase, executions, slots,
    discrepancies, open alarms, last decision, lock, next step with its command, cutover and rollback moments.
  returned: always
  type: dict
  sample: {"phase": {"name": "parallel", "day": 3}, "executions": {"compared": 150, "required": 504},
           "next_step": {"text": "keep comparing", "command": "ansible-playbook -i inventories/test playbooks/compare.yml"}}
text:
  description: The console rendering, one fact per line, the command of the next step last.
  returned: always
  type: str
html_path:
  description: Where the local copy of the page is (none without O(html_path)).
  returned: always
  type: str
url:
  description: The page in the state bucket (none without O(bucket)).
  returned: always
  type: str
calls:
  description: AWS read calls made per API (GetMetricData is batched).
  returned: always
  type: dict
  sample: {"GetMetricData": 1, "DescribeAlarms": 1, "GetObject": 2}
"""

import json
import os
from datetime import datetime, timedelta, timezone

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover import status as rules
from ansible.module_utils.cutover import status_page
from ansible.module_utils.cutover.aws import InputError, finish, get_metric_data, metric_query, retry_decorator
from ansible.module_utils.cutover.state_store import StateError, StateStore

SERIES = (("executions_compared", "Sum"), ("match_percentage", "Minimum"), ("discrepancies", "Sum"))
EVIDENCE_SLOTS = 5


def evidence_name(slot):
    """The comparison's evidence object of a slot (output_compare: 2026-11-26T04-20Z.json)."""
    return slot.replace(":00Z", "Z").replace(":", "-") + ".json"


def read_series(cloudwatch, namespace, start, end, calls):
    queries = [metric_query(name, namespace, name, stat, rules.SLOT_SECONDS) for name, stat in SERIES]
    points = get_metric_data(cloudwatch, queries, start, end, calls)
    return {name: {rules.iso(stamp): value for stamp, value in values} for name, values in points.items()}


def read_alarms(cloudwatch, names, calls):
    alarms = []
    paginator = cloudwatch.get_paginator("describe_alarms")
    for index in range(0, len(names), 100):
        for page in paginator.paginate(AlarmNames=names[index:index + 100], AlarmTypes=["MetricAlarm"]):
            calls["DescribeAlarms"] = calls.get("DescribeAlarms", 0) + 1
            for alarm in page.get("MetricAlarms", []):
                stamp = alarm.get("StateUpdatedTimestamp")
                alarms.append(dict(alarm, StateUpdatedTimestamp=rules.iso(stamp) if stamp else None))
    return alarms


def read_evidence(store, slots, calls):
    documents = []
    for row in [r for r in slots if r["discrepancies"]][-EVIDENCE_SLOTS:]:
        text, _etag = store.get(store.key("comparison", "evidence", evidence_name(row["slot"])))
        calls["GetObject"] = calls.get("GetObject", 0) + 1
        if text:
            documents.append(json.loads(text))
    return documents


def read_local(path):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def write_local(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def run(module, cloudwatch, s3):
    params = module.params
    now = datetime.now(timezone.utc).replace(microsecond=0)
    if params["as_of"]:
        try:
            now = datetime.fromisoformat(params["as_of"].replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"as_of: {params['as_of']!r} is not an ISO 8601 time, e.g. 2026-11-26T04:20:00Z") from None
        now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    if params["window_days"] <= 0:
        raise InputError(f"window_days must be more than 0, got {params['window_days']}")
    if not isinstance(params["ledger"].get("events", []), list):
        raise InputError("ledger: expected the result of cutover_ledger action=read (lock, events, decisions)")
    calls = {}
    store = StateStore(s3, params["bucket"], params["account_id"], module.region) if params["bucket"] else None
    series = read_series(cloudwatch, params["namespace"], now - timedelta(days=params["window_days"]), now, calls)
    alarms = read_alarms(cloudwatch, params["alarms"], calls) if params["alarms"] else []
    evidence = read_evidence(store, rules.slots_from_metrics(series), calls) if store else []
    facts = rules.gather(environment=params["environment"], account_id=params["account_id"], ledger=params["ledger"],
                         series=series, alarms=alarms, evidence=evidence, now=now,
                         window_days=params["window_days"], ticket=params["ticket"])
    text, page = status_page.render_text(facts), status_page.render_html(facts)
    changed, url = False, ""
    if params["html_path"] and read_local(params["html_path"]) != page:
        changed = True
        if not module.check_mode:
            write_local(params["html_path"], page)
    if store:
        key = store.key("status", "status.html")
        url = store.url(key)
        stored, etag = store.get(key)
        calls["GetObject"] = calls.get("GetObject", 0) + 1
        if stored != page:
            changed = True
            if not module.check_mode:
                store.put(key, page, etag, "text/html; charset=utf-8")
    return {"changed": changed, "status": facts, "text": text, "html_path": params["html_path"] or "", "url": url,
            "calls": calls}


def status(module, cloudwatch, s3):
    """``run`` with the state bucket's and the page's refusals as input errors (clear message, no traceback)."""
    try:
        return run(module, cloudwatch, s3)
    except StateError as exc:  # a missing bucket, or a page another controller wrote meanwhile
        raise InputError(str(exc)) from None
    except status_page.StatusError as exc:
        raise InputError(f"the status facts are not what the page expects: {exc}") from None


def main():
    argument_spec = dict(
        ledger=dict(type="dict", required=True),
        environment=dict(type="str", required=True, choices=["test", "production"]),
        account_id=dict(type="str", required=True),
        ticket=dict(type="str", default=""),
        namespace=dict(type="str", default="naver-sms/comparison"),
        alarms=dict(type="list", elements="str", default=[]),
        window_days=dict(type="float", default=7),
        as_of=dict(type="str"),
        bucket=dict(type="str"),
        html_path=dict(type="path"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    retry = retry_decorator()
    cloudwatch = module.client("cloudwatch", retry_decorator=retry)
    s3 = module.client("s3", retry_decorator=retry)
    finish(module, lambda: status(module, cloudwatch, s3), "reading the migration's status failed")


if __name__ == "__main__":
    main()
