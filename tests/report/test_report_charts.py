"""harness.report.charts (through RunView): titles, labels, legends, colours, edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Annotation

from harness.report.charts import FLAGGED_LABEL, RING, message_figure, save, to_png
from harness.report.raw import TAIL_QUANTILES, tail_x
from harness.report.view import MIX_CHARTS, RunView, open_run

from .conftest import CROWDED_STACKS, OPEN_RATES
from .extent import texts_outside
from .synthetic import DEFAULT_STACKS, SynthSpec, build_run


@pytest.fixture(scope="module")
def view(synthetic_run: Path) -> RunView:
    return open_run(synthetic_run)


@pytest.fixture(scope="module")
def single_point_view(tmp_path_factory: pytest.TempPathFactory) -> RunView:
    spec = SynthSpec(stacks=(DEFAULT_STACKS[0], DEFAULT_STACKS[3]), mixes=("json",), users=(4,))
    return open_run(build_run(tmp_path_factory.mktemp("single"), spec))


def _lines(fig: Figure) -> dict[str, Line2D]:
    return {
        str(line.get_label()): line
        for ax in fig.axes
        for line in ax.get_lines()
        if not str(line.get_label()).startswith("_")
    }


def _check_layout(fig: Figure, kind: str) -> None:
    fig.canvas.draw()
    assert fig.get_suptitle().strip(), f"{kind}: no title"
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert axes, f"{kind}: no axes"
    for ax in axes:
        # stacked panels sharing x carry the label once, on the bottom panel
        siblings = ax.get_shared_x_axes().get_siblings(ax)
        assert any(s.get_xlabel().strip() for s in siblings), f"{kind}: an axes without x label"
    first = axes[0]
    assert first.get_ylabel().strip() or first.get_yticklabels(), f"{kind}: no y label"
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for legend in fig.legends:
        box = legend.get_window_extent(renderer)
        for ax in axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), f"{kind}: legend over axes"
    assert texts_outside(fig) == [], f"{kind}: text cut at the figure's edge"


@pytest.mark.parametrize("kind", MIX_CHARTS)
@pytest.mark.parametrize("mix", ["json", "io"])
def test_every_chart_has_title_labels_and_an_outside_legend(
    view: RunView, kind: str, mix: str
) -> None:
    fig = view.figure(kind, mix)
    _check_layout(fig, kind)
    if kind != "efficiency":  # its y axis names the stacks instead
        assert fig.legends, f"{kind}: no legend"


@pytest.mark.parametrize("kind", MIX_CHARTS)
def test_twelve_long_stack_ids_and_the_flag_label_fit_every_chart(
    crowded_run: Path, kind: str
) -> None:
    fig = open_run(crowded_run).figure(kind, "json")
    _check_layout(fig, kind)
    if kind in ("throughput-users", "latency-users"):
        labels = " ".join(t.get_text() for t in fig.legends[0].get_texts())
        for stack in CROWDED_STACKS:
            assert stack.id in labels, f"{kind}: {stack.id} not in the legend"


def test_a_stack_keeps_its_colour_in_every_chart(view: RunView) -> None:
    stack = "fastapi-async@uvicorn-w2"
    colour = view.styles[stack].colour
    for kind in ("throughput-users", "latency-users"):
        assert to_hex(_lines(view.figure(kind, "json"))[stack].get_color()) == colour.lower()
    pct = view.figure("latency-percentiles", "json")
    handles = {
        str(h.get_label()).split(" (")[0]: h
        for h in pct.legends[0].legend_handles
        if isinstance(h, Line2D)
    }
    assert to_hex(handles[stack].get_color()) == colour.lower()
    timeline = view.timeline_figure(view.timeline_cell("json") or "")
    assert to_hex(_lines(timeline)["throughput (requests/s)"].get_color()) == colour.lower()
    eff = view.figure("efficiency", "json")
    labels = [t.get_text() for t in eff.axes[0].get_yticklabels()]
    bars = {
        lab: to_hex(p.get_facecolor()) for lab, p in zip(labels, eff.axes[0].patches, strict=True)
    }
    assert bars[stack] == colour.lower()


def test_failed_cells_are_crossed_and_named(view: RunView) -> None:
    fig = view.figure("throughput-users", "io")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "django-wsgi@gunicorn-sync-w1 (failed)" in labels
    assert any(t.startswith("failed cell") for t in labels)
    offsets = [np.asarray(c.get_offsets()) for c in fig.axes[0].collections]
    zero_points = [p for points in offsets for p in points if p[1] == 0]
    assert len(zero_points) == 3  # django at 4 and 16 users, gthread at 16


def test_single_points_are_drawn_with_markers(single_point_view: RunView) -> None:
    for kind in ("throughput-users", "latency-users", "throughput-workers"):
        lines = _lines(single_point_view.figure(kind, "json"))
        assert lines, kind
        for label, line in lines.items():
            assert len(np.asarray(line.get_xdata())) == 1, (kind, label)
            assert line.get_marker() not in (None, "", "None"), (kind, label)


def test_percentile_chart_uses_the_stretched_tail_axis(view: RunView) -> None:
    fig = view.figure("latency-percentiles", "json")
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == pytest.approx(list(tail_x(np.array(TAIL_QUANTILES))))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["50", "90", "99", "99.9", "99.99"]
    assert ax.get_yscale() == "log"
    assert "users" in fig.get_suptitle()


def test_percentile_chart_names_stacks_missing_at_the_level(view: RunView) -> None:
    title = view.figure("latency-percentiles", "io").get_suptitle()
    assert "django-wsgi@gunicorn-sync-w1" in title and "flask@gunicorn-gthread-w2t4" in title


def test_worker_chart_splits_sync_and_async(view: RunView) -> None:
    fig = view.figure("throughput-workers", "json")
    sync_ax, async_ax = fig.axes[:2]
    assert sync_ax.get_title().startswith("sync worker models")
    assert async_ax.get_title().startswith("async worker models")
    sync_labels = {line.get_label() for line in sync_ax.get_lines()}
    async_labels = {line.get_label() for line in async_ax.get_lines()}
    assert "flask@gunicorn-sync-w*" in sync_labels
    assert "fastapi-async@uvicorn-w*" in async_labels
    assert sorted(np.asarray(_lines(fig)["flask@gunicorn-sync-w*"].get_xdata())) == [1, 2]


def test_save_and_png(tmp_path: Path) -> None:
    fig = message_figure("nothing", "no data")
    png, svg = save(fig, tmp_path / "charts", "x")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in svg.read_bytes()[:400]
    assert to_png(fig).startswith(b"\x89PNG")
    first = (png.read_bytes(), svg.read_bytes())
    save(message_figure("nothing", "no data"), tmp_path / "charts", "x")
    assert (png.read_bytes(), svg.read_bytes()) == first  # a rebuild rewrites nothing


def test_noisy_cells_are_ringed_and_named_noisy(noisy_run: Path) -> None:
    view = open_run(noisy_run)
    fig = view.figure("throughput-users", "json")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert FLAGGED_LABEL in labels
    rings = [
        np.asarray(c.get_offsets())
        for c in fig.axes[0].collections
        if c.get_sizes().size and c.get_sizes()[0] == RING["s"] and len(c.get_offsets())
    ]
    level = view.table.set_index(["mix", "stack"]).loc[("json", DEFAULT_STACKS[4].id)]
    assert [list(p) for points in rings for p in points] == [[16, level["rps"]]]
    named = [(t.get_text(), list(t.xy)) for t in fig.axes[0].texts if isinstance(t, Annotation)]
    assert named == [("noisy (other processes)", [16, level["rps"]])]


def test_open_loop_charts_put_the_target_rate_on_x(open_loop_run: Path) -> None:
    view = open_run(open_loop_run)
    fig = view.figure("throughput-users", "json")
    (ax,) = fig.axes
    assert "target rate" in ax.get_xlabel() and "achieved" in ax.get_ylabel()
    assert "Achieved vs target rate" in fig.get_suptitle()
    lines = _lines(fig)
    ideal = lines["achieved = target (y = x)"]
    assert list(ideal.get_xdata()) == list(ideal.get_ydata()) == list(OPEN_RATES)
    fast = lines[DEFAULT_STACKS[4].id]
    assert list(fast.get_xdata()) == list(OPEN_RATES)
    achieved = np.asarray(fast.get_ydata(), dtype=float)
    assert achieved[0] == pytest.approx(200, rel=0.15) and achieved[-1] < 950
    latency = view.figure("latency-users", "json")
    assert all("target rate" in a.get_xlabel() for a in latency.axes)
    assert "target rate" in latency.get_suptitle()
    for line in _lines(latency).values():
        assert list(line.get_xdata()) == list(OPEN_RATES)
    pct = view.percentiles("json")
    assert pct.target_rps == OPEN_RATES[-1]
    assert all(c.endswith("__q1000__r1") for cells in pct.cells.values() for c in cells)
    assert "target of 1000 requests/s" in view.figure("latency-percentiles", "json").get_suptitle()
    for kind in MIX_CHARTS:
        _check_layout(view.figure(kind, "json"), kind)


def test_closed_loop_charts_keep_users_on_x(view: RunView) -> None:
    fig = view.figure("throughput-users", "json")
    assert "users" in fig.axes[0].get_xlabel()
    assert "achieved = target (y = x)" not in _lines(fig)


def test_latency_and_throughput_charts_draw_the_interval_of_the_rounds(
    tmp_path: Path,
) -> None:
    spec = SynthSpec(stacks=DEFAULT_STACKS[:2], mixes=("json",), users=(4, 16), repeats=6)
    view = open_run(build_run(tmp_path, spec))
    for kind in ("throughput-users", "latency-users"):
        fig = view.figure(kind, "json")
        for ax in fig.axes:
            bars = [c for c in ax.collections if isinstance(c, LineCollection)]
            # one interval bar per stack and level, where the rounds differ
            assert sum(len(c.get_segments()) for c in bars) == 4, (kind, ax.get_title())
