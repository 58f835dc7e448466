"""Shadow can never reach customers for long: leak rules and the double-send guard (pure: no boto3, no Ansible).

Data in, findings out (the yamllint ``run(input, conf)`` shape). The adapter is
``library/shadow_guard.py``; ``playbooks/compare.yml`` acts on what it returns.

- ``leaks_of(results, new_mode)``: the shadow leaks a comparison run found. A delivered SMS (or
  Telegram message) of the new function while its target input says ``shadow`` is a leak. The
  one place that knows where the comparison reports them: ``output_compare``'s own
  ``shadow_leaks`` when it returns that key, else derived from ``slots[*].sms_delivered.new``.
- ``merge_record(previous, leaks, digest, detected_at)``: the leak record kept in the state
  bucket (``shadow/leak.json``): one incident per leaked image digest, first and last leaked
  slot, the leaked SMS (which bookings, which type). A rerun over the same slot changes nothing.
- ``double_send(old_rule, new_rule)``: after the cutover, the old rule ENABLED while the new
  target's input is live is a double send; ``restore_command`` says what puts it right.
Decision Point 2 reads the leak record (``module_utils/cutover/gate.py``, criterion "no shadow leak
of the image on the alias"): ``no_go`` until an image with another digest ran clean for the window.
"""
from __future__ import annotations

SHADOW, LIVE = "shadow", "live"
RECORD_KEY = ("shadow", "leak.json")
LEAK_METRIC = "shadow_leaks"
DOUBLE_SEND_METRIC = "old_rule_enabled_while_new_live"


def mask_phone(phone):
    """010-1234-5678 -> 010-****-5678 (the last four digits identify a booking for an operator)."""
    text = str(phone or "")
    if "*" in text:  # already masked (output_compare's shadow_leaks: 010****5678)
        return text
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    keep = set(digits[:3] + digits[-4:]) if len(digits) > 7 else set(digits[-2:])
    return "".join(ch if (not ch.isdigit() or i in keep) else "*" for i, ch in enumerate(text))


def leaks_of(results, new_mode):
    """-> [{"slot", "sms", "telegram", "bookings": [{booking_num, sms_type, phone}]}] per leaked slot.

    ``results``: output_compare results of this run. ``new_mode``: the input of the new rule's target
    (a delivery in live mode is no leak). Switch-over point: when output_compare returns
    ``shadow_leaks`` (``[{slot, booking_num, sms_type, phone}]``) those are used; until then the
    per-slot counts ``sms_delivered.new`` / ``telegram_delivered.new`` (no booking detail).
    """
    if new_mode != SHADOW:
        return []
    found = {}
    for result in results or []:
        if not isinstance(result, dict):
            continue
        if "shadow_leaks" in result:  # with the leak look at the slot that just ran (observed_shadow_leaks)
            for leak in (result.get("shadow_leaks") or []) + (result.get("observed_shadow_leaks") or []):
                row = found.setdefault(leak["slot"], {"slot": leak["slot"], "sms": 0, "telegram": 0, "bookings": []})
                entry = {"booking_num": leak.get("booking_num"), "sms_type": leak.get("sms_type"),
                         "phone": mask_phone(leak.get("phone"))}
                if entry not in row["bookings"]:
                    row["bookings"].append(entry)
                    row["sms"] = len(row["bookings"])
            continue
        for slot, row in (result.get("slots") or {}).items():
            sms = int((row.get("sms_delivered") or {}).get("new") or 0)
            telegram = int((row.get("telegram_delivered") or {}).get("new") or 0)
            if sms or telegram:
                known = found.setdefault(slot, {"slot": slot, "sms": 0, "telegram": 0, "bookings": []})
                known["sms"], known["telegram"] = max(known["sms"], sms), max(known["telegram"], telegram)
    return [found[slot] for slot in sorted(found)]


def merge_record(previous, leaks, digest, detected_at):
    """The leak record after this run's ``leaks`` of the image ``digest``; ``previous`` is not changed."""
    record = {"incidents": [dict(i, slots=list(i.get("slots") or []), bookings=list(i.get("bookings") or []))
                            for i in (previous or {}).get("incidents") or []]}
    if not leaks:
        return record
    digest = digest or "unknown"
    incident = next((i for i in record["incidents"] if i.get("digest") == digest), None)
    if incident is None:
        incident = {"digest": digest, "detected_at": detected_at, "slots": [], "bookings": [], "sms": 0, "telegram": 0}
        record["incidents"].append(incident)
    for leak in leaks:
        if leak["slot"] not in incident["slots"]:
            incident["slots"].append(leak["slot"])
            incident["sms"] += leak["sms"]
            incident["telegram"] += leak["telegram"]
        for booking in leak.get("bookings") or []:
            entry = dict(booking, slot=leak["slot"])
            if entry not in incident["bookings"]:
                incident["bookings"].append(entry)
    incident["slots"].sort()
    incident["first_slot"], incident["last_slot"] = incident["slots"][0], incident["slots"][-1]
    return record


def double_send(old_rule, new_rule):
    """The old rule ENABLED while the new rule is ENABLED with a live input: every SMS goes out twice."""
    old_rule, new_rule = old_rule or {}, new_rule or {}
    return bool(old_rule.get("exists") and old_rule.get("state") == "ENABLED" and new_rule.get("exists")
                and new_rule.get("state") == "ENABLED" and LIVE in (new_rule.get("modes") or []))


def restore_command(old_rule_name, region):
    """The one command that puts the intended state back (old rule disabled, its target untouched)."""
    return f"aws events disable-rule --name {old_rule_name} --region {region}"


def fresh_leaks(previous, leaks, digest):
    """The leaks of this run whose slot the record does not hold yet for ``digest`` (what to stop and report)."""
    digest = digest or "unknown"
    known = next((i for i in (previous or {}).get("incidents") or [] if i.get("digest") == digest), {})
    return [leak for leak in leaks if leak["slot"] not in (known.get("slots") or [])]
