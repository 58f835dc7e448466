"""Cutover alignment rules: the target's SMS flags become exactly the source's (set, clear, create, keep the rest)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from module_utils.cutover.reconcile import FLAGS, align, align_budget, plan_align

T, F = {"BOOL": True}, {"BOOL": False}
UTC = timezone.utc


def item(num="1051_1", **attrs):
    base = {"booking_num": {"S": num}, "phone": {"S": "010-1"}}
    base.update({k: (v if isinstance(v, dict) else {"S": v}) for k, v in attrs.items()})
    return base


@pytest.mark.parametrize("source, target, values, expected, flags_set, flags_cleared", [
    # (b) the old side sent it, the shadow had not seen it: set in the target
    ({"confirm_sms": T}, {"confirm_sms": F}, {"confirm_sms": T}, {"confirm_sms": F}, ("confirm_sms",), ()),
    # (a) only the shadow "sent" it: cleared in the target
    ({"confirm_sms": F}, {"confirm_sms": T}, {"confirm_sms": F}, {"confirm_sms": T}, (), ("confirm_sms",)),
    ({}, {"remind_sms": {"S": "sent"}}, {"remind_sms": F}, {"remind_sms": {"S": "sent"}}, (), ("remind_sms",)),
    # both ways at once, the unchanged flag not written
    ({"confirm_sms": T, "remind_sms": F, "option_sms": T}, {"confirm_sms": F, "remind_sms": T, "option_sms": T},
     {"confirm_sms": T, "remind_sms": F}, {"confirm_sms": F, "remind_sms": T}, ("confirm_sms",), ("remind_sms",)),
    # a flag absent from the target: its condition is "still absent"
    ({"option_sms": T}, {}, {"option_sms": T}, {"option_sms": None}, ("option_sms",), ()),
])
def test_flags_are_set_and_cleared_to_the_source(source, target, values, expected, flags_set, flags_cleared):
    result = align(item(**source), item(name="kim", **target))
    assert result.created is False and result.key == ("1051_1", "010-1")
    assert result.values == values  # only the changed flags: name and the rest of the target stay
    assert result.expected == expected
    assert (result.flags_set, result.flags_cleared) == (flags_set, flags_cleared)


@pytest.mark.parametrize("source, target", [
    ({"confirm_sms": T}, {"confirm_sms": T}),
    ({"confirm_sms": T}, {"confirm_sms": {"N": "1"}}),  # same truth, another encoding: no write
    ({"confirm_sms": F, "remind_sms": F}, {}),
    ({}, {}),
])
def test_equal_flags_are_not_written(source, target):
    assert align(item(**source), item(**target)) is None


def test_an_item_only_in_the_source_is_created_with_what_the_old_function_knows():
    source = item(confirm_sms=T, name="kim", booking_time="2026-11-26 10:00", extra="x")
    result = align(source, None)
    assert result.created and result.expected == {} and result.flags_set == ("confirm_sms",)
    assert result.values == {"confirm_sms": T, "remind_sms": F, "option_sms": F, "name": {"S": "kim"},
                             "booking_time": {"S": "2026-11-26 10:00"}}


def test_an_item_only_in_the_source_without_a_flag_is_not_created():
    assert align(item(confirm_sms=F), None) is None


def test_an_item_only_in_the_target_has_its_flags_cleared_and_is_kept():
    result = align(None, item(confirm_sms=T, remind_sms=F))
    assert not result.created and result.values == {"confirm_sms": F} and result.flags_cleared == ("confirm_sms",)
    assert align(None, item(confirm_sms=F)) is None


def test_plan_covers_both_sides_and_counts():
    sources = [item("1", confirm_sms=T), item("2", confirm_sms=T), item("3", remind_sms=T)]
    targets = [item("1", confirm_sms=T), item("2", confirm_sms=F), item("4", confirm_sms=T, option_sms=T)]
    writes, tally = plan_align(sources, targets)
    assert [w.key[0] for w in writes] == ["2", "3", "4"]
    assert tally.as_dict() == {
        "source_items": 3, "target_items": 3, "created": 1, "updated": 2, "unchanged": 1, "writes": 3,
        "set": 2, "cleared": 2, "flags_set": {"confirm_sms": 1, "remind_sms": 1, "option_sms": 0},
        "flags_cleared": {"confirm_sms": 1, "remind_sms": 0, "option_sms": 1}}
    assert set(tally.flags_set) == set(FLAGS)


def test_plan_of_aligned_tables_writes_nothing():
    items = [item("1", confirm_sms=T), item("2")]
    writes, tally = plan_align(items, items)
    assert writes == [] and tally.unchanged == 2 and tally.writes == 0


@pytest.mark.parametrize("at, fire, elapsed, safety, left", [
    ("2026-11-26T03:10:00Z", "2026-11-26T03:20:00Z", 0, 30, 570),
    ("2026-11-26T03:10:00Z", "2026-11-26T03:20:00Z", 100, 30, 470),
    ("2026-11-26T03:18:00Z", "2026-11-26T03:20:00Z", 95, 30, -5),  # switched at the margin, slow: too late
])
def test_the_budget_is_the_quiet_window_left_minus_the_safety_margin(at, fire, elapsed, safety, left):
    since = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)  # the real clock, unrelated to an injected one
    assert align_budget({"at": at, "next_fire": fire}, since, since + timedelta(seconds=elapsed), safety) == left


def test_the_budget_needs_the_quiet_reading():
    with pytest.raises(ValueError, match="next_fire"):
        align_budget({"at": "2026-11-26T03:10:00Z", "next_fire": None}, datetime.now(UTC), datetime.now(UTC), 30)
