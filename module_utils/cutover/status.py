"""Where the migration stands, worked out from what the ledger and CloudWatch hold: the rules of
``playbooks/status.yml`` (pure: plain values in, the facts of ``status_page.py`` out).

The phase follows the ledger's run events (``cutover_ledger`` action=event, newest first, as
action=read returns them); only runs that ended ``ok`` move it, in the order they started:

    deploy_image.yml      -> image          (unless the migration is already further)
    create_function.yml   -> function       (idem)
    start_parallel.yml    -> parallel       day N of 7 since the first start after the last rollback
                                            (seed_new_table.yml and gate.yml decision=parallel before it
                                            leave the phase as it is)
    compare.yml           -> parallel       when nothing started it (a rehearsal world), since the first comparison
    cutover.yml           -> cutover        when its facts say ``live: new`` (``switch_clock_at``, else
                                            ``switched_at``: the moment; a rerun once live changes nothing)
    post_cutover.yml      -> post_cutover   day N since ``switched_at`` of the cutover
    rollback.yml          -> rolled_back    (``scenario`` 1-3, ``switched_at``: the moment old was live again)
    decommission.yml      -> decommissioned

The next step names the exact command (inventory, ticket) of the playbook to run, after what
blocks it: a lock held by another run (wait, or force_unlock an expired one), a run that stopped
half-way (run it again: every playbook starts from what is there), a missing or expired Go.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from . import status_page

SLOT_SECONDS = 20 * 60
SLOTS_PER_DAY = 86400 // SLOT_SECONDS
PARALLEL_DAYS = 7
POST_CUTOVER_DAYS = 7
ORDER = ("not_started", "image", "function", "parallel", "cutover", "post_cutover", "decommissioned")
# decision point of each ledger decision name (DESIGN: DP1 before the parallel run, DP2 cutover, DP3 decommission)
POINTS = {"parallel": "DP1", "cutover": "DP2", "decommission": "DP3"}
DISCREPANCY_ROWS = 20
# Customer phone numbers (Korean mobiles) keep their last four digits on a page that is mailed around.
_PHONE = re.compile(r"\b(01[016789])-?([0-9]{3,4})-?([0-9]{4})\b")


def _time(value) -> datetime | None:
    """The moment of an ISO value (UTC when it names no zone); None when absent or not a time."""
    if not value:
        return None
    try:
        return status_page._time(value, "time")  # pylint: disable=protected-access
    except status_page.StatusError:
        return None


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(since: datetime | None, now: datetime) -> int | None:
    """Day 1 is the first 24 hours after ``since``."""
    if since is None:
        return None
    return max(0, int((now - since).total_seconds() // 86400)) + 1


def _name(event: dict) -> str:
    return str(event.get("playbook") or "").rsplit("/", 1)[-1]


def _facts(event: dict) -> dict:
    facts = event.get("facts")
    return facts if isinstance(facts, dict) else {}


def phase_of(events: list[dict], now: datetime) -> dict:
    """``{"name", "day", "since", "scenario", "moments"}`` from the ledger's run events (any order)."""
    phase, since, switched, scenario, moments = "not_started", None, None, None, []
    runs = sorted((e for e in events if e.get("result") == "ok" and e.get("playbook")),
                  key=lambda e: (str(e.get("started_at") or ""), str(e.get("recorded_at") or "")))
    for event in runs:
        name, facts = _name(event), _facts(event)
        at = (_time(facts.get("switch_clock_at")) or _time(facts.get("switched_at")) or _time(event.get("ended_at"))
              or _time(event.get("started_at")))
        if name == "deploy_image.yml" and phase == "not_started":
            phase = "image"
        elif name == "create_function.yml" and phase in ("not_started", "image"):
            phase = "function"
        elif name == "start_parallel.yml" and phase in ("not_started", "image", "function", "rolled_back"):
            phase, since = "parallel", _time(event.get("started_at"))
        elif name == "compare.yml" and phase in ("not_started", "image", "function"):
            phase, since = "parallel", _time(event.get("started_at"))  # a parallel run started outside the playbooks
        elif name == "cutover.yml" and facts.get("live") == "new" and phase not in ("cutover", "post_cutover",
                                                                                    "decommissioned"):
            phase, switched, since = "cutover", at, at
            moments.append({"kind": "cutover", "at": iso(at), "label": "cutover (new live)"})
        elif name == "post_cutover.yml" and phase in ("cutover", "post_cutover"):
            phase = "post_cutover"
        elif name == "rollback.yml" and phase in ("cutover", "post_cutover", "parallel"):
            phase, since, scenario = "rolled_back", at, facts.get("scenario")
            label = f"rollback scenario {scenario}" if scenario else "rollback"
            moments.append({"kind": "rollback", "at": iso(at), "label": label})
        elif name == "decommission.yml" and phase in ("cutover", "post_cutover"):
            phase, since = "decommissioned", at
    day = None
    if phase == "parallel":
        day = _day(since, now)
    elif phase == "post_cutover":
        day = _day(switched, now)
    return {"name": phase, "day": day, "since": iso(since) if since else None, "scenario": scenario,
            "moments": moments}


def last_failed_run(events: list[dict]) -> dict | None:
    """The newest run event when it did not end ok (a playbook stopped half-way or was refused)."""
    runs = [e for e in events if e.get("playbook") and e.get("result") in ("ok", "failed")]
    runs.sort(key=lambda e: (str(e.get("started_at") or ""), str(e.get("recorded_at") or "")), reverse=True)
    return runs[0] if runs and runs[0].get("result") == "failed" else None


def last_decision(decisions: dict) -> dict | None:
    """The newest of the ledger's latest decisions, in status_page's shape."""
    if not decisions:
        return None
    name, record = max(decisions.items(), key=lambda item: str(item[1].get("recorded_at") or ""))
    evidence = record.get("evidence") if isinstance(record.get("evidence"), dict) else {}
    criteria = record.get("criteria") if isinstance(record.get("criteria"), list) else []
    reasons = [str(c.get("reason") or c.get("message") or c.get("name")) for c in criteria
               if isinstance(c, dict) and c.get("ok") is False][:5]
    return {"point": POINTS.get(name, name), "name": name, "decision": record.get("outcome", "?"),
            "at": record.get("recorded_at"), "by": record.get("decided_by") or "",
            "ticket": str(evidence.get("ticket") or ""), "reasons": reasons,
            "expires": record.get("expires_at"), "expired": bool(record.get("expired"))}


def command(environment: str, playbook: str, ticket: str = "", extra: str = "") -> str:
    """The exact ansible-playbook command line of a step."""
    line = f"ansible-playbook -i inventories/{environment} playbooks/{playbook}"
    if extra:
        line += f" {extra}"
    return line + f" -e change_ticket={ticket or 'CHG<number>'}"


def _go(decisions: dict, name: str) -> bool:
    record = (decisions or {}).get(name) or {}
    return record.get("outcome") == "go" and not record.get("expired")


def next_step(phase: dict, decisions: dict, executions: dict, lock: dict | None, failed: dict | None,
              environment: str, ticket: str = "") -> dict:
    """``{"text", "command"}``: what to do now, and the command for it."""
    def step(text, playbook, extra=""):
        return {"text": text, "command": command(environment, playbook, ticket, extra)}

    if lock and not lock.get("expired"):
        return {"text": f"wait: {lock.get('owner', '?')} is running {lock.get('playbook') or '?'} (lock until "
                        f"{lock.get('expires_at') or '?'}); run status.yml again when it is done",
                "command": f"ansible-playbook -i inventories/{environment} playbooks/status.yml"}
    if lock:
        playbook = str(lock.get("playbook") or "").rsplit("/", 1)[-1]
        playbook = playbook if playbook.endswith(".yml") else "status.yml"
        return step(f"the lock of {lock.get('owner', '?')} ({lock.get('playbook') or '?'}) has expired: that run "
                    "stopped half-way; once you know it is not running any more, take the lock over with a reason "
                    "and run the playbook again", playbook, "-e force_unlock=true -e unlock_reason='<why>'")
    if failed:
        playbook = _name(failed)
        return step(f"{playbook} stopped half-way ({failed.get('started_at') or '?'}, {failed.get('operator') or '?'}"
                    f"{': ' + str(failed.get('reason'))[:200] if failed.get('reason') else ''}): fix the cause and "
                    "run it again (it starts from what is there)", playbook)
    name, day = phase["name"], phase.get("day") or 0
    compared, required = executions.get("compared", 0), executions.get("required", 0)
    if name == "not_started":
        return step("push the image to ECR (5.1)", "deploy_image.yml")
    if name == "image":
        return step("create the new function (5.2)", "create_function.yml")
    if name == "function" and not _go(decisions, "parallel"):
        return step("set up monitoring (5.4, monitoring.yml) if not done and seed sms_v2 from a backup of sms "
                    "(seed_new_table.yml), then record Decision Point 1 (Go for the parallel run)", "gate.yml",
                    "-e decision=parallel")
    if name == "function":
        return step("start the parallel run in shadow mode (5.3; it requires the recorded Decision Point 1 go)",
                    "start_parallel.yml")
    if name == "parallel":
        if "parallel" not in (decisions or {}):
            return step("record Decision Point 1 in the ledger (Go for the parallel run, with its evidence)",
                        "gate.yml", "-e decision=parallel")
        if compared < required:
            return step(f"keep comparing: {compared} of {required} executions compared, day {day} of "
                        f"{PARALLEL_DAYS} (compare.yml every 20 minutes, AWX schedule)", "compare.yml")
        if not _go(decisions, "cutover"):
            return step("decide DP2 (Go for the cutover)", "gate.yml", "-e decision=cutover")
        return step("cut over inside a quiet window (5.6)", "cutover.yml")
    if name in ("cutover", "post_cutover"):
        if name == "cutover" or day <= POST_CUTOVER_DAYS:
            return step(f"post-cutover checks, day {day or 1} of {POST_CUTOVER_DAYS} (5.7)", "post_cutover.yml")
        if not _go(decisions, "decommission"):
            return step("decide DP3 (Go for decommissioning)", "gate.yml", "-e decision=decommission")
        return step("decommission the old function (day 14)", "decommission.yml")
    if name == "rolled_back":
        scenario = f" (scenario {phase['scenario']})" if phase.get("scenario") else ""
        if not _go(decisions, "parallel"):
            return step(f"rolled back{scenario}: old is live; fix the cause, record Decision Point 1 again, then "
                        "start the parallel run again", "gate.yml", "-e decision=parallel")
        return step(f"rolled back{scenario}: old is live; fix the cause, then start the parallel run again",
                    "start_parallel.yml")
    return {"text": "nothing to do: the migration is complete", "command": ""}


def slots_from_metrics(series: dict, since: datetime | None = None) -> list[dict]:
    """Per-slot rows from the comparison metrics: ``series`` is metric name -> {ISO time: value}."""
    stamps = set()
    for values in series.values():
        stamps |= set(values)
    rows = []
    for stamp in sorted(stamps):
        moment = _time(stamp)
        if moment is None or (since and moment < since):
            continue
        compared = series.get("executions_compared", {}).get(stamp)
        rows.append({"slot": iso(moment),
                     "match_percentage": series.get("match_percentage", {}).get(stamp, 100.0),
                     "discrepancies": int(series.get("discrepancies", {}).get(stamp, 0) or 0),
                     "executions_compared": int(compared or 0)})
    return rows


def per_day(slots: list[dict]) -> list[dict]:
    days: dict[str, int] = {}
    for row in slots:
        days[row["slot"][:10]] = days.get(row["slot"][:10], 0) + row["executions_compared"]
    return [{"day": day, "executions": count} for day, count in sorted(days.items())]


def discrepancy_rows(documents: list[dict]) -> list[dict]:
    """The latest mismatches from the comparison's evidence documents (newest slot first)."""
    rows = []
    for document in sorted(documents, key=lambda d: str(d.get("slot") or ""), reverse=True):
        for entry in document.get("evidence") or []:
            key = entry.get("key")
            key = "/".join(str(v) for v in key.values()) if isinstance(key, dict) else str(key or "")
            detail = " ".join(str(part) for part in (entry.get("unit"), key, entry.get("field")) if part)
            if "old" in entry or "new" in entry:
                detail += f": old {str(entry.get('old'))[:60]} / new {str(entry.get('new'))[:60]}"
            rows.append({"slot": str(document.get("slot") or entry.get("slot") or ""),
                         "kind": str(entry.get("kind") or "?"),
                         "detail": _PHONE.sub(lambda m: f"{m.group(1)}-****-{m.group(3)}", detail.strip())})
            if len(rows) >= DISCREPANCY_ROWS:
                return rows
    return rows


def open_alarms(alarms: list[dict]) -> list[dict]:
    """CloudWatch alarms (describe_alarms shape) in state ALARM."""
    return [{"name": a.get("AlarmName", "?"), "since": a.get("StateUpdatedTimestamp"),
             "reason": str(a.get("StateReason") or "")[:200]}
            for a in alarms if a.get("StateValue") == "ALARM"]


def gather(*, environment: str, account_id: str, ledger: dict, series: dict, alarms: list[dict],
           evidence: list[dict], now: datetime, window_days: float = PARALLEL_DAYS, ticket: str = "") -> dict:
    """The facts of ``status_page.render_text`` / ``render_html`` (plus ``lock_line`` inputs)."""
    events, decisions = ledger.get("events") or [], ledger.get("decisions") or {}
    phase = phase_of(events, now)
    window_start = now - timedelta(days=window_days)
    since = _time(phase["since"]) if phase["name"] == "parallel" else None
    slots = slots_from_metrics(series, max(filter(None, (since, window_start))) if since else window_start)
    executions = {"compared": sum(row["executions_compared"] for row in slots),
                  "required": int(round(window_days * SLOTS_PER_DAY)), "per_day_required": SLOTS_PER_DAY}
    raw_lock = ledger.get("lock")
    lock = None
    if raw_lock:
        lock = {"owner": raw_lock.get("owner"), "ticket": raw_lock.get("ticket"),
                "playbook": raw_lock.get("playbook"), "expires": raw_lock.get("expires_at"),
                "expired": bool(raw_lock.get("expired"))}
    return {
        "environment": environment, "account_id": account_id, "generated_at": iso(now),
        "phase": {"name": phase["name"], "day": phase["day"]},
        "executions": executions,
        "match_percentage": None,
        "slots": slots,
        "executions_per_day": per_day(slots),
        "discrepancies": discrepancy_rows(evidence),
        "open_alarms": open_alarms(alarms),
        "last_decision": last_decision(decisions),
        "lock": lock,
        "next_step": next_step(phase, decisions, executions, raw_lock, last_failed_run(events), environment, ticket),
        "moments": phase["moments"],
    }
