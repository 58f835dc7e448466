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
    (summary and capped mismatches); a failed publish leaves the evidence unwritten, so the next run
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
  - With O(log_group), each published slot also writes one JSON summary line (match percentage, counts
    by kind, shadow leaks; no SMS text) to that CloudWatch log group (created when missing).
  - Shadow leaks - when the new side's input mode is C(shadow) (O(new_mode), or read from the targets of
    O(new_rule)), every SMS the new function logged as delivered is a C(shadow_leak) discrepancy of its slot,
    never a match, published as metric C(shadow_leaks) and listed in RV(shadow_leaks). The slot that just ran
    (RV(observed_slot)) is looked at for such SMS too (RV(observed_shadow_leaks)), so a leak can be stopped before
    the next slot fires.
  - A baseline run (O(baseline=true) and no snapshot yet) publishes nothing; it only writes the snapshots.
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
  log_group:
    description: CloudWatch log group that gets one JSON summary line per published slot; none when omitted.
    type: str
  new_rule:
    description:
      - EventBridge rule of the new function; the input of its targets tells the new side's mode (C(shadow) when
        any target says shadow or gives no mode, C(live) when all say live).
      - The mode is read when the run starts and applies to every slot it reports.
    type: str
  new_mode:
    description:
      - The new side's input mode for the reported slots; overrides what O(new_rule) says (a re-check of past
        slots). Without O(new_mode) and O(new_rule) no shadow leak is looked for (the run warns).
    type: str
    choices: [shadow, live]
author:
  - naver-sms cutover team (@naver-sms-ops)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Compare the last finished slot
  cutover.local.output_compare:
    old_table: sms
    new_table: sms_v2
    old_log_group: /aws/lambda/naverplace_send_inform
    new_log_group: /aws/lambda/naverplace_send_inform_v2
    state_bucket: naver-sms-cutover-state-654654307503
    account_id: "654654307503"
    new_rule: naver-sms-automation-v2-trigger
    log_group: /naver-sms/comparison
    report_dir: "{{ playbook_dir }}/../reports/production/comparison"

- name: Re-check one day
  cutover.local.output_compare:
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
  sample: "2026-11-26T04:00:00Z"
end:
  description: Last reported slot.
  returned: always
  type: str
  sample: "2026-11-26T04:00:00Z"
observed_slot:
  description: The latest slot that had run when the tables were read (records changed since the previous run belong to it).
  returned: always
  type: str
baseline:
  description: True when no snapshot existed, so this run only took the baseline of the tables and published nothing.
  returned: always
  type: bool
settle_slots:
  description: The settle window used - a difference resolved by the other side within this many slots is late.
  returned: always
  type: int
new_mode:
  description: The new side's input mode the run judged shadow leaks by (V(shadow), V(live)); null when unknown.
  returned: always
  type: str
slots:
  description:
    - Per slot - counts by side and SMS type (C(sms_sent), C(sms_delivered)), C(telegram_sent), C(telegram_delivered),
      C(records_created), C(records_updated), C(matched), C(late), C(discrepancies), C(discrepancies_by_kind)
      (including C(shadow_leak)), C(shadow_leaks), C(match_percentage), C(executions_compared).
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
  elements: dict
evidence_truncated:
  description: Mismatches left out of RV(evidence) by O(evidence_cap) (counts are never capped).
  returned: always
  type: int
late:
  description: Capped list of units the other side settled within the settle window (slot, unit, key, slots of each side).
  returned: always
  type: list
  elements: dict
late_truncated:
  description: Late units left out of RV(late) by O(evidence_cap).
  returned: always
  type: int
shadow_leaks:
  description:
    - SMS the new function delivered while its input said shadow, one entry each - C(slot), C(booking_num),
      C(sms_type) and C(phone) masked (C(010****5678)); no message text. Empty unless the mode is C(shadow).
  returned: always
  type: list
  elements: dict
  sample: [{"slot": "2026-11-26T04:00:00Z", "booking_num": "1051_77", "sms_type": "confirm", "phone": "010****5678"}]
observed_shadow_leaks:
  description:
    - The leak look at the slot that just ran (RV(observed_slot)), when it is not one of the reported slots - the same
      entries as RV(shadow_leaks), from the new side's logs of that slot alone (read in the same log read; no table is
      read again, nothing of it is published - the slot is compared once it settled). Empty otherwise, or unless the
      mode is C(shadow).
  returned: always
  type: list
  elements: dict
timings:
  description: Seconds spent scanning, tagging records, reading logs, comparing, writing and publishing.
  returned: always
  type: dict
published:
  description: Slots whose metrics (and summary line) were published by this run (would be, in check mode).
  returned: always
  type: list
  elements: str
report_files:
  description: Local convenience copies of the evidence written by this run.
  returned: always
  type: list
  elements: str
evidence_objects:
  description: State bucket URLs of the evidence of every reported slot (none on a baseline run).
  returned: always
  type: list
  elements: str
written:
  description: State bucket URLs written by this run (or that would be, in check mode) - evidence and snapshots.
  returned: always
  type: list
  elements: str
records_checked:
  description: Table items read and checked against the previous snapshot (0 on a baseline run - no record compared).
  returned: always
  type: int
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover.aws import finish, retry_decorator
from ansible.module_utils.cutover.compare_aws import run_comparison
from ansible.module_utils.cutover.state_store import StateError, StateStore


def run(module, clients, store):
    """Validate, read, compare and publish; warnings go to the module, the result is returned."""
    try:
        store.require()
        result = run_comparison(module.params, module.check_mode, clients, store)
    except StateError as exc:
        module.fail_json(msg=str(exc))
    for warning in result.pop("warnings"):
        module.warn(warning)
    return result


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
        log_group=dict(type="str"),
        new_rule=dict(type="str"),
        new_mode=dict(type="str", choices=["shadow", "live"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    retry = retry_decorator()
    clients = {name: module.client(name, retry_decorator=retry) for name in ("dynamodb", "logs", "cloudwatch", "events")}
    store = StateStore(module.client("s3", retry_decorator=retry), module.params["state_bucket"],
                       module.params["account_id"], module.region)
    finish(module, lambda: run(module, clients, store), "reading or publishing the comparison failed")


if __name__ == "__main__":
    main()
