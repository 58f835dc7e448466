"""Where the migration stands, rendered twice from the same facts: a console text and one HTML page.

Pure: facts in (a plain dict, as ``playbooks/status.yml`` gathers them from the ledger, the state
bucket and CloudWatch), text out. No boto3, no Ansible, no network: the page is self-contained
(inline CSS and inline SVG charts, no script, no external asset) so it can be mailed, attached to
a ticket or opened from the state bucket offline.

Facts (every key optional except ``environment``; times are ISO 8601 UTC strings):

    environment        "test" | "production"
    account_id         "123456789012"
    generated_at       when the facts were read
    phase              {"name": one of PHASES, "day": N}  (day: parallel run / post-cutover day)
    executions         {"compared": 150, "required": 504, "per_day_required": 72}
    match_percentage   overall match % of the window (None: nothing compared yet)
    slots              [{"slot": ISO, "match_percentage": 100.0, "discrepancies": 0,
                         "executions_compared": 1}]                 one per compared slot
    executions_per_day [{"day": "2026-11-26", "executions": 72}]
    discrepancies      [{"slot": ISO, "kind": "text_differs", "detail": "..."}]  the latest ones
    discrepancies_total  all discrepancies of the window (default: sum over ``slots``)
    open_alarms        [{"name": "...", "since": ISO, "reason": "..."}]
    last_decision      {"point": "DP2", "decision": "go"|"no_go", "at": ISO, "by": "...",
                        "ticket": "CHG...", "reasons": ["..."], "expires": ISO}
    lock               {"owner": "...", "ticket": "...", "playbook": "...", "expires": ISO} or None
    next_step          {"text": "...", "command": "ansible-playbook ..."}
    moments            [{"kind": "cutover"|"rollback", "at": ISO, "label": "..."}]

``render_text(facts)`` is the console; ``render_html(facts)`` the page. Both call
``normalise(facts)`` first, which checks the shapes and says which key is wrong.
"""
from __future__ import annotations

import html
import math
from datetime import datetime, timedelta, timezone

PHASES = ("not_started", "image", "function", "parallel", "cutover", "post_cutover", "decommissioned",
          "rolled_back")
PARALLEL_DAYS = 7
MOMENT_KINDS = ("cutover", "rollback")
DISCREPANCY_ROWS = 20

# Chart geometry (SVG user units).
WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 20, 18, 40


class StatusError(ValueError):
    """The facts do not have the documented shape; the message names the key."""


def _time(value, key: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise StatusError(f"{key}: {value!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _number(value, key: str, default=None):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StatusError(f"{key}: {value!r} is not a number")
    return value


def normalise(facts: dict) -> dict:
    """Check the facts and return a copy with defaults filled and times parsed."""
    if not isinstance(facts, dict):
        raise StatusError("facts must be a mapping")
    if facts.get("environment") not in ("test", "production"):
        raise StatusError(f"environment: {facts.get('environment')!r}, expected test or production")
    phase = dict(facts.get("phase") or {"name": "not_started"})
    if phase.get("name") not in PHASES:
        raise StatusError(f"phase.name: {phase.get('name')!r}, expected one of {', '.join(PHASES)}")
    phase["day"] = _number(phase.get("day"), "phase.day")

    executions = dict(facts.get("executions") or {})
    executions["compared"] = _number(executions.get("compared"), "executions.compared", 0)
    executions["required"] = _number(executions.get("required"), "executions.required", 0)
    executions["per_day_required"] = _number(executions.get("per_day_required"), "executions.per_day_required",
                                             (executions["required"] / PARALLEL_DAYS) if executions["required"] else 0)

    slots = []
    for index, row in enumerate(facts.get("slots") or []):
        key = f"slots[{index}]"
        slots.append({
            "slot": _time(row.get("slot"), f"{key}.slot"),
            "match_percentage": _number(row.get("match_percentage"), f"{key}.match_percentage", 100.0),
            "discrepancies": _number(row.get("discrepancies"), f"{key}.discrepancies", 0),
            "executions_compared": _number(row.get("executions_compared"), f"{key}.executions_compared", 0),
        })
    slots.sort(key=lambda row: row["slot"])

    days = []
    for index, row in enumerate(facts.get("executions_per_day") or []):
        key = f"executions_per_day[{index}]"
        day = _time(f"{row.get('day')}T00:00:00+00:00" if len(str(row.get("day"))) == 10 else row.get("day"), f"{key}.day")
        days.append({"day": day, "executions": _number(row.get("executions"), f"{key}.executions", 0)})
    days.sort(key=lambda row: row["day"])

    moments = []
    for index, row in enumerate(facts.get("moments") or []):
        if row.get("kind") not in MOMENT_KINDS:
            raise StatusError(f"moments[{index}].kind: {row.get('kind')!r}, expected cutover or rollback")
        moments.append({"kind": row["kind"], "at": _time(row.get("at"), f"moments[{index}].at"),
                        "label": str(row.get("label") or row["kind"])})
    moments.sort(key=lambda row: row["at"])

    discrepancies = [dict(row) for row in facts.get("discrepancies") or []]
    total = facts.get("discrepancies_total")
    if total is None:
        total = sum(row["discrepancies"] for row in slots) if slots else len(discrepancies)
    match = facts.get("match_percentage")
    if match is None and slots:
        compared = [row for row in slots if row["executions_compared"]] or slots
        match = min(row["match_percentage"] for row in compared)

    return {
        "environment": facts["environment"],
        "account_id": str(facts.get("account_id") or ""),
        "generated_at": _time(facts["generated_at"], "generated_at") if facts.get("generated_at") else None,
        "phase": phase,
        "executions": executions,
        "match_percentage": _number(match, "match_percentage"),
        "slots": slots,
        "executions_per_day": days,
        "discrepancies": discrepancies,
        "discrepancies_total": _number(total, "discrepancies_total", 0),
        "open_alarms": [dict(row) for row in facts.get("open_alarms") or []],
        "last_decision": dict(facts["last_decision"]) if facts.get("last_decision") else None,
        "lock": dict(facts["lock"]) if facts.get("lock") else None,
        "next_step": dict(facts.get("next_step") or {}),
        "moments": moments,
    }


def phase_label(phase: dict) -> str:
    """'parallel run, day 3 of 7' and the like."""
    name, day = phase.get("name"), phase.get("day")
    if name == "parallel":
        return f"parallel run, day {day} of {PARALLEL_DAYS}" if day else "parallel run"
    if name == "post_cutover":
        return f"post-cutover, day {day}" if day else "post-cutover"
    return {"not_started": "not started", "image": "image pushed", "function": "function created",
            "cutover": "cutover", "decommissioned": "decommissioned", "rolled_back": "rolled back"}[name]


def _percent(value) -> str:
    return "n/a" if value is None else f"{value:.1f} %"


def _executions_line(executions: dict) -> str:
    compared, required = executions["compared"], executions["required"]
    if not required:
        return f"{compared} compared"
    return f"{compared} compared of {required} required ({100.0 * compared / required:.0f} %)"


def _decision_line(decision: dict | None) -> str:
    if not decision:
        return "none yet"
    text = f"{decision.get('point', '?')} {str(decision.get('decision', '?')).upper().replace('_', '-')}"
    if decision.get("at"):
        text += f" at {_short(_time(decision['at'], 'last_decision.at'))}"
    if decision.get("by"):
        text += f" by {decision['by']}"
    if decision.get("ticket"):
        text += f" ({decision['ticket']})"
    return text


def _lock_line(lock: dict | None) -> str:
    if not lock:
        return "free"
    text = f"held by {lock.get('owner', '?')}"
    details = [str(lock[key]) for key in ("ticket", "playbook") if lock.get(key)]
    if details:
        text += f" ({', '.join(details)})"
    if lock.get("expires"):
        text += f" until {_short(_time(lock['expires'], 'lock.expires'))}"
    return text


def _alarm_line(alarm: dict) -> str:
    text = str(alarm.get("name", "?"))
    if alarm.get("since"):
        text += f" since {_short(_time(alarm['since'], 'open_alarms.since'))}"
    if alarm.get("reason"):
        text += f": {alarm['reason']}"
    return text


def _rows(facts: dict) -> list[tuple[str, str]]:
    """The facts as (label, value) lines, shared by the console and the page."""
    slots = facts["slots"]
    last = slots[-1] if slots else None
    match = _percent(facts["match_percentage"])
    if last:
        match += f" (lowest slot; last slot {_iso(last['slot'])}: {_percent(last['match_percentage'])})"
    rows = [
        ("phase", phase_label(facts["phase"])),
        ("executions", _executions_line(facts["executions"])),
        ("match", match),
        ("discrepancies", str(facts["discrepancies_total"])),
        ("open alarms", ", ".join(_alarm_line(a) for a in facts["open_alarms"]) or "none"),
        ("last decision", _decision_line(facts["last_decision"])),
        ("lock", _lock_line(facts["lock"])),
    ]
    for moment in facts["moments"]:
        rows.append((moment["kind"], f"{_short(moment['at'])} ({moment['label']})"
                     if moment["label"] != moment["kind"] else _short(moment["at"])))
    rows.append(("next step", facts["next_step"].get("text") or "nothing to do"))
    return rows


def _title(facts: dict) -> str:
    account = f" (account {facts['account_id']})" if facts["account_id"] else ""
    return f"naver-sms cutover: {facts['environment']}{account}"


def render_text(facts: dict) -> str:
    """The console rendering: one fact per line, the next command last, ready to copy."""
    facts = normalise(facts)
    lines = [_title(facts)]
    if facts["generated_at"]:
        lines[0] += f", {_short(facts['generated_at'])}"
    width = max(len(label) for label, _value in _rows(facts))
    lines += [f"  {label:<{width}}  {value}" for label, value in _rows(facts)]
    if facts["next_step"].get("command"):
        lines.append(f"  {'command':<{width}}  {facts['next_step']['command']}")
    for row in facts["discrepancies"][:5]:
        lines.append(f"  ! {row.get('slot', '?')} {row.get('kind', '?')}: {row.get('detail', '')}".rstrip(": "))
    return "\n".join(lines) + "\n"


# ---- the page -------------------------------------------------------------------------------

def _window(facts: dict) -> tuple[datetime, datetime]:
    times = [row["slot"] for row in facts["slots"]] + [row["at"] for row in facts["moments"]]
    times += [row["day"] for row in facts["executions_per_day"]]
    times += [row["day"] + timedelta(days=1) for row in facts["executions_per_day"]]
    if not times:
        now = facts["generated_at"] or datetime(1970, 1, 1, tzinfo=timezone.utc)
        return now - timedelta(days=1), now
    start, end = min(times), max(times)
    if end - start < timedelta(hours=1):
        start, end = start - timedelta(minutes=30), end + timedelta(minutes=30)
    return start, end + (end - start) * 0.02  # room for a moment drawn at the very end


def _x(moment: datetime, start: datetime, end: datetime) -> float:
    span = (end - start).total_seconds() or 1.0
    return LEFT + (WIDTH - LEFT - RIGHT) * (moment - start).total_seconds() / span


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _svg_open(name: str, label: str) -> list[str]:
    return [f'<svg id="{name}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
            f'role="img" aria-label="{html.escape(label)}">',
            f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
            f'height="{HEIGHT - TOP - BOTTOM}"/>']


def _time_axis(start: datetime, end: datetime) -> list[str]:
    """Day ticks (or hour ticks for a short window) along the bottom."""
    out = []
    step = timedelta(days=1) if end - start > timedelta(days=2) else timedelta(hours=4)
    tick = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while tick <= end:
        if tick >= start:
            x = _x(tick, start, end)
            label = tick.strftime("%m-%d") if step == timedelta(days=1) else tick.strftime("%m-%d %H:%M")
            out.append(f'<line class="grid" x1="{_fmt(x)}" y1="{TOP}" x2="{_fmt(x)}" y2="{HEIGHT - BOTTOM}"/>')
            out.append(f'<text class="tick" x="{_fmt(x)}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{label}</text>')
        tick += step
    return out


def _moments(facts: dict, start: datetime, end: datetime) -> list[str]:
    out = []
    for index, moment in enumerate(facts["moments"]):
        x = _x(moment["at"], start, end)
        # labels left of the line in the right half, one line lower for each moment: they never overlap
        anchor = 'text-anchor="end" dx="-4"' if x > WIDTH / 2 else 'dx="4"'
        text = html.escape(f"{moment['label']} {_short(moment['at'])}")
        out.append(f'<g class="moment {moment["kind"]}" data-at="{_iso(moment["at"])}"><title>{text}</title>'
                   f'<line x1="{_fmt(x)}" y1="{TOP}" x2="{_fmt(x)}" y2="{HEIGHT - BOTTOM}"/>'
                   f'<text x="{_fmt(x)}" y="{TOP + 14 + 15 * index}" {anchor}>{text}</text></g>')
    return out


def _match_chart(facts: dict, start: datetime, end: datetime) -> str:
    slots = facts["slots"]
    lowest = min((row["match_percentage"] for row in slots), default=100.0)
    floor = 0.0 if lowest < 50 else min(90.0, math.floor((lowest - 1) / 10) * 10)
    bottom, height = HEIGHT - BOTTOM, HEIGHT - TOP - BOTTOM

    def y(value):
        return bottom - height * (value - floor) / ((100.0 - floor) or 1.0)

    out = _svg_open("match-chart", "match percentage per slot")
    for value in (floor, (floor + 100) / 2, 100.0):
        out.append(f'<line class="grid" x1="{LEFT}" y1="{_fmt(y(value))}" x2="{WIDTH - RIGHT}" y2="{_fmt(y(value))}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{_fmt(y(value) + 4)}" text-anchor="end">{value:g} %</text>')
    out += _time_axis(start, end)
    if slots:
        path = " ".join(f"{_fmt(_x(row['slot'], start, end))},{_fmt(y(row['match_percentage']))}" for row in slots)
        out.append(f'<polyline class="series" points="{path}"/>')
    for row in slots:
        x, value = _x(row["slot"], start, end), row["match_percentage"]
        bad = row["discrepancies"] > 0
        title = html.escape(f"{_iso(row['slot'])}: {value:g} % match, {row['discrepancies']} discrepancies")
        out.append(f'<circle class="point{" discrepancy" if bad else ""}" cx="{_fmt(x)}" cy="{_fmt(y(value))}" '
                   f'r="{4 if bad else 2.5}" data-slot="{_iso(row["slot"])}" data-match="{value:g}" '
                   f'data-discrepancies="{row["discrepancies"]}"><title>{title}</title></circle>')
        if bad:
            out.append(f'<line class="discrepancy-mark" x1="{_fmt(x)}" y1="{bottom}" x2="{_fmt(x)}" y2="{bottom - 10}"/>')
    if not slots:
        out.append(f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no slot compared yet</text>')
    out += _moments(facts, start, end)
    out.append("</svg>")
    return "".join(out)


def _executions_chart(facts: dict, start: datetime, end: datetime) -> str:
    days = facts["executions_per_day"]
    required = facts["executions"]["per_day_required"]
    top = max([row["executions"] for row in days] + [required, 1])
    bottom, height = HEIGHT - BOTTOM, HEIGHT - TOP - BOTTOM

    def y(value):
        return bottom - height * value / top

    out = _svg_open("executions-chart", "executions compared per day")
    for value in (0, top / 2, top):
        out.append(f'<line class="grid" x1="{LEFT}" y1="{_fmt(y(value))}" x2="{WIDTH - RIGHT}" y2="{_fmt(y(value))}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{_fmt(y(value) + 4)}" text-anchor="end">{value:g}</text>')
    out += _time_axis(start, end)
    for row in days:
        x0, x1 = _x(row["day"], start, end), _x(row["day"] + timedelta(days=1), start, end)
        short = row["executions"] < required
        title = html.escape(f"{row['day']:%Y-%m-%d}: {row['executions']:g} executions compared"
                            + (f" (expected {required:g})" if required else ""))
        out.append(f'<rect class="bar{" short" if short else ""}" x="{_fmt(x0 + 2)}" y="{_fmt(y(row["executions"]))}" '
                   f'width="{_fmt(max(x1 - x0 - 4, 1))}" height="{_fmt(bottom - y(row["executions"]))}" '
                   f'data-day="{row["day"]:%Y-%m-%d}" data-count="{row["executions"]:g}"><title>{title}</title></rect>')
        out.append(f'<text class="count" x="{_fmt((x0 + x1) / 2)}" y="{_fmt(y(row["executions"]) - 4)}" '
                   f'text-anchor="middle">{row["executions"]:g}</text>')
    if required:
        out.append(f'<line class="required" x1="{LEFT}" y1="{_fmt(y(required))}" x2="{WIDTH - RIGHT}" '
                   f'y2="{_fmt(y(required))}"><title>expected per day: {required:g}</title></line>')
    if not days:
        out.append(f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no execution compared yet</text>')
    out += _moments(facts, start, end)
    out.append("</svg>")
    return "".join(out)


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2733;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5b6775;margin:0 0 18px}
.phase{display:inline-block;padding:6px 12px;border-radius:6px;background:#e8f0fe;font-weight:600}
.phase.rolled_back{background:#fde8e8}.phase.decommissioned{background:#eef5ea}
table.facts{border-collapse:collapse;margin-top:14px}
table.facts th{text-align:left;padding:4px 18px 4px 0;color:#5b6775;font-weight:500;vertical-align:top}
table.facts td{padding:4px 0}
pre.command{background:#f4f6f8;border:1px solid #d8dee4;padding:10px;border-radius:6px;white-space:pre-wrap}
svg.chart{max-width:100%;height:auto;border:1px solid #e3e7eb;border-radius:6px}
svg .frame{fill:#fbfcfd;stroke:#c9d1d9}svg .grid{stroke:#e3e7eb}
svg .tick{font-size:11px;fill:#5b6775}svg .count{font-size:10px;fill:#5b6775}
svg .series{fill:none;stroke:#2f6fde;stroke-width:1.5}
svg .point{fill:#2f6fde}svg .point.discrepancy{fill:#d1242f;stroke:#fff;stroke-width:1}
svg .discrepancy-mark{stroke:#d1242f;stroke-width:2}
svg .bar{fill:#7aa7f0}svg .bar.short{fill:#f0b57a}
svg .required{stroke:#1d2733;stroke-dasharray:6 4}
svg .moment line{stroke-width:2;stroke-dasharray:4 3}svg .moment text{font-size:12px;font-weight:600}
svg .moment.cutover line{stroke:#1a7f37}svg .moment.cutover text{fill:#1a7f37}
svg .moment.rollback line{stroke:#d1242f}svg .moment.rollback text{fill:#d1242f}
svg .empty{font-size:14px;fill:#5b6775}
.legend span{margin-right:16px;font-size:12px;color:#5b6775}
.swatch{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px;vertical-align:middle}
table.list{border-collapse:collapse;font-size:13px}
table.list th,table.list td{border-bottom:1px solid #e3e7eb;padding:4px 10px 4px 0;text-align:left;vertical-align:top}
.ok{color:#1a7f37}.bad{color:#d1242f}
"""


def _table(headers: list[str], rows: list[list[str]], css: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_html(facts: dict) -> str:
    """One self-contained HTML page: the same facts as the console, and two charts."""
    facts = normalise(facts)
    start, end = _window(facts)
    esc = html.escape
    title = _title(facts)
    generated = f"read {_short(facts['generated_at'])}; " if facts["generated_at"] else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">{esc(generated)}window {esc(_short(start))} to {esc(_short(end))}</p>',
        f'<div id="phase" class="phase {facts["phase"]["name"]}">{esc(phase_label(facts["phase"]))}</div>',
        '<table class="facts" id="facts">',
    ]
    for label, value in _rows(facts):
        css = ""
        if label == "discrepancies":
            css = ' class="bad"' if facts["discrepancies_total"] else ' class="ok"'
        parts.append(f'<tr data-fact="{esc(label)}"><th>{esc(label)}</th><td{css}>{esc(value)}</td></tr>')
    parts.append("</table>")
    if facts["next_step"].get("command"):
        parts.append(f'<pre class="command" id="next-command"><code>{esc(facts["next_step"]["command"])}</code></pre>')
    parts += [
        "<h2>Match % per slot</h2>",
        '<p class="legend"><span><i class="swatch" style="background:#2f6fde"></i>slot</span>'
        '<span><i class="swatch" style="background:#d1242f"></i>slot with discrepancies</span>'
        '<span><i class="swatch" style="background:#1a7f37"></i>cutover</span>'
        '<span><i class="swatch" style="background:#d1242f"></i>rollback</span></p>',
        _match_chart(facts, start, end),
        "<h2>Executions compared per day</h2>",
        _executions_chart(facts, start, end),
    ]
    if facts["discrepancies"]:
        parts.append(f"<h2>Latest discrepancies ({facts['discrepancies_total']} in the window)</h2>")
        parts.append(_table(["slot", "kind", "detail"],
                            [[row.get("slot", ""), row.get("kind", ""), row.get("detail", "")]
                             for row in facts["discrepancies"][:DISCREPANCY_ROWS]], "list"))
    if facts["open_alarms"]:
        parts.append("<h2>Open alarms</h2>")
        parts.append(_table(["alarm", "since", "reason"],
                            [[a.get("name", ""), a.get("since", ""), a.get("reason", "")] for a in facts["open_alarms"]],
                            "list"))
    decision = facts["last_decision"]
    if decision and decision.get("reasons"):
        parts.append(f"<h2>Evidence of the last decision ({esc(_decision_line(decision))})</h2><ul>")
        parts += [f"<li>{esc(str(reason))}</li>" for reason in decision["reasons"]]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
