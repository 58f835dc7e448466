"""The migration ledger's pure rules: lock decisions, item shapes, decisions and their expiry.

No boto3 and no Ansible here (``library/cutover_ledger.py`` is the adapter). One small DynamoDB
table per environment holds three kinds of item, all under the key ``pk`` (hash) / ``sk`` (range):

- the lock: ``pk=lock``, ``sk=lock`` (owner, ticket, playbook, run_id, acquired_at, expires_at);
- one event per playbook run: ``pk=event``, ``sk=<started_at>#<run_id>`` (newest first by sk);
- gate decisions: ``pk=decision``, ``sk=<decision>#<recorded_at>`` (latest per decision).

Times are ISO strings in UTC with a ``Z`` (``2026-11-26T04:05:00Z``) and epoch seconds where a
condition or an age is computed. Nested values (facts, criteria, evidence) are stored as JSON text
so that any value round-trips unchanged (DynamoDB has no float).
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

KEY = ("pk", "sk")
LOCK_KEY = {"pk": "lock", "sk": "lock"}
DECISIONS = ("parallel", "cutover", "decommission")
OUTCOMES = ("go", "no_go")
RESULTS = ("ok", "failed", "refused", "check")
MAX_TTL_MINUTES = 24 * 60
_JSON_FIELDS = ("facts", "criteria", "evidence")


class LedgerError(Exception):
    """Input the ledger refuses, or a lock it cannot take; the message says what to do."""


# ----------------------------------------------------------------------------- time and owner
def iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_of(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def owner_string(user: str | None, host: str | None) -> str:
    """``user@host`` of the controller (the default lock owner); unknown parts say so."""
    user = (user or "").strip() or "unknown-user"
    host = (host or "").strip().split(".")[0] or "unknown-host"
    return f"{user}@{host}"


def _age(seconds: int) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


# ----------------------------------------------------------------------------- the lock
def lock_item(owner: str, ticket: str, playbook: str, run_id: str, now: float, ttl_minutes: int,
              inventory: str = "", taken_over_from: dict | None = None) -> dict:
    if not owner:
        raise LedgerError("a lock needs an owner (default user@host)")
    if not isinstance(ttl_minutes, int) or not 1 <= ttl_minutes <= MAX_TTL_MINUTES:
        raise LedgerError(f"ttl_minutes must be a whole number from 1 to {MAX_TTL_MINUTES}, got {ttl_minutes!r}")
    item = dict(LOCK_KEY, owner=owner, ticket=ticket or "", playbook=playbook or "", run_id=run_id,
                inventory=inventory or "", acquired_at=iso(now), acquired_epoch=int(now),
                expires_epoch=int(now) + ttl_minutes * 60, expires_at=iso(now + ttl_minutes * 60),
                ttl_minutes=ttl_minutes)
    if taken_over_from:
        item["taken_over_from"] = json.dumps(lock_view(taken_over_from, now), sort_keys=True)
    return item


def lock_view(item: dict | None, now: float) -> dict | None:
    """What an operator reads about a lock: who, why, since when, expired or not."""
    if not item:
        return None
    view = {k: item.get(k) for k in ("owner", "ticket", "playbook", "run_id", "inventory", "acquired_at",
                                     "expires_at")}
    view["age_s"] = max(0, int(now) - int(item.get("acquired_epoch", now)))
    view["expired"] = int(now) >= int(item.get("expires_epoch", 0))
    return view


def describe_lock(view: dict) -> str:
    return (f"owner {view['owner']}, ticket {view['ticket'] or '(none)'}, playbook {view['playbook'] or '?'}, "
            f"taken {_age(view['age_s'])} ago ({view['acquired_at']}), "
            + ("expired" if view["expired"] else f"expires {view['expires_at']}"))


def lock_decision(existing: dict | None, now: float, force_unlock: bool = False, unlock_reason: str = "") -> str:
    """``acquire`` (no lock), ``takeover`` (expired, forced with a reason); else LedgerError saying why."""
    if force_unlock and not (unlock_reason or "").strip():
        raise LedgerError("force_unlock needs a reason: add -e unlock_reason=\"...\" (it is recorded in the ledger)")
    if existing is None:
        return "acquire"
    view = lock_view(existing, now)
    if not view["expired"]:
        raise LedgerError(
            f"the migration is locked by another run: {describe_lock(view)}. Wait until that run ends "
            f"(the lock is released at its end) and run again; force_unlock only takes over an expired lock")
    if not force_unlock:
        raise LedgerError(
            f"an expired lock is in the way: {describe_lock(view)}. Make sure that run is gone, then take the "
            f"lock over with -e force_unlock=true -e unlock_reason=\"why\" (recorded in the ledger)")
    return "takeover"


def unlock_decision(existing: dict | None, run_id: str, force_unlock: bool = False, unlock_reason: str = "") -> str:
    """``none`` (no lock), ``release`` (ours or forced), ``not_ours`` (another run's: left alone)."""
    if force_unlock and not (unlock_reason or "").strip():
        raise LedgerError("force_unlock needs a reason: add -e unlock_reason=\"...\" (it is recorded in the ledger)")
    if existing is None:
        return "none"
    if force_unlock or (run_id and existing.get("run_id") == run_id):
        return "release"
    return "not_ours"


# ----------------------------------------------------------------------------- events
def event_item(event: dict, run_id: str, now: float) -> dict:
    """One item per playbook run: who ran what, where, under which ticket, when, with which result."""
    if not isinstance(event, dict):
        raise LedgerError(f"event must be a mapping, got {type(event).__name__}")
    unknown = set(event) - {"playbook", "inventory", "environment", "account", "ticket", "operator",
                            "started_at", "ended_at", "result", "facts", "kind", "reason"}
    if unknown:
        raise LedgerError(f"event has unknown fields {sorted(unknown)}; put extra values under facts")
    if not event.get("playbook") and not event.get("kind"):
        raise LedgerError("an event needs a playbook (or a kind, such as force_unlock)")
    result = event.get("result", "ok")
    if result not in RESULTS:
        raise LedgerError(f"event result must be one of {', '.join(RESULTS)}, got {result!r}")
    facts = event.get("facts") or {}
    if not isinstance(facts, dict):
        raise LedgerError("event facts must be a mapping (digest, backup ARNs, counts, ...)")
    started = event.get("started_at") or iso(now)
    epoch_of(started)  # a bad date fails here, before any write
    item = {"pk": "event", "sk": f"{started}#{run_id}", "run_id": run_id, "recorded_at": iso(now),
            "started_at": started, "ended_at": event.get("ended_at") or iso(now), "result": result,
            "facts": json.dumps(facts, sort_keys=True, default=str)}
    for name in ("playbook", "inventory", "environment", "account", "ticket", "operator", "kind", "reason"):
        item[name] = str(event.get(name) or "")
    return item


# ----------------------------------------------------------------------------- decisions
def decision_item(decision: str, outcome: str, criteria, evidence, expires_in_hours, decided_by: str,
                  now: float) -> dict:
    if decision not in DECISIONS:
        raise LedgerError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if outcome not in OUTCOMES:
        raise LedgerError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if not isinstance(criteria, list) or not all(isinstance(c, dict) for c in criteria):
        raise LedgerError("criteria must be a list of mappings (one per checked criterion)")
    if evidence is not None and not isinstance(evidence, dict):
        raise LedgerError("evidence must be a mapping")
    if expires_in_hours is not None and (isinstance(expires_in_hours, bool) or not isinstance(expires_in_hours, int)
                                         or expires_in_hours <= 0):
        raise LedgerError(f"expires_in_hours must be a positive whole number of hours or null, got {expires_in_hours!r}")
    recorded = iso(now)
    return {"pk": "decision", "sk": f"{decision}#{recorded}", "decision": decision, "outcome": outcome,
            "criteria": json.dumps(criteria, sort_keys=True, default=str),
            "evidence": json.dumps(evidence or {}, sort_keys=True, default=str),
            "decided_by": decided_by or "", "recorded_at": recorded,
            "expires_at": iso(now + expires_in_hours * 3600) if expires_in_hours else ""}


def _plain(item: dict) -> dict:
    out = {k: v for k, v in item.items() if k not in KEY}
    for name in _JSON_FIELDS + ("taken_over_from",):
        if isinstance(out.get(name), str):
            try:
                out[name] = json.loads(out[name])
            except ValueError:
                pass
    for name, value in list(out.items()):
        if hasattr(value, "to_integral_value"):  # Decimal from DynamoDB
            out[name] = int(value)
    return out


def latest_decisions(items, now: float) -> dict:
    """decision name -> its latest record, with ``expired``; items in any order."""
    latest = {}
    for item in items:
        record = _plain(item)
        name = record.get("decision")
        if name and (name not in latest or record["recorded_at"] > latest[name]["recorded_at"]):
            latest[name] = record
    for record in latest.values():
        record["expires_at"] = record.get("expires_at") or None
        record["expired"] = bool(record["expires_at"]) and int(now) >= epoch_of(record["expires_at"])
    return latest


def events_view(items, limit: int) -> list:
    """Events newest first."""
    records = sorted((_plain(i) for i in items), key=lambda r: (r.get("started_at", ""), r.get("recorded_at", "")),
                     reverse=True)
    return records[:limit]


def table_name_problem(name: str) -> str | None:
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_.-]{3,255}$", name):
        return f"ledger table name {name!r} must be 3-255 letters, digits, '_', '-' or '.'"
    return None
