"""Whether a figure keeps every text inside itself: nothing cut at an edge."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

SLACK_PX = 1.0


def _sticks_out(box: Bbox, width: float, height: float) -> bool:
    return bool(
        box.x0 < -SLACK_PX
        or box.y0 < -SLACK_PX
        or box.x1 > width + SLACK_PX
        or box.y1 > height + SLACK_PX
    )


def _px(box: Bbox) -> str:
    return f"[{box.x0:.0f}, {box.x1:.0f}] x [{box.y0:.0f}, {box.y1:.0f}] px"


def texts_outside(fig: Figure) -> list[str]:
    """What of the drawn figure lies outside it: empty when nothing does. Judged on the
    figure's tight bounding box (all that matplotlib draws, tick labels included); each
    title, label and legend text that sticks out is named in the answer."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    width, height = fig.bbox.width, fig.bbox.height
    drawn = Bbox(fig.get_tightbbox(renderer).get_points() * fig.dpi)
    if not _sticks_out(drawn, width, height):
        return []
    out = [f"drawn extent {_px(drawn)} in a {width:.0f} x {height:.0f} px figure"]
    ticks = {
        id(label)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for tick in (*axis.majorTicks, *axis.minorTicks)
        for label in (tick.label1, tick.label2)
    }
    for text in fig.findobj(Text):
        if id(text) in ticks or not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        if _sticks_out(box, width, height):
            out.append(f"{text.get_text()!r} at {_px(box)}")
    return out
