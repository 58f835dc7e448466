"""Go / No-Go rules of the three decision points (pure: no boto3, no Ansible).

Criteria in, decision out (the yamllint ``run(input, conf)`` shape): ``decide(decision,
measured, settings, now)`` takes what the adapter (``library/cutover_gate.py``) measured in AWS
and returns ``{"decision", "outcome", "criteria", "reasons", "expires_at", ...}``.

Every criterion is ``{"name", "measured", "required", "status", "reason"}`` with status
``pass``, ``fail`` or ``inconclusive``. A criterion without data is ``inconclusive`` and the
outcome is ``go`` only when every criterion passed: missing evidence never reads as a pass.

What only a person can attest is an acknowledgement ``{"by": <who>, "ref": <ticket or link>}``;
a missing or incomplete one is a failed criterion.

Measurements (keys of ``measured``; a key that is absent or None means "could not be measured"):

- DP1 ``parallel``: ``image`` ``{"repository", "tags": {tag: digest|None}, "expected_digest"}``;
  ``function`` ``{"exists", "state", "package_type", "digest", "timeout_s"}``; ``alias``
  ``{"name", "exists", "version", "digest"}``; ``new_rule`` ``{"name", "exists", "state",
  "modes"}``; ``alarms`` ``{"names", "states": {name: state}}``; ``topics`` ``{topic:
  {"exists", "confirmed", "pending"}}``; ``dashboard`` ``{"name", "exists"}``; ``backup``
  ``{"table", "name", "status", "arn"}``; ``seeded`` ``{"table", "exists", "source_backup_arn",
  "item_count"}``; ``shadow_probe`` ``{"deliveries", "digest", "source"}``.
- DP2 ``cutover``: ``window`` ``{"slots": [iso...], "first", "last"}``; ``comparison`` ``{slot:
  {"executions", "match_min", "discrepancies_max", "leak_max"}}`` (only slots with data);
  ``lambda`` ``{"invocations", "errors", "duration_max_ms"}`` (None: no datapoint);
  ``function`` (its ``timeout_s``); ``alarms``; ``leak_record`` (judged when present: the state bucket's
  ``shadow/leak.json``, ``{"incidents": [{"digest", "first_slot", "last_slot", "sms", ...}]}``, ``{}`` when
  none) with ``alias`` ``{"digest", "deployed_at"}`` (the alias's image and when it was deployed).
- DP3 ``decommission``: ``cutover_at`` (ISO), ``rollbacks`` (list, None = unknown), both from the
  ledger's run events through ``cutover_history``; ``alarms_since`` ``{"went_to_alarm": [names],
  "unknown": [names]}``, ``lambda`` since cutover.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

DECISIONS = ("parallel", "cutover", "decommission")
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"

# What only a person can attest, per decision (issue 10); production adds the shadow probe to DP1.
ATTESTATIONS = {
    "parallel": ("rollback_rehearsed",),
    "cutover": ("rollback_practised", "team_comfortable", "po_approval"),
    "decommission": ("zero_customer_complaints", "po_approval"),
}
PROBE_ACK = "shadow_probe"
ALL_ACKS = frozenset(a for names in ATTESTATIONS.values() for a in names) | {PROBE_ACK}

DEFAULTS = {
    "window_days": 7.0,
    "allowed_gap": 0.0,
    "slot_minutes": 20,
    "settle_slots": 1,
    "grace_s": 300,
    "max_duration_ms": 240000,
    "max_error_rate": 0.01,
    "expires_in_hours": {"parallel": None, "cutover": 24, "decommission": None},
    "probe_mode": "run",  # run (test inventory: a probe invoke measured) | acknowledge (production)
}


class GateInputError(ValueError):
    """Input the gate cannot judge; the message says what to fix."""


# ----------------------------------------------------------------------------- time and inputs
def parse_time(value, name="time"):
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise GateInputError(f"{name} {value!r} is not an ISO date-time such as 2026-11-26T04:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def iso(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def settings_of(overrides=None):
    """Defaults merged with ``overrides``; validated (window > 0, gap in [0, 1), ...)."""
    settings = dict(DEFAULTS)
    settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
    expiry = dict(DEFAULTS["expires_in_hours"])
    expiry.update((overrides or {}).get("expires_in_hours") or {})
    settings["expires_in_hours"] = expiry
    try:
        days = float(settings["window_days"])
        gap = float(settings["allowed_gap"])
    except (TypeError, ValueError):
        raise GateInputError("window_days and allowed_gap must be numbers") from None
    if math.isnan(days) or days <= 0 or math.isinf(days):
        raise GateInputError(f"window_days must be more than 0 (7 for the parallel week), got {settings['window_days']}")
    if not 0 <= gap < 1:
        raise GateInputError(f"allowed_gap is a fraction of the slots, 0 <= gap < 1 (0.01 = 1 %), got {gap}")
    if int(settings["slot_minutes"]) <= 0 or int(settings["settle_slots"]) < 0 or int(settings["grace_s"]) < 0:
        raise GateInputError("slot_minutes must be positive, settle_slots and grace_s not negative")
    if settings["probe_mode"] not in ("run", "acknowledge"):
        raise GateInputError(f"probe_mode must be run or acknowledge, got {settings['probe_mode']!r}")
    settings.update(window_days=days, allowed_gap=gap)
    if slots_in_window(settings) < 1:
        raise GateInputError(f"window_days {days} holds no whole slot of {settings['slot_minutes']} minutes")
    return settings


def slots_in_window(settings):
    return int(round(settings["window_days"] * 24 * 60 / int(settings["slot_minutes"]), 6))


def slot_floor(moment, minutes):
    moment = moment.astimezone(timezone.utc)
    return moment.replace(minute=moment.minute - moment.minute % minutes, second=0, microsecond=0)


def window_of(settings, as_of):
    """The slots DP2 judges: ``window_days`` of slots ending with the newest settled slot.

    A slot is settled (compare.yml has reported it) once slot start + (1 + settle) slots + grace
    has passed, the rule ``output_compare`` itself uses.
    """
    minutes = int(settings["slot_minutes"])
    step = timedelta(minutes=minutes)
    newest_run = slot_floor(as_of - timedelta(seconds=int(settings["grace_s"])), minutes)
    last = newest_run - step * (1 + int(settings["settle_slots"]))
    count = slots_in_window(settings)
    first = last - step * (count - 1)
    return {"first": iso(first), "last": iso(last), "slots": [iso(first + step * i) for i in range(count)],
            "slot_minutes": minutes}


def check_acknowledgements(acks):
    """Unknown names are refused (a typo must not silently leave an attestation missing)."""
    unknown = sorted(set(acks or {}) - ALL_ACKS)
    if unknown:
        raise GateInputError(f"unknown acknowledgement(s) {', '.join(unknown)}: known are {', '.join(sorted(ALL_ACKS))}")
    for name, ack in (acks or {}).items():
        if ack is not None and not isinstance(ack, dict):
            raise GateInputError(f"acknowledgement {name} must be a mapping such as "
                                 "{\"by\": \"Kim Minsu\", \"ref\": \"CHG0012345\"}, got " + repr(ack))


# ----------------------------------------------------------------------------- criteria
def criterion(name, measured, required, ok, reason=""):
    """ok True -> pass, False -> fail, None -> inconclusive (no data)."""
    status = INCONCLUSIVE if ok is None else PASS if ok else FAIL
    return {"name": name, "measured": measured, "required": required, "status": status, "reason": reason}


def _short(digest):
    return (digest or "none")[:19]


def attestation(name, ack, extra=()):
    required = "acknowledged by a person: -e with by and ref" + (f" and {', '.join(extra)}" if extra else "")
    if not ack:
        return criterion(f"attested: {name}", "no acknowledgement", required, False,
                         f"missing acknowledgement {name}: pass cutover_gate_acks.{name} = "
                         "{by: <who>, ref: <ticket or link>}")
    missing = [key for key in ("by", "ref") + tuple(extra) if not str(ack.get(key) or "").strip()]
    measured = f"by {ack.get('by') or '?'} ({ack.get('ref') or 'no reference'})"
    if missing:
        return criterion(f"attested: {name}", measured, required, False,
                         f"acknowledgement {name} lacks {', '.join(missing)}")
    return criterion(f"attested: {name}", measured, required, True)


def image_digest(measured):
    """The digest every tag of the image names in ECR, or None."""
    image = measured.get("image") or {}
    digests = set((image.get("tags") or {}).values())
    if len(digests) == 1 and None not in digests:
        return next(iter(digests))
    return None


def _image(measured):
    image = measured.get("image")
    required = "every tag on one digest in ECR"
    if image is None:
        return criterion("image in ECR with its tags", "not measured", required, None, "ECR was not read")
    tags = image.get("tags") or {}
    measured_text = ", ".join(f"{t}={_short(d)}" for t, d in sorted(tags.items())) or "no tag asked"
    if image.get("repository_missing"):
        return criterion("image in ECR with its tags", f"repository {image.get('repository')} missing", required,
                         False, "run deploy_image.yml")
    if not tags:
        return criterion("image in ECR with its tags", measured_text, required, None, "no image tag given")
    missing = sorted(t for t, d in tags.items() if not d)
    if missing:
        return criterion("image in ECR with its tags", measured_text, required, False,
                         f"tag(s) {', '.join(missing)} not in {image.get('repository')}: run deploy_image.yml")
    digest = image_digest(measured)
    if digest is None:
        return criterion("image in ECR with its tags", measured_text, required, False, "the tags name different digests")
    expected = image.get("expected_digest")
    if expected and expected != digest:
        return criterion("image in ECR with its tags", measured_text, f"{required} = {_short(expected)}", False,
                         f"ECR has {digest}, the recorded digest is {expected}")
    return criterion("image in ECR with its tags", measured_text, required, True)


def _function(measured):
    fn = measured.get("function")
    digest = image_digest(measured)
    required = f"Active container image from {_short(digest)}"
    if fn is None:
        return criterion("function Active from the image digest", "not measured", required, None, "Lambda was not read")
    if not fn.get("exists"):
        return criterion("function Active from the image digest", "missing", required, False, "run create_function.yml")
    text = f"{fn.get('state')} {fn.get('package_type')} {_short(fn.get('digest'))}"
    if digest is None:
        return criterion("function Active from the image digest", text, required, None, "no image digest to compare with")
    ok = fn.get("state") == "Active" and fn.get("package_type") == "Image" and fn.get("digest") == digest
    return criterion("function Active from the image digest", text, required, ok,
                     "" if ok else "the function is not Active or runs another image: run create_function.yml")


def _alias(measured):
    alias = measured.get("alias")
    digest = image_digest(measured)
    name = (alias or {}).get("name", "live")
    required = f"alias {name} on a published version from {_short(digest)}"
    if alias is None:
        return criterion(f"alias {name}", "not measured", required, None, "Lambda was not read")
    if not alias.get("exists"):
        return criterion(f"alias {name}", "missing", required, False, "run create_function.yml")
    text = f"version {alias.get('version')} {_short(alias.get('digest'))}"
    if digest is None:
        return criterion(f"alias {name}", text, required, None, "no image digest to compare with")
    ok = alias.get("version") not in (None, "$LATEST") and alias.get("digest") == digest
    return criterion(f"alias {name}", text, required, ok, "" if ok else "run create_function.yml")


def _new_rule(measured):
    rule = measured.get("new_rule")
    required = "present, DISABLED or ENABLED with every target input {\"mode\": \"shadow\"}"
    if rule is None:
        return criterion("new rule safe (disabled or shadow)", "not measured", required, None, "EventBridge was not read")
    if not rule.get("exists"):
        return criterion("new rule safe (disabled or shadow)", f"{rule.get('name')} missing", required, False,
                         "run create_function.yml")
    modes = list(rule.get("modes") or [])
    text = f"{rule.get('state')}, modes {modes}"
    ok = rule.get("state") == "DISABLED" or (bool(modes) and all(m == "shadow" for m in modes))
    return criterion("new rule safe (disabled or shadow)", text, required, ok,
                     "" if ok else "the new rule would reach customers: disable it or set its input to shadow")


def _alarm_names(measured, name, required):
    """-> (the inconclusive criterion when the alarms are unknown or none is named, else None; names)."""
    alarms = measured.get("alarms")
    if alarms is None:
        return criterion(name, "not measured", required, None, "CloudWatch was not read"), []
    names = list(alarms.get("names") or [])
    if not names:
        return criterion(name, "no alarm named", required, None,
                         "cutover_monitoring_alarms is empty: run monitoring.yml and name its alarms"), []
    return None, names


def _alarms_present(measured):
    required = "every monitoring alarm present"
    unknown, names = _alarm_names(measured, "monitoring alarms present", required)
    if unknown:
        return unknown
    alarms = measured["alarms"]
    missing = [n for n in names if n not in (alarms.get("states") or {})]
    return criterion("monitoring alarms present", f"{len(names) - len(missing)} of {len(names)}", required,
                     not missing, f"missing: {', '.join(missing)} (run monitoring.yml)" if missing else "")


def _topics(measured):
    topics = measured.get("topics")
    required = "every alarm topic with at least one confirmed subscription"
    if topics is None:
        return criterion("alarm topics subscribed", "not measured", required, None, "SNS was not read")
    if not topics:
        return criterion("alarm topics subscribed", "no topic named", required, None,
                         "cutover_alarm_topics is empty: run monitoring.yml and name its topics")
    bad = [n for n, t in sorted(topics.items()) if not t.get("exists") or not t.get("confirmed")]
    text = ", ".join(f"{n}: {'missing' if not t.get('exists') else str(t.get('confirmed')) + ' confirmed'}"
                     for n, t in sorted(topics.items()))
    return criterion("alarm topics subscribed", text, required, not bad,
                     f"no topic or no confirmed subscription: {', '.join(bad)}" if bad else "")


def _dashboard(measured):
    board = measured.get("dashboard")
    if board is None:
        return criterion("dashboard present", "not measured", "present", None, "CloudWatch was not read")
    if not board.get("name"):
        return criterion("dashboard present", "no dashboard named", "present", None, "cutover_dashboard is empty")
    return criterion("dashboard present", f"{board['name']}: {'present' if board.get('exists') else 'missing'}",
                     "present", bool(board.get("exists")), "" if board.get("exists") else "run monitoring.yml")


def _backup(measured):
    backup = measured.get("backup")
    if backup is None:
        return criterion("old table backed up", "not measured", "backup AVAILABLE", None, "DynamoDB was not read")
    text = f"{backup.get('name')} of {backup.get('table')}: {backup.get('status') or 'missing'}"
    ok = backup.get("status") == "AVAILABLE"
    return criterion("old table backed up", text, "backup AVAILABLE", ok,
                     "" if ok else "take the backup (seed_new_table.yml, dynamodb_state action=backup)")


def _seeded(measured):
    seeded, backup = measured.get("seeded"), measured.get("backup") or {}
    required = f"restored from {backup.get('name') or 'the backup'}"
    if seeded is None:
        return criterion("new table seeded from the backup", "not measured", required, None, "DynamoDB was not read")
    if not seeded.get("exists"):
        return criterion("new table seeded from the backup", f"{seeded.get('table')} missing", required, False,
                         "restore it from the backup (seed_new_table.yml, dynamodb_state action=restore)")
    source = seeded.get("source_backup_arn")
    text = f"{seeded.get('table')} from {source or 'no backup'}, {seeded.get('item_count')} items"
    if source is None:
        return criterion("new table seeded from the backup", text, required, False,
                         "the table was not restored from a backup: the first shadow run would confirm every booking")
    ok = not backup.get("arn") or source == backup.get("arn")
    return criterion("new table seeded from the backup", text, required, ok,
                     "" if ok else f"restored from another backup than {backup.get('arn')}")


def _shadow_probe(measured, acks, settings):
    digest = image_digest(measured)
    required = f"0 deliveries from one shadow invoke of {_short(digest)}"
    if settings["probe_mode"] == "acknowledge":
        ack = (acks or {}).get(PROBE_ACK)
        found = attestation(PROBE_ACK, ack, extra=("digest", "test"))
        found["name"] = "shadow probe (attested)"
        found["required"] = f"acknowledged by a person naming the digest {_short(digest)} and the test that proved shadow"
        if found["status"] == PASS and ack.get("digest") != digest:
            found.update(status=FAIL, reason=f"the acknowledgement names {ack.get('digest')}, ECR has {digest}")
        return found
    probe = measured.get("shadow_probe")
    if not probe:
        return criterion("shadow probe", "not run", required, None,
                         "no probe result: run the probe (gate.yml does on the test inventory)")
    if probe.get("error"):
        return criterion("shadow probe", f"failed: {probe['error']}", required, False, probe["error"])
    deliveries = probe.get("deliveries")
    text = f"{deliveries} deliveries ({probe.get('source', 'SENS recorder')}), image {_short(probe.get('digest'))}"
    if deliveries is None:
        return criterion("shadow probe", text, required, None, "deliveries were not counted")
    if digest and probe.get("digest") and probe["digest"] != digest:
        return criterion("shadow probe", text, required, False, "the probe ran another image than the one in ECR")
    return criterion("shadow probe", text, required, deliveries == 0,
                     "" if deliveries == 0 else f"the new function delivered {deliveries} SMS in shadow mode: "
                     "it ignores {\"mode\": \"shadow\"}; never start the parallel run with this image")


def _comparison_criteria(measured, settings):
    window = measured.get("window") or {}
    slots = list(window.get("slots") or [])
    data = measured.get("comparison")
    total = len(slots)
    required_exec = math.ceil(total * (1 - settings["allowed_gap"]) - 1e-9)
    out = []
    if data is None:
        reason = "the comparison metrics were not read"
        return [criterion(n, "not measured", r, None, reason) for n, r in (
            ("executions compared", f">= {required_exec}"), ("every compared slot 100 % match", "100"),
            ("discrepancies", "0"), ("no late item open past the settle window", "0 slots behind"))]
    compared = {s: data[s] for s in slots if s in data}
    missing = [s for s in slots if s not in data]
    executions = int(sum(row.get("executions") or 0 for row in compared.values()))
    namespace = measured.get("namespace", "the comparison namespace")
    text = f"{executions} of {total} slots ({len(missing)} not compared)"
    if not compared:
        out.append(criterion("executions compared", text, f">= {required_exec}", None,
                             f"no datapoint of {namespace} executions_compared from {window.get('first')} to "
                             f"{window.get('last')}: is compare.yml running, and is the namespace right?"))
    elif executions >= required_exec:
        out.append(criterion("executions compared", text, f">= {required_exec}", True))
    elif missing and executions + len(missing) >= required_exec:
        out.append(criterion("executions compared", text, f">= {required_exec}", None,
                             f"{len(missing)} slot(s) have no comparison (first {missing[0]}): "
                             "run compare.yml for them (cutover_compare_start/end) before deciding"))
    else:
        out.append(criterion("executions compared", text, f">= {required_exec}", False,
                             f"only {executions} slots ran on both sides and were compared"
                             + (f"; {len(missing)} not compared (first {missing[0]})" if missing else "")))
    matches = [row.get("match_min") for row in compared.values() if row.get("match_min") is not None]
    if not matches:
        out.append(criterion("every compared slot 100 % match", "no data", "100 in every slot", None,
                             f"no match_percentage datapoint in {namespace}"))
    else:
        low = [s for s, row in sorted(compared.items()) if row.get("match_min") is not None and row["match_min"] < 100]
        out.append(criterion("every compared slot 100 % match", f"minimum {min(matches):g} over {len(matches)} slots",
                             "100 in every slot", not low,
                             f"{len(low)} slot(s) below 100 % (first {low[0]})" if low else ""))
    discrepancies = [row.get("discrepancies_max") for row in compared.values()
                     if row.get("discrepancies_max") is not None]
    if not discrepancies:
        out.append(criterion("discrepancies", "no data", "0", None, f"no discrepancies datapoint in {namespace}"))
    else:
        worst = [s for s, row in sorted(compared.items()) if (row.get("discrepancies_max") or 0) > 0]
        out.append(criterion("discrepancies", f"{int(sum(d for d in discrepancies))} in {len(worst)} slot(s)", "0",
                             not worst, f"first in slot {worst[0]}: see reports/comparison" if worst else ""))
    leaks = [row.get("leak_max") for row in compared.values() if row.get("leak_max") is not None]
    if leaks:
        leaked = [s for s, row in sorted(compared.items()) if (row.get("leak_max") or 0) > 0]
        out.append(criterion("no shadow leak", f"{int(sum(leaks))} leaked in {len(leaked)} slot(s)", "0", not leaked,
                             f"the new side delivered in shadow mode (first {leaked[0]})" if leaked else ""))
    # An item one side did and the other not yet is "late" until its settle window closes; the
    # comparison of that slot then calls it late (settled) or a discrepancy. So no late item is
    # open past the settle window when the newest settled slot has been compared.
    if not compared:
        out.append(criterion("no late item open past the settle window", "no compared slot", "0 slots behind", None,
                             "the comparison has not reported any slot of the window"))
    else:
        newest = max(compared)
        behind = sum(1 for s in slots if s > newest)
        out.append(criterion("no late item open past the settle window",
                             f"{behind} slot(s) behind (newest compared {newest}, newest settled {window.get('last')})",
                             "0 slots behind", behind == 0,
                             "" if behind == 0 else "compare.yml lags: its open late items are neither settled nor "
                             "counted; run it for the missing slots"))
    return out


def _leak_record(measured):
    """After a shadow leak DP2 stays no_go until an image with another digest ran clean for the whole window:
    on the alias, deployed no later than the window's first slot, and no leak inside the window."""
    name = "no shadow leak of the image on the alias"
    required = "no leak recorded, or another image deployed before the window and no leak inside it"
    record, alias = measured.get("leak_record"), measured.get("alias") or {}
    first = (measured.get("window") or {}).get("first") or ""
    if record is None:
        return criterion(name, "leak record not read", required, None, "read shadow/leak.json from the state bucket")
    incidents = list(record.get("incidents") or [])
    if not incidents:
        return criterion(name, "no leak recorded", required, True)
    last = max(incidents, key=lambda i: i.get("last_slot") or "")
    digest, deployed = alias.get("digest"), alias.get("deployed_at")
    text = (f"{len(incidents)} leak incident(s), last of {_short(last.get('digest'))} in slot {last.get('last_slot')} "
            f"({last.get('sms', 0)} SMS); alias on {_short(digest)}")
    if digest is None:
        return criterion(name, text, required, None, "the alias's image digest was not read")
    if digest in {i.get("digest") for i in incidents}:
        return criterion(name, text, required, False, f"the image that leaked ({_short(digest)}) is still on the alias: "
                         "deploy a fixed image, prove it with the DP1 shadow probe, run the full window again")
    if any((i.get("last_slot") or "") >= first for i in incidents):
        return criterion(name, text, required, False, f"a leak happened inside the window (slot {last.get('last_slot')})")
    if not deployed or iso(parse_time(deployed, "deployed_at")) > first:
        return criterion(name, text, required, False, f"the new image was deployed at {deployed or 'an unknown time'}, "
                         f"after the window's first slot {first}: it has not run the full window yet")
    return criterion(name, text, required, True)


def _lambda_criteria(measured, settings, since=""):
    metrics = measured.get("lambda")
    fn = measured.get("function") or {}
    limit = int(settings["max_duration_ms"])
    timeout_ms = int(fn["timeout_s"]) * 1000 if fn.get("timeout_s") else None
    if metrics is None or not metrics.get("invocations"):
        reason = ("no AWS/Lambda Invocations datapoint for the new function" + since +
                  ": it did not run, or its metrics are not where they are read")
        return [criterion("new function errors", "no data", "0", None, reason),
                criterion("no timeout", "no data", f"max Duration < timeout ({timeout_ms} ms)", None, reason),
                criterion("max duration", "no data", f"< {limit} ms", None, reason)]
    invocations, errors = int(metrics["invocations"]), metrics.get("errors")
    longest = metrics.get("duration_max_ms")
    out = [criterion("new function errors", "no data" if errors is None else f"{int(errors)} of {invocations} invocations",
                     "0", None if errors is None else errors == 0,
                     "no Errors datapoint" if errors is None else "" if errors == 0 else
                     f"{int(errors)} failed run(s): read /aws/lambda/<function>")]
    if longest is None:
        out += [criterion("no timeout", "no data", "max Duration < timeout", None, "no Duration datapoint"),
                criterion("max duration", "no data", f"< {limit} ms", None, "no Duration datapoint")]
        return out
    if timeout_ms is None:
        out.append(criterion("no timeout", f"max {longest:.0f} ms", "max Duration < timeout", None,
                             "the function's timeout was not read"))
    else:
        out.append(criterion("no timeout", f"max {longest:.0f} ms", f"< {timeout_ms} ms (timeout)",
                             longest < timeout_ms, "" if longest < timeout_ms else "a run reached its timeout"))
    out.append(criterion("max duration", f"max {longest:.0f} ms", f"< {limit} ms", longest < limit,
                         "" if longest < limit else f"a run took {longest / 1000:.1f} s (NFR: under {limit // 1000} s)"))
    return out


def _alarms_now(measured):
    required = "no alarm in ALARM"
    unknown, names = _alarm_names(measured, "no alarm in ALARM now", required)
    if unknown:
        return unknown
    states = measured["alarms"].get("states") or {}
    missing = [n for n in names if n not in states]
    firing = [n for n in names if states.get(n) == "ALARM"]
    text = ", ".join(f"{n}={states.get(n, 'missing')}" for n in names)
    if firing:
        return criterion("no alarm in ALARM now", text, required, False, f"in ALARM: {', '.join(firing)}")
    if missing:
        return criterion("no alarm in ALARM now", text, required, None, f"missing alarm(s): {', '.join(missing)}")
    return criterion("no alarm in ALARM now", text, required, True)


def _dp3(measured, settings, now):
    out = []
    cutover_at = measured.get("cutover_at")
    required_days = settings["window_days"]
    if not cutover_at:
        out.append(criterion("days since cutover", "unknown", f">= {required_days:g}", None,
                             "no cutover time: the ledger has no cutover event (cutover_at)"))
    else:
        days = (now - parse_time(cutover_at, "cutover_at")).total_seconds() / 86400
        out.append(criterion("days since cutover", f"{days:.2f} (cutover {cutover_at})", f">= {required_days:g}",
                             days >= required_days, "" if days >= required_days else "wait for the full week"))
    since = measured.get("alarms_since")
    if since is None:
        out.append(criterion("no alarm went to ALARM since cutover", "not measured", "none", None,
                             "alarm history was not read"))
    else:
        went, unknown = list(since.get("went_to_alarm") or []), list(since.get("unknown") or [])
        names = list((measured.get("alarms") or {}).get("names") or [])
        if went:
            out.append(criterion("no alarm went to ALARM since cutover", f"went to ALARM: {', '.join(went)}", "none",
                                 False, "read the alarm history and the incident record"))
        elif not names:
            out.append(criterion("no alarm went to ALARM since cutover", "no alarm named", "none", None,
                                 "cutover_monitoring_alarms is empty"))
        elif unknown:
            out.append(criterion("no alarm went to ALARM since cutover", f"unknown for {', '.join(unknown)}", "none",
                                 None, since.get("reason") or "history not available for these alarms"))
        else:
            out.append(criterion("no alarm went to ALARM since cutover", f"none of {len(names)}", "none", True))
    metrics = measured.get("lambda")
    limit = settings["max_error_rate"]
    if not metrics or not metrics.get("invocations") or metrics.get("errors") is None:
        out.append(criterion("error rate since cutover", "no data", f"< {limit:.0%}", None,
                             "no AWS/Lambda Invocations/Errors of the new function since the cutover"))
    else:
        rate = metrics["errors"] / metrics["invocations"]
        out.append(criterion("error rate since cutover",
                             f"{rate:.2%} ({int(metrics['errors'])} of {int(metrics['invocations'])})",
                             f"< {limit:.0%}", rate < limit))
    rollbacks = measured.get("rollbacks")
    if rollbacks is None:
        out.append(criterion("no rollback recorded", "unknown", "none", None, "the ledger's rollback events were not read"))
    else:
        out.append(criterion("no rollback recorded", f"{len(rollbacks)} rollback(s)", "none", not rollbacks,
                             f"rolled back: {rollbacks[0]}" if rollbacks else ""))
    return out


def switched_at(event):
    """When a run's switch was made, on the clock the switch was made on: ``facts.switch_clock_at`` (the
    rehearsal's simulated clock on the test inventory, the real one on production), else the wall-clock
    ``facts.switched_at``; None when the run wrote no switch. DP3 and the post-cutover days use this one
    reading, so they count the same days."""
    facts = event.get("facts") if isinstance(event.get("facts"), dict) else {}
    return facts.get("switch_clock_at") or facts.get("switched_at") or None


def cutover_history(events):
    """DP3's ``(cutover_at, rollbacks)`` from the ledger's run events (``cutover_ledger action=read``).

    The cutover time is ``switched_at()`` (the switch's last write) of the latest ``cutover.yml``
    run with result ``ok`` that left the new side live; the rollbacks are the ``rollback.yml`` runs with
    result ``ok`` switched after it, oldest first, as ``"<switched_at> scenario <n> (<ticket>)"`` (one per
    switch: a rerun that reports the same switch is not a second rollback). ``(None, [])`` when no
    cutover is recorded.
    """
    def ok(event, playbook):
        return (event.get("playbook") == playbook and event.get("result") == "ok" and switched_at(event)
                and (playbook != "cutover.yml" or (event.get("facts") or {}).get("live", "new") == "new"))

    cutovers = sorted(parse_time(switched_at(e), "switched_at") for e in events if ok(e, "cutover.yml"))
    if not cutovers:
        return None, []
    cutover_at, rollbacks = cutovers[-1], {}
    for event in events:
        if ok(event, "rollback.yml") and parse_time(switched_at(event), "switched_at") > cutover_at:
            at = parse_time(switched_at(event), "switched_at")
            scenario = (event.get("facts") or {}).get("scenario")
            rollbacks.setdefault(at, f"{iso(at)}" + (f" scenario {scenario}" if scenario else "")
                                 + (f" ({event['ticket']})" if event.get("ticket") else ""))
    return iso(cutover_at), [rollbacks[at] for at in sorted(rollbacks)]


# ----------------------------------------------------------------------------- the decision
def criteria_for(decision, measured, acks, settings, now):
    if decision == "parallel":
        found = [_image(measured), _function(measured), _alias(measured), _new_rule(measured),
                 _alarms_present(measured), _topics(measured), _dashboard(measured), _backup(measured),
                 _seeded(measured), _shadow_probe(measured, acks, settings)]
    elif decision == "cutover":
        found = _comparison_criteria(measured, settings) + _lambda_criteria(measured, settings) + [_alarms_now(measured)]
        if "leak_record" in measured:
            found.append(_leak_record(measured))
    else:
        found = _dp3(measured, settings, now)
    return found + [attestation(name, (acks or {}).get(name)) for name in ATTESTATIONS[decision]]


def decide(decision, measured, acks=None, settings=None, now=None):
    """-> the decision: outcome go|no_go, every criterion, the reasons of a no_go, expiry."""
    if decision not in DECISIONS:
        raise GateInputError(f"unknown decision {decision!r}: choose one of {', '.join(DECISIONS)}")
    settings = settings if settings and settings.get("_validated") else dict(settings_of(settings), _validated=True)
    check_acknowledgements(acks)
    now = parse_time(now, "now") if now else datetime.now(timezone.utc)
    criteria = criteria_for(decision, measured, acks or {}, settings, now)
    outcome = "go" if criteria and all(c["status"] == PASS for c in criteria) else "no_go"
    hours = settings["expires_in_hours"].get(decision)
    return {
        "decision": decision,
        "outcome": outcome,
        "criteria": criteria,
        "reasons": [f"{c['name']}: {c['status']} - measured {c['measured']}, required {c['required']}"
                    + (f" ({c['reason']})" if c["reason"] else "") for c in criteria if c["status"] != PASS],
        "decided_at": iso(now),
        "expires_in_hours": hours,
        "expires_at": iso(now + timedelta(hours=hours)) if hours else None,
        "counts": {s: sum(c["status"] == s for c in criteria) for s in (PASS, FAIL, INCONCLUSIVE)},
    }
