"""One colour-blind-safe style per stack, identical in every chart of a run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Okabe–Ito, reordered so the colours that read worst as thin lines on white
# (black competes with the axes, yellow barely shows) come last.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
# Past eight stacks colours repeat, so each further round of eight gets its own
# line style: the pair (colour, line style) stays unique up to 32 stacks.
LINESTYLES: tuple[str, ...] = ("-", "--", ":", "-.")
# Markers vary independently of colour, a second cue for readers and print-outs.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X")
HATCHES: tuple[str, ...] = ("", "//", "..", "xx")

FLAG_COLOUR = "#000000"
WARMUP_COLOUR = "#BBBBBB"


@dataclass(frozen=True)
class StackStyle:
    """How one stack is drawn: line colour, line style, marker, bar hatch."""

    colour: str
    linestyle: str
    marker: str
    hatch: str

    def line_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `Axes.plot`."""
        return {"color": self.colour, "linestyle": self.linestyle, "marker": self.marker}


def style_for_index(index: int) -> StackStyle:
    """The style at a position of the deterministic sequence."""
    if index < 0:
        raise ValueError(f"style index must be >= 0, got {index}")
    n = len(OKABE_ITO)
    round_ = index // n
    return StackStyle(
        colour=OKABE_ITO[index % n],
        linestyle=LINESTYLES[round_ % len(LINESTYLES)],
        marker=MARKERS[index % len(MARKERS)],
        hatch=HATCHES[round_ % len(HATCHES)],
    )


def stack_styles(stacks: Iterable[str]) -> dict[str, StackStyle]:
    """Map every stack id to its style; sorted ids make the map independent of row order.

    Build it once per run from all the run's stacks and pass it to every chart, so
    a stack keeps its colour even in a chart that shows only some of the stacks.
    """
    return {stack: style_for_index(i) for i, stack in enumerate(sorted(set(stacks)))}
