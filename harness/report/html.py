"""report.html: one self-contained page (inline CSS, PNGs as data URIs, and one inline
script that sorts a table by the column whose header is clicked; nothing is fetched).

Everything that comes from the data is escaped; links to raw files are relative to the
run directory, where the page is written.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd

from harness.core.errors import ResultsError
from harness.core.intervals import format_level
from harness.report import capacity, reproduction
from harness.report.decide import DEFAULT_P99_BUDGET_MS, MixDecision, decide, percent_of_best
from harness.report.raw import read_cell_json
from harness.report.tables import FLAG_LABELS, FLAG_MEANINGS, open_loop, ranked, split_flags
from harness.report.view import Chart, RunView
from harness.results.environment import KEY_PACKAGES

if TYPE_CHECKING:
    from pathlib import Path

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;
max-width:1100px;padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.6rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #ccc;padding:.25rem .45rem;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f0f0f0}tbody tr:nth-child(even){background:#fafafa}
thead th{cursor:pointer}th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
tr.failed td{color:#666;background:#f6f0ee}.stack{white-space:nowrap}
.badge{display:inline-block;border-radius:.6rem;padding:0 .5rem;margin:0 .1rem;
font-size:.78rem;font-weight:600;white-space:nowrap;border:1px solid}
.badge-failed{background:#D55E00;color:#fff;border-color:#D55E00}
.badge-generator_bound{background:#fff3d6;color:#7a4f00;border-color:#E69F00}
.badge-cut_off{background:#fff3d6;color:#7a4f00;border-color:#7a4f00}
.badge-stalled{background:#fff3d6;color:#7a4f00;border-color:#7a4f00}
.badge-unstable{background:#f6e6f0;color:#7a2d5a;border-color:#CC79A7}
.badge-noisy{background:#e3f1fa;color:#0b4f75;border-color:#56B4E9}
.badge-time_wait{background:#eef3e3;color:#3d5a0b;border-color:#7fa33a}
.badge[title]{cursor:help}
.badge-concurrent{background:#e3f1fa;color:#0b4f75;border-color:#0b4f75}
.badge-errors{background:#fff;color:#222;border-color:#222}
.badge-some_failed{background:#fbe7dc;color:#8a3a00;border-color:#D55E00}
figure{margin:1rem 0 2rem}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.88rem;color:#444}pre{background:#f6f6f6;padding:.6rem;overflow:auto;
font-size:.8rem}.muted{color:#666}dl.meta{display:grid;grid-template-columns:max-content 1fr;
gap:.2rem 1rem}dl.meta dt{font-weight:600}dl.meta dd{margin:0}
""".replace("\n", "")  # one line in the page


def _e(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    return escape(str(value), quote=True)


def _href(*parts: str) -> str:
    return escape("/".join(quote(p, safe="") for p in parts), quote=True)


def _num(value: Any, kind: str = "int") -> str:
    if value is None or value is pd.NA or pd.isna(value):
        return "–"
    v = float(value)
    if kind == "ms":
        return f"{v:,.0f}" if v >= 1000 else f"{v:.3g}"
    if kind == "pct":
        if v == 0:
            return "0"
        return "<0.01%" if v * 100 < 0.01 else f"{v * 100:.2f}%"
    return f"{v:,.0f}"


def badges(flags: str, failed_users: str = "", why: Mapping[str, str] | None = None) -> str:
    """Badge spans for a ';'-joined flags value; failed_users names the failed levels, and
    why[code] is shown on hover (the figure behind the flag)."""
    spans = []
    for code in split_flags(flags):
        label = FLAG_LABELS.get(code, code)
        if code == "some_failed" and failed_users:
            label = f"failed at {failed_users} users"
        title = f' title="{_e(why[code])}"' if why and why.get(code) else ""
        spans.append(f'<span class="badge badge-{_e(code)}"{title}>{_e(label)}</span>')
    return "".join(spans)


def noise_figures(other_cpu_pct: Any, port_range_used: Any) -> dict[str, str]:
    """The figures behind the noisy and time_wait flags, in words (for a badge's hover)."""
    why = {}
    if isinstance(other_cpu_pct, int | float) and other_cpu_pct == other_cpu_pct:
        why["noisy"] = f"other processes used {other_cpu_pct:.0f}% of a core"
    if isinstance(port_range_used, int | float) and port_range_used == port_range_used:
        why["time_wait"] = f"TIME_WAIT held {port_range_used:.0%} of the local port range"
    return why


def _table(
    head: Sequence[str], rows: Iterable[tuple[str, Sequence[str]]], numeric: Collection[int]
) -> str:
    """rows: (tr class, already escaped cells); `numeric` columns are right-aligned."""
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for css, cells in rows:
        out.append(f'<tr class="{css}">' if css else "<tr>")
        for i, cell in enumerate(cells):
            out.append(f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _cell_links(joined: str) -> str:
    return " ".join(
        f'<a href="{_href("raw", c)}/">r{_e(c.rsplit("__r", 1)[-1])}</a>'
        for c in str(joined).split(";")
        if c
    )


def _spread(r: Any) -> str:
    if pd.isna(r.rps_min) or pd.isna(r.rps_max) or r.rps_min == r.rps_max:
        return ""
    return f"{_num(r.rps_min)}–{_num(r.rps_max)}"


def _interval(r: Any) -> str:
    if pd.isna(r.rps_ci_low) or pd.isna(r.rps_ci_high) or r.rps_ci_low == r.rps_ci_high:
        return ""
    return f"{_num(r.rps_ci_low)}–{_num(r.rps_ci_high)} ({_e(format_level(r.ci_level))})"


def _ratio(value: Any, low: Any, high: Any) -> str:
    if pd.isna(value):
        return ""
    return f"{value:.2f}× [{low:.2f}, {high:.2f}]"


def _rank(r: Any) -> str:
    """The rank; a stack whose paired interval against the leader includes 1 is tied with
    it, and says so."""
    if pd.isna(r.rank):
        return "–"
    return f"{int(r.rank)} ≈1" if _yes(r.tied_with_leader) else str(int(r.rank))


def _yes(value: Any) -> bool:
    """A tie flag of summary.csv: True, False or missing (NA)."""
    return not pd.isna(value) and bool(value)


def _vs_leader(r: Any) -> str:
    if pd.isna(r.rank) or int(r.rank) == 1:
        return ""
    return _ratio(r.vs_leader, r.vs_leader_low, r.vs_leader_high)


def _vs_next(r: Any) -> str:
    if pd.isna(r.vs_next):
        return ""
    if _yes(r.tied_with_next):
        return f"tied ({_ratio(r.vs_next, r.vs_next_low, r.vs_next_high)})"
    return _ratio(r.vs_next, r.vs_next_low, r.vs_next_high)


# Headline columns: header, cell html from a summary row, right-aligned.
HEADLINE: tuple[tuple[str, Callable[[Any], str], bool], ...] = (
    ("rank", _rank, False),
    ("stack", lambda r: f'<span class="stack">{_e(r.stack)}</span>', False),
    ("users", lambda r: _num(r.users), True),
    ("target requests/s", lambda r: _num(r.target_rps), True),
    ("requests/s", lambda r: _num(r.rps), True),
    ("range of rounds", _spread, True),
    ("interval of the median (confidence)", _interval, True),
    ("vs leader, paired", _vs_leader, True),
    ("vs next, paired", _vs_next, True),
    ("p50 ms", lambda r: _num(r.p50_ms, "ms"), True),
    ("p99 ms", lambda r: _num(r.p99_ms, "ms"), True),
    ("p99.9 ms", lambda r: _num(r.p999_ms, "ms"), True),
    ("errors", lambda r: _num(r.error_rate, "pct"), True),
    ("server CPU %", lambda r: _num(r.server_cpu_pct), True),
    ("req / CPU-s", lambda r: _num(r.rps_per_cpu_s), True),
    ("RSS MB", lambda r: _num(r.server_rss_mb), True),
    ("PSS MB", lambda r: _num(r.server_pss_mb), True),
    ("USS MB / worker", lambda r: _num(r.worker_uss_mb), True),
    (
        "flags",
        lambda r: badges(
            r.flags,
            r.failed_users if r.status == "ok" else "",
            noise_figures(r.other_cpu_pct_max, r.port_range_used_max),
        ),
        False,
    ),
    ("raw", lambda r: _cell_links(r.cells), False),
)


REPEAT_COLUMNS = (
    "range of rounds", "interval of the median (confidence)", "vs leader, paired",
    "vs next, paired",
)  # fmt: skip
# An open-loop run shows the target rate beside the achieved one.
OPEN_LOOP_HEADERS = {"requests/s": "achieved requests/s"}


def headline(table: pd.DataFrame, mixes: Sequence[str]) -> str:
    """Ranked tables, one per scenario and mix, mixes in run order."""
    repeated = (table["repeats"] > 1).any()
    opened = open_loop(table)
    columns = [
        c
        for c in HEADLINE
        if (c[0] not in REPEAT_COLUMNS or repeated) and (c[0] != "target requests/s" or opened)
    ]
    heads = [OPEN_LOOP_HEADERS.get(c[0], c[0]) if opened else c[0] for c in columns]
    numeric = {i for i, c in enumerate(columns) if c[2]}
    parts = []
    for mix in mixes:
        for scenario, group in table[table["mix"] == mix].groupby("scenario", sort=False):
            rows = [
                ("failed" if r.status != "ok" else "", [cell(r) for _, cell, _ in columns])
                for r in group.itertuples(index=False)
            ]
            parts.append(f'<h3 id="table-{_e(mix)}">scenario {_e(scenario)} — mix {_e(mix)}</h3>')
            parts.append(_table(heads, rows, numeric))
    return "".join(parts) or "<p>No finished cells.</p>"


def legend() -> str:
    """What each badge means."""
    items = "".join(
        f"<dt>{badges(code)}</dt><dd>{_e(FLAG_MEANINGS[code])}</dd>" for code in FLAG_LABELS
    )
    return (
        "<p>Each stack is shown at its peak: the concurrency level with the highest median "
        "requests/s among levels where no round failed. Ranks order requests/s within a mix, "
        "but an order is only as good as its interval: each stack is compared with the "
        "leader and with the stack ranked below it round by round (the median of the "
        "per-round ratios, with its order-statistic interval). Where that interval includes "
        "1 the two are tied: the rank reads “≈1” for a tie with the leader, and “tied” "
        "stands in the next column. Intervals carry their exact confidence (96.9% with 6 "
        "rounds, 75% with 3): nothing is called 95% that is not. Badges:</p>"
        f'<dl class="meta">{items}</dl>'
    )


def _img(chart: Chart) -> str:
    data = base64.b64encode(chart.png.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(chart.title)}">'


def figures(charts: Sequence[Chart]) -> str:
    """Every chart, grouped by mix, each with caption, source cells and file links."""
    parts = []
    for mix in dict.fromkeys(c.mix for c in charts):
        parts.append(f'<h3 id="charts-{_e(mix)}">mix {_e(mix)}</h3>')
        for chart in (c for c in charts if c.mix == mix):
            sources = " ".join(f'<a href="{_href("raw", s)}/">{_e(s)}</a>' for s in chart.sources)
            parts.append(
                f'<figure id="{_e(chart.name)}">{_img(chart)}<figcaption>'
                f"<strong>{_e(chart.title)}.</strong> {_e(chart.caption)} "
                f'Files: <a href="{_href("charts", chart.png.name)}">PNG</a>, '
                f'<a href="{_href("charts", chart.svg.name)}">SVG</a>.'
                f"<details><summary>source cells ({len(chart.sources)})</summary>{sources}"
                "</details></figcaption></figure>"
            )
    return "".join(parts)


def _error_text(view: RunView, cell: str) -> str:
    try:
        error = read_cell_json(view.run.raw_dir(cell)).get("error", "")
    except ResultsError as exc:
        return str(exc)
    text = error if isinstance(error, str) else json.dumps(error)
    return text if len(text) <= 400 else text[:400] + " …"


def all_cells(view: RunView) -> str:
    """Every cell of the run, with status, figures and the error of failed cells."""
    opened = open_loop(view.run.cells)
    target = ["target requests/s"] if opened else []
    head = ["cell", "stack", "mix", "users", "round", *target,
            "achieved requests/s" if opened else "requests/s", "p50 ms", "p99 ms",
            "errors", "flags", "error"]  # fmt: skip
    rows = []
    for r in view.run.cells.itertuples(index=False):
        error = _error_text(view, r.cell) if r.failed else ""
        rate = [_num(r.target_rps)] if opened else []
        rows.append(("failed" if r.failed else "", [
            f'<a href="{_href("raw", r.cell)}/">{_e(r.cell)}</a>',
            f'<span class="stack">{_e(r.stack)}</span>', _e(r.mix),
            _num(r.users), _num(r.round), *rate, _num(r.rps), _num(r.p50_ms, "ms"),
            _num(r.p99_ms, "ms"), _num(r.error_rate, "pct"),
            badges(r.flags, why=noise_figures(r.other_cpu_pct, r.port_range_used_fraction)),
            _e(error),
        ]))  # fmt: skip
    numeric = range(3, 9 + len(target))
    return (
        f"<details><summary>{len(rows)} cells</summary>{_table(head, rows, numeric)}</details>"
        if rows
        else "<p>No cells.</p>"
    )


def _dl(pairs: Iterable[tuple[str, Any]]) -> str:
    return (
        '<dl class="meta">'
        + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in pairs)
        + "</dl>"
    )


def metadata_section(meta: dict[str, Any]) -> str:
    """Machine, Python, packages, git, CPU sets and the scenario as run."""
    machine, py, git = meta.get("machine") or {}, meta.get("python") or {}, meta.get("git") or {}
    cpu_sets, scenario = meta.get("cpu_sets") or {}, meta.get("scenario") or {}
    pairs = [(f"machine {k}", v) for k, v in machine.items()]
    pairs += [("python", f"{py.get('implementation', '')} {py.get('version', '')}".strip())]
    pairs += [("git commit", f"{git.get('commit', '')}{' (dirty)' if git.get('dirty') else ''}")]
    pairs += [
        (f"cpu set {k}", ",".join(map(str, v)) if isinstance(v, list) else v)
        for k, v in cpu_sets.items()
    ]
    pairs += [
        (k.replace("_", " "), meta.get(k))
        for k in ("started_at", "ended_at", "cells_planned", "schema_version")
    ]
    pairs += [("scenario", f"{scenario.get('name', '')} ({scenario.get('path', '')})")]
    packages = meta.get("packages") or {}
    key = [(name, packages[name]) for name in KEY_PACKAGES if name in packages]
    content = scenario.get("content")
    content_text = (
        content if isinstance(content, str) else json.dumps(content, indent=2, sort_keys=True)
    )
    return (
        _dl(pairs)
        + "<h3>key packages</h3>"
        + (_dl(key) if key else "<p>none recorded</p>")
        + f"<details><summary>all {len(packages)} packages</summary>"
        + f"{_dl(sorted(packages.items()))}</details>"
        + f"<details><summary>scenario as run</summary><pre>{_e(content_text)}</pre></details>"
    )


def files_section() -> str:
    """Relative links to the run's raw files."""
    files = [("cells.csv", "cells.csv"), ("summary.csv", "summary.csv")]
    files += [("metadata.json", "metadata.json"), ("charts/", "charts/"), ("raw/", "raw/")]
    links = "".join(f'<li><a href="{href}">{_e(name)}</a></li>' for name, href in files)
    return (
        f"<ul>{links}</ul><p class='muted'>Each cell's raw files are in raw/&lt;cell&gt;/: "
        "cell.json, requests.csv.gz, monitor.csv, server.log, locust.log.</p>"
    )


def _sends_words(d: MixDecision) -> str:
    weights = ", ".join(f"{k} {v}" for k, v in d.weights.items())
    params = ", ".join(f"{k} = {v}" for k, v in d.params.items())
    sent = ", ".join(f"{name} {share:.0%}" for name, share in d.sends)
    words = f"task weights {weights}" if weights else "its task kinds"
    if params:
        words += f" (parameters: {params})"
    if sent:
        words += f"; the requests of window {d.sent_in}: {sent}"
    return words


def decisions(view: RunView, budget_ms: float) -> str:
    """The decision section: per mix, what it sends, the takeaways and a compact table."""
    out = [
        "<p>Computed from this run's figures, nothing written by hand: each stack at its "
        "peak level (as in the headline), ties from the paired intervals, the p99 budget "
        f"{_e(f'{budget_ms:g}')} ms (<code>report --p99-budget MS</code>). Memory three "
        "ways: RSS is the resident memory of every server process summed, so a page "
        "workers share after fork counts once per process; PSS shares each such page "
        "among the processes that hold it, so the sum is what the server occupies; USS "
        "is what one worker holds alone (the median worker): what each further worker "
        "costs. In a +nginx stack, requests per CPU-second and the least memory count "
        "nginx's CPU and RSS beside the server's: nginx runs on the server's CPUs.</p>"
    ]
    for d in decide(view.run, view.table, budget_ms):
        rows_of_mix = ranked(view.table, d.mix)
        share = dict(percent_of_best(rows_of_mix))
        rows = [
            ("", [
                _e(_num(r.rank)), f'<span class="stack">{_e(r.stack)}</span>',
                _e(f"{share[r.stack]:.0f}%"), "tied" if r.stack in d.tied else "",
                _num(r.p99_ms, "ms"), _num(r.rps_per_cpu_s), _num(r.server_rss_mb),
                _num(r.server_pss_mb), _num(r.worker_uss_mb), badges(r.flags),
            ])
            for r in rows_of_mix.itertuples(index=False)
        ]  # fmt: skip
        head = ["rank", "stack", "% of best", "with the leader", "p99 ms", "req / CPU-s",
                "RSS MB", "PSS MB", "USS MB / worker", "flags"]  # fmt: skip
        extra = []
        if d.most_efficient:
            extra.append(f"most requests per CPU-second: {d.most_efficient[0]} "
                         f"({d.most_efficient[1]:,.0f})")  # fmt: skip
        if d.least_memory:
            stack, mb, kind = d.least_memory
            extra.append(f"least memory: {stack} ({mb:,.0f} MB {kind})")
        if d.leanest_worker:
            stack, mb = d.leanest_worker
            extra.append(f"least memory per worker: {stack} ({mb:,.1f} MB USS)")
        out.append(
            f'<h3 id="decide-{_e(d.mix)}">mix {_e(d.mix)}</h3>'
            f"<p><strong>Sends:</strong> {_e(_sends_words(d))}.</p>"
            f"<ul>{''.join(f'<li>{_e(t)}</li>' for t in d.takeaways)}"
            f"{''.join(f'<li>{_e(x[:1].upper() + x[1:])}.</li>' for x in extra)}</ul>"
            f"{_table(head, rows, (2, 4, 5, 6, 7, 8))}"
        )
    return "".join(out)


# Click a column's header to sort its table by it (again: the other way). A cell that
# starts with a number sorts by it, thousands separators ignored ("1,498–1,515" is 1498,
# "2 ≈1" is 2); other cells sort after those, as text. Ties keep their order.
SORT_JS = """
document.querySelectorAll("table").forEach(table => {
  const head = table.tHead, body = table.tBodies[0];
  if (!head || !body) return;
  [...head.rows[0].cells].forEach((th, col) => {
    th.title = "sort by this column";
    th.addEventListener("click", () => {
      const up = th.getAttribute("aria-sort") !== "ascending";
      [...head.rows[0].cells].forEach(h => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      const key = row => {
        const text = (row.cells[col] ? row.cells[col].innerText : "").trim();
        const m = text.replace(/,/g, "").match(/^-?\\d+(\\.\\d+)?(e[-+]?\\d+)?/i);
        return m ? [0, parseFloat(m[0]), text] : [1, 0, text];
      };
      const rows = [...body.rows].map((row, i) => [key(row), i, row]);
      rows.sort((a, b) => {
        const [x, y] = [a[0], b[0]];
        if (x[0] !== y[0]) return x[0] - y[0];
        const order = x[0] === 0 ? x[1] - y[1] : x[2].localeCompare(y[2]);
        return (up ? order : -order) || a[1] - b[1];
      });
      rows.forEach(r => body.appendChild(r[2]));
    });
  });
});
"""


def _capacity(view: RunView) -> str:
    section = capacity.section_html(view.run, view.capacity)
    return f'<h2 id="capacity">Capacity within the objective</h2>{section}' if section else ""


def _decide_and_headline(view: RunView, budget_ms: float) -> str:
    """What to deploy and the headline; a capacity run's pick is by capacity instead."""
    pick = capacity.pick_html(view.run, view.capacity)
    if pick:
        return f'<h2 id="decide">What to deploy</h2>{pick}'
    return (
        f'<h2 id="decide">What to deploy</h2>{decisions(view, budget_ms)}'
        f'<h2 id="headline">Headline</h2>{legend()}{headline(view.table, view.mixes)}'
    )


def render(view: RunView, charts: Sequence[Chart], budget_ms: float = DEFAULT_P99_BUDGET_MS) -> str:
    """The whole page as a string."""
    meta, cells = view.run.metadata, view.run.cells
    planned = meta.get("cells_planned", "?")
    failed = int(cells["failed"].sum())
    title = f"Benchmark report — run {view.run.run_id}"
    intro = (
        f"<p>Scenario <strong>{_e((meta.get('scenario') or {}).get('name', ''))}</strong>, "
        f"{len(cells)} of {_e(planned)} planned cells finished, {failed} failed. "
        f"Started {_e(meta.get('started_at', '?'))}, ended {_e(meta.get('ended_at', '?'))}.</p>"
    )
    nav = "".join(
        f'<li><a href="#table-{_e(m)}">{_e(m)}</a> · <a href="#charts-{_e(m)}">charts</a></li>'
        for m in view.mixes
    )
    if capacity.capacity_info(view.run) is not None:
        nav = '<li><a href="#capacity">capacity within the objective</a></li>' + nav
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>{intro}<ul>{nav}</ul>"
        f"{_capacity(view)}{_decide_and_headline(view, budget_ms)}"
        f"{reproduction.section_html(cells, str((meta.get('scenario') or {}).get('name', '')))}"
        f'<h2 id="charts">Charts</h2>{figures(charts)}'
        f'<h2 id="cells">All cells</h2>{all_cells(view)}'
        f'<h2 id="metadata">Run metadata</h2>{metadata_section(meta)}'
        f'<h2 id="files">Raw files</h2>{files_section()}'
        f"<script>{SORT_JS}</script></body></html>\n"
    )


def write_html(
    view: RunView, charts: Sequence[Chart], budget_ms: float = DEFAULT_P99_BUDGET_MS
) -> Path:
    """Write report.html into the run directory and return its path."""
    path = view.run.path / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(view, charts, budget_ms), encoding="utf-8")
    tmp.replace(path)
    return path
