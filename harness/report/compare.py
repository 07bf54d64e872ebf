"""`compare RUN_A RUN_B` and `export RUN`: two runs side by side, and one run's summary in
a stable form for other tools.

compare: for each (mix, load level, stack) both runs measured, run B's requests/s over run
A's. The two runs share no rounds, so nothing can be paired: the ratio is the
Hodges-Lehmann estimate of B over A from every pair of their rounds, with its
Mann-Whitney interval and exact confidence (harness/core/intervals.py), marked decided
when the interval excludes 1. Runs made on another machine, with other CPU sets or
another Python are refused unless forced (pyperf's rule): the difference would be the
machine's, not the stack's.

export: the ranked summary (summary.csv's rows) as JSON or Markdown. The JSON carries
`format` (EXPORT_FORMAT, raised when a field changes meaning or goes away), the run's
identity, and one object per mix and stack with the fields listed in EXPORT_FIELDS.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from harness.core.intervals import format_level, ratio_between
from harness.report.tables import Run, level_label, split_flags, summary
from harness.results.files import finite

EXPORT_FORMAT = 1
# (field, summary.csv column, meaning) of each stack in `export --json`.
EXPORT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("rank", "rank", "place in its mix by median requests/s (null: failed)"),
    ("stack", "stack", "app@server-w<workers>[t<threads>]"),
    ("status", "status", "ok or failed"),
    ("flags", "flags", "list of flags (generator_bound, unstable, noisy, ...)"),
    ("users", "users", "the load level of its peak (closed loop)"),
    ("target_rps", "target_rps", "the target rate of its peak (open loop)"),
    ("rps", "rps", "median requests/s over the rounds at its peak"),
    ("rps_low", "rps_ci_low", "the interval of that median"),
    ("rps_high", "rps_ci_high", ""),
    ("confidence", "ci_level", "the interval's exact confidence (0.969 with 6 rounds)"),
    ("rounds", "repeats", "rounds the figures rest on"),
    ("vs_leader", "vs_leader", "median per-round ratio to the mix's leader"),
    ("vs_leader_low", "vs_leader_low", "its interval"),
    ("vs_leader_high", "vs_leader_high", ""),
    ("tied_with_leader", "tied_with_leader", "that interval includes 1"),
    ("p50_ms", "p50_ms", "latency percentiles of the measure windows"),
    ("p90_ms", "p90_ms", ""),
    ("p99_ms", "p99_ms", ""),
    ("error_rate", "error_rate", "failed requests / requests"),
    ("server_cpu_pct", "server_cpu_pct", "server CPU, % of one core"),
    ("server_rss_mb", "server_rss_mb", "resident memory of every server process, summed"),
    ("server_pss_mb", "server_pss_mb", "the server's memory with shared pages counted once (PSS)"),
    ("worker_uss_mb", "worker_uss_mb", "memory one worker holds alone (USS), the median worker"),
    ("rps_per_cpu_s", "rps_per_cpu_s", "requests per CPU-second (server and nginx)"),
)
# What must match for two runs' figures to be compared: (metadata path, words).
SAME_MACHINE: tuple[tuple[tuple[str, ...], str], ...] = (
    (("machine", "cpu_model"), "CPU model"),
    (("machine", "cores"), "logical CPUs"),
    (("python", "version"), "Python"),
    (("cpu_sets",), "CPU sets"),
)


@dataclass(frozen=True)
class Change:
    """One (mix, level, stack) from run A to run B."""

    mix: str
    level: str
    stack: str
    a_rps: float  # median over A's rounds
    b_rps: float
    ratio: float  # B over A
    low: float
    high: float
    confidence: float
    rounds_a: int
    rounds_b: int

    @property
    def decided(self) -> bool:
        return self.confidence > 0 and (self.low > 1 or self.high < 1)

    @property
    def direction(self) -> str:
        if not self.decided:
            return "same within the interval" if self.confidence > 0 else "too few rounds"
        return "B faster" if self.low > 1 else "B slower"


def _get(metadata: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = metadata
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between two runs' machines, in words; empty when they compare."""
    out = []
    for path, words in SAME_MACHINE:
        va, vb = _get(a, path), _get(b, path)
        if va != vb:
            out.append(f"{words}: {json.dumps(va)} in A, {json.dumps(vb)} in B")
    return out


def _rounds(run: Run) -> dict[tuple[str, str, str], list[float]]:
    """(mix, level, stack) -> requests/s of each ok round (cold windows are left out by
    load_cells)."""
    out: dict[tuple[str, str, str], list[float]] = {}
    ok = run.cells[run.cells["status"] == "ok"]
    for row in ok.itertuples(index=False):
        level = level_label(row.users, getattr(row, "target_rps", None))
        out.setdefault((str(row.mix), level, str(row.stack)), []).append(float(row.rps))
    return out


def compare_runs(a: Run, b: Run) -> list[Change]:
    """Every (mix, level, stack) both runs measured with at least one ok round."""
    ra, rb = _rounds(a), _rounds(b)
    changes = []
    for key in sorted(ra.keys() & rb.keys()):
        xs, ys = ra[key], rb[key]
        ci = ratio_between(xs, ys)
        changes.append(
            Change(
                *key, pd.Series(xs).median(), pd.Series(ys).median(), ci.median, ci.low,
                ci.high, ci.level, len(xs), len(ys),
            )
        )  # fmt: skip
    return changes


def mix_summaries(changes: Sequence[Change]) -> list[str]:
    """One line per mix: how many got faster or slower (decided), and the median ratio."""
    lines = []
    for mix in dict.fromkeys(c.mix for c in changes):
        part = [c for c in changes if c.mix == mix]
        faster = sum(c.decided and c.low > 1 for c in part)
        slower = sum(c.decided and c.high < 1 for c in part)
        median = pd.Series([c.ratio for c in part]).median()
        lines.append(
            f"{mix}: {len(part)} compared; B faster in {faster}, slower in {slower}, "
            f"the same within the interval in {len(part) - faster - slower}; "
            f"median B/A {median:.2f}"
        )
    return lines


def _pct(level: float) -> str:
    return format_level(level) if level > 0 else "none"


def compare_text(a: Run, b: Run, changes: Sequence[Change], markdown: bool = False) -> str:
    head = [
        f"A: {a.run_id} ({a.path})",
        f"B: {b.run_id} ({b.path})",
        "B/A: median of every ratio of a B round to an A round, with its Mann-Whitney "
        "interval (the runs share no rounds); decided when the interval excludes 1.",
        "",
        *mix_summaries(changes),
        "",
    ]
    cols = ("mix", "level", "stack", "A req/s", "B req/s", "B/A [interval]", "confidence", "")
    rows = [
        (
            c.mix, c.level, c.stack, f"{c.a_rps:,.0f}", f"{c.b_rps:,.0f}",
            f"{c.ratio:.3f} [{c.low:.3f}, {c.high:.3f}]", _pct(c.confidence),
            c.direction if c.decided or c.confidence == 0 else "",
        )
        for c in changes
    ]  # fmt: skip
    if markdown:
        lines = [f"- {line}" if line else "" for line in head]
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *rows, strict=True)]
    table = ["  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)).rstrip()
             for r in (cols, *rows)]  # fmt: skip
    return "\n".join(head + table) + "\n"


def compare_json(a: Run, b: Run, changes: Sequence[Change], forced: Sequence[str]) -> str:
    data = {
        "format": EXPORT_FORMAT,
        "a": {"run_id": a.run_id, "git": a.metadata.get("git")},
        "b": {"run_id": b.run_id, "git": b.metadata.get("git")},
        "machine_differences": list(forced),
        "summary": mix_summaries(changes),
        "changes": [asdict(c) | {"decided": c.decided, "direction": c.direction} for c in changes],
    }
    return json.dumps(finite(data), indent=2, ensure_ascii=False) + "\n"


def _export_value(field: str, value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if field == "flags":
        return split_flags(value)
    if field == "tied_with_leader":
        return str(value).lower() == "true"
    if field in ("rank", "users", "rounds"):
        return int(value)
    if isinstance(value, int | float):
        return float(value)
    return str(value)


def export_rows(run: Run) -> list[dict[str, Any]]:
    table = summary(run.cells)
    rows = []
    for record in table.to_dict("records"):
        row = {"mix": str(record["mix"])}
        for field, column, _meaning in EXPORT_FIELDS:
            row[field] = _export_value(field, record.get(column))
        rows.append(row)
    return rows


def export_json(run: Run) -> str:
    machine = run.metadata.get("machine") or {}
    data = {
        "format": EXPORT_FORMAT,
        "run_id": run.run_id,
        "scenario": _get(run.metadata, ("scenario", "name")),
        "git": run.metadata.get("git"),
        "machine": {k: machine.get(k) for k in ("cpu_model", "cores", "memory_gb", "kernel")},
        "python": _get(run.metadata, ("python", "version")),
        "packages": run.metadata.get("packages"),
        "stacks": export_rows(run),
    }
    return json.dumps(finite(data), indent=2, ensure_ascii=False) + "\n"


def export_markdown(run: Run) -> str:
    """Per mix, the ranked table as the README shows it."""
    lines = [f"Run `{run.run_id}`: the median over the rounds at each stack's peak, with its "
             "interval and confidence; vs leader paired by round.", ""]  # fmt: skip
    rows = export_rows(run)
    for mix in dict.fromkeys(r["mix"] for r in rows):
        lines += [
            f"**{mix}**",
            "",
            "| rank | stack | req/s [interval] | vs leader [interval] | p50 ms | p99 ms | flags |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in (r for r in rows if r["mix"] == mix):
            lines.append("| " + " | ".join(_markdown_cells(r)) + " |")
        lines.append("")
    return "\n".join(lines)


def _num(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _markdown_cells(r: dict[str, Any]) -> list[str]:
    if r["rank"] is None:
        return ["", r["stack"], "failed", "", "", "", ", ".join(r["flags"])]
    rps = f"{r['rps']:,.0f} [{_num(r['rps_low'], ',.0f')}, {_num(r['rps_high'], ',.0f')}]"
    if r["rank"] == 1:
        vs = "-"
    else:
        low, high = _num(r["vs_leader_low"], ".2f"), _num(r["vs_leader_high"], ".2f")
        vs = f"{_num(r['vs_leader'], '.2f')} [{low}, {high}]"
        vs += " (tied)" if r["tied_with_leader"] else ""
    return [
        str(r["rank"]), r["stack"], rps, vs, _num(r["p50_ms"], ".1f"), _num(r["p99_ms"], ".1f"),
        ", ".join(r["flags"]),
    ]  # fmt: skip
