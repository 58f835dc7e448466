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
    choices: [backup, restore, reconcile, compare]
  table:
    description: The source table (whose backup is taken or used; for O(action=reconcile), the table read).
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
        trusted reference O(table) is compared with (O(action=compare)).
    type: str
  wait_timeout:
    description: Seconds to wait for the backup to be available or the restored table to be active.
    type: int
    default: 900
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
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
"""

import re
import time
from concurrent.futures import ThreadPoolExecutor

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.botocore import paginated_query_with_retries
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.waiter import custom_waiter_config

from ansible.module_utils.cutover.aws import InputError, finish, retry_decorator
from ansible.module_utils.cutover.reconcile import FLAGS, KEYS, OLD_ATTRIBUTES, differences, key_of, plan

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
POLL_S = 2
BATCH = 25
PAGE = 1000  # items a scan call: short calls (the two scans run at once), a few more of them on AWS
UNPROCESSED_RETRIES = 8
RETRY = retry_decorator(["LimitExceededException"])


class WaitTimeout(Exception):
    """The backup or the restored table did not become ready in time."""


def validate(params):
    action = params["action"]
    names = ("table",) + (("backup_name",) if action in ("backup", "restore") else ()) + \
        (("target_table",) if action in ("restore", "reconcile", "compare") else ())
    for name in names:
        value = params.get(name)
        if not value:
            raise InputError(f"{name} is required for action={action}")
        if not NAME_RE.match(value):
            raise InputError(f"{name} {value!r} may hold only letters, digits, '_', '-' and '.', 3 to 255 characters")
    if action in ("restore", "reconcile", "compare") and params["target_table"] == params["table"]:
        raise InputError(f"target_table must differ from table: action={action} never works a table onto itself")


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
    # one paginated scan, retried as a whole: fine for the SMS tables (tens of thousands of items, a few dozen
    # pages); a table of millions would want per-page retries. ``attributes``: read only these
    # (placeholders: ``name`` is a DynamoDB reserved word). Pages of PAGE items keep every call short while the
    # other scan runs too (a loaded emulator answered a whole 1 MB page of each table at once after > 60 s)
    projection = {} if not attributes else {
        "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(attributes))),
        "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(attributes)}}
    return paginated_query_with_retries(client, "scan", retry_decorator=RETRY, TableName=table,
                                        ConsistentRead=True, Limit=PAGE, **projection).get("Items", [])


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
        action=dict(type="str", required=True, choices=["backup", "restore", "reconcile", "compare"]),
        table=dict(type="str", required=True),
        backup_name=dict(type="str"),
        target_table=dict(type="str"),
        wait_timeout=dict(type="int", default=900),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              required_if=[("action", "backup", ["backup_name"]),
                                           ("action", "restore", ["backup_name", "target_table"]),
                                           ("action", "reconcile", ["target_table"]),
                                           ("action", "compare", ["target_table"])])
    params = module.params
    finish(module, lambda: apply(module, params), f"DynamoDB {params['action']} of table {params['table']} failed",
           refusals=(WaitTimeout,))


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
