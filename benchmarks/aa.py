"""A/A: the suite compares identical twins, and its intervals must say they are the same.

benchmarks/scenarios/aa.toml runs ten pairs of identical stacks (they differ only in an
unused DB pool size) through the harness, rounds design, two mixes and two user levels:
40 comparisons. For each, the twins' throughput is compared round by round, as every
comparison of the suite is (harness/core/intervals.py: the median of the per-round
ratios and its order-statistic interval). Two figures judge the suite:

- decided: comparisons whose interval excludes 1. Twins are equal, so each one is a false
  difference; a 95% interval should decide about 5% of them, no more.
- half-width: half the interval's width, in % of the ratio. The suite resolves
  differences above about this size.

The same comparisons are also made after adjusting each window's throughput for the CPU
speed probe's reading (a slope of log rps on log speed fitted within each stack, not a
plain division), to see whether the host's speed, used as a covariate, narrows the
intervals without deciding more twins apart.

    .venv/bin/python -m benchmarks.aa [--record]       # runs the scenario (~25 min)
    .venv/bin/python -m benchmarks.aa --run-dir RUN    # only the analysis of a run

Timings, not a test: run it on a machine as quiet as you can get.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.intervals import Interval, format_level, paired_interval
from harness.core.paths import REPO_ROOT
from harness.results.files import read_json_object, read_rows

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "aa.toml"
RESULTS = Path(__file__).resolve().parent / "results"
TWIN = re.compile(r"p[45](?=$|\+)")
CSV_COLUMNS = ("pair", "mix", "users", "n", "ratio", "low", "high", "level", "adj_ratio",
               "adj_low", "adj_high")  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    pair: str
    mix: str
    users: int
    raw: Interval
    adjusted: Interval

    @staticmethod
    def half_width(ci: Interval) -> float:
        """Half the interval's width, in % of its median."""
        return 100 * (ci.high - ci.low) / 2 / ci.median if ci.n > 1 else math.nan


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return math.nan


def adjusted_rps(rows: Sequence[dict[str, str]]) -> tuple[float, dict[str, float]]:
    """The slope b of log rps on log CPU speed, fitted within each (stack, mix, users)
    level over its rounds and pooled over the levels; and cell -> throughput adjusted to
    the run's median speed: exp(log rps - b (log speed - log median speed))."""
    groups: dict[tuple[str, str, str], list[tuple[str, float, float]]] = {}
    for r in rows:
        rps, speed = _number(r["rps"]), _number(r["server_cpu_speed"])
        if rps > 0 and speed > 0:
            groups.setdefault((r["stack"], r["mix"], r["users"]), []).append(
                (r["cell"], math.log(rps), math.log(speed))
            )
    num = den = 0.0
    for members in groups.values():
        if len(members) < 2:
            continue
        my = statistics.fmean(m[1] for m in members)
        mx = statistics.fmean(m[2] for m in members)
        num += sum((x - mx) * (y - my) for _, y, x in members)
        den += sum((x - mx) ** 2 for _, _, x in members)
    slope = num / den if den > 0 else 0.0
    center = statistics.median(m[2] for members in groups.values() for m in members)
    return slope, {
        cell: math.exp(y - slope * (x - center))
        for members in groups.values()
        for cell, y, x in members
    }


def comparisons(run_dir: Path) -> tuple[list[Comparison], float]:
    """Every twin pair at every (mix, users) level of the run; and the fitted slope."""
    rows = [
        r for r in read_rows(run_dir / "cells.csv") if r["status"] == "ok" and r["cold"] != "true"
    ]
    slope, adjusted = adjusted_rps(rows)
    by: dict[tuple[str, str, str, str], dict[int, tuple[float, float]]] = {}
    for r in rows:
        key = (TWIN.sub("p*", r["stack"]), r["stack"], r["mix"], r["users"])
        by.setdefault(key, {})[int(r["round"])] = (
            _number(r["rps"]),
            adjusted.get(r["cell"], math.nan),
        )
    out = []
    pairs = sorted({(pair, mix, users) for pair, _, mix, users in by})
    for pair, mix, users in pairs:
        twins = sorted(stack for p, stack, m, u in by if (p, m, u) == (pair, mix, users))
        if len(twins) != 2:
            continue
        a, b = (by[(pair, s, mix, users)] for s in twins)
        raw = paired_interval({k: v[0] for k, v in a.items()}, {k: v[0] for k, v in b.items()})
        adj = paired_interval({k: v[1] for k, v in a.items()}, {k: v[1] for k, v in b.items()})
        out.append(Comparison(pair, mix, int(users), raw, adj))
    return out, slope


def summary(items: Sequence[Comparison], slope: float) -> list[str]:
    lines = []
    for name, pick in (
        ("per-round ratios", lambda c: c.raw),
        ("adjusted for CPU speed", lambda c: c.adjusted),
    ):
        cis = [pick(c) for c in items if pick(c).n > 1]
        decided = sum(ci.excludes(1.0) for ci in cis)
        widths = [Comparison.half_width(ci) for ci in cis]
        levels = sorted({format_level(ci.level) for ci in cis})
        lines.append(
            f"- **{name}**: {decided} of {len(cis)} comparisons decided "
            f"({100 * decided / max(1, len(cis)):.1f}%); median half-width "
            f"{statistics.median(widths):.1f}% (max {max(widths):.1f}%); intervals at "
            f"{', '.join(levels)} confidence"
        )
    lines.append(f"- fitted slope of log requests/s on log CPU speed, within levels: {slope:.2f}")
    return lines


def _cell(ci: Interval) -> str:
    decided = " decided" if ci.excludes(1.0) else ""
    return f"{ci.median:.3f} [{ci.low:.3f}, {ci.high:.3f}]{decided}"


def table(items: Sequence[Comparison]) -> list[str]:
    head = ("pair", "mix", "users", "rounds", "ratio [interval]", "half-width",
            "adjusted ratio [interval]", "adjusted half-width")  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in items:
        cells = (
            c.pair, c.mix, str(c.users), str(c.raw.n), _cell(c.raw),
            f"{Comparison.half_width(c.raw):.1f}%", _cell(c.adjusted),
            f"{Comparison.half_width(c.adjusted):.1f}%",
        )  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report(run_dir: Path) -> str:
    items, slope = comparisons(run_dir)
    meta = read_json_object(run_dir / "metadata.json")
    git = meta.get("git") or {}
    spent = meta.get("time") or {}
    head = [
        "# A/A: identical twins through the suite's comparisons",
        "",
        f"Run `{meta.get('run_id')}` of `benchmarks/scenarios/aa.toml` at commit "
        f"`{git.get('commit')}` (dirty: {git.get('dirty')}), {meta.get('rounds')} rounds, "
        f"{spent.get('measured_s')} s measured of {spent.get('wall_s')} s; "
        f"{(meta.get('machine') or {}).get('cpu_model')}.",
        "",
    ]
    return "\n".join([*head, *summary(items, slope), "", *table(items), ""])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="analyse this run instead of running")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "results")
    parser.add_argument("--record", action="store_true", help="write results/aa.md and aa.csv")
    args = parser.parse_args(argv)
    run_dir = args.run_dir
    if run_dir is None:
        argv_run = [sys.executable, "-m", "harness", "run", str(SCENARIO)]
        argv_run += ["--results-dir", str(args.results_dir)]
        done = subprocess.run(argv_run, cwd=REPO_ROOT, check=False, text=True, capture_output=True)
        print(done.stdout[-2000:], done.stderr[-2000:])
        if done.returncode != 0:
            return done.returncode
        run_dir = Path(done.stdout.strip().splitlines()[-1].removeprefix("results: "))
    text = report(run_dir)
    print(text)
    if args.record:
        (RESULTS / "aa.md").write_text(text)
        items, _ = comparisons(run_dir)
        with (RESULTS / "aa.csv").open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(CSV_COLUMNS)
            for c in items:
                raw, adj = c.raw, c.adjusted
                out.writerow([c.pair, c.mix, c.users, raw.n, raw.median, raw.low, raw.high,
                              raw.level, adj.median, adj.low, adj.high])  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
