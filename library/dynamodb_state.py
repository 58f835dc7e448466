#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: dynamodb_state
short_description: The de-duplication state of the SMS job - backup, restore under a new name, flag-merging reconcile
description:
  - O(action=backup) takes an on-demand backup of O(table) named O(backup_name) and waits until it is
    C(AVAILABLE). A backup of that name that is already there (C(CREATING) or C(AVAILABLE)) is reused and
    waited for, so a rerun makes no write call.
  - O(action=restore) creates O(target_table) from the backup named O(backup_name) of O(table) and waits
    until the table is C(ACTIVE) with its restore finished. It never overwrites - a target table that
    exists is left as it is (reported with C(target_existed=true)).
  - O(action=reconcile) carries the de-duplication state back (rollback) - every item of O(table) (C(sms_v2))
    is merged into O(target_table) (C(sms)) - the SMS flags C(confirm_sms), C(remind_sms), C(option_sms) OR-ed
    (never cleared), missing items created with only the attributes the old function knows, nothing deleted,
    every other attribute of a target item kept. Items already covered are not written, so a rerun writes
    nothing. The tables carry no change timestamp, so every item is compared (the safe default); the writes
    are exactly the items that differ. Both tables are read at once (two scans in parallel); of O(table) only
    the attributes the old function knows are read (a projection), of O(target_table) whole items (they are
    written back whole).
  - Reconcile writes whole merged items with BatchWriteItem (25 per call, unprocessed items retried with
    backoff); it is not conditional, so run it while the old rule is disabled (rollback.yml reconciles before
    it enables the old rule) - a legacy run writing the same item at the same moment could otherwise be
    overwritten by, or overwrite, the merge.
  - O(action=align) (cutover) makes the SMS flags of O(target_table) (C(sms_v2)) exactly those of O(table)
    (C(sms), what customers really got) - flags set where O(table) has them, cleared (C(false)) where only
    O(target_table) has them (its shadow runs' would-be SMS), items of O(table) missing from O(target_table)
    created (attributes the old function knows) when a flag is set; every other attribute is left alone and nothing
    is deleted. Each changed item is one UpdateItem conditional on the flags as read, so a writer that touched it
    since the read (a run of either function) makes the module fail instead of being overwritten. A rerun writes
    nothing. Run it only while both functions are stopped (cutover.yml - right after the switch, before the new
    side's first live run); once the new side has run live, its table holds real sends that O(table) lacks and
    aligning would clear them (SMS sent twice).
  - With O(quiet) and O(switched_at) the alignment must end O(safety_margin) seconds before the quiet window's
    next fire; it stops writing at that deadline and fails saying how many items are left.
  - O(action=compare) reads both tables and lists the bookings whose SMS flags in O(table) disagree with
    O(target_table) (rollback scenario 3 - the report of SMS that may have been missed). It never writes. It reads
    only the keys and the SMS flags of both tables, both at once.
  - Check mode reports what would change (for reconcile, the counts it would write) and calls nothing that
    writes.
author:
  - naver-sms cutover team (@naver-sms-ops)
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [backup, restore, reconcile, compare, align]
  table:
    description:
      - The source table (whose backup is taken or used; for O(action=reconcile), the table read; for
        O(action=align), the table whose flags are the truth).
    type: str
    required: true
  backup_name:
    description:
      - Name of the on-demand backup (letters, digits, C(_ - .), 3 to 255 characters).
      - Required for O(action=backup) and O(action=restore).
    type: str
  target_table:
    description:
      - Table to create from the backup (O(action=restore)), to merge into (O(action=reconcile)), or the
        trusted reference O(table) is compared with (O(action=compare)), or whose flags are made O(table)'s
        (O(action=align)).
    type: str
  wait_timeout:
    description: Seconds to wait for the backup to be available or the restored table to be active.
    type: int
    default: 900
  quiet:
    description:
      - O(action=align) - schedule_switch's C(quiet) result of the switch (C(at), C(next_fire) on the clock it
        used). With O(switched_at), sets the deadline - C(next_fire) minus O(safety_margin), counted in real
        seconds from O(switched_at).
    type: dict
  switched_at:
    description: O(action=align) - UTC wall-clock time of the switch's last write (schedule_switch's C(last_write_at)).
    type: str
  safety_margin:
    description: O(action=align) - seconds before the next fire by which every write must be done (5 to 300).
    type: int
    default: 30
notes:
  - Also retries C(LimitExceededException) (this module's own codes).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Back up sms before the parallel run
  cutover.local.dynamodb_state:
    action: backup
    table: sms
    backup_name: sms-before-parallel-run

- name: Create sms_v2 from that backup unless it exists
  cutover.local.dynamodb_state:
    action: restore
    table: sms
    backup_name: sms-before-parallel-run
    target_table: sms_v2

- name: Carry the flags the new function learned back into sms before the old rule is enabled
  cutover.local.dynamodb_state:
    action: reconcile
    table: sms_v2
    target_table: sms
  register: reconciled

- name: Make the flags of sms_v2 those of sms right after the switch, before the new side's first live run
  cutover.local.dynamodb_state:
    action: align
    table: sms
    target_table: sms_v2
    quiet: "{{ switch.quiet }}"
    switched_at: "{{ switch.last_write_at }}"
  register: aligned
"""

RETURN = r"""
backup_arn:
  description: ARN of the backup (null in check mode before it exists).
  returned: when action is backup or restore
  type: str
backup_status:
  description: C(AVAILABLE) once waited for.
  returned: when action is backup or restore
  type: str
backup_name:
  description: Name of the backup taken or found.
  returned: when action is backup
  type: str
backup_size_bytes:
  description: Size of the backup as DynamoDB reports it (may lag behind the table for a few hours on AWS).
  returned: when action is backup and the backup exists
  type: int
target_table:
  description: The restored (or already existing) table, or the table merged into.
  returned: when action is restore, reconcile or compare
  type: str
target_existed:
  description: The target table was there already and was left untouched.
  returned: when action is restore
  type: bool
target_status:
  description: C(TableStatus) of the target table (C(ACTIVE) once waited for).
  returned: when action is restore and the table exists
  type: str
differences:
  description:
    - O(action=compare) (read-only) - bookings whose SMS flags in O(table) disagree with O(target_table) (the
      trusted reconstruction) - C(booking_num), C(phone), C(no_evidence) (flags set in O(table) only - the SMS
      may have been missed), C(not_in_table) (flags set in O(target_table) only - it may be sent again).
  returned: when action is compare
  type: list
  elements: dict
reconcile:
  description:
    - What the merge found and wrote (in check mode, would write) - C(source_items), C(target_items),
      C(created), C(updated), C(unchanged), C(writes), C(flags_set) (per flag, how many turned true),
      C(batches) (BatchWriteItem calls), C(retried_items) (unprocessed items sent again), C(read_s) and
      C(write_s) (seconds spent reading both tables and writing).
  returned: when action is reconcile
  type: dict
align:
  description:
    - What the alignment found and wrote (in check mode, would write) - C(source_items), C(target_items),
      C(created), C(updated), C(unchanged), C(writes) (UpdateItem calls made or planned), C(written) (made),
      C(set) and C(cleared) (flags turned true and false, in all), C(flags_set) and C(flags_cleared) (per flag),
      C(budget_s) (real seconds the quiet window left at the start, null without O(quiet)), C(read_s), C(write_s).
  returned: when action is align
  type: dict
"""

import re
import time
from datetime import datetime, timezone
from concurrent.futures import ThreadPoolExecutor

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.botocore import paginated_query_with_retries
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.waiter import custom_waiter_config

from ansible.module_utils.cutover.aws import InputError, finish, retry_decorator, scan_items
from ansible.module_utils.cutover.reconcile import (
    FLAGS, KEYS, OLD_ATTRIBUTES, align_budget, differences, key_of, plan, plan_align,
)
from ansible.module_utils.cutover.switch import parse_time

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
POLL_S = 2
BATCH = 25
PAGE = 1000  # items a scan call: short calls (the two scans run at once), a few more of them on AWS
UNPROCESSED_RETRIES = 8
RETRY = retry_decorator(["LimitExceededException"])


class WaitTimeout(Exception):
    """The backup or the restored table did not become ready in time."""


class AlignStopped(Exception):
    """The alignment met a concurrent writer or its deadline; the message says what is left and what to do."""


def validate(params):
    action = params["action"]
    names = ("table",) + (("backup_name",) if action in ("backup", "restore") else ()) + \
        (("target_table",) if action in ("restore", "reconcile", "compare", "align") else ())
    for name in names:
        value = params.get(name)
        if not value:
            raise InputError(f"{name} is required for action={action}")
        if not NAME_RE.match(value):
            raise InputError(f"{name} {value!r} may hold only letters, digits, '_', '-' and '.', 3 to 255 characters")
    if action in ("restore", "reconcile", "compare", "align") and params["target_table"] == params["table"]:
        raise InputError(f"target_table must differ from table: action={action} never works a table onto itself")
    if action == "align":
        if not 5 <= params["safety_margin"] <= 300:
            raise InputError(f"safety_margin={params['safety_margin']} must be 5 to 300 seconds")
        if bool(params["quiet"]) != bool(params["switched_at"]):
            raise InputError("quiet and switched_at go together (schedule_switch's quiet and last_write_at): "
                             "give both for a deadline, or neither")
        if params["quiet"]:
            try:
                align_budget(params["quiet"], parse_time(params["switched_at"]), datetime.now(timezone.utc), 0)
            except ValueError as exc:
                raise InputError(f"quiet/switched_at: {exc}") from None


def describe_table(client, table):
    try:
        return client.describe_table(TableName=table, aws_retry=True)["Table"]
    except is_boto3_error_code("ResourceNotFoundException"):
        return None


def find_backup(client, table, name):
    """The newest usable on-demand backup of ``table`` called ``name``, or None."""
    summaries = paginated_query_with_retries(client, "list_backups", retry_decorator=RETRY, TableName=table,
                                             BackupType="USER").get("BackupSummaries", [])
    found = [b for b in summaries if b.get("BackupName") == name and b.get("BackupStatus") in ("CREATING", "AVAILABLE")]
    found.sort(key=lambda b: str(b.get("BackupCreationDateTime")))
    return found[-1] if found else None


def wait_backup(client, arn, timeout):
    # botocore has no waiter for an on-demand backup: poll DescribeBackup
    deadline = time.monotonic() + timeout
    while True:
        details = client.describe_backup(BackupArn=arn, aws_retry=True)["BackupDescription"]["BackupDetails"]
        if details["BackupStatus"] == "AVAILABLE":
            return details
        if details["BackupStatus"] == "DELETED" or time.monotonic() > deadline:
            raise WaitTimeout(f"backup {arn} is {details['BackupStatus']} after {timeout}s")
        time.sleep(POLL_S)


def wait_table(client, table, timeout):
    """botocore's table_exists waiter: a restored table turns ACTIVE once its restore is done."""
    try:
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig=custom_waiter_config(timeout, POLL_S))
    except botocore.exceptions.WaiterError as exc:
        raise WaitTimeout(f"table {table} is not ACTIVE after {timeout}s ({exc})") from None
    return describe_table(client, table) or {}


def ensure_backup(client, check_mode, table, name, timeout):
    """-> (changed, result): the named backup of ``table``, taken if missing, waited for."""
    if describe_table(client, table) is None:
        raise InputError(f"table {table} does not exist: nothing to back up")
    backup = find_backup(client, table, name)
    if backup is None and check_mode:
        return True, {"backup_arn": None, "backup_status": None, "backup_name": name}
    changed = backup is None
    arn = backup["BackupArn"] if backup else client.create_backup(
        TableName=table, BackupName=name, aws_retry=True)["BackupDetails"]["BackupArn"]
    details = wait_backup(client, arn, timeout)
    return changed, {"backup_arn": arn, "backup_status": details["BackupStatus"], "backup_name": name,
                     "backup_size_bytes": details.get("BackupSizeBytes")}


def ensure_restored(client, check_mode, table, name, target, timeout):
    """-> (changed, result): ``target`` created from the named backup of ``table`` unless it exists."""
    existing = describe_table(client, target)
    if existing is not None:
        return False, {"target_table": target, "target_existed": True, "backup_arn": None,
                       "backup_status": None, "target_status": existing.get("TableStatus")}
    backup = find_backup(client, table, name)
    if backup is None:
        if check_mode:  # the backup task before this one would have created it
            return True, {"target_table": target, "target_existed": False, "backup_arn": None, "backup_status": None}
        raise InputError(f"no backup named {name} of table {table}: take it first (action=backup)")
    if check_mode:
        return True, {"target_table": target, "target_existed": False, "backup_arn": backup["BackupArn"],
                      "backup_status": backup["BackupStatus"]}
    wait_backup(client, backup["BackupArn"], timeout)
    client.restore_table_from_backup(TargetTableName=target, BackupArn=backup["BackupArn"], aws_retry=True)
    description = wait_table(client, target, timeout)
    return True, {"target_table": target, "target_existed": False, "backup_arn": backup["BackupArn"],
                  "backup_status": "AVAILABLE", "target_status": description["TableStatus"]}


def scan_all(client, table, attributes=None):
    # Pages of PAGE items keep every call short while the other scan runs too (a loaded emulator answered a
    # whole 1 MB page of each table at once after > 60 s); each page retried on its own (cutover.aws.scan_items)
    return scan_items(client, table, attributes=attributes, consistent=True, page=PAGE)


def scan_both(client, first, second):
    """Two scans at once: ``first`` and ``second`` are (table, attributes or None); -> (items, items)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        reads = [pool.submit(scan_all, client, table, attributes) for table, attributes in (first, second)]
        return reads[0].result(), reads[1].result()


def batch_write(client, table, items, tally):
    """BatchWriteItem in chunks of 25; unprocessed items are sent again with backoff."""
    for i in range(0, len(items), BATCH):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[i:i + BATCH]]}
        for attempt in range(UNPROCESSED_RETRIES + 1):
            tally["batches"] += 1
            left = client.batch_write_item(RequestItems=request, aws_retry=True).get("UnprocessedItems") or {}
            if not left:
                break
            tally["retried_items"] += len(left.get(table, []))
            if attempt == UNPROCESSED_RETRIES:
                raise WaitTimeout(f"{len(left.get(table, []))} item(s) of {table} still unprocessed after "
                                  f"{UNPROCESSED_RETRIES} retries (throttled?): rerun reconcile, it writes only "
                                  "what is still missing")
            time.sleep(min(0.05 * 2 ** attempt, 5))
            request = left


def ensure_reconciled(client, check_mode, source, target):
    """-> (changed, result): flags of ``source`` OR-ed into ``target`` (module_utils/cutover/reconcile.py)."""
    for name in (source, target):
        if describe_table(client, name) is None:
            raise InputError(f"table {name} does not exist: reconcile reads {source} and merges into {target}")
    started = time.monotonic()
    # whole target items (written back whole); of the source only what the merge can carry
    target_items, source_items = scan_both(client, (target, None), (source, OLD_ATTRIBUTES))
    targets = {key_of(item): item for item in target_items}
    puts, tally = plan(source_items, targets)
    summary = dict(tally.as_dict(), target_items=len(targets), batches=0, retried_items=0,
                   read_s=round(time.monotonic() - started, 2), write_s=0.0)
    if puts and not check_mode:
        started = time.monotonic()
        batch_write(client, target, puts, summary)
        summary["write_s"] = round(time.monotonic() - started, 2)
    return bool(puts), {"target_table": target, "reconcile": summary}


def update_conditional(client, table, write):
    """One UpdateItem: SET the changed flags, on condition that they still hold what was read."""
    names, values, sets, conditions = {}, {}, [], []
    for i, (name, value) in enumerate(sorted(write.values.items())):
        names[f"#s{i}"], values[f":s{i}"] = name, value
        sets.append(f"#s{i} = :s{i}")
    if write.created:
        names["#k"] = KEYS[0]
        conditions.append("attribute_not_exists(#k)")
    for i, (name, seen) in enumerate(sorted(write.expected.items())):
        names[f"#e{i}"] = name
        if seen is None:
            conditions.append(f"attribute_not_exists(#e{i})")
        else:
            values[f":e{i}"] = seen
            conditions.append(f"#e{i} = :e{i}")
    client.update_item(TableName=table, Key={k: {"S": v} for k, v in zip(KEYS, write.key)},
                       UpdateExpression="SET " + ", ".join(sets), ConditionExpression=" AND ".join(conditions),
                       ExpressionAttributeNames=names, ExpressionAttributeValues=values, aws_retry=True)


def ensure_aligned(client, check_mode, source, target, quiet=None, switched_at=None, safety=30):
    """-> (changed, result): the SMS flags of ``target`` made those of ``source`` (reconcile.plan_align)."""
    for name in (source, target):
        if describe_table(client, name) is None:
            raise InputError(f"table {name} does not exist: align reads {source} and {target}")
    started = time.monotonic()
    budget = None
    if quiet and not check_mode:
        budget = align_budget(quiet, parse_time(switched_at), datetime.now(timezone.utc), safety)
    flags = KEYS + FLAGS
    source_items, target_items = scan_both(client, (source, OLD_ATTRIBUTES), (target, flags))
    writes, tally = plan_align(source_items, target_items)
    summary = dict(tally.as_dict(), written=0, budget_s=None if budget is None else round(budget, 1),
                   read_s=round(time.monotonic() - started, 2), write_s=0.0)
    if not writes or check_mode:
        return bool(writes), {"target_table": target, "align": summary}
    deadline = None if budget is None else started + budget
    writing = time.monotonic()
    for write in writes:
        left = len(writes) - summary["written"]
        if deadline is not None and time.monotonic() >= deadline:
            raise AlignStopped(
                f"the quiet window is closing ({quiet.get('next_fire')} minus {safety} s): {summary['written']} of "
                f"{len(writes)} item(s) of {target} aligned, {left} not (first: {'/'.join(write.key)}); the new "
                f"side's next run may miss or repeat the SMS of those bookings")
        try:
            update_conditional(client, target, write)
        except is_boto3_error_code("ConditionalCheckFailedException"):
            raise AlignStopped(
                f"item {'/'.join(write.key)} of {target} changed after it was read: something is writing {target} "
                f"(a run of the new function?); {summary['written']} of {len(writes)} item(s) aligned, {left} not")
        summary["written"] += 1
    summary["write_s"] = round(time.monotonic() - writing, 2)
    return True, {"target_table": target, "align": summary}


def compare_tables(client, table, reference):
    """-> (False, result): read-only; the flags of ``table`` against the trusted ``reference``."""
    for name in (table, reference):
        if describe_table(client, name) is None:
            raise InputError(f"table {name} does not exist: compare reads {table} and {reference}")
    flags = KEYS + FLAGS
    table_items, reference_items = scan_both(client, (table, flags), (reference, flags))
    return False, {"target_table": reference, "differences": differences(table_items, reference_items)}


def main():
    argument_spec = dict(
        action=dict(type="str", required=True, choices=["backup", "restore", "reconcile", "compare", "align"]),
        table=dict(type="str", required=True),
        backup_name=dict(type="str"),
        target_table=dict(type="str"),
        wait_timeout=dict(type="int", default=900),
        quiet=dict(type="dict"),
        switched_at=dict(type="str"),
        safety_margin=dict(type="int", default=30),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              required_if=[("action", "backup", ["backup_name"]),
                                           ("action", "restore", ["backup_name", "target_table"]),
                                           ("action", "reconcile", ["target_table"]),
                                           ("action", "compare", ["target_table"]),
                                           ("action", "align", ["target_table"])])
    params = module.params
    finish(module, lambda: apply(module, params), f"DynamoDB {params['action']} of table {params['table']} failed",
           refusals=(WaitTimeout, AlignStopped))


def apply(module, params):
    """Validate everything, then do the action; the result carries the diff when --diff asks for it."""
    validate(params)
    client = module.client("dynamodb", retry_decorator=RETRY)
    if params["action"] == "backup":
        changed, result = ensure_backup(client, module.check_mode, params["table"], params["backup_name"],
                                        params["wait_timeout"])
        before, after = {"backup": None}, {"backup": params["backup_name"]}
    elif params["action"] == "compare":
        changed, result = compare_tables(client, params["table"], params["target_table"])
        before = after = {}
    elif params["action"] == "align":
        changed, result = ensure_aligned(client, module.check_mode, params["table"], params["target_table"],
                                         params["quiet"], params["switched_at"], params["safety_margin"])
        before = {"table": params["target_table"], "set": 0, "cleared": 0, "created": 0}
        after = dict({k: result["align"][k] for k in ("set", "cleared", "created")}, table=params["target_table"])
    elif params["action"] == "reconcile":
        changed, result = ensure_reconciled(client, module.check_mode, params["table"], params["target_table"])
        counts = {k: result["reconcile"][k] for k in ("created", "updated")}
        before, after = {"table": params["target_table"], "created": 0, "updated": 0}, \
            dict(counts, table=params["target_table"])
    else:
        changed, result = ensure_restored(client, module.check_mode, params["table"], params["backup_name"],
                                          params["target_table"], params["wait_timeout"])
        before, after = {"table": None}, {"table": params["target_table"], "from_backup": params["backup_name"]}
    if module._diff:
        result["diff"] = {"before": before, "after": after} if changed else {"before": {}, "after": {}}
    return dict(result, changed=changed)


if __name__ == "__main__":
    main()
