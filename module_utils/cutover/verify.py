"""Was the first execution after a switch a good one? (cutover.yml, rollback.yml)

Pure: no boto3, botocore or Ansible import (``library/execution_check.py`` is the adapter).

After a switch the live side's next scheduled run is checked: the first fire time of the
schedule strictly after the switch (``first_slot``). It is good when, for that slot,

* the ``AWS/Lambda`` ``Invocations`` sum is at least 1 and ``Errors`` is 0,
* the run finished (its ``START RequestId`` line has its ``END RequestId``), and
* every SMS its log shows for that slot was delivered (a run that logged SMS with
  ``delivered: false`` is still in shadow mode: customers got nothing). A slot in which no
  booking needed an SMS is good with 0 SMS (its Telegram summary still says so).

Until all of that is visible the run is ``pending`` (not fired yet, still running, metrics
not in yet: CloudWatch takes a minute or two on AWS); ``failed`` is final.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable, List, Optional, Tuple

PENDING, OK, FAILED = "pending", "ok", "failed"
TIMEOUT_RANGE = (0, 7200)  # seconds: a slot (20 min) + the longest run (15 min) + metric lag fit easily
POLL_RANGE = (0.05, 120.0)


class VerifyInputError(ValueError):
    """Input the check cannot work with; the message says what to do."""


def first_slot(schedule, after: datetime) -> datetime:
    """The first fire time strictly after ``after`` (the switch)."""
    fire = schedule.next_fire(after)
    if fire is None:
        raise VerifyInputError(f"the schedule never fires after {after:%Y-%m-%dT%H:%M:%SZ}")
    return fire


def window(slot: datetime, slot_minutes: int = 20) -> Tuple[datetime, datetime]:
    """Where the slot's run, its log lines and its metrics lie (a run is delivered seconds late)."""
    return slot - timedelta(minutes=1), slot + timedelta(minutes=slot_minutes)


def runs(messages: Iterable[Tuple[int, str]]) -> Tuple[List[str], List[str]]:
    """(started request ids, finished request ids) from the Lambda runtime's START / END lines."""
    started, finished = [], []
    for _timestamp, message in messages:
        text = message.strip()
        if text.startswith("START RequestId: "):
            started.append(text.split()[2])
        elif text.startswith("END RequestId: "):
            finished.append(text.split()[2])
    return started, finished


def judge(slot_text: str, invocations: float, errors: float, messages: List[Tuple[int, str]],
          observations: List[dict]) -> dict:
    """The verdict for one slot: ``status`` (pending | ok | failed), the counts and the reasons.

    ``messages``: (timestamp ms, text) of the log group in the slot's window; ``observations``: the
    parsed ``sms`` / ``telegram`` lines of that window (compare_formats.parse_log_event), any slot.
    """
    started, finished = runs(messages)
    ours = [o for o in observations if o.get("slot") == slot_text]
    sms = [o for o in ours if o.get("event") == "sms"]
    telegram = [o for o in ours if o.get("event") == "telegram"]
    delivered = [o for o in sms if o.get("delivered") is True]
    result = {"slot": slot_text, "invocations": int(invocations or 0), "errors": int(errors or 0),
              "runs_started": len(started), "runs_finished": len(set(started) & set(finished)),
              "sms_logged": len(sms), "sms_delivered": len(delivered),
              "telegram_delivered": sum(1 for o in telegram if o.get("delivered") is True), "reasons": []}
    reasons = result["reasons"]
    if result["errors"] > 0:
        reasons.append(f"{result['errors']} error(s) in the slot {slot_text} (AWS/Lambda Errors)")
    if sms and len(delivered) < len(sms):
        reasons.append(f"the run logged {len(sms)} SMS for bookings that needed one but delivered "
                       f"{len(delivered)}: it is not sending (still in shadow mode?)")
    if reasons:
        return dict(result, status=FAILED)
    if not started and result["invocations"] < 1:
        reasons.append(f"no execution in the slot {slot_text} yet")
    elif set(started) - set(finished):
        reasons.append(f"the run of {slot_text} is still in flight (START without END)")
    elif result["invocations"] < 1:
        reasons.append("the run's AWS/Lambda Invocations datapoint is not in yet")
    if reasons:
        return dict(result, status=PENDING)
    reasons.append(f"{result['invocations']} invocation(s), 0 errors, "
                   + (f"{len(delivered)} SMS delivered" if sms else "no booking needed an SMS in this slot"))
    return dict(result, status=OK)


def describe(result: dict, function: str) -> str:
    return f"{function}, slot {result['slot']}: {result['status']} - {'; '.join(result['reasons'])}"


def validate(timeout: float, poll: float) -> None:
    for name, value, (low, high) in (("timeout", timeout, TIMEOUT_RANGE), ("poll_interval", poll, POLL_RANGE)):
        if value is None or not low <= value <= high:
            raise VerifyInputError(f"{name} must be between {low} and {high} seconds, got {value}")


def present_on(clock: Optional[dict], now: datetime) -> datetime:
    """The present: the system clock's ``now``, or the rehearsal clock file's (see switch.clock_instant)."""
    if clock is None:
        return now
    from_file = clock.get("at") or clock.get("now")
    if not from_file:
        raise VerifyInputError("the clock file must be JSON with 'now' (the rehearsal scheduler's) or 'at'")
    value = datetime.fromisoformat(str(from_file).replace("Z", "+00:00"))
    if "at" in clock:
        return value
    # the scheduler's `now` is the next step it has not run: every slot before it has run
    return value - timedelta(microseconds=1)
