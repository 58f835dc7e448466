"""Flag-merging reconcile rules: OR, never clear, create with known attributes only, keep the rest."""
from __future__ import annotations

import pytest

from module_utils.cutover.reconcile import OLD_ATTRIBUTES, differences, flag, merge, plan

T, F = {"BOOL": True}, {"BOOL": False}


def item(num="1051_1", **attrs):
    base = {"booking_num": {"S": num}, "phone": {"S": "010-1"}}
    base.update({k: (v if isinstance(v, dict) else {"S": v}) for k, v in attrs.items()})
    return base


@pytest.mark.parametrize("source, target, expected_flags, flags_set", [
    # OR: a flag learned by the new side is carried back
    ({"confirm_sms": T}, {"confirm_sms": F}, {"confirm_sms": T}, ("confirm_sms",)),
    ({"confirm_sms": T, "remind_sms": T}, {"confirm_sms": T, "remind_sms": F}, {"confirm_sms": T, "remind_sms": T},
     ("remind_sms",)),
    # never true -> false
    ({"confirm_sms": F, "remind_sms": T}, {"confirm_sms": T, "remind_sms": F}, {"confirm_sms": T, "remind_sms": T},
     ("remind_sms",)),
    # legacy encodings count as set
    ({"option_sms": T}, {"option_sms": {"S": "sent"}}, None, ()),
    ({"option_sms": T}, {"option_sms": {"N": "1"}}, None, ()),
    ({"option_sms": {"N": "1"}}, {"option_sms": {"S": "no"}}, {"option_sms": T}, ("option_sms",)),
    # nothing new: no write
    ({"confirm_sms": F}, {"confirm_sms": T}, None, ()),
    ({}, {}, None, ()),
])
def test_flags_are_or_ed_and_never_cleared(source, target, expected_flags, flags_set):
    result = merge(item(**source), item(**target))
    if expected_flags is None:
        assert result is None
        return
    assert result.created is False and result.flags_set == flags_set
    for name, value in expected_flags.items():
        assert result.item[name] == value


def test_a_missing_item_is_created_with_known_attributes_only():
    source = item(confirm_sms=T, remind_sms=F, name="김", booking_time="2026-11-26 12:00", shadow_note="x",
                  sent_by="v2")
    result = merge(source, None)
    assert result.created and result.flags_set == ("confirm_sms",)
    assert set(result.item) <= set(OLD_ATTRIBUTES)
    assert result.item["option_sms"] == F and result.item["name"] == {"S": "김"}
    assert "shadow_note" not in result.item


def test_an_existing_item_keeps_everything_else():
    target = item(confirm_sms=F, name="Kim", ops_comment="called the customer", option_time="2026-11-25 20:00")
    source = item(confirm_sms=T, option_sms=T, name="김", option_time="2026-11-26 20:00", booking_time="2026-11-26 12:00")
    merged = merge(source, target).item
    assert merged["ops_comment"] == {"S": "called the customer"}
    assert merged["name"] == {"S": "Kim"} and merged["option_time"] == {"S": "2026-11-25 20:00"}
    assert merged["booking_time"] == {"S": "2026-11-26 12:00"}  # filled where the target lacked it
    assert merged["confirm_sms"] == T and merged["option_sms"] == T


def test_option_time_travels_only_with_option_sms():
    merged = merge(item(confirm_sms=T, option_time="2026-11-26 20:00"), item(confirm_sms=F)).item
    assert "option_time" not in merged
    merged = merge(item(option_sms=T, option_time="2026-11-26 20:00"), item()).item
    assert merged["option_time"] == {"S": "2026-11-26 20:00"}


@pytest.mark.parametrize("value, expected", [
    (None, False), ({}, False), (T, True), (F, False), ({"N": "0"}, False), ({"N": "2"}, True), ({"N": "x"}, False),
    ({"S": "TRUE "}, True), ({"S": "false"}, False), ({"NULL": True}, False),
])
def test_flag(value, expected):
    assert flag(value) is expected


def test_plan_tallies_and_a_second_pass_writes_nothing():
    sources = [item("1", confirm_sms=T), item("2", remind_sms=T), item("3", confirm_sms=F), item("4", option_sms=T)]
    targets = {("2", "010-1"): item("2", remind_sms=F), ("3", "010-1"): item("3", confirm_sms=T),
               ("4", "010-1"): item("4", option_sms=T)}
    puts, tally = plan(sources, targets)
    assert tally.as_dict() == {"source_items": 4, "created": 1, "updated": 1, "unchanged": 2, "writes": 2,
                               "flags_set": {"confirm_sms": 1, "remind_sms": 1, "option_sms": 0}}
    merged = {**targets, **{(p["booking_num"]["S"], p["phone"]["S"]): p for p in puts}}
    again, tally = plan(sources, merged)
    assert again == [] and tally.writes == 0


@pytest.mark.parametrize("table, reference, expected", [
    ([item("1", confirm_sms=T)], [item("1", confirm_sms=T)], []),  # agree
    ([item("1", confirm_sms=T)], [item("1", confirm_sms=F)], [("1", ["confirm_sms"], [])]),  # no evidence: replay
    ([item("1", confirm_sms=F)], [item("1", remind_sms=T)], [("1", [], ["remind_sms"])]),  # may be sent again
    ([], [item("2", option_sms=T)], [("2", [], ["option_sms"])]),  # deleted from the table
    ([item("3", confirm_sms={"S": "sent"})], [], [("3", ["confirm_sms"], [])]),  # legacy encoding, no reference
    ([item("4")], [], []),  # no flag anywhere: nothing to say
])
def test_differences_name_the_bookings_to_replay_or_watch(table, reference, expected):
    got = [(d["booking_num"], d["no_evidence"], d["not_in_table"]) for d in differences(table, reference)]
    assert got == expected
