"""The comparison core: table-style cases plus property tests (no AWS, no Ansible)."""
from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from module_utils.cutover.compare import compare
from module_utils.cutover.compare_config import CompareConfigError, make_config
from module_utils.cutover.compare_formats import LEGACY_TEXT_FORMAT, parse_log_event
from module_utils.cutover.compare_report import text_difference
from module_utils.cutover.compare_snapshot import tag_records_from_snapshot

S0, S1, S2, S3 = ("2026-11-26T04:00:00Z", "2026-11-26T04:20:00Z",
                  "2026-11-26T04:40:00Z", "2026-11-26T05:00:00Z")
TEXT = "[네이버 예약] 한지민님, 강남점 예약이 확정되었습니다."


def sms(slot, booking="1051_1", sms_type="confirm", content=TEXT, phone="01012345678",
        store="1051", delivered=True):
    return {"event": "sms", "slot": slot, "sms_type": sms_type, "booking_num": booking,
            "phone": phone, "store_id": store, "content": content, "delivered": delivered}


def record(slot, booking="1051_1", created=None, **flags):
    item = {"booking_num": booking, "phone": "01012345678", "name": "한지민",
            "booking_time": "2026-11-27 15:00", "confirm_sms": True, "remind_sms": False,
            "option_sms": False, "updated_slot": slot}
    if created:
        item["created_slot"] = created
    item.update(flags)
    return item


def telegram(slot, text="04:00 run: confirm 1, guide 0, event 0 (took 3.2s)"):
    return {"event": "telegram", "slot": slot, "text": text, "delivered": True}


def side(records=(), sms_events=(), telegrams=()):
    return {"records": list(records), "sms": list(sms_events), "telegram": list(telegrams)}


def kinds(report):
    return [(e["unit"], e["kind"], e["field"]) for e in report["evidence"]]


# ----------------------------------------------------------------------------- table cases
CASES = [
    # name, old, new, settle_slots, expected (unit, kind, field) list, matched, late
    ("identical slot",
     side([record(S0, created=S0)], [sms(S0)], [telegram(S0)]),
     side([record(S0, created=S0)], [sms(S0)], [telegram(S0)]), 1, [], 3, 0),
    ("telegram timings masked",
     side([], [], [telegram(S0, "run: confirm 1 (took 3.2s)")]),
     side([], [], [telegram(S0, "run: confirm 1 (took 41.9s)")]), 1, [], 1, 0),
    ("telegram count differs in text",
     side([], [], [telegram(S0, "run: confirm 1")]),
     side([], [], [telegram(S0, "run: confirm 2")]), 1,
     [("telegram", "text_differs", "text")], 0, 0),
    ("guide never sent by new",
     side([], [sms(S0, sms_type="guide")]), side([], []), 1,
     [("sms", "missing_on_new", None)], 0, 0),
    ("spurious confirm from new",
     side([], []), side([], [sms(S0)]), 1, [("sms", "missing_on_old", None)], 0, 0),
    ("event sent twice by new",
     side([], [sms(S0, sms_type="event")]),
     side([], [sms(S0, sms_type="event"), sms(S0, sms_type="event")]), 1,
     [("sms", "count_differs", None)], 1, 0),
    ("store differs",
     side([], [sms(S0)]), side([], [sms(S0, store="2001")]), 1,
     [("sms", "field_differs", "store_id")], 0, 0),
    ("flag differs in the table",
     side([record(S0)]), side([record(S0, remind_sms=True)]), 1,
     [("record", "field_differs", "remind_sms")], 0, 0),
    ("record missing in the new table",
     side([record(S0)]), side([]), 1, [("record", "missing_on_new", None)], 0, 0),
    ("ignored attribute differs",
     side([record(S0, created=S0)]), side([record(S0, created=None, updated_at="x")]), 1,
     [], 1, 0),
    ("booking one slot later on new: late",
     side([], [sms(S0)]), side([], [sms(S1)]), 1, [], 0, 1),
    ("booking one slot later on old: late",
     side([], [sms(S1)]), side([], [sms(S0)]), 1, [], 0, 1),
    ("one slot later with settle 0: discrepancy",
     side([], [sms(S0)]), side([], [sms(S1)]), 0, [("sms", "missing_on_new", None)], 0, 0),
    ("two slots later with settle 1: discrepancy",
     side([], [sms(S0)]), side([], [sms(S2)]), 1, [("sms", "missing_on_new", None)], 0, 0),
    ("late table write",
     side([record(S0)]), side([record(S1)]), 1, [], 0, 1),
    ("nothing to compare", side(), side(), 1, [], 0, 0),
]


@pytest.mark.parametrize("name, old, new, settle, expected, matched, late", CASES,
                         ids=[c[0] for c in CASES])
def test_classification_of_slot_s0(name, old, new, settle, expected, matched, late):
    report = compare(old, new, {"settle_slots": settle}, start=S0, end=S0)
    row = report["slots"][S0]
    assert kinds(report) == expected
    assert (row["matched"], row["late"], row["discrepancies"]) == (matched, late, len(expected))
    total = matched + len(expected)
    assert row["match_percentage"] == (100.0 if total == 0 else round(matched * 100 / total, 4))


def test_nfc_against_nfd_hangul_names_the_first_differing_character():
    text = "[Naver] 한지민님, 강남점 예약이 확정되었습니다."
    nfd = unicodedata.normalize("NFD", text)
    report = compare(side([], [sms(S0, content=text)]), side([], [sms(S0, content=nfd)]),
                     start=S0, end=S0)
    (entry,) = report["evidence"]
    index = text.index("한")
    assert entry["kind"] == "text_differs" and entry["field"] == "content"
    assert entry["index"] == index
    assert (entry["old_code_point"], entry["new_code_point"]) == ("U+D55C", "U+1112")
    assert "한지민" in entry["old_snippet"] and entry["new_snippet"].startswith(nfd[index - 6:index])
    assert entry["key"] == {"sms_type": "confirm", "booking_num": "1051_1", "phone": "01012345678"}


@pytest.mark.parametrize("old_text, new_text, index, old_cp, new_cp", [
    ("확정되었습니다.", "확정되었읍니다.", 4, "U+C2B5", "U+C74D"),
    ("abc", "abcd", 3, "<end>", "U+0064"),
    ("", "x", 0, "<end>", "U+0078"),
])
def test_text_difference(old_text, new_text, index, old_cp, new_cp):
    found = text_difference(old_text, new_text)
    assert (found["index"], found["old_code_point"], found["new_code_point"]) == (
        index, old_cp, new_cp)


def test_count_differs_reports_both_counts():
    report = compare(side([], [sms(S0, sms_type="event")]),
                     side([], [sms(S0, sms_type="event")] * 2), start=S0, end=S0)
    (entry,) = report["evidence"]
    assert (entry["old"], entry["new"]) == (1, 2)


def test_late_is_attributed_to_the_earlier_slot_only():
    old, new = side([], [sms(S1)]), side([], [sms(S0)])
    assert compare(old, new, start=S0, end=S0)["slots"][S0]["late"] == 1
    later = compare(old, new, start=S1, end=S1)["slots"][S1]
    assert (later["late"], later["discrepancies"], later["matched"]) == (0, 0, 0)


def test_telegram_difference_in_a_slot_with_a_late_booking_is_late():
    old = side([], [sms(S0, "a"), sms(S0, "b")], [telegram(S0, "confirm 2")])
    new = side([], [sms(S0, "a"), sms(S1, "b")], [telegram(S0, "confirm 1")])
    row = compare(old, new, start=S0, end=S0)["slots"][S0]
    assert (row["matched"], row["late"], row["discrepancies"]) == (1, 2, 0)


def test_counts_by_side_and_type_and_records_created_or_updated():
    old = side([record(S0, created=S0), record(S0, "2", created="2026-11-25T04:00:00Z")],
               [sms(S0), sms(S0, "2", "guide"), sms(S0, "3", "event", delivered=False)],
               [telegram(S0)])
    new = side([record(S0, created=S0)], [sms(S0, delivered=False)], [])
    row = compare(old, new, start=S0, end=S0)["slots"][S0]
    assert row["sms_sent"] == {"old": {"total": 3, "confirm": 1, "guide": 1, "event": 1},
                               "new": {"total": 1, "confirm": 1, "guide": 0, "event": 0}}
    assert row["sms_delivered"] == {"old": 2, "new": 0}
    assert row["telegram_sent"] == {"old": 1, "new": 0}
    assert row["records_created"] == {"old": 1, "new": 1}
    assert row["records_updated"] == {"old": 1, "new": 0}


def test_evidence_is_capped_but_counts_are_not():
    old = side([], [sms(S0, str(n)) for n in range(30)])
    report = compare(old, side(), {"evidence_cap": 5}, start=S0, end=S0)
    assert report["total"]["discrepancies"] == 30
    assert len(report["evidence"]) == 5 and report["evidence_truncated"] == 25
    assert report["total"]["match_percentage"] == 0.0


def test_empty_slots_in_the_range_are_reported_at_100_percent():
    report = compare(side(), side(), start=S0, end=S2)
    assert list(report["slots"]) == [S0, S1, S2]
    assert {r["match_percentage"] for r in report["slots"].values()} == {100.0}


def test_snapshot_tags_new_and_changed_records_with_the_observed_slot():
    legacy = {"booking_num": "1051_1", "phone": "01012345678", "confirm_sms": True}
    # first read: the baseline, nothing tagged
    tagged, snapshot = tag_records_from_snapshot([legacy], None, S0)
    assert tagged == []
    # unchanged: still untagged; a new record: created in the observed slot
    other = dict(legacy, booking_num="1051_2")
    tagged, snapshot = tag_records_from_snapshot([legacy, other], snapshot, S1)
    assert tagged == [dict(other, updated_slot=S1, created_slot=S1)]
    # changed later: updated in that slot, created slot kept; unchanged keeps its tags
    tagged, snapshot = tag_records_from_snapshot(
        [dict(legacy, remind_sms=True), other], snapshot, S2)
    assert tagged == [dict(legacy, remind_sms=True, updated_slot=S2),
                      dict(other, updated_slot=S1, created_slot=S1)]
    assert json.loads(json.dumps(snapshot)) == snapshot  # kept as a JSON file between runs


@pytest.mark.parametrize("old_content, text_differs, reads", [(TEXT, 0, 1), ("x", 1, 3)])
def test_generator_factories_are_read_again_only_when_there_are_differences(
        old_content, text_differs, reads):
    calls = []

    def factory():
        calls.append(1)
        return iter([sms(S0, "a"), sms(S0, "b", content=old_content)])

    report = compare({"sms": factory}, side([], [sms(S0, "a"), sms(S0, "b")]), start=S0, end=S0)
    assert report["total"]["discrepancies_by_kind"]["text_differs"] == text_differs
    assert report["total"]["matched"] == 2 - text_differs
    assert len(calls) == reads


@pytest.mark.parametrize("overrides, message", [
    ({"settle_slots": -1}, "settle_slots"),
    ({"records": {"key": []}}, "records.key"),
    ({"telegram": {"masks": ["("]}}, "mask"),
    ({"settle_slot": 1}, "unknown comparison setting"),
])
def test_bad_configuration_says_what_to_fix(overrides, message):
    with pytest.raises(CompareConfigError, match=message):
        make_config(overrides)


# ----------------------------------------------------------------------------- log parsing
JSON_LINE = json.dumps(sms(S0), ensure_ascii=False)


@pytest.mark.parametrize("message, log_format, expected", [
    (JSON_LINE, None, sms(S0)),
    ("[INFO]\t2026-11-26T04:00:03.512Z\treq-1\t" + JSON_LINE, None, sms(S0)),
    ("START RequestId: req-1 Version: $LATEST", None, None),
    ('{"event": "metric", "value": 1}', None, None),
    (json.dumps({"kind": "telegram", "at": S0, "body": {"text": "hi"}, "ok": True}),
     {"format": "json", "fields": {"event": "kind", "slot": "at", "text": "body.text",
                                   "delivered": "ok"}},
     {"event": "telegram", "slot": S0, "text": "hi", "delivered": True, "kind": "telegram",
      "at": S0, "body": {"text": "hi"}, "ok": True}),
    ('2026-11-26 13:00:04,512 INFO sms type=1 booking_num=1051_1 phone=01012345678 '
     'store_id=1051 result=success content=' + json.dumps(TEXT, ensure_ascii=False),
     LEGACY_TEXT_FORMAT, sms(S0)),
    ('2026-11-26 13:00:09,101 INFO telegram result=success text="줄1\\n줄2 \\"따옴표\\""',
     LEGACY_TEXT_FORMAT,
     {"event": "telegram", "slot": S0, "text": '줄1\n줄2 "따옴표"', "delivered": True}),
    ("2026-11-26 13:00:02,000 INFO logged in to naver as store 1051", LEGACY_TEXT_FORMAT, None),
])
def test_parse_log_event(message, log_format, expected):
    # 04:03:05 UTC: the legacy lines carry no slot, it comes from the event timestamp
    assert parse_log_event(message, 1795665785000, log_format) == expected


def test_legacy_plain_text_side_compares_with_a_json_side():
    lines = [f'2026-11-26 13:00:04,512 INFO sms type={n} booking_num=1051_1 phone=01012345678 '
             f'store_id=1051 result=success content=' + json.dumps(TEXT, ensure_ascii=False)
             for n in (1, 2)]
    old = [parse_log_event(line, 1795665785000, LEGACY_TEXT_FORMAT) for line in lines]
    new = [sms(S0), sms(S0, sms_type="guide", content=TEXT.replace("확정", "확장"))]
    report = compare(side([], old), side([], new), start=S0, end=S0)
    assert kinds(report) == [("sms", "text_differs", "content")]
    assert report["evidence"][0]["key"]["sms_type"] == "guide"


# ----------------------------------------------------------------------------- properties
HANGUL = st.text(alphabet=st.sampled_from("가한글abc 1\u1112\u1161"), max_size=12)
SLOTS = st.sampled_from([S0, S1, S2, S3])
SMS = st.builds(sms, SLOTS, st.sampled_from(["1", "2", "3"]),
                st.sampled_from(["confirm", "guide", "event"]), HANGUL)
RECORDS = st.builds(lambda slot, booking, flag: record(slot, booking, confirm_sms=flag),
                    SLOTS, st.sampled_from(["1", "2", "3", "4"]), st.booleans())
TELEGRAMS = st.builds(telegram, SLOTS, HANGUL)
SIDE = st.builds(side,
                 st.lists(RECORDS, max_size=6, unique_by=lambda r: r["booking_num"]),
                 st.lists(SMS, max_size=8), st.lists(TELEGRAMS, max_size=3))
SETTLE = st.integers(min_value=0, max_value=2)


@settings(max_examples=150, deadline=None)
@given(SIDE, SETTLE)
def test_a_side_compared_with_itself_matches_everywhere(observations, settle):
    report = compare(observations, observations, {"settle_slots": settle})
    assert report["total"]["discrepancies"] == 0 and report["total"]["late"] == 0
    assert report["evidence"] == []
    assert all(r["match_percentage"] == 100.0 for r in report["slots"].values())


SWAP = {"missing_on_new": "missing_on_old", "missing_on_old": "missing_on_new"}


def _swapped(entry):
    entry = dict(entry, kind=SWAP.get(entry["kind"], entry["kind"]),
                 old=entry["new"], new=entry["old"])
    for name in ("code_point", "snippet", "length", "values"):
        if f"old_{name}" in entry or f"new_{name}" in entry:
            entry[f"old_{name}"], entry[f"new_{name}"] = (
                entry.pop(f"new_{name}", None), entry.pop(f"old_{name}", None))
            for side_name in ("old", "new"):
                if entry[f"{side_name}_{name}"] is None:
                    del entry[f"{side_name}_{name}"]
    if "slots" in entry:
        entry["slots"] = {"old": entry["slots"]["new"], "new": entry["slots"]["old"]}
    return entry


def _canonical(entries):
    return sorted(json.dumps(e, sort_keys=True, ensure_ascii=False) for e in entries)


@settings(max_examples=150, deadline=None)
@given(SIDE, SIDE, SETTLE)
def test_swapping_sides_swaps_kinds_and_values(old, new, settle):
    config = {"settle_slots": settle, "evidence_cap": 1000}
    forward = compare(old, new, config)
    backward = compare(new, old, config)
    assert _canonical(_swapped(e) for e in forward["evidence"]) == _canonical(
        backward["evidence"])
    for name in ("matched", "late", "discrepancies"):
        assert forward["total"][name] == backward["total"][name]
    kinds_forward = forward["total"]["discrepancies_by_kind"]
    kinds_backward = backward["total"]["discrepancies_by_kind"]
    assert kinds_forward["missing_on_new"] == kinds_backward["missing_on_old"]
    assert kinds_forward["text_differs"] == kinds_backward["text_differs"]
