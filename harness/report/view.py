"""A run opened for reporting: tables, stack styles, and every chart by name.

The report and the notebooks both draw through RunView, so a chart exists once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from harness.core.errors import ResultsError
from harness.report import charts
from harness.report.capacity import (
    CAPACITY_CHART,
    capacity_figure,
    capacity_info,
    capacity_table,
)
from harness.report.palette import StackStyle, stack_styles
from harness.report.raw import measured_latencies_ms, percentile_curve, timeline
from harness.report.tables import Run, load_run, open_loop, ranked, summary

# Chart kinds drawn once per mix, in report order.
MIX_CHARTS: tuple[str, ...] = (
    "throughput-users",
    "latency-users",
    "latency-percentiles",
    "throughput-workers",
    "efficiency",
    "timeline",
)


@dataclass(frozen=True)
class Chart:
    """One chart written to charts/: what it shows and which cells it came from."""

    name: str
    mix: str
    kind: str
    title: str
    caption: str
    png: Path
    svg: Path
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Percentiles:
    """Percentile curves of one mix at one concurrency level, per stack."""

    mix: str
    users: int
    curves: dict[str, pd.DataFrame]
    cells: dict[str, tuple[str, ...]]  # stack -> cells pooled into its curve
    samples: dict[str, int]  # stack -> ok requests in the measure windows
    missing: tuple[str, ...]  # stacks without a finished cell at this level
    unreadable: tuple[str, ...] = ()  # stacks whose raw files could not be read
    target_rps: float | None = None  # the level's target rate in an open-loop run


@dataclass(frozen=True)
class RunView:
    """One run with its summary table and the run-wide stack -> style map."""

    run: Run
    table: pd.DataFrame
    styles: dict[str, StackStyle]

    @functools.cached_property
    def capacity(self) -> pd.DataFrame:
        """A capacity run's capacity.csv rows (capacity_table), made once for the report's
        charts and sections; empty for any other run."""
        return capacity_table(self.run)

    @property
    def chart_kinds(self) -> tuple[str, ...]:
        """The charts of each mix: MIX_CHARTS, after the capacity chart in a capacity run."""
        return ((CAPACITY_CHART,) if capacity_info(self.run) else ()) + MIX_CHARTS

    @property
    def mixes(self) -> list[str]:
        """The run's mixes in first-seen order."""
        return list(dict.fromkeys(self.run.cells["mix"]))

    def mix_cells(self, mix: str) -> pd.DataFrame:
        """Cells of one mix; ResultsError names the mixes the run has when it is absent."""
        if mix not in self.mixes:
            raise ResultsError(f"run {self.run.run_id} has no mix {mix!r} (it has {self.mixes})")
        return self.run.cells[self.run.cells["mix"] == mix]

    def percentiles(
        self, mix: str, users: int | None = None, target_rps: float | None = None
    ) -> Percentiles:
        """Pooled measured latencies per stack at `users` (default: the highest level any
        stack finished) and, in an open-loop run, at `target_rps` (default: the highest
        target rate any stack finished at that level)."""
        cells = self.mix_cells(mix)
        ok = cells[~cells["failed"]]
        if ok.empty:
            missing = tuple(sorted(cells["stack"].unique()))
            return Percentiles(mix, int(users or 0), {}, {}, {}, missing, (), target_rps)
        level = int(users if users is not None else ok["users"].max())
        at = ok[ok["users"] == level]
        target = None
        if open_loop(cells):
            target = float(target_rps if target_rps is not None else at["target_rps"].max())
            at = at[at["target_rps"] == target]
        curves, sources, samples = {}, {}, {}
        unreadable = []
        for stack, group in at.groupby("stack"):
            ids = tuple(group.sort_values("round")["cell"])
            try:
                lat = measured_latencies_ms(self.run.raw_dir(c) for c in ids)
            except ResultsError:
                # One damaged cell must not cost the whole chart; the title names it.
                unreadable.append(str(stack))
                continue
            curves[str(stack)] = percentile_curve(lat)
            sources[str(stack)] = ids
            samples[str(stack)] = len(lat)
        missing = tuple(sorted(set(cells["stack"]) - set(curves) - set(unreadable)))
        return Percentiles(mix, level, curves, sources, samples, missing, tuple(unreadable), target)

    def timeline_cell(self, mix: str) -> str | None:
        """The cell a mix's timeline shows: the top-ranked stack's peak cell, first repeat."""
        rows = ranked(self.table, mix)
        if rows.empty:
            return None
        return str(rows.iloc[0]["cells"]).split(";")[0]

    def timeline_figure(self, cell: str) -> Figure:
        """Per-second timeline of any cell of the run."""
        rows = self.run.cells[self.run.cells["cell"] == cell]
        if rows.empty:
            raise ResultsError(f"run {self.run.run_id} has no cell {cell!r}")
        tl = timeline(self.run.raw_dir(cell))
        return charts.cell_timeline(tl, self.styles[str(rows.iloc[0]["stack"])])

    def percentile_figure(
        self, mix: str, users: int | None = None, target_rps: float | None = None
    ) -> Figure:
        """Latency percentile chart (tail axis) of one mix at one level."""
        pct = self.percentiles(mix, users, target_rps)
        title = f"Latency percentiles — mix {mix}, {pct.users} users"
        if pct.target_rps is not None:
            title += f" at a target of {pct.target_rps:g} requests/s"
        if pct.missing:
            title += f"\n(no finished cell at this level: {', '.join(pct.missing)})"
        if pct.unreadable:
            title += f"\n(raw files unreadable: {', '.join(pct.unreadable)})"
        labels = {s: f"{s} ({n:,} requests)" for s, n in pct.samples.items()}
        return charts.latency_percentiles(pct.curves, title, self.styles, labels)

    def figure(self, kind: str, mix: str) -> Figure:
        """One chart of a mix by kind (see MIX_CHARTS)."""
        cells = self.mix_cells(mix)
        if kind == "throughput-users":
            return charts.throughput_vs_users(cells, mix, self.styles)
        if kind == "latency-users":
            return charts.latency_vs_users(cells, mix, self.styles)
        if kind == "latency-percentiles":
            return self.percentile_figure(mix)
        if kind == "throughput-workers":
            return charts.throughput_vs_workers(self.table, mix, self.styles)
        if kind == "efficiency":
            return charts.efficiency(self.table, mix, self.styles)
        if kind == CAPACITY_CHART:
            return capacity_figure(self.run, mix, self.styles, self.capacity)
        if kind == "timeline":
            cell = self.timeline_cell(mix)
            if cell is None:
                return charts.message_figure(f"Timeline — mix {mix}", "no finished cell to show")
            try:
                return self.timeline_figure(cell)
            except ResultsError as exc:
                return charts.message_figure(f"Timeline of cell {cell}", str(exc))
        raise ResultsError(f"unknown chart kind {kind!r} (known: {', '.join(self.chart_kinds)})")


def open_run(run_dir: Path) -> RunView:
    """Load a run and prepare its summary and stack styles."""
    run = load_run(run_dir)
    return RunView(run=run, table=summary(run.cells), styles=stack_styles(run.cells["stack"]))
