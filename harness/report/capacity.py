"""The report of a capacity run: the sizing table and the capacity chart of each mix.

The capacities are read again from cells.csv and metadata.json (harness/results/capacity.py),
so an interrupted run shows what it measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.core.intervals import format_level
from harness.report.charts import message_figure, new_figure, place_legend, plain_log_ticks
from harness.report.palette import StackStyle
from harness.report.tables import Run
from harness.results.capacity import CapacitySpec, capacity_rows

CAPACITY_CHART = "capacity"


def capacity_info(run: Run) -> dict[str, Any] | None:
    """metadata.json "capacity" of a capacity run, else None."""
    info = run.metadata.get("capacity")
    return info if isinstance(info, dict) and info.get("spec") else None


def spec_of(info: Mapping[str, Any]) -> CapacitySpec:
    return CapacitySpec.from_json(info.get("spec") or {})


def _rows(run: Run) -> list[dict[str, Any]]:
    return [dict(r) for r in run.cells.to_dict("records")]


def capacity_table(run: Run) -> pd.DataFrame:
    """capacity.csv's rows of the run (empty when it is not a capacity run)."""
    info = capacity_info(run)
    if info is None:
        return pd.DataFrame()
    return pd.DataFrame(capacity_rows(_rows(run), info))


def capacity_figure(
    run: Run, mix: str, styles: Mapping[str, StackStyle], table: pd.DataFrame
) -> Figure:
    """p99 against the offered rate for every window of the mix, one colour per stack
    (hollow: search steps; filled: settle rounds); the objective as a line, each stack's
    capacity (a row of table, the run's capacity_table) as a dashed vertical line with its
    interval shaded."""
    info = capacity_info(run)
    title = f"Capacity at p99 ≤ objective — mix {mix}"
    if info is None:
        return message_figure(title, "not a capacity run")
    spec = spec_of(info)
    title = f"Capacity at p99 ≤ {spec.p99_ms:g} ms — mix {mix}"
    cells = run.cells
    cells = cells[(cells["mix"] == mix) & (cells["status"] == "ok")]
    if cells.empty:
        return message_figure(title, f"no finished window for mix {mix}")
    settle = {int(r) for r in info.get("settle_rounds", [])}
    table = table[table["mix"] == mix] if not table.empty else table
    fig = new_figure(4.6)
    ax = fig.add_subplot(1, 1, 1)
    handles: list[Any] = []
    for stack in sorted(cells["stack"].unique()):
        style = styles[stack]
        rows = cells[cells["stack"] == stack]
        settled = rows["round"].astype(int).isin(settle)
        for frame, filled in ((rows[~settled], False), (rows[settled], True)):
            ax.scatter(
                frame["target_rps"], frame["p99_ms"].clip(lower=0.1), marker=style.marker,
                s=28, facecolors=style.colour if filled else "none", edgecolors=style.colour,
                linewidths=1, zorder=3,
            )  # fmt: skip
        label = stack
        found = table[table["stack"] == stack] if not table.empty else table
        if not found.empty:
            row = found.iloc[0]
            cap = float(row["capacity_rps"])
            if cap > 0:
                ax.axvline(cap, color=style.colour, linestyle="--", linewidth=1.2, zorder=2)
                low, high = float(row["capacity_low"]), float(row["capacity_high"])
                if high > low:
                    # An open high end (no rate missed the objective) runs to the rates tried.
                    top = high if math.isfinite(high) else float(rows["target_rps"].max())
                    ax.axvspan(low, max(top, low), color=style.colour, alpha=0.12, zorder=1)
                bound = f"{row['bound']} " if row["bound"] else ""
                label = f"{stack}: {bound}{cap:,.0f}/s"
        handles.append(
            Line2D([], [], color=style.colour, marker=style.marker, linestyle="--", label=label)
        )
    ax.axhline(spec.p99_ms, color="#c0392b", linewidth=1.2, zorder=2)
    handles += [
        Line2D([], [], color="#c0392b", label=f"objective: p99 = {spec.p99_ms:g} ms"),
        Line2D([], [], color="#555555", marker="o", linestyle="none", markerfacecolor="none",
               label="a search step's window"),
        Line2D([], [], color="#555555", marker="o", linestyle="none",
               label="a settle round's window"),
    ]  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax.xaxis)
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel("offered rate (requests/s, open loop, log scale)")
    ax.set_ylabel("p99 latency (ms, log scale)")
    ax.grid(True, alpha=0.3)
    fig.suptitle(
        f"{title}\n(dashed: capacity, the median over the settle rounds; shaded: its interval)"
    )
    place_legend(fig, handles)
    return fig


def _n(value: Any, digits: int = 0) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if math.isnan(number):
        return ""
    if math.isinf(number):
        return "∞"
    return f"{number:,.{digits}f}"


def section_html(run: Run, table: pd.DataFrame) -> str:
    """The sizing tables of a capacity run, one per mix, from table (its capacity_table);
    "" for any other run."""
    info = capacity_info(run)
    if info is None:
        return ""
    spec = spec_of(info)
    intro = (
        f"<p>Objective: p99 ≤ {spec.p99_ms:g} ms (counted from each request's intended "
        f"send time) and errors plus cut-off requests ≤ {spec.max_error_pct:g}%. Each "
        "stack's rate was searched in interleaved steps to within "
        f"{spec.precision:.0%}, then settled over {spec.settle_rounds} rounds at the rates "
        "around it, each round widening its rates until they bracket the capacity (25% a "
        "step, up to three steps either side). A round's capacity lies between the highest "
        "rate that met the objective (every lower one meeting it too) and the lowest that "
        "missed it; the capacity is the median of the rounds' highest rates met, and its "
        "interval runs from the rounds' rates met to their rates missed at the ranks of the "
        "order-statistic interval of a median. Sizing: a core planned at "
        f"{spec.headroom:.0%} of its capacity; cost at {spec.price_core_hour:g} per "
        f"core-hour and {spec.price_gb_hour:g} per GB-hour of the server's memory "
        "(placeholders: give your own in [capacity], or to `run` as --price-core-hour and "
        f"--price-gb-hour); cores for {spec.target_rps:,} requests/s.</p>"
    )
    if table.empty:
        return intro + "<p>No window finished.</p>"
    head = (
        "<tr><th>stack</th><th>capacity (req/s)</th><th>interval</th><th>p50 / p99 at it "
        "(ms)</th><th>falls over at</th><th>beyond</th><th>req/s per core</th>"
        "<th>req/s per GB</th><th>cost per million</th>"
        f"<th>cores for {spec.target_rps:,}/s</th><th>search</th></tr>"
    )
    parts = [intro]
    for mix in dict.fromkeys(table["mix"]):
        rows = table[table["mix"] == mix].sort_values("capacity_rps", ascending=False)
        body = []
        for _, r in rows.iterrows():
            bound = f"{escape(str(r['bound']))} " if r["bound"] else ""
            flag = " (generator-bound: a lower bound)" if r["generator_bound"] else ""
            level = format_level(float(r["ci_level"])) if r["rounds"] > 1 else "one round"
            body.append(
                f"<tr><td>{escape(str(r['stack']))}</td>"
                f"<td class=num>{bound}{_n(r['capacity_rps'])}{flag}</td>"
                f"<td class=num>{_n(r['capacity_low'])}–{_n(r['capacity_high'])} ({level}, "
                f"{int(r['rounds'])} rounds)</td>"
                f"<td class=num>{_n(r['p50_ms'], 1)} / {_n(r['p99_ms'], 1)}</td>"
                f"<td class=num>{_n(r['falls_over_rps']) or '—'}</td>"
                f"<td>{escape(str(r['beyond']))}</td>"
                f"<td class=num>{_n(r['rps_per_core'])}</td>"
                f"<td class=num>{_n(r['rps_per_gb'])}</td>"
                f"<td class=num>{_n(r['cost_per_million'], 4)}</td>"
                f"<td class=num>{_n(r['cores_for_target'])}</td>"
                f"<td>{escape(str(r['search_end']))}</td></tr>"
            )
        parts.append(
            f"<h3 id=capacity-{escape(str(mix))}>Mix {escape(str(mix))}</h3>"
            f"<table class=sortable><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
        )
    notes = [
        "Falls over at: the lowest rate from which every window at it and above missed the "
        "objective; — where none did, or where a higher rate met it again (a noisy edge)."
    ]
    if ((table["capacity_low"] == 0) & (table["capacity_rps"] > 0)).any():
        notes.append(
            "An interval from 0: in at least one settle round not even the lowest rate "
            "offered met the objective, so that round's capacity lies somewhere below it."
        )
    if (table["capacity_high"] == math.inf).any():
        notes.append(
            "An interval to ∞: in at least one settle round every rate offered met the "
            "objective, so that round's capacity lies somewhere above the highest."
        )
    return "".join(parts) + "".join(f"<p>{n}</p>" for n in notes)


def pick_html(run: Run, table: pd.DataFrame) -> str:
    """What to deploy, from a capacity run: per mix, the stacks of table (its
    capacity_table) by capacity with intervals ("" for any other run)."""
    info = capacity_info(run)
    if info is None or table.empty:
        return ""
    spec = spec_of(info)
    items = []
    for mix in dict.fromkeys(table["mix"]):
        rows = table[table["mix"] == mix].sort_values("capacity_rps", ascending=False)
        ranked = "; then ".join(
            f"{escape(str(r['stack']))} {escape(str(r['bound']) + ' ' if r['bound'] else '')}"
            f"{_n(r['capacity_rps'])}/s [{_n(r['capacity_low'])}–{_n(r['capacity_high'])}]"
            for _, r in rows.iterrows()
        )
        items.append(f"<li>mix {escape(str(mix))}: {ranked}</li>")
    return (
        f"<p>Ranked by capacity within the objective (p99 ≤ {spec.p99_ms:g} ms, errors ≤ "
        f"{spec.max_error_pct:g}%), the median over the settle rounds with its interval; "
        "where two intervals overlap, this run does not separate the two stacks.</p>"
        f"<ul>{''.join(items)}</ul><p>The peak-throughput headline of a run at fixed levels "
        "does not apply here and is left out: a capacity run's windows are the search's "
        "steps, each at a rate chosen from the last, not levels measured alike in every "
        "round. Every window is in the charts and the table of all cells below.</p>"
    )
