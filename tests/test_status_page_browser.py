"""The status page in a real browser: headless Chromium (Debian's `chromium`, `make browser`).

Chromium parses and lays out the page; its DOM (--dump-dom) must hold one point per compared
slot, the discrepancies marked, one bar per day and the cutover and rollback moments; a
screenshot of the page is kept in the test's reports directory.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from module_utils.cutover.status_page import render_html
from tests.status_facts import week
from tests.unit.test_status_page import Elements

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WINDOW = (1100, 1400)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed: `make browser` installs Debian's chromium (needs root and apt-get)")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
           "--no-first-run", "--disable-extensions", "--disable-background-networking", "--disable-sync",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture
def page(tmp_path):
    directory = Path(os.environ["CUTOVER_REPORTS_DIR"]) / "test"
    directory.mkdir(parents=True)
    path = directory / "status.html"
    path.write_text(render_html(week()), encoding="utf-8")
    return path


def test_the_page_loads_and_its_charts_hold_every_point(tmp_path, page):
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    elements = Elements(dom)
    assert elements.with_class("svg", "chart"), dom[:500]
    assert len(elements.with_class("circle", "point")) == 7 * 72
    assert len(elements.with_class("circle", "discrepancy")) == 3
    assert len(elements.with_class("rect", "bar")) == 7
    assert [g["data-at"] for g in elements.with_class("g", "cutover")] == ["2026-12-03T00:10:00Z"] * 2
    assert [g["data-at"] for g in elements.with_class("g", "rollback")] == ["2026-12-03T05:10:00Z"] * 2
    assert "rolled back" in dom


def test_a_screenshot_of_the_page_is_produced(tmp_path, page):
    shot = page.with_name("status.png")
    chromium(tmp_path, f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}", page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == WINDOW
    assert len(data) > 30_000, "a blank page compresses to a few kB; the charts and text make it larger"
    print(f"screenshot: {shot}")
