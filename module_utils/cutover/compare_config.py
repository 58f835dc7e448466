"""The comparison's settings: defaults, validation and the error type (pure)."""
from __future__ import annotations

import re

SIDES = ("old", "new")
# discrepancy kinds; ``shadow_leak``: an SMS the new side delivered while its input said shadow
KINDS = ("missing_on_new", "missing_on_old", "field_differs", "text_differs", "count_differs", "shadow_leak")
SMS_TYPES = ("confirm", "guide", "event")
NEW_MODES = (None, "shadow", "live")

DEFAULT_CONFIG = {
    "settle_slots": 1,
    "slot_minutes": 20,
    "evidence_cap": 50,
    "snippet_chars": 12,
    # the new side's input mode for the compared slots: "shadow" makes every SMS it delivered a
    # shadow_leak; None (not known) or "live" judges nothing
    "new_mode": None,
    "records": {
        "key": ["booking_num", "phone"],
        "compare": None,  # None: every attribute except the key and the ignored ones
        "ignore": ["updated_slot", "created_slot", "updated_at", "created_at", "ttl"],
        "slot_attribute": "updated_slot",
        "created_attribute": "created_slot",
        "creating_sms_type": "confirm",
        "text": [],
    },
    "sms": {
        "key": ["sms_type", "booking_num", "phone"],
        "compare": ["store_id", "content"],
        "text": ["content"],
    },
    "telegram": {
        # timings and durations vary from run to run: "12.3s", "4초", "1234 ms", "took 3 seconds"
        "masks": [r"\d+(?:\.\d+)?\s*(?:ms|seconds?|secs?|s|초)\b", r"\d{1,2}:\d{2}:\d{2}(?:\.\d+)?"],
    },
}


class CompareConfigError(ValueError):
    """The comparison configuration is unusable; the message says what to fix."""


def make_config(overrides: dict | None = None) -> dict:
    """DEFAULT_CONFIG with ``overrides`` merged one level deep, validated."""
    config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULT_CONFIG.items()}
    for name, value in (overrides or {}).items():
        if name not in DEFAULT_CONFIG and name != "logs":
            raise CompareConfigError(f"unknown comparison setting {name!r}; known: "
                                     f"{', '.join(sorted(DEFAULT_CONFIG))}, logs")
        if isinstance(value, dict) and isinstance(config.get(name), dict):
            config[name].update(value)
        else:
            config[name] = value
    for name in ("settle_slots", "slot_minutes", "evidence_cap"):
        if not isinstance(config[name], int) or config[name] < 0 or (
                name == "slot_minutes" and config[name] == 0):
            raise CompareConfigError(f"{name} must be a non-negative integer, got {config[name]!r}")
    if config["new_mode"] not in NEW_MODES:
        raise CompareConfigError(f"new_mode must be shadow, live or None, got {config['new_mode']!r}")
    for unit in ("records", "sms"):
        if not config[unit].get("key"):
            raise CompareConfigError(f"{unit}.key needs at least one key attribute")
    try:
        config["_masks"] = [re.compile(p) for p in config["telegram"].get("masks") or []]
    except re.error as exc:
        raise CompareConfigError(f"telegram mask is not a valid regex: {exc}") from exc
    return config


def ready(config: dict | None) -> dict:
    """A validated configuration (``make_config`` unless it already is one)."""
    return config if "_masks" in (config or {}) else make_config(config)
