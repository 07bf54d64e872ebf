"""benchmarks/ceiling_report.py: the paired ratio of a generator to wrk, on crafted rows."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from benchmarks import ceiling_report
from benchmarks.ceiling_runs import Config, Measurement


def window(generator: str, repeat: int, responses: int) -> Measurement:
    return Measurement(
        stack="s@x-w1", keepalive=True, generator=generator, repeat=repeat, seconds=10.0,
        responses=responses, failures=0, generator_cpu_s=1.0, generator_sys_s=0.5,
        server_cpu_s=9.0, busy_cpu_s=10.0, errors="",
    )  # fmt: skip


def test_paired_ratio_compares_windows_of_the_same_repeat() -> None:
    # The machine drifts: repeat 2 runs at half speed for both generators. The ratios of the
    # medians mix repeats; the paired ratios stay at 90% in every repeat.
    wrk = [window("wrk", 1, 50_000), window("wrk", 2, 25_000), window("wrk", 3, 40_000)]
    lean = [window("lean", 1, 45_000), window("lean", 2, 22_500), window("lean", 3, 36_000)]
    assert ceiling_report._paired_cell(lean, wrk) == "90% (90%-90%)"
    assert ceiling_report._paired_cell(lean[:1], wrk) == "90%"
    # A repeat without a wrk window has no pair.
    assert ceiling_report._paired_cell(lean, wrk[:1]) == "90%"
    assert ceiling_report._paired_cell(lean, []) == "-"


def test_pooled_line_takes_every_keep_alive_stacks_pairs() -> None:
    cfg = Config(repeats=3, generators=("wrk", "lean"))
    rows = []
    for stack, ratio in (("a@x-w1", 0.9), ("b@x-w1", 1.0), ("c@x-w1", 1.1)):
        for r in (1, 2, 3):
            rows += [replace(window("wrk", r, 10_000), stack=stack)]
            rows += [replace(window("lean", r, round(10_000 * ratio)), stack=stack)]
    # A stack without keep-alive is left out of the pool.
    rows += [replace(window("wrk", 1, 10_000), stack="d@x-w1", keepalive=False)]
    rows += [replace(window("lean", 1, 5_000), stack="d@x-w1", keepalive=False)]
    line = ceiling_report.pooled_line(rows, cfg, "lean")
    assert "median 100.0%" in line and "9 pairs" in line, line
    # Nine values: [x(2), x(8)] is the 96.1% order-statistic interval of their median.
    assert "96.1% interval 90.0%-110.0%" in line, line
    assert ceiling_report.pooled_line(rows[:2], cfg, "lean") == ""


def test_summary_has_the_paired_column() -> None:
    cfg = Config(
        connections=64, warmup_s=2, measure_s=10, repeats=2, generators=("wrk", "lean"),
        quiet_pct=15.0, quiet_wait_s=0.0,
    )  # fmt: skip
    rows = [window("wrk", 1, 50_000), window("lean", 1, 40_000)]
    rows += [window("wrk", 2, 20_000), window("lean", 2, 22_000)]
    table = ceiling_report.summary_markdown(rows, cfg).splitlines()
    head = [c.strip() for c in table[0].strip("|").split("|")]
    line = [c.strip() for c in table[2].strip("|").split("|")]
    cells = dict(zip(head, line, strict=True))
    # Medians: wrk 35,000, lean 31,000 (89%); paired: 80% and 110%, median 95%.
    assert cells["LeanHttpUser/wrk"] == "89%"
    assert cells["LeanHttpUser/wrk, paired"] == "95% (80%-110%)"


def test_csv_keeps_the_window_end_and_cpu_speeds(tmp_path: Path) -> None:
    cfg = Config(repeats=1, generators=("wrk", "lean"))
    rows = [
        replace(window("wrk", 1, 20_000), ended_at=1000.5, server_speed=36.5),
        replace(window("lean", 1, 16_000), load_speed=19.25),
    ]
    ceiling_report.write(rows, cfg, tmp_path)
    back = ceiling_report.read_csv(tmp_path / "generator_ceiling.csv")
    assert (back[0].ended_at, back[0].server_speed) == (1000.5, 36.5)
    assert math.isnan(back[1].server_speed) and back[1].load_speed == 19.25
    text = (tmp_path / "generator_ceiling.md").read_text()
    assert "server CPU speed under wrk" in text and "| 36 (36-36) |" in text
