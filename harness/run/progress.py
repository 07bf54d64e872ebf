"""What a run prints as it goes: a line per cell or window with its figures and the ETA,
and the table of every cell at the end."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

Printer = Callable[[str], None]


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _fmt(value: Any, pattern: str) -> str:
    if isinstance(value, str):  # a row read back from cells.csv by --resume
        try:
            value = int(value) if pattern == "d" else float(value)
        except ValueError:
            return "-"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, pattern)


def _progress(i: int, total: int, row: dict[str, Any], took: float, eta: float) -> str:
    figures = (
        f"rps {_fmt(row['rps'], '.1f')}  p50 {_fmt(row['p50_ms'], '.2f')} ms  "
        f"p99 {_fmt(row['p99_ms'], '.2f')} ms  errors {_fmt(row['errors'], 'd')}"
        if row["status"] == "ok"
        else "see raw/<cell>/cell.json"
    )
    cut_off = _fmt(row.get("cut_off"), "d")
    if row["status"] == "ok" and cut_off not in ("-", "0"):
        figures += f"  cut off {cut_off} (lower bounds)"
    stalled = _fmt(row.get("stalled"), "d")
    if row["status"] == "ok" and stalled not in ("-", "0"):
        figures += f"  stalled {stalled} (latency a lower bound)"
    if row.get("concurrent"):
        figures += f"  CONCURRENT with {row['concurrent']}"
    return (
        f"[{i}/{total}] {row['cell']}  {row['status'].upper()}  {figures}  "
        f"({took:.1f} s, ETA {_duration(eta)})"
    )


def summary_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of the finished cells."""
    header = ("stack", "mix", "users", "round", "status", "rps", "p50_ms", "p99_ms", "errors")
    lines = [
        (
            r["stack"],
            r["mix"],
            str(r["users"]),
            str(r["round"]),
            r["status"],
            _fmt(r["rps"], ".1f"),
            _fmt(r["p50_ms"], ".2f"),
            _fmt(r["p99_ms"], ".2f"),
            _fmt(r["errors"], "d"),
        )
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *lines, strict=True)]
    fmt_line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt_line.format(*line) for line in [header, *lines])


class Progress:
    """The progress line of each finished cell, with the ETA from the mean time so far."""

    def __init__(self, out: Printer, total: int, done: int, guess_s: float) -> None:
        self._out = out
        self.total = total
        self._done = done
        self._mean = guess_s
        self._count = 0
        self._last = time.monotonic()

    def restart_clock(self) -> None:
        """The next cell's time counts from now (after the rounds design's stack starts)."""
        self._last = time.monotonic()

    def line(self, row: dict[str, Any]) -> None:
        now = time.monotonic()
        took, self._last = now - self._last, now
        self._count += 1
        self._done += 1
        self._mean = took if self._count == 1 else self._mean + (took - self._mean) / self._count
        eta = self._mean * (self.total - self._done)
        self._out(_progress(self._done, self.total, row, took, eta))
