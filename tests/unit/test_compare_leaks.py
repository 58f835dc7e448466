"""Shadow leaks (issue 15) and what a compared slot publishes (metrics, its log summary line)."""
from __future__ import annotations

import json

import pytest

from module_utils.cutover.compare import compare
from module_utils.cutover.compare_config import CompareConfigError, make_config
from module_utils.cutover.compare_plan import input_mode, metric_data, slot_reports, summary_line
from module_utils.cutover.compare_report import mask_phone
from tests.unit.test_compare import S0, S1, side, sms, telegram

SHADOW = {"new_mode": "shadow"}


def leak_report(new_sms, old_sms=None, config=SHADOW):
    old = side([], old_sms if old_sms is not None else [sms(S0)], [telegram(S0)])
    return compare(old, side([], new_sms, [telegram(S0)]), config, start=S0, end=S1)


@pytest.mark.parametrize("name, new_sms, old_sms, config, leaks, matched, kinds", [
    # shadow honoured: the new side delivers nothing, everything matches
    ("clean shadow", [sms(S0, delivered=False)], None, SHADOW, 0, 2, {}),
    # the SMS matches the old one, but it reached the customer: a leak, never a plain match
    ("leak of a matching SMS", [sms(S0)], None, SHADOW, 1, 1, {"shadow_leak": 1}),
    # a leaked SMS that also differs is both
    ("leak of a differing SMS", [sms(S0, content="x")], None, SHADOW, 1, 1,
     {"shadow_leak": 1, "text_differs": 1}),
    # a leak the old side never sent: missing_on_old and a leak
    ("leak of an extra SMS", [sms(S0), sms(S0, booking="1051_2")], None, SHADOW, 2, 1,
     {"shadow_leak": 2, "missing_on_old": 1}),
    # live (after cutover) or unknown: delivering is the job, nothing is judged
    ("live", [sms(S0)], None, {"new_mode": "live"}, 0, 2, {}),
    ("mode unknown", [sms(S0)], None, {}, 0, 2, {}),
])
def test_a_delivered_sms_in_shadow_is_a_shadow_leak(name, new_sms, old_sms, config, leaks, matched, kinds):
    report = leak_report(new_sms, old_sms, config)
    total = report["total"]
    assert total["shadow_leaks"] == leaks == len(report["shadow_leaks"])
    assert total["matched"] == matched
    assert {k: v for k, v in total["discrepancies_by_kind"].items() if v} == kinds
    assert total["discrepancies"] == sum(kinds.values())
    assert (total["match_percentage"] == 100.0) == (not kinds)


def test_a_leak_names_slot_booking_type_and_masked_phone_but_no_text():
    report = leak_report([sms(S0, sms_type="confirm")])
    assert report["shadow_leaks"] == [{"slot": S0, "booking_num": "1051_1", "sms_type": "confirm",
                                      "phone": "010****5678"}]
    assert report["slots"][S0]["shadow_leaks"] == 1 and report["slots"][S1]["shadow_leaks"] == 0
    assert [e["kind"] for e in report["evidence"]] == ["shadow_leak"]


@pytest.mark.parametrize("phone, masked", [("01012345678", "010****5678"), ("0101234567", "010***4567"),
                                           ("1234567", "*******"), (None, "")])
def test_phones_are_masked(phone, masked):
    assert mask_phone(phone) == masked


def test_an_unknown_mode_is_refused():
    with pytest.raises(CompareConfigError, match="new_mode"):
        make_config({"new_mode": "dry"})


@pytest.mark.parametrize("inputs, mode", [
    (['{"mode": "shadow"}'], "shadow"),
    (['{"mode": "live"}'], "live"),
    (['{"mode": "live"}', '{"mode": "shadow"}'], "shadow"),
    ([None], "shadow"),  # no input: the handlers' fail-safe reading is shadow
    (["not json"], "shadow"),
    ([], None),  # no target: unknown
])
def test_the_new_side_mode_is_read_from_its_rule_targets(inputs, mode):
    assert input_mode(inputs) == mode


def test_a_slot_publishes_shadow_leaks_and_one_summary_line():
    report = leak_report([sms(S0)])
    document = slot_reports(report, {"old_table": "sms", "new_table": "sms_v2", "baseline": False})[S0]
    assert document["shadow_leaks"] == report["shadow_leaks"]
    leaks = [m for m in metric_data(S0, document["summary"]) if m["MetricName"] == "shadow_leaks"]
    assert [(m["Value"], m["Timestamp"].isoformat()) for m in leaks] == [(1.0, "2026-11-26T04:00:00+00:00")]
    line = json.loads(summary_line(document))
    assert line["slot"] == S0 and line["shadow_leaks"] == 1
    assert line["discrepancies_by_kind"] == {"shadow_leak": 1}
    assert "content" not in summary_line(document) and "01012345678" not in summary_line(document)
