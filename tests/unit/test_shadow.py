"""Shadow leak and double-send rules (module_utils/cutover/shadow.py) and the DP2 leak-record criterion, table-style."""
from __future__ import annotations

import pytest

from module_utils.cutover import gate, shadow
from tests.unit.test_gate import ACK, D, DP2, DP2_ACKS, OTHER, SETTINGS, WINDOW

S1, S2 = "2026-11-26T04:00:00Z", "2026-11-26T04:20:00Z"


def row(sms=0, telegram=0):
    return {"sms_delivered": {"old": 5, "new": sms}, "telegram_delivered": {"old": 1, "new": telegram}}


@pytest.mark.parametrize("results, mode, expected", [
    ([{"slots": {S1: row()}}], "shadow", []),                                   # a clean slot: no leak
    ([{"slots": {S1: row(3, 1)}}], "shadow", [(S1, 3, 1)]),                     # delivered in shadow: a leak
    ([{"slots": {S1: row(3, 1)}}], "live", []),                                 # after the cutover it is the job
    ([{"slots": {S1: row(3, 1)}}], None, []),                                   # no rule, no input: not shadow
    ([{"slots": {S1: row(2)}}, {"slots": {S1: row(2), S2: row(1)}}], "shadow", [(S1, 2, 0), (S2, 1, 0)]),
    ([{"slots": {S1: row(2)}}, {"skipped": True}], "shadow", [(S1, 2, 0)]),     # the observed look was skipped
    # the comparison's own shadow_leaks (issue 15 contract) win over the counts, with their bookings
    ([{"slots": {S1: row(9)}, "shadow_leaks": [
        {"slot": S1, "booking_num": "b_1", "sms_type": "confirm", "phone": "010-1234-5678"},
        {"slot": S1, "booking_num": "b_2", "sms_type": "guide", "phone": "010-2222-3333"}]}], "shadow", [(S1, 2, 0)]),
    ([{"slots": {S1: row(9)}, "shadow_leaks": []}], "shadow", []),
    # the leak look at the slot that just ran, returned by the same comparison run
    ([{"slots": {S1: row()}, "shadow_leaks": [], "observed_shadow_leaks": [
        {"slot": S2, "booking_num": "b_1", "sms_type": "confirm", "phone": "010-1234-5678"}]}], "shadow", [(S2, 1, 0)]),
    ([{"slots": {S1: row()}, "shadow_leaks": [], "observed_shadow_leaks": [
        {"slot": S2, "booking_num": "b_1", "sms_type": "confirm", "phone": "010-1234-5678"}]}], "live", []),
])
def test_leaks_of(results, mode, expected):
    assert [(leak["slot"], leak["sms"], leak["telegram"]) for leak in shadow.leaks_of(results, mode)] == expected


def test_leaks_from_the_comparison_name_the_bookings_with_a_masked_phone():
    leaks = shadow.leaks_of([{"shadow_leaks": [{"slot": S1, "booking_num": "b_1", "sms_type": "confirm",
                                                "phone": "010-1234-5678"}]}], "shadow")
    assert leaks[0]["bookings"] == [{"booking_num": "b_1", "sms_type": "confirm", "phone": "010-****-5678"}]
    already = shadow.leaks_of([{"shadow_leaks": [{"slot": S1, "booking_num": "b_1", "sms_type": "confirm",
                                                  "phone": "010****5678"}]}], "shadow")
    assert already[0]["bookings"][0]["phone"] == "010****5678"


def test_the_record_keeps_one_incident_per_image_and_a_rerun_changes_nothing():
    leaks = [{"slot": S1, "sms": 3, "telegram": 1, "bookings": [{"booking_num": "b_1", "sms_type": "confirm"}]}]
    first = shadow.merge_record({}, leaks, D, S1)
    assert first["incidents"] == [{"digest": D, "detected_at": S1, "slots": [S1], "first_slot": S1, "last_slot": S1,
                                   "sms": 3, "telegram": 1, "bookings": [{"booking_num": "b_1", "sms_type": "confirm",
                                                                          "slot": S1}]}]
    assert shadow.merge_record(first, leaks, D, S2) == first
    assert shadow.fresh_leaks(first, leaks, D) == [] and shadow.fresh_leaks({}, leaks, D) == leaks
    assert shadow.fresh_leaks(first, leaks, OTHER) == leaks  # another image leaking is news
    later = shadow.merge_record(first, [{"slot": S2, "sms": 1, "telegram": 0}], D, S2)
    assert (later["incidents"][0]["last_slot"], later["incidents"][0]["sms"]) == (S2, 4)
    assert shadow.merge_record(first, [], D, S2) == first


def rule(state="ENABLED", modes=("live",), exists=True):
    return {"exists": exists, "state": state, "modes": list(modes)}


@pytest.mark.parametrize("old, new, expected", [
    (rule("ENABLED", ()), rule("ENABLED", ["live"]), True),      # re-enabled by hand after the cutover
    (rule("DISABLED", ()), rule("ENABLED", ["live"]), False),    # the intended state after the cutover
    (rule("ENABLED", ()), rule("ENABLED", ["shadow"]), False),   # the parallel week
    (rule("ENABLED", ()), rule("DISABLED", ["live"]), False),    # rolled back
    (rule("ENABLED", ()), rule(exists=False), False),
])
def test_double_send(old, new, expected):
    assert shadow.double_send(old, new) is expected


def test_the_restore_command_disables_only_the_old_rule():
    assert shadow.restore_command("naverplace_send_inform_trigger", "ap-northeast-2") == \
        "aws events disable-rule --name naverplace_send_inform_trigger --region ap-northeast-2"


FIRST = WINDOW["first"]
BEFORE = "2026-11-20T00:00:00Z"


def incident(digest=D, last=BEFORE):
    return {"incidents": [{"digest": digest, "first_slot": last, "last_slot": last, "sms": 3}]}


@pytest.mark.parametrize("record, alias, status, reason", [
    ({}, {"digest": D, "deployed_at": BEFORE}, "pass", ""),
    (incident(D), {"digest": D, "deployed_at": BEFORE}, "fail", "the image that leaked"),
    (incident(OTHER), {"digest": D, "deployed_at": "2026-11-19T00:00:00+0000"}, "pass", ""),
    (incident(OTHER), {"digest": D, "deployed_at": "2026-11-26T00:00:00.000+0000"}, "fail", "not run the full window"),
    (incident(OTHER, last=WINDOW["slots"][3]), {"digest": D, "deployed_at": BEFORE}, "fail", "inside the window"),
    (incident(OTHER), {"digest": D}, "fail", "unknown time"),
    (incident(OTHER), {}, "inconclusive", "digest was not read"),
    (None, {"digest": D}, "inconclusive", "shadow/leak.json"),
])
def test_dp2_after_a_leak_waits_for_another_image_clean_for_the_full_window(record, alias, status, reason):
    measured = dict(DP2, leak_record=record, alias=alias)
    result = gate.decide("cutover", measured, DP2_ACKS, SETTINGS, now=gate.parse_time("2026-11-26T12:07:00Z"))
    found = next(c for c in result["criteria"] if c["name"] == "no shadow leak of the image on the alias")
    assert (found["status"], reason in found["reason"]) == (status, True), found
    assert (result["outcome"] == "go") is (status == "pass")


def test_without_a_leak_record_dp2_is_judged_as_before():
    result = gate.decide("cutover", DP2, DP2_ACKS, SETTINGS, now=gate.parse_time("2026-11-26T12:07:00Z"))
    assert result["outcome"] == "go" and ACK
    assert not any(c["name"].startswith("no shadow leak of the image") for c in result["criteria"])
