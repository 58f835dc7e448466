"""Proof on the rehearsal world: old live + new shadow, compared slot by slot (output_compare).

The scheduler runs one slot, then the comparison runs as it would in production right after
that slot's runs (``as_of`` = slot start + grace) and reports the last settled slot.
"""
from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest

from rehearsal import handlers
from rehearsal.comparison import compare_slot, grace
from tests.rehearsal.conftest import CFG, DAY

SLOT = timedelta(minutes=20)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_and_compare(world, tmp_path, start, slots, fault=None, settle=1, check=False):
    """Run `slots` slots from `start`, comparing after each; the per-slot rows reported."""
    rows, evidence, late = {}, [], []
    report_dir = tmp_path / "reports"
    for index in range(slots):
        at = start + index * SLOT
        world.scheduler.run(1, start=start if index == 0 else None, fault=fault)
        result = compare_slot(at + grace(), report_dir, world.cfg, check=check, settle_slots=settle)
        if result["baseline"]:
            continue
        rows.update(result["slots"])
        evidence += result["evidence"]
        late += result["late"]
    return rows, evidence, late


def test_a_clean_day_matches_in_every_slot_and_the_new_side_reaches_no_customer(world, tmp_path):
    world.new_rule("shadow")
    start = DAY + timedelta(hours=1)  # 10:00 KST: bookings arrive, guides are due
    rows, evidence, late = run_and_compare(world, tmp_path, start, 14)
    # the first run took the baseline; each later one reports the slot settled two slots before
    assert sorted(rows) == [iso(start + n * SLOT) for n in range(-1, 12)]
    assert evidence == []
    assert {row["match_percentage"] for row in rows.values()} == {100.0}
    assert sum(row["matched"] for row in rows.values()) > 100
    assert sum(row["sms_sent"]["new"]["total"] for row in rows.values()) > 50
    assert sum(row["sms_delivered"]["new"] + row["telegram_delivered"]["new"] for row in rows.values()) == 0
    assert [row["executions_compared"] for slot, row in sorted(rows.items())] == [0] + [1] * 12
    # bookings that arrived between the two runs of a slot: late, settled one slot later
    # (the Telegram summaries of both slots count them differently: late too)
    assert {e["unit"] for e in late} >= {"sms", "record"}
    assert all(e["slots"]["old"] != e["slots"]["new"] for e in late if e["unit"] != "telegram")
    # the same difference judged with no settle window is a discrepancy
    slot = next(e["slot"] for e in late if e["unit"] == "sms")
    strict = compare_slot(start + 14 * SLOT, tmp_path / "strict", world.cfg, check=True, slot=slot, settle_slots=0)
    assert strict["slots"][slot]["discrepancies"] > 0
    assert {e["kind"] for e in strict["evidence"]} <= {"missing_on_new", "missing_on_old", "text_differs"}
