"""harness.report.build and html: report.html is complete, escaped and self-contained."""

from __future__ import annotations

import base64
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest

from harness.report import build_report
from harness.report.html import SORT_JS
from harness.report.tables import CELLS_COLUMNS
from harness.report.view import MIX_CHARTS


class _Page(HTMLParser):
    """Collects tags, links and image sources; fails on nothing, checks come later."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if a.get("href"):
            self.hrefs.append(str(a["href"]))
        if tag == "img":
            self.imgs.append(a)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def built(synthetic_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run_dir = tmp_path_factory.mktemp("built") / synthetic_run.name
    shutil.copytree(synthetic_run, run_dir)
    report = build_report(run_dir)
    return run_dir, report.read_text(encoding="utf-8")


def _page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def test_build_writes_summary_charts_and_report(built: tuple[Path, str]) -> None:
    run_dir, _ = built
    assert (run_dir / "report.html").is_file()
    summary = pd.read_csv(run_dir / "summary.csv")
    assert {"rank", "stack", "flags", "rps", "p99_ms"} <= set(summary.columns)
    for mix in ("json", "io"):
        for kind in MIX_CHARTS:
            for ext in ("png", "svg"):
                assert (run_dir / "charts" / f"{mix}--{kind}.{ext}").stat().st_size > 1000


def test_every_chart_is_inlined_as_a_png(built: tuple[Path, str]) -> None:
    page = _page(built[1])
    assert len(page.imgs) == 2 * len(MIX_CHARTS)
    for img in page.imgs:
        src = str(img["src"])
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
        assert img.get("alt")


def test_self_contained_one_inline_script_no_external_urls(built: tuple[Path, str]) -> None:
    text = built[1]
    page = _page(text)
    # One script, inline, the table sorter; it reaches for nothing outside the page.
    assert page.tags.count("script") == 1 and f"<script>{SORT_JS}</script>" in text
    for reach in ("fetch", "XMLHttpRequest", "import", "WebSocket", ".src", "http", "//"):
        assert reach not in SORT_JS, reach
    assert "link" not in page.tags  # no external stylesheet
    assert "http://" not in text and "https://" not in text and "//" not in "".join(page.hrefs)


def test_relative_links_point_at_existing_files(built: tuple[Path, str]) -> None:
    run_dir, text = built
    files = [h for h in _page(text).hrefs if not h.startswith("#")]
    for name in ("cells.csv", "summary.csv", "metadata.json", "raw/"):
        assert name in files
    raw_links = [h for h in files if h.startswith("raw/") and h != "raw/"]
    assert raw_links
    for href in files:
        assert (run_dir / unquote(href)).exists(), href


def test_data_is_escaped(built: tuple[Path, str]) -> None:
    text = built[1]
    assert "Synthetic CPU &lt;test&gt;" in text
    assert "<test>" not in text
    assert "&lt;boom&gt; &amp; exit 3" in text  # the failed cells' error from cell.json
    assert "<boom>" not in text


def test_headline_marks_failed_rows_and_explains_badges(built: tuple[Path, str]) -> None:
    text = built[1]
    assert 'class="badge badge-failed"' in text
    assert 'class="badge badge-some_failed"' in text
    assert "never ranked, listed last" in text  # the badge legend
    io_table = text.split('id="table-io"')[1].split("</table>")[0]
    rows = io_table.split("<tr")[2:]
    failed = [i for i, r in enumerate(rows) if r.startswith(' class="failed"')]
    assert failed == [len(rows) - 1]
    assert "django-wsgi@gunicorn-sync-w1" in rows[-1]


def test_metadata_section(built: tuple[Path, str]) -> None:
    text = built[1]
    for fact in ("0123456789abcdef", "3.11.2", "gunicorn", "23.0.0", "cpu set server",
                 "scenarios/synthetic.toml"):  # fmt: skip
        assert fact in text, fact


def test_a_run_without_finished_cells_still_reports(tmp_path: Path) -> None:
    run_dir = tmp_path / "20261121T000000Z-empty"
    run_dir.mkdir()
    (run_dir / "cells.csv").write_text(",".join(CELLS_COLUMNS) + "\n")
    text = build_report(run_dir).read_text(encoding="utf-8")
    assert "No finished cells." in text
    assert "0 of ? planned cells finished" in text


def test_a_damaged_raw_file_costs_one_curve_not_the_report(
    synthetic_run: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / synthetic_run.name
    shutil.copytree(synthetic_run, run_dir)
    damaged = run_dir / "raw" / "fastapi-async@uvicorn-w2__json__u16__r1" / "requests.csv.gz"
    damaged.write_bytes(b"not gzip")
    text = build_report(run_dir).read_text(encoding="utf-8")
    assert "raw files unreadable: fastapi-async@uvicorn-w2" in text
    assert len(_page(text).imgs) == 2 * len(MIX_CHARTS)


def test_noisy_cells_carry_a_badge_and_the_legend_explains_it(
    noisy_run: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / noisy_run.name
    shutil.copytree(noisy_run, run_dir)
    text = build_report(run_dir).read_text(encoding="utf-8")
    json_table = text.split('id="table-json"')[1].split("</table>")[0]
    # The ranked peak of the fastest json stack, its figure on hover.
    assert re.search(r'class="badge badge-noisy" title="other processes used 23% of a core">'
                     r"noisy \(other processes\)</span>", json_table)  # fmt: skip
    cells = text.split('id="cells"')[1].split("</table>")[0]
    # One cell of each cause in the list of every cell, each with its own badge and figure.
    assert cells.count('class="badge badge-noisy"') == 1
    assert cells.count('<span class="badge badge-time_wait" title="TIME_WAIT held 62% of the '
                       'local port range">TIME_WAIT</span>') == 1  # fmt: skip
    legend = text.split('id="headline"')[1].split("<table>")[0]
    assert "other processes used more than 10% of a core" in legend
    assert "sockets in TIME_WAIT held half the local port range" in legend


def test_open_loop_tables_show_target_and_achieved(open_loop_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / open_loop_run.name
    shutil.copytree(open_loop_run, run_dir)
    text = build_report(run_dir).read_text(encoding="utf-8")
    table = text.split('id="table-json"')[1].split("</table>")[0]
    assert "<th>target requests/s</th>" in table and "<th>achieved requests/s</th>" in table
    cells = text.split('id="cells"')[1].split("</table>")[0]
    assert "<th>target requests/s</th>" in cells and '<td class="num">1,000</td>' in cells
    assert "achieved = target" in text  # the chart caption
    summary = pd.read_csv(run_dir / "summary.csv")
    assert set(summary["target_rps"]) <= {200.0, 500.0, 1000.0}


def test_closed_loop_tables_have_no_target_column(built: tuple[Path, str]) -> None:
    assert "target requests/s" not in built[1]
