#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: schedule_switch
short_description: Make the old or the new function the live side, in order, inside a quiet window
description:
  - >-
    Reads the old rule (production's legacy trigger) and the new rule with its target O(new_target_arn),
    computes which side is live and does nothing when O(live) already is (no write call).
  - >-
    O(live=new) (cutover) disables the old rule, then sets the new target's constant input to
    C({"mode": "live"}) (the same rule and target, every other field of the target kept; the rule is also
    enabled if it was disabled). O(live=old) (rollback) first stops the new side - input back to
    C({"mode": "shadow"}) (O(after_rollback=shadow)) or rule disabled and input back to shadow
    (O(after_rollback=disabled)) - then enables the old rule. Both sides are never live at once.
  - >-
    If a later write fails, the earlier ones are undone and the module fails naming the state it left.
  - >-
    Quiet window - it switches only when the next fire time of either rule is at least O(margin) away,
    the last one at least 60 s ago, and no invocation of either function is in flight (a
    C(START RequestId) line without its C(END RequestId) in the function's CloudWatch Logs group over
    the last 16 minutes). Otherwise it waits, up to O(max_wait), and then fails saying when the window
    opens.
  - >-
    The old rule is never created and its target never changed; a missing rule is an error. Both rules
    must use a C(cron(...)) schedule (a rate rule's phase is undefined).
  - >-
    Time is injectable - with O(clock) the present is read from a JSON file (the rehearsal's
    C(clock.json)) instead of the system clock, and waiting re-reads that file every O(poll_interval)
    real seconds instead of sleeping through the simulated minutes.
  - >-
    Check mode reports the writes it would make and whether it is quiet now, without waiting.
author:
  - naver-sms cutover team (@naver-sms-ops)
options:
  live:
    description: The side that must be live.
    type: str
    required: true
    choices: [new, old]
  old_rule:
    description: Name of the legacy rule (must exist; only its state is changed).
    type: str
    required: true
  new_rule:
    description: Name of the new rule (must exist with a target O(new_target_arn)).
    type: str
    required: true
  new_target_arn:
    description: ARN of the new rule's target whose input carries the mode (the new function's alias ARN).
    type: str
    required: true
  after_rollback:
    description: What the new side becomes when O(live=old) - still running in shadow, or its rule disabled.
    type: str
    default: shadow
    choices: [shadow, disabled]
  margin:
    description: Seconds that must remain before the next fire time (30 to 600).
    type: int
    default: 120
  max_wait:
    description: Seconds to wait for a quiet window before failing (0 to 3600; 0 switches now or fails).
    type: int
    default: 1500
  functions:
    description:
      - Lambda function names whose in-flight invocations are checked, besides the functions the two rules
        target (which are always checked).
    type: list
    elements: str
    default: []
  clock:
    description:
      - Path of a JSON file holding the present (test inventory - the rehearsal's C(clock.json)). C(at) is
        the instant itself; otherwise C(now) is the rehearsal scheduler's next unrun step and the present is
        the middle of the quiet stretch before it. Unset on production - the system clock, real sleeping.
    type: path
  poll_interval:
    description:
      - Real seconds between two looks while waiting for runs to finish (0.05 to 60). With O(clock), also
        how often the file is re-read; a clock that has not moved in three reads ends the wait.
    type: float
    default: 15.0
  since:
    description:
      - The RV(quiet) result of an earlier run of this module (usually check mode) made before the caller read
        the state the functions write (rollback.yml - before the first reconcile). With it, RV(ran_since) says
        whether either function may have run between that reading and the switch (so the state read then may
        be stale).
      - When nothing has to change (the pair is already O(live)), O(since) makes the module wait for a quiet
        window as a switch would (no write) and say in RV(ran_since) whether either function may have run
        since that reading (cutover.yml - a rerun after a run killed before its alignment finished).
    type: dict
notes:
  - Also retries C(ConcurrentModificationException) (this module's own codes).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Make the new function live inside a quiet window
  cutover.local.schedule_switch:
    live: new
    old_rule: naverplace_send_inform_trigger
    new_rule: naver-sms-automation-v2-trigger
    new_target_arn: "{{ function.alias_arn }}"
  register: switch

- name: Roll back - new side back to shadow, then the old rule enabled (rehearsal clock)
  cutover.local.schedule_switch:
    live: old
    after_rollback: shadow
    old_rule: naverplace_send_inform_trigger
    new_rule: naver-sms-automation-v2-trigger
    new_target_arn: "{{ function.alias_arn }}"
    clock: "{{ lookup('env', 'CUTOVER_STATE_DIR') }}/rehearsal/clock.json"
    poll_interval: 0.5
"""

RETURN = r"""
live:
  description: The live side after the run (C(old), C(new); in check mode, what it would be).
  returned: always
  type: str
before:
  description: State of the pair before - C(old_rule_state), C(new_rule_state), C(new_mode), C(live).
  returned: always
  type: dict
after:
  description: State of the pair after (same keys as RV(before)).
  returned: always
  type: dict
writes:
  description: Each write in order - C(write) (in words), C(what), C(before), C(after), C(at) (UTC wall clock).
  returned: always
  type: list
  elements: dict
planned:
  description: The writes, in words, that were (or in check mode would be) made.
  returned: always
  type: list
  elements: str
first_write_at:
  description: UTC wall-clock time of the first write (null when nothing was written).
  returned: always
  type: str
last_write_at:
  description: UTC wall-clock time of the last write (null when nothing was written).
  returned: always
  type: str
gap_seconds:
  description: Seconds between the first and the last write (null when nothing was written).
  returned: always
  type: float
waited_seconds:
  description: Real seconds spent waiting for the quiet window.
  returned: always
  type: float
quiet:
  description:
    - The quiet-window verdict at the switch (in check mode, now) - C(quiet), C(at) (the present on the
      clock used), C(next_fire), C(last_fire), C(in_flight), C(last_start) (the newest invocation start in the
      logs over the last 16 minutes), C(reason). Null when nothing had to change (and no O(since) was given).
  returned: always
  type: dict
read_at:
  description: UTC time (ISO 8601, real clock) of the RV(quiet) reading; null without one.
  returned: always
  type: str
ran_since:
  description:
    - With O(since) - C(ran) (false only when no fire time passed, nothing was in flight and no invocation
      started between O(since) and the switch, or with nothing to change, the quiet reading now) and
      C(reason). Null otherwise.
  returned: always
  type: dict
"""

import json
import time
from datetime import datetime, timedelta, timezone

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.botocore import paginated_query_with_retries

from ansible.module_utils.cutover.arn import placement_problem
from ansible.module_utils.cutover.aws import InputError, finish, retry_decorator
from ansible.module_utils.cutover.schedule import ScheduleError, parse
from ansible.module_utils.cutover.switch import (
    DISABLED, ENABLED, LOOKBACK, MARGIN_RANGE, MAX_WAIT_RANGE, POLL_RANGE, PairState, SwitchInputError, Writes,
    assess, clock_instant, in_flight, input_text, last_start, left_state, mode_of, plan, ran_between, require_cron,
    target_state, validate_range,
)

UTC = timezone.utc
STALLED_READS = 3
# no ResourceConflictException: EventBridge does not use it, and a refused write must fail fast and be undone
RETRY = retry_decorator(["ConcurrentModificationException"])


class NotQuiet(Exception):
    """No quiet window within max_wait."""


class SwitchFailed(Exception):
    """A write failed; the message says which and what state was left."""


def validate(params, region=None):
    try:
        validate_range("margin", params["margin"], MARGIN_RANGE)
        validate_range("max_wait", params["max_wait"], MAX_WAIT_RANGE)
        validate_range("poll_interval", params["poll_interval"], POLL_RANGE)
    except SwitchInputError as exc:
        raise InputError(str(exc)) from None
    if params["old_rule"] == params["new_rule"]:
        raise InputError("old_rule and new_rule name the same rule: give the legacy rule and the new one")
    problem = placement_problem("new_target_arn", params["new_target_arn"], "new rule", region=region,
                                fix="an EventBridge rule invokes only targets of its own region; fix the ARN")
    if problem:
        raise InputError(problem)


def read_rule(events, name, role):
    try:
        return events.describe_rule(Name=name, aws_retry=True)
    except is_boto3_error_code("ResourceNotFoundException"):
        hint = ("it is production's legacy trigger and is never created here: check the name in the inventory"
                if role == "old" else "create it first (create_function.yml / start_parallel.yml)")
        raise InputError(f"the {role} rule {name} does not exist: {hint}") from None


def targets_of(events, name):
    return paginated_query_with_retries(events, "list_targets_by_rule", retry_decorator=RETRY,
                                        Rule=name).get("Targets", [])


def function_name(arn):
    parts = (arn or "").split(":")
    if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
        return parts[6]
    return None


class Pair:
    """The two rules as read from EventBridge."""

    def __init__(self, events, params):
        self.events, self.params = events, params
        self.old = read_rule(events, params["old_rule"], "old")
        self.new = read_rule(events, params["new_rule"], "new")
        ours = [t for t in targets_of(events, params["new_rule"]) if t["Arn"] == params["new_target_arn"]]
        if len(ours) != 1:
            raise InputError(f"the new rule {params['new_rule']} has {len(ours)} targets with ARN "
                             f"{params['new_target_arn']}; expected exactly one (schedule_rule creates it)")
        self.target = ours[0]
        if self.target.get("InputPath") or self.target.get("InputTransformer"):
            raise InputError(f"the new rule's target {self.target['Id']} uses InputPath/InputTransformer; "
                             "the mode must be a constant Input")
        self.old_targets = targets_of(events, params["old_rule"])
        self.state = PairState(self.old.get("State", DISABLED), self.new.get("State", DISABLED),
                               mode_of(self.target.get("Input")))

    def schedules(self):
        expressions = {r["Name"]: r.get("ScheduleExpression") for r in (self.old, self.new)}
        parsed = {}
        for rule, expression in expressions.items():
            if not expression:
                raise InputError(f"rule {rule} has no schedule expression")
            try:
                parsed[rule] = parse(expression)
            except ScheduleError as exc:
                raise InputError(f"rule {rule}: {exc}") from None
        try:
            require_cron(expressions, parsed)
        except SwitchInputError as exc:
            raise InputError(str(exc)) from None
        return list(parsed.values())

    def functions(self):
        names = {function_name(t["Arn"]) for t in self.old_targets} | {function_name(self.target["Arn"])}
        names |= set(self.params["functions"])
        return sorted(n for n in names if n)

    def write(self, what, value):
        name = self.params["old_rule"] if what == "old_state" else self.params["new_rule"]
        if what in ("old_state", "new_state"):
            call = self.events.enable_rule if value == ENABLED else self.events.disable_rule
            call(Name=name, aws_retry=True)
            return
        target = dict(self.target)  # every field as read; only the input changes
        target.pop("InputPath", None)
        target["Input"] = input_text(value) if value in ("shadow", "live") else value
        if value is None:
            target.pop("Input")
        resp = self.events.put_targets(Rule=name, Targets=[target], aws_retry=True)
        if resp.get("FailedEntryCount"):
            entry = resp["FailedEntries"][0]
            raise SwitchFailed(f"PutTargets refused target {entry.get('TargetId')}: {entry.get('ErrorCode')} "
                               f"{entry.get('ErrorMessage')}")


class SystemClock:
    """Production: the real clock, real sleeping."""

    injected = False

    def __init__(self, poll):
        self.poll = poll

    def now(self, schedules):
        return datetime.now(UTC)

    def wait(self, until, schedules):
        seconds = (until - datetime.now(UTC)).total_seconds() if until else self.poll
        time.sleep(max(0.0, min(seconds, 300.0)) or self.poll)


class FileClock:
    """Test inventory: the present is read from a JSON file, re-read every poll (real seconds)."""

    injected = True

    def __init__(self, path, poll):
        self.path, self.poll, self.last, self.same = path, poll, None, 0

    def now(self, schedules):
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the clock file {self.path}: {exc}") from None
        try:
            instant = clock_instant(data, schedules)
        except SwitchInputError as exc:
            raise InputError(f"{self.path}: {exc}") from None
        self.same = self.same + 1 if instant == self.last else 0
        self.last = instant
        return instant

    def wait(self, until, schedules):
        if self.same >= STALLED_READS - 1:
            raise NotQuiet(f"the injected clock ({self.path}) stood at {self.last:%Y-%m-%dT%H:%M:%SZ} for "
                           f"{STALLED_READS} reads: advance it (python -m rehearsal run --slots 1)")
        time.sleep(self.poll)


def running(logs, functions, now):
    """(request ids in flight, the newest invocation start) in the functions' log groups over [now - LOOKBACK, now]."""
    found, starts = [], []
    start_ms, end_ms = int((now - LOOKBACK).timestamp() * 1000), int(now.timestamp() * 1000) + 1
    for function in functions:
        try:
            events = [(e.get("timestamp", 0), e.get("message", "")) for e in paginated_query_with_retries(
                logs, "filter_log_events", retry_decorator=RETRY, logGroupName=f"/aws/lambda/{function}",
                startTime=start_ms, endTime=end_ms).get("events", [])]
        except is_boto3_error_code("ResourceNotFoundException"):
            continue  # never ran: nothing in flight
        found += [f"{function}:{rid}" for rid in in_flight(events)]
        starts += [start for start in [last_start(events)] if start]
    return found, max(starts, default=None)


def await_quiet(module, pair, logs, clock):
    params = module.params
    schedules = pair.schedules()
    functions = pair.functions()
    margin = timedelta(seconds=params["margin"])
    started_real = time.monotonic()
    first = None
    while True:
        now = clock.now(schedules)
        first = first or now
        verdict = assess(now, schedules, margin, *running(logs, functions, now))
        if verdict.quiet or module.check_mode:
            return verdict, time.monotonic() - started_real
        waited = (now - first).total_seconds() if clock.injected else time.monotonic() - started_real
        opens_too_late = verdict.retry_at is not None and \
            (verdict.retry_at - now).total_seconds() > params["max_wait"] - waited
        if waited >= params["max_wait"] or opens_too_late:
            raise NotQuiet(f"no quiet window within max_wait={params['max_wait']} s: {verdict.reason}"
                           + (f"; the next window opens at {verdict.retry_at:%Y-%m-%dT%H:%M:%SZ}"
                              if verdict.retry_at else "") + "; nothing was changed")
        try:
            clock.wait(verdict.retry_at, schedules)
        except NotQuiet as exc:
            raise NotQuiet(f"not quiet until {verdict.retry_at or 'the running invocations end'}: "
                           f"{verdict.reason}; {exc}; nothing was changed") from None


def switch(pair, steps):
    writes, done = Writes(), []
    for step in steps:
        try:
            pair.write(step.what, step.after)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, SwitchFailed) as exc:
            undone, problems = [], []
            for previous in reversed(done):
                try:
                    pair.write(previous.what, previous.before)
                    undone.append(previous)
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, SwitchFailed) as again:
                    problems.append(f"undo of '{previous.describe()}' failed too: {again}")
                    break
            left = left_state(pair.state, done, undone)
            raise SwitchFailed(
                f"'{step.describe()}' failed ({exc}); undid {len(undone)} of {len(done)} earlier write(s)"
                + (f"; {'; '.join(problems)}" if problems else "")
                + f"; left: old rule {left.old_state}, new rule {left.new_state} in mode {left.new_mode} "
                f"(live side: {left.live or 'none'})") from None
        writes.add(step, datetime.now(UTC), time.monotonic())
        done.append(step)
    return writes


def run(module, events, logs):
    params = module.params
    validate(params, module.region)
    pair = Pair(events, params)
    before = pair.state
    steps = plan(params["live"], params["after_rollback"], before)
    want = target_state(params["live"], params["after_rollback"], before)
    result = {"changed": bool(steps), "before": before.as_dict(), "after": (want if steps else before).as_dict(),
              "live": params["live"], "planned": [s.describe() for s in steps], "writes": [],
              "first_write_at": None, "last_write_at": None, "gap_seconds": None, "waited_seconds": 0.0,
              "quiet": None, "read_at": None, "ran_since": None}
    if steps or params["since"] is not None:  # without steps: a reading only, to prove nothing ran since `since`
        clock = FileClock(params["clock"], params["poll_interval"]) if params["clock"] else \
            SystemClock(params["poll_interval"])
        verdict, waited = await_quiet(module, pair, logs, clock)
        result.update(quiet=verdict.as_dict(), waited_seconds=round(waited, 3),
                      read_at=datetime.now(UTC).isoformat(timespec="milliseconds"))
        if params["since"] is not None:
            ran, reason = ran_between(params["since"], result["quiet"])
            result["ran_since"] = {"ran": ran, "reason": reason}
        if steps and not module.check_mode:
            writes = switch(pair, steps)
            public = writes.public()
            result.update(writes=public, first_write_at=public[0]["at"], last_write_at=public[-1]["at"],
                          gap_seconds=writes.gap_seconds())
    if module._diff:
        result["diff"] = {"before": result["before"], "after": result["after"]}
    return result


def main():
    argument_spec = dict(
        live=dict(type="str", required=True, choices=["new", "old"]),
        old_rule=dict(type="str", required=True),
        new_rule=dict(type="str", required=True),
        new_target_arn=dict(type="str", required=True),
        after_rollback=dict(type="str", default="shadow", choices=["shadow", "disabled"]),
        margin=dict(type="int", default=120),
        max_wait=dict(type="int", default=1500),
        functions=dict(type="list", elements="str", default=[]),
        clock=dict(type="path"),
        poll_interval=dict(type="float", default=15.0),
        since=dict(type="dict"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    finish(module, lambda: run(module, module.client("events", retry_decorator=RETRY),
                               module.client("logs", retry_decorator=RETRY)),
           f"reading the rules {module.params['old_rule']} / {module.params['new_rule']} failed",
           refusals=(NotQuiet, SwitchFailed))


if __name__ == "__main__":
    main()
