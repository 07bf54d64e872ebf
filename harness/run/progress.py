"""What a run prints as it goes: a line per cell or window with its figures and the ETA,
and the table of every cell at the end. On a terminal, LiveProgress also draws two bars
below those lines (rich): the run's windows with the ETA, and the window in progress with
its phase and the requests/s Locust reports while it runs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol

Printer = Callable[[str], None]
# The live requests/s is the rate over this much of the latest reports.
LIVE_SPAN_S = 1.0


class LiveFeed(Protocol):
    """Where a window's live figures go while it runs (harness/run/driven.py)."""

    def window_started(self, cell: str, warmup_s: float, measure_s: float) -> None: ...

    def requests(self, count: int, at: float) -> None:
        """count: requests Locust has completed in the window so far, at unix time at."""


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
    rejected = _fmt(row.get("rejected"), "d")
    if row["status"] == "ok" and rejected not in ("-", "0"):
        figures += f"  rejected {rejected} (rate limit)"
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

    def eta(self) -> float:
        """Seconds left: the mean window so far times the windows left, less the time the
        one in progress has already taken."""
        running = time.monotonic() - self._last
        return max(0.0, self._mean * (self.total - self._done) - min(running, self._mean))

    @property
    def feed(self) -> LiveFeed | None:
        """Where the windows' live figures go: nowhere for lines."""
        return None

    def close(self) -> None:
        """Nothing drawn, nothing to take down."""


class LiveProgress(Progress):
    """Progress with two bars drawn under the lines while the run goes on: the run's
    windows (done of total, ETA), and the window in progress (its phase, seconds of it,
    live requests/s). Lines printed meanwhile (print, warnings) go above the bars; close()
    takes the bars down, also after an error or Ctrl-C."""

    def __init__(self, total: int, done: int, guess_s: float, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, TextColumn
        from rich.progress import Progress as Bars

        self._console = console or Console(highlight=False)
        super().__init__(self._print, total, done, guess_s)
        self._bars = Bars(
            TextColumn("{task.description}"), BarColumn(bar_width=30),
            TextColumn("{task.fields[info]}"),
            console=self._console, refresh_per_second=4, transient=True,
        )  # fmt: skip
        self._run = self._bars.add_task("run", total=max(total, 1), completed=done, info="")
        self._window = self._bars.add_task("", total=1, visible=False, info="")
        self._phases = (0.0, 0.0)
        self._started = 0.0
        self._reports: list[tuple[float, int]] = []
        self._bars.start()
        self._show_run()

    def _print(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _show_run(self) -> None:
        info = f"{self._done}/{self.total} windows  ETA {_duration(self.eta())}"
        self._bars.update(self._run, completed=self._done, info=info)

    def line(self, row: dict[str, Any]) -> None:
        super().line(row)
        self._bars.update(self._window, visible=False)
        self._show_run()

    def window_started(self, cell: str, warmup_s: float, measure_s: float) -> None:
        self._phases = (warmup_s, measure_s)
        self._started = time.time()
        self._reports = []
        self._bars.update(
            self._window, description=cell, total=warmup_s + measure_s, completed=0,
            visible=True, info="warm-up",
        )  # fmt: skip

    def requests(self, count: int, at: float) -> None:
        self._reports.append((at, count))
        while len(self._reports) > 2 and at - self._reports[1][0] >= LIVE_SPAN_S:
            self._reports.pop(0)
        warmup_s, measure_s = self._phases
        elapsed = min(max(0.0, at - self._started), warmup_s + measure_s)
        phase = "warm-up" if elapsed < warmup_s else "measure"
        info = phase
        (t0, n0), (t1, n1) = self._reports[0], self._reports[-1]
        if t1 > t0:
            info += f"  {(n1 - n0) / (t1 - t0):,.0f} req/s"
        self._bars.update(self._window, completed=elapsed, info=info)
        self._show_run()

    @property
    def feed(self) -> LiveFeed | None:
        return self

    def close(self) -> None:
        self._bars.stop()


def progress_for(out: Printer, total: int, done: int, guess_s: float, live: bool) -> Progress:
    """Bars on a terminal (live), else a line per window through out."""
    return LiveProgress(total, done, guess_s) if live else Progress(out, total, done, guess_s)
