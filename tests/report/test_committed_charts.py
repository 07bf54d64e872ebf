"""The committed runs' charts as a reader sees them: no text cut at an image's edge.

A chart laid out by matplotlib keeps a margin of background at every edge; text that
runs past the figure (a legend wider than the page, a long title) leaves ink in that
margin instead. Each committed PNG's outer frame must be background only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

ROOT = Path(__file__).resolve().parents[2]
PNGS = sorted(ROOT.glob("results/reference*/charts/*.png"))
FRAME_PX = 2
# A pixel this much darker than white in any channel is ink, not background.
INK = 0.1


def ink_at_edges(image: np.ndarray) -> list[str]:
    """The edges of an RGB(A) image (values 0..1) whose outer frame holds ink."""
    rgb = image[..., :3]
    edges = {
        "top": rgb[:FRAME_PX],
        "bottom": rgb[-FRAME_PX:],
        "left": rgb[:, :FRAME_PX],
        "right": rgb[:, -FRAME_PX:],
    }
    return [name for name, frame in edges.items() if (1.0 - frame > INK).any()]


def test_the_committed_runs_have_charts() -> None:
    runs = {p.parent.parent.name for p in PNGS}
    assert {"reference", "reference-claims"} <= runs, runs


@pytest.mark.parametrize("png", PNGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_no_committed_chart_is_cut_at_an_edge(png: Path) -> None:
    assert ink_at_edges(imread(png)) == [], f"{png}: ink at the edge"


def test_the_edge_check_sees_a_cut_legend() -> None:
    image = np.ones((50, 80, 4))
    assert ink_at_edges(image) == []
    image[20:24, 0:6, :3] = 0.2  # text running off the left edge
    assert ink_at_edges(image) == ["left"]
