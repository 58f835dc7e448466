"""Story 5.7 and day 14: the rules of the week after cutover and of decommissioning (pure: no boto3, no Ansible).

Data in, findings out, like ``gate.py`` (whose ``criterion`` shape it reuses):

- ``live_state(events)``: where the ledger says production stands (the last successful ``cutover.yml`` /
  ``rollback.yml`` run event, facts ``live`` and ``switched_at``); ``post_cutover.yml`` refuses before
  any cutover and while the old side is live.
- ``day_window(cutover_at, now, day_minutes, day=None)``: post-cutover day N = [cutover + (N-1) days,
  cutover + N days); by default the newest complete day (day 1 so far while none is complete).
- ``check_day(measured, settings)``: the daily checks - error rate < 1 %, max duration < 240 s, no alarm in
  ALARM, every slot of the day executed exactly once (invocations per slot: no gap, none doubled), SMS
  delivered in line with the parallel week.
- ``retention(archived_at, days)`` / ``purge_decision(tags, now)``: the 30-day retention of the old function.
- ``layer_plan(layers, functions)``: which layer versions no function uses any more.

"In line" (SMS delivered): the day's delivered SMS (``sens_api_calls`` of the new function) must be at
least ``sms_min_ratio`` (default 0.5) of what the parallel week delivered (``sms_sent_old`` of the
comparison) in the same stretch of time: the same weekday one week earlier when the parallel week covers
it, else, slot by slot, the parallel week's mean at the same time of day (bookings follow the clock: a night
delivers less than a noon), and for a time of day it never saw, its mean per slot. A drop below that is a
finding; more SMS than usual is not (double sends show in the invariant and the comparison). Fewer than
``sms_min_expected`` expected SMS is too few to judge a drop (passes, saying so).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .gate import FAIL, INCONCLUSIVE, PASS, criterion, iso, parse_time, switched_at

CUTOVER_PLAYBOOK = "cutover.yml"
ROLLBACK_PLAYBOOK = "rollback.yml"
ARCHIVED_AT, DELETE_AFTER = "archived-at", "delete-after"

DEFAULTS = {
    "day_minutes": 1440,
    "days": 7,
    "slot_minutes": 20,
    "grace_s": 300,
    "max_error_rate": 0.01,
    "max_duration_ms": 240000,
    "sms_min_ratio": 0.5,
    "sms_min_expected": 20,
}


class PostCutoverError(ValueError):
    """Input or state that the post-cutover rules refuse; the message says what to do."""


def settings_of(overrides=None):
    settings = dict(DEFAULTS)
    settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        day, slot = int(settings["day_minutes"]), int(settings["slot_minutes"])
        days = int(settings["days"])
        ratio = float(settings["sms_min_ratio"])
    except (TypeError, ValueError):
        raise PostCutoverError("day_minutes, days, slot_minutes must be whole numbers, sms_min_ratio a number") from None
    if slot <= 0 or day < slot or day % slot:
        raise PostCutoverError(f"day_minutes ({day}) must be a whole number of slots of {slot} minutes")
    if days < 1:
        raise PostCutoverError(f"days must be at least 1 (7 for the week after cutover), got {days}")
    if not 0 < ratio <= 1:
        raise PostCutoverError(f"sms_min_ratio is a fraction of the parallel week's SMS, 0 < ratio <= 1, got {ratio}")
    settings.update(day_minutes=day, slot_minutes=slot, days=days, sms_min_ratio=ratio,
                    grace_s=int(settings["grace_s"]), max_duration_ms=int(settings["max_duration_ms"]),
                    max_error_rate=float(settings["max_error_rate"]), sms_min_expected=int(settings["sms_min_expected"]))
    return settings


# ----------------------------------------------------------------------------- where production stands
def _facts(event):
    facts = event.get("facts") or {}
    return facts if isinstance(facts, dict) else {}


def live_state(events):
    """-> {"live", "cutover_at", "event", "rollbacks"} from ledger events (any order).

    Only successful (``result: ok``, not check mode) runs of cutover.yml / rollback.yml whose facts name
    ``live`` count. ``rollbacks`` lists the rollbacks after the current cutover (none while it holds).
    Raises PostCutoverError before any cutover, or when the last switch put the old side back.
    """
    switches = sorted((e for e in events or [] if e.get("playbook") in (CUTOVER_PLAYBOOK, ROLLBACK_PLAYBOOK)
                       and e.get("result") == "ok" and _facts(e).get("live") in ("new", "old")),
                      key=lambda e: (str(_facts(e).get("switched_at") or e.get("started_at") or ""),
                                     str(e.get("recorded_at") or "")))
    cutovers = [e for e in switches if e["playbook"] == CUTOVER_PLAYBOOK and _facts(e)["live"] == "new"]
    if not cutovers:
        raise PostCutoverError("no cutover recorded in the ledger (no successful cutover.yml run with live: new): "
                               "the post-cutover checks start after playbooks/cutover.yml")
    last = switches[-1]
    if _facts(last)["live"] != "new":
        raise PostCutoverError(f"the last switch was {last['playbook']} at {_switched_at(last)}: the old function is "
                               "live; the post-cutover checks start again after the next cutover.yml")
    return {"live": "new", "cutover_at": _switched_at(last), "event": last,
            "rollbacks": [_switched_at(e) for e in switches if e["playbook"] == ROLLBACK_PLAYBOOK],
            "switches": len(switches)}


def _switched_at(event):
    """``gate.switched_at`` (the clock the switch was made on), else the run's start."""
    return iso(parse_time(switched_at(event) or event.get("started_at"), "switched_at"))


# ----------------------------------------------------------------------------- which day
def day_window(cutover_at, now, settings, day=None):
    """Post-cutover day ``day`` (1-based), or the newest complete one (day 1 so far when none is)."""
    start0 = parse_time(cutover_at, "cutover_at")
    now = parse_time(now, "now")
    length = timedelta(minutes=settings["day_minutes"])
    if now < start0:
        raise PostCutoverError(f"the clock ({iso(now)}) is before the cutover ({iso(start0)})")
    complete = int((now - start0) / length)
    if day is None:
        day = max(1, min(complete, settings["days"]))
    day = int(day)
    if day < 1:
        raise PostCutoverError(f"day must be 1 or more, got {day}")
    start = start0 + length * (day - 1)
    if start > now:
        raise PostCutoverError(f"day {day} starts at {iso(start)}, after now ({iso(now)}): "
                               f"{complete} complete day(s) since the cutover")
    end = start + length
    # the slots whose runs started inside the day and have finished by now
    step = timedelta(minutes=settings["slot_minutes"])
    first = _slot_ceil(start, step)
    slots, moment = [], first
    finished_by = now - timedelta(seconds=settings["grace_s"])
    while moment < end and moment <= finished_by:
        slots.append(iso(moment))
        moment += step
    return {"day": day, "start": iso(start), "end": iso(end), "complete": now >= end, "slots": slots,
            "last_day": day >= settings["days"] and now >= end, "complete_days": complete,
            "slots_per_day": settings["day_minutes"] // settings["slot_minutes"]}


def _slot_ceil(moment, step):
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    seconds = step.total_seconds()
    offset = (moment - epoch).total_seconds()
    return epoch + timedelta(seconds=-(-offset // seconds) * seconds)


# ----------------------------------------------------------------------------- the daily checks
def expected_sms(window, baseline, settings):
    """-> (expected SMS for the checked part of the day, how it was derived) from ``baseline``
    {slot ISO: SMS delivered} of the parallel week (slots with data only)."""
    if not baseline:
        return None, "no SMS datapoint of the parallel week"
    step = timedelta(minutes=settings["slot_minutes"])
    week_before = [iso(parse_time(s) - timedelta(days=7)) for s in window["slots"]]
    first, last = min(baseline), max(baseline)
    if settings["day_minutes"] == 1440 and week_before and week_before[0] >= first and week_before[-1] <= last:
        return sum(baseline.get(s, 0) for s in week_before), f"the same weekday of the parallel week ({week_before[0][:10]})"
    span = (parse_time(last) - parse_time(first) + step) / step
    mean_per_slot = sum(baseline.values()) / span
    by_time = {}  # the parallel week's SMS per slot at each time of day (bookings follow the clock)
    for slot, count in baseline.items():
        by_time.setdefault(slot[11:16], []).append(count)
    matched = [s for s in window["slots"] if s[11:16] in by_time]
    expected = sum(sum(by_time[s[11:16]]) / len(by_time[s[11:16]]) if s in matched else mean_per_slot
                   for s in window["slots"])
    per_day = mean_per_slot * window["slots_per_day"]
    how = (f"the parallel week at the same time of day ({len(matched)} of {len(window['slots'])} slots; "
           f"mean {per_day:.0f} a day)" if matched else f"the parallel week's mean of {per_day:.0f} a day ({span:.0f} slots)")
    return expected, how


def check_day(measured, settings):
    """-> {"day", "ok", "criteria", "findings", "line"} for one post-cutover day.

    ``measured``: ``window`` (day_window), ``invocations`` / ``errors`` / ``duration_max_ms``
    {slot: value} of the new function, ``alarms`` {name: state} (None: not read), ``sms_delivered``
    {slot: count} of the day, ``baseline`` {slot: count} of the parallel week.
    """
    window = measured["window"]
    slots = window["slots"]
    invocations = measured.get("invocations") or {}
    errors = measured.get("errors") or {}
    durations = measured.get("duration_max_ms") or {}
    total_inv = sum(invocations.get(s, 0) for s in slots)
    total_err = sum(errors.get(s, 0) for s in slots)
    out = []
    limit = settings["max_error_rate"]
    if not total_inv:
        out.append(criterion("error rate", "no invocation", f"< {limit:.0%}", None if not slots else False,
                             "no slot of the day has run yet" if not slots else "the new function did not run"))
    else:
        rate = total_err / total_inv
        out.append(criterion("error rate", f"{rate:.2%} ({int(total_err)} of {int(total_inv)})", f"< {limit:.0%}",
                             rate < limit, "" if rate < limit else "read /aws/lambda/<function> for the failed runs"))
    longest = max((durations[s] for s in slots if s in durations), default=None)
    cap = settings["max_duration_ms"]
    if longest is None:
        out.append(criterion("max duration", "no data", f"< {cap} ms", None, "no Duration datapoint"))
    else:
        out.append(criterion("max duration", f"{longest:.0f} ms", f"< {cap} ms", longest < cap,
                             "" if longest < cap else f"a run took {longest / 1000:.1f} s (NFR: under {cap // 1000} s)"))
    alarms = measured.get("alarms")
    if alarms is None:
        out.append(criterion("no alarm in ALARM", "not read", "none", None, "CloudWatch alarms were not read"))
    else:
        firing = sorted(n for n, state in alarms.items() if state == "ALARM")
        missing = sorted(n for n, state in alarms.items() if state is None)
        out.append(criterion("no alarm in ALARM", f"in ALARM: {', '.join(firing)}" if firing else
                             f"{len(alarms) - len(missing)} alarm(s), none in ALARM", "none",
                             False if firing else None if missing or not alarms else True,
                             f"missing alarm(s) {', '.join(missing)}: run monitoring.yml" if missing and not firing
                             else "" if alarms else "no alarm named (cutover_monitoring_alarms)"))
    gaps = [s for s in slots if not invocations.get(s)]
    doubled = [s for s in slots if invocations.get(s, 0) > 1]
    text = f"{len(slots) - len(gaps)} of {len(slots)} slots ran" + (f", {len(doubled)} more than once" if doubled else "")
    reason = "; ".join(filter(None, [f"no run in {len(gaps)} slot(s) (first {gaps[0]})" if gaps else "",
                                     f"more than one run in {len(doubled)} slot(s) (first {doubled[0]})" if doubled else ""]))
    out.append(criterion("every slot executed once", text, "1 invocation in every slot", None if not slots else
                         not gaps and not doubled, reason or ("" if slots else "no slot of the day has finished yet")))
    delivered = sum((measured.get("sms_delivered") or {}).get(s, 0) for s in slots)
    expected, how = expected_sms(window, measured.get("baseline") or {}, settings)
    ratio = settings["sms_min_ratio"]
    if expected is None:
        out.append(criterion("SMS delivered in line with the parallel week", f"{int(delivered)} delivered",
                             f">= {ratio:.0%} of the parallel week", None, how))
    elif expected < settings["sms_min_expected"]:
        out.append(criterion("SMS delivered in line with the parallel week", f"{int(delivered)} delivered",
                             f">= {ratio:.0%} of {expected:.0f} ({how})", True,
                             f"fewer than {settings['sms_min_expected']} expected: too few to judge a drop"))
    else:
        ok = delivered >= ratio * expected
        out.append(criterion("SMS delivered in line with the parallel week",
                             f"{int(delivered)} delivered ({delivered / expected:.0%} of {expected:.0f})",
                             f">= {ratio:.0%} of {expected:.0f} ({how})", ok,
                             "" if ok else "a sudden drop: are bookings read, is SENS answering? read the function's logs"))
    findings = [c for c in out if c["status"] != PASS]
    ok = not findings
    verdict = "OK" if ok else "FINDINGS"
    measured_text = "; ".join(f"{c['name']}: {c['measured']}" for c in out)
    finding_text = "; ".join(f"{c['name']} {c['status']}" + (f" ({c['reason']})" if c["reason"] else "")
                             for c in findings)
    line = (f"post-cutover day {window['day']} ({window['start']} .. {window['end']}"
            f"{'' if window['complete'] else ', so far'}): {verdict}; {measured_text}"
            + ("" if ok else f" | {finding_text}"))
    return {"day": window["day"], "ok": ok, "criteria": out, "findings": [c["name"] for c in findings],
            "line": line, "delivered": int(delivered), "expected": expected,
            "statuses": {s: sum(c["status"] == s for c in out) for s in (PASS, FAIL, INCONCLUSIVE)}}


# ----------------------------------------------------------------------------- decommissioning
def retention(archived_at, days):
    """-> (archived-at, delete-after) ISO strings, delete-after = archived-at + ``days``."""
    start = parse_time(archived_at, ARCHIVED_AT)
    return iso(start), iso(start + timedelta(days=int(days)))


def archive_tags(existing_tags, now, days):
    """Tags to set on the old function: keep an earlier archived-at (a rerun never moves the date)."""
    existing_tags = existing_tags or {}
    archived = existing_tags.get(ARCHIVED_AT) or iso(parse_time(now))
    archived_at, delete_after = retention(archived, days)
    return {ARCHIVED_AT: archived_at, DELETE_AFTER: existing_tags.get(DELETE_AFTER) or delete_after}


def purge_decision(tags, now):
    """-> None when the old function may be deleted now, else the refusal (with the date)."""
    tags = tags or {}
    if not tags.get(DELETE_AFTER):
        return ("the old function is not archived (no delete-after tag): run decommission.yml without purge first; "
                "it can be purged 30 days later")
    after = parse_time(tags[DELETE_AFTER], DELETE_AFTER)
    if parse_time(now) < after:
        return (f"the old function is kept until {iso(after)} (delete-after; archived {tags.get(ARCHIVED_AT, '?')}): "
                f"purge refused, run again after that date")
    return None


def layer_plan(layer_versions, functions):
    """Which versions of the named layers to delete.

    ``layer_versions`` {layer name: [version ARN, ...]}; ``functions`` {function name: [layer version ARN, ...]}.
    -> {"delete": [arn...], "keep": {arn: [functions using it]}} (a version any function uses is kept).
    """
    users = {}
    for function, arns in (functions or {}).items():
        for arn in arns or []:
            users.setdefault(arn, []).append(function)
    delete, keep = [], {}
    for _name, arns in sorted((layer_versions or {}).items()):
        for arn in arns:
            if users.get(arn):
                keep[arn] = sorted(users[arn])
            else:
                delete.append(arn)
    return {"delete": sorted(delete), "keep": keep}
