"""module_utils/cutover/status_page.py: the console text and the self-contained page, same facts."""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from module_utils.cutover import status_page as sp
from tests.status_facts import week


class Elements(HTMLParser):
    """Every start tag with its attributes, and every URL-bearing attribute."""

    def __init__(self, page):
        super().__init__()
        self.tags = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def with_class(self, tag, css):
        return [attrs for name, attrs in self.tags if name == tag and css in (attrs.get("class") or "").split()]


@pytest.mark.parametrize("phase, label", [
    ({"name": "not_started"}, "not started"),
    ({"name": "image"}, "image pushed"),
    ({"name": "function"}, "function created"),
    ({"name": "parallel", "day": 3}, "parallel run, day 3 of 7"),
    ({"name": "cutover"}, "cutover"),
    ({"name": "post_cutover", "day": 2}, "post-cutover, day 2"),
    ({"name": "decommissioned"}, "decommissioned"),
    ({"name": "rolled_back"}, "rolled back"),
])
def test_phase_labels(phase, label):
    assert sp.phase_label(phase) == label
    assert f"phase          {label}" in sp.render_text({"environment": "test", "phase": phase})


@pytest.mark.parametrize("facts, message", [
    ({}, "environment: None, expected test or production"),
    ({"environment": "prod"}, "environment: 'prod'"),
    ({"environment": "test", "phase": {"name": "parallel_run"}}, "phase.name: 'parallel_run'"),
    ({"environment": "test", "slots": [{"slot": "yesterday"}]}, "slots[0].slot: 'yesterday' is not an ISO 8601 time"),
    ({"environment": "test", "slots": [{"slot": "2026-11-26T00:00:00Z", "match_percentage": "100"}]},
     "slots[0].match_percentage: '100' is not a number"),
    ({"environment": "test", "moments": [{"kind": "switch", "at": "2026-11-26T00:00:00Z"}]},
     "moments[0].kind: 'switch', expected cutover or rollback"),
    ({"environment": "test", "executions": {"compared": True}}, "executions.compared: True is not a number"),
])
def test_wrong_facts_are_refused_with_the_key_named(facts, message):
    with pytest.raises(sp.StatusError, match=re.escape(message)):
        sp.render_html(facts)


def test_the_console_shows_every_fact_and_the_exact_next_command():
    text = sp.render_text(week())
    lines = dict(re.findall(r"^  (\S[\w ]*?)\s{2,}(.*)$", text, re.M))
    assert text.splitlines()[0] == "naver-sms cutover: test (account 123456789012), 2026-12-03 06:00 UTC"
    assert lines["phase"] == "rolled back"
    assert lines["executions"] == "501 compared of 504 required (99 %)"
    assert lines["match"].startswith("96.5 % (lowest slot; last slot 2026-12-02T23:40:00Z: 100.0 %)")
    assert lines["discrepancies"] == "6"
    assert lines["open alarms"] == "naver-sms-discrepancies since 2026-11-30 20:40 UTC: discrepancies > 0"
    assert lines["last decision"] == "DP2 GO at 2026-12-03 00:00 UTC by alice (CHG0012345)"
    assert lines["lock"] == "held by awx-job-77 (CHG0012346, rollback.yml) until 2026-12-03 06:30 UTC"
    assert lines["cutover"] == "2026-12-03 00:10 UTC"
    assert lines["rollback"] == "2026-12-03 05:10 UTC (rollback scenario 2)"
    assert lines["command"] == "ansible-playbook -i inventories/test playbooks/gate.yml -e change_ticket=CHG0012346"


def test_nothing_yet_reads_as_such():
    text = sp.render_text({"environment": "production"})
    assert "not started" in text and "match          n/a" in text and "lock           free" in text
    assert "last decision  none yet" in text and "next step      nothing to do" in text
    page = sp.render_html({"environment": "production"})
    assert "no slot compared yet" in page and "no execution compared yet" in page
    assert Elements(page).with_class("circle", "point") == []


def test_the_page_has_one_point_per_slot_discrepancies_marked_and_one_bar_per_day():
    facts = week()
    elements = Elements(sp.render_html(facts))
    points = elements.with_class("circle", "point")
    assert len(points) == 7 * 72
    assert [p["data-slot"] for p in points] == [row["slot"] for row in facts["slots"]]
    marked = elements.with_class("circle", "discrepancy")
    assert [p["data-slot"] for p in marked] == [facts["slots"][i]["slot"] for i in (100, 101, 350)]
    assert len(elements.with_class("line", "discrepancy-mark")) == 3
    bars = elements.with_class("rect", "bar")
    assert [(b["data-day"], b["data-count"]) for b in bars] == \
        [(row["day"], str(row["executions"])) for row in facts["executions_per_day"]]
    assert [b["data-day"] for b in elements.with_class("rect", "short")] == ["2026-11-26"]


def test_cutover_and_rollback_are_drawn_on_both_charts_in_time_order():
    elements = Elements(sp.render_html(week()))
    cutovers = elements.with_class("g", "cutover")
    rollbacks = elements.with_class("g", "rollback")
    assert [g["data-at"] for g in cutovers] == ["2026-12-03T00:10:00Z"] * 2
    assert [g["data-at"] for g in rollbacks] == ["2026-12-03T05:10:00Z"] * 2
    assert elements.with_class("g", "moment") == [cutovers[0], rollbacks[0], cutovers[1], rollbacks[1]]


def test_the_page_is_self_contained_and_escapes_what_it_shows():
    facts = week()
    facts["next_step"]["command"] = "echo '<script>alert(1)</script>' && ansible-playbook ..."
    page = sp.render_html(facts)
    elements = Elements(page)
    assert not [attrs for _, attrs in elements.tags if {"src", "href"} & set(attrs)]
    assert "<script" not in page and "<link" not in page and "url(" not in page and "@import" not in page
    assert "http://" not in page and "https://" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#x27;&lt;script&gt;" in sp.render_html(facts)


def test_the_page_and_the_console_state_the_same_facts():
    facts = week(days=3, cutover=False, rollback=False)
    page, text = sp.render_html(facts), sp.render_text(facts)
    rows = dict(re.findall(r'<tr data-fact="([^"]+)"><th>[^<]*</th><td[^>]*>([^<]*)</td></tr>', page))
    for label, value in rows.items():
        assert f"  {label}" in text and html.unescape(value) in text, label
    assert rows["phase"] == "parallel run, day 3 of 7"
    assert "cutover" not in rows and "rollback" not in rows
