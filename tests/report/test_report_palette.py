"""harness.report.palette: one stable, colour-blind-safe style per stack."""

from __future__ import annotations

import pytest

from harness.report.palette import OKABE_ITO, stack_styles, style_for_index


def test_styles_do_not_depend_on_order_or_duplicates() -> None:
    stacks = ["b@x-w1", "a@x-w1", "c@y-w2"]
    first = stack_styles(stacks)
    assert stack_styles(reversed(stacks + stacks)) == first
    assert first["a@x-w1"].colour == OKABE_ITO[0]


def test_styles_stay_distinct_past_the_palette() -> None:
    styles = stack_styles(f"app{i:02d}@srv-w1" for i in range(32))
    pairs = {(s.colour, s.linestyle) for s in styles.values()}
    assert len(pairs) == 32
    assert {s.colour for s in styles.values()} == set(OKABE_ITO)


def test_negative_index_is_rejected() -> None:
    with pytest.raises(ValueError, match="-1"):
        style_for_index(-1)
