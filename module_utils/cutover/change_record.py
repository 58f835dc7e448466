"""Change records: what one playbook run changed (or, in --check, would change), for the ticket.

Pure: run facts in, a JSON-ready dict and a Markdown text out. No boto3, no Ansible. The
collector is ``callback_plugins/change_record.py``; it feeds ``build()`` and writes both files.

Run facts (``build(run)``):

    playbook, inventory, environment, account_id, operator, caller_arn, ticket, job
    started, ended          ISO 8601 UTC
    check_mode              True: a "planned change" record
    status                  "ok" | "failed"
    stats                   {"ok": n, "changed": n, "failed": n, "skipped": n, "unreachable": n}
    changes                 [{"task", "module", "resource", "diff", "result"}]   changed tasks only
    failures                [{"task", "module", "msg"}]
    results                 [{"task", "module", "result"}]   every task result that carries a
                            decision, a figure or a ledger id (changed or not)
    custom_stats            what the run's set_stats recorded

Everything goes through ``scrub()`` before it is returned: values under secret-looking keys and
substrings that look like credentials are replaced by ``[REDACTED:<kind>]`` and listed under
``scrubbed`` (where, and which kind; never the value). ``assert_clean()`` is the last guard
before a file is written: it refuses a text in which a credential pattern is still visible.
"""
from __future__ import annotations

import difflib
import json
import re
from datetime import datetime, timezone

PLANNED = "planned change"
CHANGE = "change"
NO_CHANGE = "no change"

# Keys whose value is a credential whatever it looks like (compared lower case, after stripping
# the module prefixes such as cutover_ / sens_). Names, ARNs and ids *of* secrets are not secret.
SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret(_access)?_key|secret_value|secret_string|client_secret|api_?key"
    r"|access_?key|private_?key|session_?token|security_?token|auth_?token|bot_?token|token|bearer"
    r"|authorization|cookie|credentials?|webhook(_url)?|signing_?key|secret)$")
NOT_SECRET_KEY = re.compile(r"(_name|_names|_arn|_arns|_id|_ids|_file|_path|_pattern|_required|_length|_count)$")

# Substrings that are credentials wherever they appear (free text, URLs, diffs).
SECRET_PATTERNS = (
    ("private_key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)")),
    ("aws_access_key_id", re.compile(r"\b(AKIA|ASIA|AROA|AIDA)[0-9A-Z]{16}\b")),
    ("aws_secret_access_key", re.compile(
        r"(?i)(aws_secret_access_key|secret_?access_?key|secret_key)(\W{1,4})[A-Za-z0-9/+=]{40}\b")),
    ("slack_webhook", re.compile(r"https://hooks\.slack\.com/(services|workflows|triggers)/[A-Za-z0-9/_-]+")),
    ("webhook_url", re.compile(r"https?://[^\s\"'<>]*(webhook|hooks?)[^\s\"'<>]*", re.I)),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("telegram_bot_token", re.compile(r"\b(bot)?[0-9]{8,10}:[A-Za-z0-9_-]{35}\b")),
    ("github_token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("bearer_token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*")),
    ("url_password", re.compile(r"(?<=://)[^/\s:@\"']+:[^/\s@\"']+(?=@)")),
    ("assigned_secret", re.compile(
        r"(?i)(?<![:/])\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key)\b([\"']?\s*[=:]\s*)"
        r"(?![\"']?\[REDACTED)[\"']?[^\s\"',;&]{6,}")),
)
# Customer phone numbers (Korean mobiles) are not secrets but have no place in a ticket.
PHONE = re.compile(r"\b(01[016789])-?([0-9]{3,4})-?([0-9]{4})\b")

# Result keys that are figures worth a line in the ticket, wherever a module returns them.
FIGURE_KEYS = ("image_digest", "digest", "image_uri", "image_size_bytes", "size_bytes", "gap_seconds", "gap_s",
               "rollback_seconds", "rollback_sla_seconds", "sla_seconds", "duration_seconds", "function_version",
               "version", "backup_arn", "match_percentage", "executions_compared", "discrepancies")
LEDGER_KEYS = ("ledger_id", "ledger_ids", "event_id", "ledger_event_id", "decision_id", "lock_id", "run_id")
# Result keys of a decision (cutover_gate: decision = the point, outcome = go | no_go).
DECISION_KEYS = ("decision", "outcome", "point", "decision_point", "reasons", "evidence", "criteria", "expires",
                 "expires_at")
RESOURCE_KEYS = ("resource", "function_name", "name", "rule", "rule_name", "table", "table_name", "target_table",
                 "repository", "repository_name", "bucket", "alarm_name", "topic", "dashboard_name", "role_name",
                 "policy_name", "log_group_name", "alias")
HEADER_STATS = ("change_ticket", "cutover_environment", "cutover_account_id")
DIFF_LINES = 80


def _redacted(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _is_secret_key(key) -> bool:
    name = str(key).lower().replace("-", "_")
    return bool(SECRET_KEY.search(name)) and not NOT_SECRET_KEY.search(name)


def scrub_text(text: str, where: str = "", found: list | None = None) -> str:
    """Blank every credential-looking substring of ``text``; note (where, kind) in ``found``."""
    for kind, pattern in SECRET_PATTERNS:
        def hide(match, kind=kind):
            if found is not None:
                found.append({"where": where, "kind": kind})
            if kind in ("aws_secret_access_key", "assigned_secret"):
                return match.group(1) + match.group(2) + _redacted(kind)
            return _redacted(kind)
        text = pattern.sub(hide, text)
    return PHONE.sub(lambda m: f"{m.group(1)}-****-{m.group(3)}", text)


def scrub(value, where: str = "", found: list | None = None):
    """A copy of ``value`` with secrets blanked: by key name (any value) and by pattern (strings)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if _is_secret_key(key) and item not in (None, "", [], {}) and not isinstance(item, bool):
                if found is not None:
                    found.append({"where": path, "kind": "secret_key_name"})
                out[key] = _redacted("secret_key_name")
            else:
                out[key] = scrub(item, path, found)
        return out
    if isinstance(value, (list, tuple)):
        return [scrub(item, f"{where}[{index}]", found) for index, item in enumerate(value)]
    if isinstance(value, str):
        return scrub_text(value, where, found)
    return value


class SecretLeft(ValueError):
    """A rendered record still shows something that looks like a credential; nothing was written."""


def leaks(text: str) -> list[str]:
    """The kinds of credential pattern still visible in ``text`` (blanked ones do not count)."""
    return [kind for kind, pattern in SECRET_PATTERNS
            if any("[REDACTED:" not in match.group(0) for match in pattern.finditer(text))]


def assert_clean(text: str) -> str:
    """Return ``text`` if no credential pattern is visible in it, else raise SecretLeft (kinds only)."""
    kinds = leaks(text)
    if kinds:
        raise SecretLeft(f"the change record still contains what looks like a credential ({', '.join(kinds)}); "
                         "it was not written: scrub the value at its source or extend change_record.SECRET_PATTERNS")
    return text


def _time(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def resource_of(change: dict) -> str:
    """A short name for what a task changed: the module's own ``resource``, else a name-like argument."""
    for source in (change.get("result") or {}, change.get("args") or {}):
        for key in RESOURCE_KEYS:
            value = source.get(key)
            if isinstance(value, (str, int)) and str(value):
                return str(value)
    return change.get("task") or "?"


def _pretty(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.splitlines()
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False).splitlines()


def diff_lines(diff) -> list[str]:
    """One unified diff (before -> after) from a module's ``diff`` (dict, list of dicts or prepared text)."""
    if not diff:
        return []
    lines = []
    for part in diff if isinstance(diff, list) else [diff]:
        if not isinstance(part, dict):
            continue
        if part.get("prepared"):
            lines += str(part["prepared"]).splitlines()
            continue
        lines += list(difflib.unified_diff(_pretty(part.get("before")), _pretty(part.get("after")),
                                           str(part.get("before_header") or "before"),
                                           str(part.get("after_header") or "after"), lineterm="", n=2))
    return lines


def _figures(run: dict) -> dict:
    figures = {}
    for row in run.get("results") or []:
        result = row.get("result") or {}
        for key in FIGURE_KEYS:
            if key in result and isinstance(result[key], (str, int, float)) and not isinstance(result[key], bool):
                figures.setdefault(key, result[key])
    for key, value in (run.get("custom_stats") or {}).items():
        if key not in HEADER_STATS:
            figures[key] = value
    return figures


def _decisions(run: dict) -> list[dict]:
    """Every decision a task returned, with its evidence: ``{"task", "point", "decision", "evidence",
    "expires"}`` and, from cutover_gate, ``outcome``, ``criteria`` and ``reasons`` beside the evidence."""
    out = []
    for row in run.get("results") or []:
        result = row.get("result") or {}
        if "decision" not in result:
            continue
        entry = {"task": row.get("task"), "point": result.get("point") or result.get("decision_point"),
                 "decision": result["decision"], "evidence": result.get("evidence") or result.get("reasons") or {},
                 "expires": result.get("expires") or result.get("expires_at")}
        if result.get("outcome"):
            entry["outcome"] = result["outcome"]
        if result.get("criteria"):
            entry["criteria"] = result["criteria"]
        if result.get("evidence") and result.get("reasons"):
            entry["reasons"] = result["reasons"]
        out.append(entry)
    return out


def _ledger_ids(run: dict) -> list[str]:
    ids = []
    for row in run.get("results") or []:
        result = row.get("result") or {}
        for key in LEDGER_KEYS:
            value = result.get(key)
            for item in value if isinstance(value, list) else [value]:
                if item and str(item) not in ids:
                    ids.append(str(item))
    return ids


def kind_of(run: dict) -> str:
    if run.get("check_mode"):
        return PLANNED
    return CHANGE if run.get("changes") else NO_CHANGE


def build(run: dict) -> dict:
    """The change record of one run, scrubbed: a JSON-ready dict."""
    started, ended = _time(run.get("started")), _time(run.get("ended"))
    changes = []
    for change in run.get("changes") or []:
        entry = {"task": change.get("task") or "", "module": change.get("module") or "",
                 "resource": resource_of(change)}
        if change.get("hidden"):
            entry["note"] = "output hidden by no_log"
        else:
            entry["diff"] = diff_lines(change.get("diff"))
            if not entry["diff"]:
                entry["note"] = "no diff returned: run with --diff (AWX: Show Changes) to record before -> after"
        changes.append(entry)
    record = {
        "record": kind_of(run),
        "check_mode": bool(run.get("check_mode")),
        "playbook": run.get("playbook") or "",
        "inventory": run.get("inventory") or "",
        "environment": run.get("environment") or "",
        "account_id": str(run.get("account_id") or ""),
        "operator": run.get("operator") or "",
        "caller_arn": run.get("caller_arn") or "",
        "ticket": run.get("ticket") or "",
        "job": run.get("job") or "",
        "started": _iso(started),
        "ended": _iso(ended),
        "duration_seconds": round((ended - started).total_seconds(), 1) if started and ended else None,
        "status": run.get("status") or "ok",
        "stats": dict(run.get("stats") or {}),
        "changes": changes,
        "failures": [{"task": f.get("task") or "", "module": f.get("module") or "", "msg": str(f.get("msg") or "")}
                     for f in run.get("failures") or []],
        "decisions": _decisions(run),
        "figures": _figures(run),
        "ledger_ids": [] if run.get("check_mode") else _ledger_ids(run),  # --check: nothing was recorded
    }
    found: list = []
    record = scrub(record, "", found)
    record["scrubbed"] = found
    return record


def record_dir(reports_dir: str, record: dict) -> str:
    """reports/<environment>/<ticket or start date>/ (a path string)."""
    folder = record["ticket"] or (record["started"][:10] if record["started"] else "undated")
    return f"{reports_dir.rstrip('/')}/{record['environment'] or 'unknown'}/{folder}"


def file_stem(record: dict) -> str:
    """<start time>-<playbook>[-check], sortable and unique per run."""
    stamp = record["started"].replace("-", "").replace(":", "") or "undated"
    name = record["playbook"].rsplit("/", 1)[-1].rsplit(".", 1)[0] or "playbook"
    return f"{stamp}-{name}{'-check' if record['check_mode'] else ''}"


def object_key(record: dict, region: str, suffix: str = ".json") -> str:
    """Where the record goes in the state bucket: ``change-records/<account>/<region>/<environment>/
    <ticket or date>/<stem><suffix>`` (``state_store.StateStore.key`` layout; one object per run)."""
    folder = record["ticket"] or (record["started"][:10] if record["started"] else "undated")
    return "/".join(("change-records", record["account_id"] or "unknown", region or "unknown",
                     record["environment"] or "unknown", folder, file_stem(record) + suffix))


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _value(value) -> str:
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value, sort_keys=True, default=str, ensure_ascii=False) + "`"
    return f"`{value}`"


def to_markdown(record: dict) -> str:
    """The record as Markdown, pasteable into a ticket."""
    title = f"## {'Planned change' if record['check_mode'] else 'Change record'}: {record['playbook']} on " \
            f"{record['environment'] or record['inventory']}"
    stats = record["stats"]
    result = f"{record['status']}: {stats.get('changed', 0)} changed, {stats.get('failed', 0)} failed, " \
             f"{stats.get('ok', 0)} ok, {stats.get('skipped', 0)} skipped"
    when = f"{record['started']} → {record['ended']}"
    if record["duration_seconds"] is not None:
        when += f" ({record['duration_seconds']:g} s)"
    rows = [("record", record["record"] + (" (--check: nothing was changed)" if record["check_mode"] else "")),
            ("ticket", record["ticket"] or "(none)"), ("playbook", record["playbook"]),
            ("inventory", record["inventory"]), ("account", record["account_id"]),
            ("operator", record["operator"] + (f" ({record['caller_arn']})" if record["caller_arn"] else "")),
            ("job", record["job"]), ("start → end", when), ("result", result)]
    lines = [title, "", "| | |", "|---|---|"]
    lines += [f"| {name} | {_cell(value)} |" for name, value in rows if value]
    verb = "Would change" if record["check_mode"] else "What changed"
    lines += ["", f"### {verb} ({len(record['changes'])})", ""]
    if not record["changes"]:
        lines.append("Nothing.")
    for index, change in enumerate(record["changes"], 1):
        lines.append(f"{index}. **{change['resource']}** ({change['module']}), task \"{change['task']}\"")
        diff = change.get("diff") or []
        if diff:
            shown = diff[:DIFF_LINES]
            more = [f"... {len(diff) - DIFF_LINES} more lines in the JSON record"] if len(diff) > DIFF_LINES else []
            lines += ["", "   ```diff"] + [f"   {line}" for line in shown + more] + ["   ```", ""]
        elif change.get("note"):
            lines.append(f"   _{change['note']}_")
    if record["failures"]:
        lines += ["", "### Failed", ""]
        lines += [f"- task \"{f['task']}\" ({f['module']}): {_cell(f['msg'])}" for f in record["failures"]]
    if record["decisions"]:
        lines += ["", "### Decisions", ""]
        for decision in record["decisions"]:
            point, outcome = decision.get("point") or decision.get("task"), decision["decision"]
            if decision.get("outcome"):
                point, outcome = decision.get("point") or decision["decision"], decision["outcome"]
            lines.append(f"- **{point}: {outcome}**"
                         + (f" (expires {decision['expires']})" if decision.get("expires") else ""))
            evidence = decision.get("evidence")
            items = evidence.items() if isinstance(evidence, dict) else enumerate(evidence or [])
            lines += [f"  - {_cell(v) if isinstance(k, int) else f'{k}: {_cell(v)}'}" for k, v in items]
            lines += [f"  - reason: {_cell(reason)}" for reason in decision.get("reasons") or []]
    if record["figures"]:
        lines += ["", "### Figures", "", "| figure | value |", "|---|---|"]
        lines += [f"| {name} | {_cell(_value(value))} |" for name, value in sorted(record["figures"].items())]
    if record["ledger_ids"]:
        lines += ["", "### Ledger", ""] + [f"- `{item}`" for item in record["ledger_ids"]]
    if record["scrubbed"]:
        lines += ["", f"_{len(record['scrubbed'])} value(s) looked like credentials and were blanked: "
                  + ", ".join(sorted({f"{s['where']} ({s['kind']})" for s in record["scrubbed"]})) + "._"]
    return "\n".join(lines) + "\n"
