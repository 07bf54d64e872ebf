"""The report step: summary.csv, charts/ (PNG and SVG) and report.html of one run."""

from __future__ import annotations

import re
from pathlib import Path

from harness.report import charts, reproduction
from harness.report.decide import DEFAULT_P99_BUDGET_MS
from harness.report.html import write_html
from harness.report.tables import open_loop, write_summary
from harness.report.view import Chart, RunView, open_run

CAPACITY_CAPTION = (
    "p99 latency of every window against the rate offered to it (open loop, latency counted "
    "from each request's intended send time). Hollow: the search's steps; filled: the settle "
    "rounds. The red line is the objective; a stack's dashed line is its capacity (the median "
    "over the settle rounds), the shaded band that median's interval (from the left edge "
    "where a round's capacity was below its lowest rate, to the highest rate offered where "
    "a round met the objective at every rate)."
)
CAPTIONS: dict[str, str] = {
    "capacity": CAPACITY_CAPTION,
    "throughput-users": "Median requests/s over the rounds of each concurrency level "
    "(bars: the order-statistic interval of the median over the rounds, at the confidence "
    "the tables give), measure window only.",
    "latency-users": "p50, p90 and p99 of ok requests in the measure window, computed from "
    "the per-request records; median over the rounds.",
    "latency-percentiles": "Percentiles of every ok request in the measure windows, rounds "
    "pooled. The tail axis stretches 90 → 99 → 99.9 → 99.99 evenly; a curve stops at "
    "1 − 1/n, where its sample runs out.",
    "throughput-workers": "Each point is one stack at its peak concurrency level (as in the "
    "summary table); lines join stacks that differ only in worker count.",
    "efficiency": "At each stack's peak level: requests/s divided by the stack's CPU use "
    "(CPU-seconds per second: all server processes, and nginx's in a +nginx stack), and "
    "the stack's memory (the server's PSS, or RSS in a run without it, plus nginx's RSS).",
    "timeline": "Requests, errors and latency per one-second bin of the top-ranked stack's "
    "peak cell. Shaded: warm-up (kept out of every other figure) and the tail after the "
    "measure window.",
}


# An open-loop run (cells with target_rps) draws these two against the target rate.
OPEN_LOOP_CAPTIONS: dict[str, str] = {
    "throughput-users": "Achieved requests/s against the target rate (median over the "
    "rounds, bars: the order-statistic interval of the median), measure window only; the dotted "
    "line is achieved = target: a stack below it could not keep the rate.",
    "latency-users": "p50, p90 and p99 of ok requests in the measure window against the "
    "target rate, counted from each request's intended send time; median over the rounds.",
}


def slug(text: str) -> str:
    """A filesystem-safe name part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "_"


def _sources(view: RunView, kind: str, mix: str) -> tuple[str, ...]:
    cells = view.mix_cells(mix)
    if kind == "latency-percentiles":
        pooled = view.percentiles(mix).cells
        return tuple(c for stack in sorted(pooled) for c in pooled[stack])
    if kind == "timeline":
        cell = view.timeline_cell(mix)
        return (cell,) if cell else ()
    if kind in ("throughput-workers", "efficiency"):
        rows = view.table[view.table["mix"] == mix]
        return tuple(c for joined in rows["cells"] for c in str(joined).split(";") if c)
    return tuple(cells["cell"])


def render_charts(view: RunView, charts_dir: Path) -> list[Chart]:
    """Draw every chart of every mix into charts_dir, replacing earlier PNG/SVG files."""
    charts_dir.mkdir(parents=True, exist_ok=True)
    for old in [*charts_dir.glob("*.png"), *charts_dir.glob("*.svg")]:
        old.unlink()
    captions = CAPTIONS | (OPEN_LOOP_CAPTIONS if open_loop(view.run.cells) else {})
    written = []
    for mix in view.mixes:
        for kind in view.chart_kinds:
            fig = view.figure(kind, mix)
            name = f"{slug(mix)}--{kind}"
            png, svg = charts.save(fig, charts_dir, name)
            title = fig.get_suptitle().replace("\n", " ")
            caption = captions[kind]
            written.append(
                Chart(name, mix, kind, title, caption, png, svg, _sources(view, kind, mix))
            )
    return written


def build_report(run_dir: Path, p99_budget_ms: float = DEFAULT_P99_BUDGET_MS) -> Path:
    """Write summary.csv, charts/ and report.html into run_dir; return the report's path.
    p99_budget_ms is the latency objective of the report's decision section."""
    view = open_run(Path(run_dir))
    write_summary(view.run)
    scenario_name = str((view.run.metadata.get("scenario") or {}).get("name", ""))
    reproduction.write_csv(view.run.cells, scenario_name, view.run.path / "reproduction.csv")
    written = render_charts(view, view.run.path / "charts")
    return write_html(view, written, p99_budget_ms)
