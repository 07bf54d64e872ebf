"""Reproducibility: the default scenario twice, back to back; do the two runs tell the
same story?

For each mix and user level it compares the two runs' rankings (Spearman's rank
correlation of the stacks' median requests/s) and every pair of stacks: a pair that both
runs call decided (their paired interval, comparisons.csv, excludes 1) must be ordered the
same way in both. A decided pair that swaps is a ranking the suite would have had a user
believe, and then reversed. It also gives the spread of each level's median from one run
to the other.

    .venv/bin/python -m benchmarks.reproducibility [--scenario scenarios/default.toml]
        [--record]                                   # two runs, then the comparison
    .venv/bin/python -m benchmarks.reproducibility --runs RUN_A RUN_B   # only the comparison

Timings, not a test: run it on a machine as quiet as you can get.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.paths import REPO_ROOT
from harness.report.reproduction import spearman
from harness.results.files import read_json_object, read_rows
from harness.results.format import COMPARISON_COLUMNS

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT = REPO_ROOT / "scenarios" / "default.toml"


@dataclass(frozen=True)
class Level:
    mix: str
    users: str
    spearman: float | None
    stacks: int
    decided_both: int
    swapped: tuple[str, ...]
    decided_a: int
    decided_b: int
    ratios: tuple[float, ...]  # run B's median / run A's, per stack


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return math.nan


def medians(run: Path) -> dict[tuple[str, str, str], float]:
    """(mix, users, stack) -> the median requests/s over the rounds (aggregates.csv)."""
    rows = read_rows(run / "aggregates.csv", ("stack", "mix", "users", "rps_median"))
    return {(r["mix"], r["users"], r["stack"]): _number(r["rps_median"]) for r in rows}


def decided(run: Path) -> dict[tuple[str, str, str, str], bool]:
    """(mix, users, stack, other) -> whether stack is ahead of other, for each pair of
    stacks (once, stack < other) whose rps comparison the run decided."""
    out = {}
    for r in read_rows(run / "comparisons.csv", COMPARISON_COLUMNS):
        if r["metric"] == "rps" and r["decided"] == "true" and r["stack"] < r["other"]:
            out[(r["mix"], r["users"], r["stack"], r["other"])] = _number(r["ratio"]) > 1
    return out


def compare(a: Path, b: Path) -> list[Level]:
    ma, mb = medians(a), medians(b)
    da, db = decided(a), decided(b)
    levels = sorted({(mix, users) for mix, users, _ in ma} & {(mix, users) for mix, users, _ in mb})
    out = []
    for mix, users in levels:
        stacks = sorted(s for m, u, s in ma if (m, u) == (mix, users) and (m, u, s) in mb)
        xs = [ma[(mix, users, s)] for s in stacks]
        ys = [mb[(mix, users, s)] for s in stacks]
        both = [k for k in da if k[:2] == (mix, users) and k in db]
        swapped = tuple(f"{k[2]} vs {k[3]}" for k in both if da[k] != db[k])
        out.append(
            Level(
                mix, users, spearman(xs, ys), len(stacks), len(both), swapped,
                sum(1 for k in da if k[:2] == (mix, users)),
                sum(1 for k in db if k[:2] == (mix, users)),
                tuple(y / x for x, y in zip(xs, ys, strict=True) if x > 0),
            )
        )  # fmt: skip
    return out


def report(a: Path, b: Path) -> str:
    levels = compare(a, b)
    meta_a, meta_b = read_json_object(a / "metadata.json"), read_json_object(b / "metadata.json")
    git_a, git_b = meta_a.get("git") or {}, meta_b.get("git") or {}
    lines = [
        "# Reproducibility: one scenario, two runs back to back",
        "",
        f"Runs `{meta_a.get('run_id')}` and `{meta_b.get('run_id')}` of "
        f"`{(meta_a.get('scenario') or {}).get('path')}` at commits `{git_a.get('commit')}` / "
        f"`{git_b.get('commit')}` (dirty: {git_a.get('dirty')} / {git_b.get('dirty')}), "
        f"{meta_a.get('rounds')} rounds each.",
        "",
    ]
    swaps = sum(len(lv.swapped) for lv in levels)
    both = sum(lv.decided_both for lv in levels)
    ratios = [r for lv in levels for r in lv.ratios]
    lines += [
        f"- pairs decided by both runs: {both}; of those ordered differently: **{swaps}**",
        f"- pairs decided by run A: {sum(lv.decided_a for lv in levels)}, by run B: "
        f"{sum(lv.decided_b for lv in levels)}",
        "- Spearman per level: "
        + ", ".join(
            f"{lv.mix} u{lv.users} {lv.spearman:.2f}" for lv in levels if lv.spearman is not None
        ),
        f"- a level's median, run B over run A: {min(ratios):.2f} to {max(ratios):.2f} "
        f"(median {statistics.median(ratios):.2f}; {sum(abs(r - 1) > 0.1 for r in ratios)} of "
        f"{len(ratios)} more than 10% apart)",
        "",
        "| mix | users | stacks | Spearman | decided A | decided B | decided by both | swapped |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        rho = f"{lv.spearman:.2f}" if lv.spearman is not None else "-"
        lines.append(
            f"| {lv.mix} | {lv.users} | {lv.stacks} | {rho} | {lv.decided_a} | {lv.decided_b} | "
            f"{lv.decided_both} | {', '.join(lv.swapped) or 0} |"
        )
    return "\n".join(lines) + "\n"


def one_run(scenario: Path, results: Path) -> Path:
    argv = [sys.executable, "-m", "harness", "run", str(scenario), "--results-dir", str(results)]
    done = subprocess.run(argv, cwd=REPO_ROOT, check=True, text=True, capture_output=True)
    print(done.stdout.strip().splitlines()[-2])
    return Path(done.stdout.strip().splitlines()[-1].removeprefix("results: "))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=DEFAULT)
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "results")
    parser.add_argument("--runs", nargs=2, type=Path, metavar="RUN", help="compare these runs")
    parser.add_argument("--record", action="store_true", help="write results/reproducibility.md")
    args = parser.parse_args(argv)
    a, b = args.runs or (
        one_run(args.scenario, args.results_dir),
        one_run(args.scenario, args.results_dir),
    )
    text = report(a, b)
    print(text)
    if args.record:
        (RESULTS / "reproducibility.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
