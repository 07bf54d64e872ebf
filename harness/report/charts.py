"""matplotlib charts of one run; every function returns a Figure and draws nothing else.

Stacks keep the style given by palette.stack_styles for the whole run. Points are
always drawn with markers, so a single concurrency level or worker count still shows.
Flagged cells get a ring, failed cells a cross on the zero line. An open-loop run (cells
with target_rps) puts the target rate on the x axis instead of users, and its throughput
chart shows the achieved rate against the target with the y = x line.
Figures carry their own Agg canvas instead of going through pyplot: no global backend
state, nothing for a notebook or a headless machine to get wrong.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

from harness.report.palette import FLAG_COLOUR, WARMUP_COLOUR, StackStyle
from harness.report.raw import TAIL_QUANTILES, Timeline, tail_x
from harness.report.tables import FLAG_LABELS, has_pss, levels, open_loop, split_flags

WIDTH_IN = 9.0
DPI = 110
RING: dict[str, Any] = {
    "marker": "o",
    "s": 190,
    "facecolors": "none",
    "edgecolors": FLAG_COLOUR,
    "zorder": 4,
}
KIND_TITLES = {
    "sync": "sync worker models\n(a thread per request)",
    "async": "async worker models\n(event loop or greenlets)",
}
# Error bars of throughput: the order-statistic interval of the median over the rounds.
_RPS_BARS = ("rps_ci_low", "rps_ci_high")
FLAGGED_LABEL = "flagged (its flags are named beside the ring)"
CROSS: dict[str, Any] = {"marker": "X", "s": 70, "zorder": 4, "clip_on": False}


# Legend labels longer than this wrap onto more lines (the flag label, long stack ids).
LEGEND_WRAP = 48
LEGEND_PAD_IN = 0.25


def place_legend(fig: Figure, handles: Sequence[Artist]) -> None:
    """The legend below the axes, outside them, so that it can never cover a point; with
    as many columns (3 at most) as fit the figure's width, and the figure made taller by
    the legend's own height, so that neither the legend nor the axes are cut or squeezed.
    """
    if not handles:
        return
    labels = ["\n".join(textwrap.wrap(str(h.get_label()), LEGEND_WRAP)) for h in handles]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    room = fig.bbox.width * 0.98
    for ncols in (3, 2, 1):
        if ncols > len(handles):
            continue
        legend = fig.legend(handles, labels, loc="outside lower center", ncols=ncols,
                            frameon=False)  # fmt: skip
        box = legend.get_window_extent(renderer)
        if box.width <= room or ncols == 1:
            break
        legend.remove()
    fig.set_figheight(fig.get_figheight() + box.height / fig.dpi + LEGEND_PAD_IN)


def new_figure(height: float, layout: Literal["constrained"] | None = "constrained") -> Figure:
    """A figure of the report's width on its own Agg canvas."""
    fig = Figure(figsize=(WIDTH_IN, height), layout=layout, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _figure(base_height: float, ncols: int = 1, sharey: bool = False) -> tuple[Figure, list[Axes]]:
    """A figure of base_height inches before its legend (place_legend adds the legend's)."""
    fig = new_figure(base_height)
    axes = fig.subplots(1, ncols, squeeze=False, sharey=sharey)
    return fig, list(axes[0])


def _mark_legend(has_flagged: bool, has_failed: bool) -> list[Line2D]:
    handles = []
    if has_flagged:
        handles.append(Line2D([], [], marker="o", markersize=12, markerfacecolor="none",
                              markeredgecolor=FLAG_COLOUR, linestyle="none",
                              label=FLAGGED_LABEL))  # fmt: skip
    if has_failed:
        handles.append(Line2D([], [], marker="X", color="#666666", linestyle="none",
                              label="failed cell (drawn at zero)"))  # fmt: skip
    return handles


def _x_levels(ax: Axes, values: Iterable[float], label: str) -> None:
    ticks = sorted({float(v) for v in values if not pd.isna(v)})
    if ticks and ticks[-1] / max(ticks[0], 1e-9) >= 8:
        ax.set_xscale("log", base=2)
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.set_xlabel(label)


def _series(ax: Axes, frame: pd.DataFrame, x: str, y: str, style: StackStyle, label: str,
            spread: tuple[str, str] | None = None) -> Line2D:  # fmt: skip
    """One stack's line: ok points joined, flagged ringed, failed crossed at zero."""
    frame = frame.sort_values(x)
    ok = frame[frame["status"] == "ok"]
    (line,) = ax.plot(ok[x], ok[y], label=label, markersize=6, **style.line_kwargs())
    if spread and len(ok) and (ok[spread[1]] > ok[spread[0]]).any():
        err = np.vstack([ok[y] - ok[spread[0]], ok[spread[1]] - ok[y]])
        ax.errorbar(ok[x], ok[y], yerr=err, fmt="none", ecolor=style.colour, capsize=3)
    flagged = ok[_flagged(ok)]
    ax.scatter(flagged[x], flagged[y], **RING)
    for xv, yv, flags in zip(flagged[x], flagged[y], flagged["flags"], strict=True):
        ax.annotate(_flag_names(flags), (xv, yv), xytext=(9, 4), textcoords="offset points",
                    fontsize=7, color=FLAG_COLOUR, annotation_clip=True)  # fmt: skip
    failed = frame[frame["status"] != "ok"]
    ax.scatter(failed[x], np.zeros(len(failed)), color=style.colour, **CROSS)
    if ok.empty:
        line.set_label(f"{label} (failed)")
    return line


def _flag_names(flags: Any) -> str:
    """A flagged point's flags in words (failed is drawn as a cross instead)."""
    return ", ".join(FLAG_LABELS.get(c, c) for c in split_flags(flags) if c != "failed")


def _flagged(frame: pd.DataFrame) -> pd.Series:
    """Rows carrying any flag other than 'failed' (failed rows are crossed, not ringed)."""
    marks = [bool(set(split_flags(f)) - {"failed"}) for f in frame["flags"]]
    return pd.Series(marks, index=frame.index, dtype=bool)


def _has_flags(frame: pd.DataFrame) -> tuple[bool, bool]:
    ok = frame[frame["status"] == "ok"]
    return bool(_flagged(ok).any()), bool((frame["status"] != "ok").any())


def message_figure(title: str, message: str) -> Figure:
    """A chart-sized figure that says why there is no chart."""
    fig = new_figure(2.5, layout=None)
    text = "\n".join(textwrap.wrap(message, 100)[:6])
    fig.text(0.5, 0.45, text, ha="center", va="center", fontsize=9)
    fig.suptitle(title)
    return fig


def plain_log_ticks(axis: Axis, subs: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0)) -> None:
    """Ticks of a log-scaled axis at plain numbers (2, 3, 5, 10, 20 ...) instead of powers
    of ten; subs are the multiples of each power of ten that get one."""
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))


def _log_y(ax: Axes, label: str) -> None:
    """Log scale with plain numbers instead of powers of ten."""
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_ylabel(label)


def _x_of(data: pd.DataFrame) -> tuple[str, str, str]:
    """(column, axis label, title words) of the load level: users, or the target rate of
    an open-loop run."""
    if open_loop(data):
        return "target_rps", "target rate (requests/s)", "target rate"
    return "users", "concurrent users (Locust users)", "concurrency"


def throughput_vs_users(cells: pd.DataFrame, mix: str, styles: Mapping[str, StackStyle]) -> Figure:
    """Requests/s against concurrent users, one line per stack (median of the rounds,
    interval bars); in an open-loop run the achieved rate against the target rate, with the
    y = x line."""
    data = levels(cells[cells["mix"] == mix])
    x, x_label, words = _x_of(data)
    opened = x == "target_rps"
    title = f"Achieved vs target rate — mix {mix}"
    if not opened:
        title = f"Throughput vs {words} — mix {mix}"
    if data.empty:
        return message_figure(title, f"no cells for mix {mix}")
    stacks = sorted(data["stack"].unique())
    fig, (ax,) = _figure(4.2)
    handles: list[Artist] = [
        _series(ax, data[data["stack"] == s], x, "rps", styles[s], s, _RPS_BARS) for s in stacks
    ]
    if opened:
        targets = sorted(float(t) for t in data[x].dropna().unique())
        (ideal,) = ax.plot(targets, targets, color="#888888", linestyle=":", linewidth=1,
                           label="achieved = target (y = x)", zorder=1)  # fmt: skip
        handles.append(ideal)
    _x_levels(ax, data[x], x_label)
    ax.set_ylabel("achieved throughput (requests/s)" if opened else "throughput (requests/s)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    place_legend(fig, [*handles, *_mark_legend(*_has_flags(data))])
    return fig


def latency_vs_users(cells: pd.DataFrame, mix: str, styles: Mapping[str, StackStyle]) -> Figure:
    """p50, p90 and p99 latency against concurrent users (the target rate in an open-loop
    run), one panel per percentile: the median over the rounds with its interval bars."""
    data = levels(cells[cells["mix"] == mix])
    x, x_label, words = _x_of(data)
    title = f"Latency vs {words} — mix {mix} (measure window, ok requests)"
    ok = data[data["status"] == "ok"] if not data.empty else data
    if ok.empty:
        return message_figure(title, f"no finished cells for mix {mix}")
    stacks = sorted(data["stack"].unique())
    fig, axes = _figure(3.8, ncols=3, sharey=True)
    handles: list[Line2D] = []
    for ax, (col, name) in zip(
        axes, [("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99")], strict=True
    ):
        for s in stacks:
            frame = data[(data["stack"] == s) & (data["status"] == "ok")]
            bars = (f"{col}_ci_low", f"{col}_ci_high")
            line = _series(ax, frame, x, col, styles[s], s, bars if bars[0] in frame else None)
            if ax is axes[0]:
                handles.append(line)
        _x_levels(ax, data[x], x_label.split(" (")[0] if x == "users" else x_label)
        ax.set_title(name)
        _log_y(ax, "latency (ms, log scale)" if ax is axes[0] else "")
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    place_legend(fig, handles + _mark_legend(_has_flags(ok)[0], False))
    return fig


def throughput_vs_workers(
    table: pd.DataFrame, mix: str, styles: Mapping[str, StackStyle]
) -> Figure:
    """Peak requests/s against worker count, sync and async worker models side by side.

    One line per stack family (the stack id with its worker count as '*'), drawn in the
    style of the family's first stack.
    """
    data = table[table["mix"] == mix]
    title = f"Peak throughput vs worker count — mix {mix}"
    if data.empty:
        return message_figure(title, f"no cells for mix {mix}")
    fig, axes = _figure(4.0, ncols=2, sharey=True)
    handles = []
    for ax, kind in zip(axes, ("sync", "async"), strict=True):
        part = data[data["worker_kind"] == kind]
        for family in sorted(part["family"].unique()):
            rows = part[part["family"] == family]
            style = styles[sorted(rows["stack"])[0]]
            handles.append(_series(ax, rows, "workers", "rps", style, family))
        if part.empty:
            ax.text(0.5, 0.5, f"no {kind} worker models\nin this mix", ha="center",
                    va="center", transform=ax.transAxes)  # fmt: skip
        _x_levels(ax, part["workers"], "workers (processes)")
        ax.set_title(KIND_TITLES[kind])
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("peak throughput (requests/s)")
    axes[0].set_ylim(bottom=0)
    fig.suptitle(title)
    place_legend(fig, handles + _mark_legend(*_has_flags(data)))
    return fig


def _bar_panel(ax: Axes, rows: pd.DataFrame, col: str, styles: Mapping[str, StackStyle]) -> None:
    y = np.arange(len(rows))
    values = rows[col].fillna(0).to_numpy()
    colours = [styles[s].colour for s in rows["stack"]]
    hatches = [styles[s].hatch for s in rows["stack"]]
    bars = ax.barh(y, values, color=colours, edgecolor="#333333", linewidth=0.5)
    for bar, hatch in zip(bars, hatches, strict=True):
        bar.set_hatch(hatch)
    top = float(np.nanmax(values)) if len(values) and np.nanmax(values) > 0 else 1.0
    for yi, (value, flags) in enumerate(zip(rows[col], rows["flags"], strict=True)):
        codes = split_flags(flags)
        text = "failed" if "failed" in codes else f"{value:,.0f}"
        # The flag's first words: "noisy", not "noisy (other processes)" (the report's
        # flag table says what each means).
        marks = [FLAG_LABELS.get(c, c).split(" (")[0] for c in codes if c != "failed"]
        if marks:
            text += f"  [{', '.join(marks)}]"
        ax.text(max(float(value) if not pd.isna(value) else 0.0, 0) + top * 0.01, yi, text,
                va="center", fontsize=8)  # fmt: skip
    ax.set_xlim(0, top * 1.45)
    ax.grid(True, axis="x", alpha=0.3)


def _fit_bar_labels(fig: Figure, axes: Sequence[Axes]) -> None:
    """Widen each bar panel's x range until the labels after its bars end inside it.

    A label starts at x0 (data) and is w pixels wide in a panel W pixels wide, so it ends
    inside when the range's top hi satisfies x0 + w * hi / W <= hi. Measured after the
    layout, twice: widening a range can move the layout.
    """
    for _ in range(2):
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        for ax in axes:
            width = ax.get_window_extent(renderer).width
            lo, hi = ax.get_xlim()
            needed = hi
            for text in ax.texts:
                w = text.get_window_extent(renderer).width
                if 0 < w < 0.9 * width:
                    needed = max(needed, text.get_position()[0] / (1 - w / width) * 1.03)
            ax.set_xlim(lo, needed)


def efficiency(table: pd.DataFrame, mix: str, styles: Mapping[str, StackStyle]) -> Figure:
    """Requests per CPU-second and memory per stack, each at its peak level, both the
    stack's: the server's plus, in a +nginx stack, nginx's (tables.stack_mb). Memory is the
    server's PSS (pages shared after fork counted once); a run without PSS (older, or
    unreadable /proc) draws RSS summed over the server's processes instead."""
    rows = table[table["mix"] == mix].sort_values(
        "rps_per_cpu_s", ascending=True, na_position="first"
    )
    title = f"Efficiency at peak throughput — mix {mix}"
    if rows.empty:
        return message_figure(title, f"no cells for mix {mix}")
    fig = new_figure(1.6 + 0.42 * len(rows))
    axes = fig.subplots(1, 2, sharey=True)
    _bar_panel(axes[0], rows, "rps_per_cpu_s", styles)
    _bar_panel(axes[1], rows, "stack_mb", styles)
    axes[0].set_yticks(np.arange(len(rows)), labels=list(rows["stack"]))
    front = rows["stack"].astype(str).str.contains("+nginx", regex=False).any()
    axes[0].set_xlabel("requests per CPU-second" + (" (server + nginx)" if front else ""))
    axes[1].set_xlabel(
        ("MB: server PSS" if has_pss(rows) else "MB: server RSS")
        + (" + nginx RSS" if front else "")
    )
    axes[0].set_title("CPU efficiency (higher is better)")
    axes[1].set_title("memory (lower is better)")
    fig.suptitle(title)
    _fit_bar_labels(fig, axes)
    return fig


def latency_percentiles(curves: Mapping[str, pd.DataFrame], title: str,
                        styles: Mapping[str, StackStyle],
                        labels: Mapping[str, str] | None = None) -> Figure:  # fmt: skip
    """Latency against percentile on a stretched tail axis (x = -log10(1 - q)), one line per stack.

    `curves` maps stack id to a raw.percentile_curve frame; a curve stops where the
    sample runs out of requests (1 - 1/n).
    """
    shown = {s: c for s, c in curves.items() if not c.empty}
    if not shown:
        return message_figure(title, "no finished cells with requests in the measure window")
    fig, (ax,) = _figure(4.4)
    handles = []
    for stack in sorted(shown):
        curve, style = shown[stack], styles[stack]
        label = (labels or {}).get(stack, stack)
        ax.plot(curve["x"], curve["latency_ms"], color=style.colour, linestyle=style.linestyle)
        # Markers only at the named percentiles the sample reaches.
        marks = tail_x(
            np.array([q for q in TAIL_QUANTILES if tail_x(q) <= curve["x"].iloc[-1] + 1e-9])
        )
        ax.plot(marks, np.interp(marks, curve["x"], curve["latency_ms"]), linestyle="none",
                marker=style.marker, color=style.colour)  # fmt: skip
        handles.append(Line2D([], [], label=label, **style.line_kwargs()))
    ticks = tail_x(np.array(TAIL_QUANTILES))
    ax.xaxis.set_major_locator(FixedLocator(list(ticks)))
    ax.set_xticklabels([f"{q * 100:g}" for q in TAIL_QUANTILES])
    ax.set_xlim(ticks[0] - 0.1, ticks[-1] + 0.1)
    ax.set_xlabel("percentile (%), tail axis x = -log10(1 - q)")
    _log_y(ax, "latency (ms, log scale)")
    ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    place_legend(fig, handles)
    return fig


def cell_timeline(tl: Timeline, style: StackStyle) -> Figure:
    """Throughput, errors, p50 and p99 per second of one cell; warm-up shaded."""
    ps = tl.per_second
    x = (ps["start_s"] + ps["end_s"]) / 2
    fig = new_figure(5.4)
    top, bottom = fig.subplots(2, 1, sharex=True)
    h_rps = top.plot(x, ps["rps"], color=style.colour, marker=style.marker, markersize=4,
                     label="throughput (requests/s)")[0]  # fmt: skip
    h_err = top.plot(x, ps["errors_per_s"], color=FLAG_COLOUR, linestyle=":", marker="x",
                     markersize=4, label="errors/s")[0]  # fmt: skip
    h_p99 = bottom.plot(x, ps["p99_ms"], color=style.colour, marker=style.marker,
                        markersize=4, label="p99 latency")[0]  # fmt: skip
    h_p50 = bottom.plot(x, ps["p50_ms"], color=style.colour, linestyle="--", alpha=0.7,
                        label="p50 latency")[0]  # fmt: skip
    after_end = max(float(ps["end_s"].max()) if len(ps) else 0.0, tl.measure[1])
    shade: list[Artist] = [Patch(color=WARMUP_COLOUR, alpha=0.35, label="warm-up (not measured)")]
    if after_end > tl.measure[1]:
        shade.append(Patch(color=WARMUP_COLOUR, alpha=0.15, label="after the measure window"))
    for ax in (top, bottom):
        ax.axvspan(*tl.warmup, color=WARMUP_COLOUR, alpha=0.35, linewidth=0)
        if after_end > tl.measure[1]:
            ax.axvspan(tl.measure[1], after_end, color=WARMUP_COLOUR, alpha=0.15, linewidth=0)
        ax.grid(True, alpha=0.3)
    top.set_ylabel("requests/s")
    top.set_ylim(bottom=0)
    bottom.set_ylabel("latency (ms)")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("time since warm-up start (s)")
    fig.suptitle(f"Timeline of cell {tl.cell}")
    place_legend(fig, [h_rps, h_err, h_p99, h_p50, *shade])
    return fig


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (for inlining in HTML or showing in a notebook)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def save(fig: Figure, charts_dir: Path, name: str) -> tuple[Path, Path]:
    """Write the figure as <name>.png and <name>.svg and return both paths."""
    charts_dir.mkdir(parents=True, exist_ok=True)
    png, svg = charts_dir / f"{name}.png", charts_dir / f"{name}.svg"
    fig.savefig(png, dpi=DPI)
    # A fixed salt for the SVG's element ids, so that rebuilding a report rewrites an
    # unchanged chart byte for byte.
    with rc_context({"svg.hashsalt": name}):
        fig.savefig(svg, metadata={"Date": None})
    return png, svg
