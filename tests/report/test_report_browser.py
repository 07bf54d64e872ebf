"""report.html in headless Chromium: renders, no console errors, every chart decoded.

Needs /usr/bin/chromium. Skipped without it on a developer machine; under CI=true a
missing browser fails the test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.report import build_report
from harness.report.view import MIX_CHARTS

from .browser import PageReport, render

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed and CI=true: the browser test must run")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def _problems(report: PageReport) -> list[str]:
    problems = [f"console error: {m}" for m in report.console_errors]
    problems += [f"exception: {m}" for m in report.exceptions]
    problems += [f"log error: {m}" for m in report.log_errors]
    problems += [f"failed request: {m}" for m in report.failed_requests]
    problems += [f"external request: {u}" for u in report.requested_urls
                 if not u.startswith(("file:", "data:"))]  # fmt: skip
    if report.facts.get("text_length", 0) < 200:
        problems.append(f"blank page: {report.facts.get('text_length')} characters of text")
    for img in report.facts.get("images", []):
        if not (img["complete"] and img["decoded"] and img["natural_width"] > 0):
            problems.append(f"image not decoded: {img}")
    return problems


def _copy_and_build(run_dir: Path, tmp_path: Path) -> Path:
    # Build in a copy: the run fixtures are shared with other tests.
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    return build_report(copy)


def test_tiny_run_report_renders_cleanly(chromium: str, tiny_run: Path, tmp_path: Path) -> None:
    report = render(chromium, _copy_and_build(tiny_run, tmp_path), tmp_path)
    assert _problems(report) == []
    assert len(report.facts["images"]) == len(MIX_CHARTS)  # one mix in the tiny scenario
    assert report.facts["title"].startswith("Benchmark report")


def test_synthetic_report_with_failures_renders_cleanly(
    chromium: str, synthetic_run: Path, tmp_path: Path
) -> None:
    report = render(chromium, _copy_and_build(synthetic_run, tmp_path), tmp_path)
    assert _problems(report) == []
    assert len(report.facts["images"]) == 2 * len(MIX_CHARTS)


def test_noisy_cells_show_their_badge(chromium: str, noisy_run: Path, tmp_path: Path) -> None:
    report = render(chromium, _copy_and_build(noisy_run, tmp_path), tmp_path)
    assert _problems(report) == []
    # Visible: the legend's badge and the ranked json peak (the all-cells list is folded).
    assert report.facts["badges"].count("noisy (other processes)") >= 2
    assert "TIME_WAIT" in report.facts["badges"]  # the legend names the other cause


# Clicks the json table's requests/s header twice, reading the column after each click.
SORT_CLICKS_JS = """
(() => {
  const table = document.getElementById("table-json").nextElementSibling;
  const col = [...table.tHead.rows[0].cells].findIndex(th => th.innerText.trim() === "requests/s");
  const stacks = () => [...table.tBodies[0].rows].map(r => r.cells[1].innerText.trim());
  const values = () => [...table.tBodies[0].rows].map(
    r => parseFloat(r.cells[col].innerText.replace(/,/g, "")));
  const before = stacks();
  const th = table.tHead.rows[0].cells[col];
  th.click();
  const up = {values: values(), sort: th.getAttribute("aria-sort")};
  th.click();
  const down = {values: values(), sort: th.getAttribute("aria-sort"), stacks: stacks()};
  return JSON.stringify({col, before, up, down});
})()
"""


def test_a_table_sorts_by_the_clicked_column(
    chromium: str, synthetic_run: Path, tmp_path: Path
) -> None:
    report = render(
        chromium, _copy_and_build(synthetic_run, tmp_path), tmp_path, script=SORT_CLICKS_JS
    )
    assert _problems(report) == []
    got = report.facts["script"]
    assert got["col"] >= 0
    up, down = got["up"], got["down"]
    numbers = [v for v in up["values"] if v is not None]  # no figure (NaN): sorted last
    assert numbers == sorted(numbers) and up["sort"] == "ascending"
    assert down["values"][: len(numbers)] == sorted(numbers, reverse=True)
    assert down["sort"] == "descending"
    # Descending requests/s is the ranked order the page was built in.
    assert down["stacks"] == got["before"]


def test_the_checks_catch_a_broken_page(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>x</title></head><body>"
        '<img alt="broken" src="data:image/png;base64,AAAA">'
        "<script>console.error('boom from the page')</script></body></html>"
    )
    problems = _problems(render(chromium, page, tmp_path))
    assert any("boom from the page" in p for p in problems)
    assert any(p.startswith("image not decoded") for p in problems)
    assert any(p.startswith("blank page") for p in problems)
