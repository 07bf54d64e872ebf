"""What a run prints as it goes (harness/run/progress.py): lines, and on a terminal live
bars with the window in progress and its requests/s, drawn from a real run in a pty."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from harness.run.progress import LiveProgress, Progress, progress_for

REPO_ROOT = Path(__file__).resolve().parents[3]
TINY = REPO_ROOT / "tests" / "fixtures" / "tiny.toml"
ROW = {
    "cell": "a@b-w1__json__u4__r1", "status": "ok", "rps": 812.5, "p50_ms": 1.25,
    "p99_ms": 4.5, "errors": 0,
}  # fmt: skip


def _console() -> tuple[Console, io.StringIO]:
    text = io.StringIO()
    return Console(file=text, force_terminal=True, width=140, color_system=None), text


def test_lines_have_no_feed_and_bars_feed_the_window() -> None:
    lines: list[str] = []
    plain = progress_for(lines.append, 3, 0, 10.0, live=False)
    assert type(plain) is Progress and plain.feed is None
    plain.line(ROW)
    assert lines and lines[0].startswith("[1/3] a@b-w1__json__u4__r1  OK  rps 812.5")
    console, text = _console()
    bars = LiveProgress(3, 0, 10.0, console=console)
    try:
        assert bars.feed is bars
        now = time.time()
        bars.window_started("a@b-w1__json__u4__r1", 1.0, 2.0)
        bars.requests(100, now + 0.5)
        bars.requests(600, now + 1.5)  # 500 requests in 1 s, in the measure phase
        bars._bars.refresh()  # what the 4 Hz refresh would draw
        bars.line(ROW)
    finally:
        bars.close()
    shown = text.getvalue()
    assert "500 req/s" in shown and "measure" in shown
    assert "[1/3] a@b-w1__json__u4__r1  OK  rps 812.5" in shown
    assert re.search(r"1/3 windows\s+ETA \d", shown)


def test_the_live_rate_spans_the_latest_second() -> None:
    console, text = _console()
    bars = LiveProgress(1, 0, 10.0, console=console)
    try:
        bars.window_started("w", 0.0, 10.0)
        t0 = time.time()
        # 100 requests/s for 3 s, then 1,000/s: the rate shown follows the latest second.
        for i in range(7):
            bars.requests(50 * i, t0 + 0.5 * i)
        for i in range(1, 4):
            bars.requests(300 + 500 * i, t0 + 3 + 0.5 * i)
        bars._bars.refresh()
    finally:
        bars.close()
    assert "1,000 req/s" in text.getvalue()


def _run_in_pty(*args: str) -> tuple[int, str]:
    """python -m harness ARGS with stdout and stderr on a terminal; (exit code, output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args], cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
        stdout=slave, stderr=slave, env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
    )  # fmt: skip
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        code = proc.wait(timeout=240)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
@pytest.mark.cpus
def test_a_run_on_a_terminal_draws_live_bars(tmp_path: Path) -> None:
    code, shown = _run_in_pty("run", str(TINY), "--results-dir", str(tmp_path))
    assert code == 0, shown[-3000:]
    # The window in progress, its phase and the requests/s Locust reported while it ran.
    rates = [int(n.replace(",", "")) for n in re.findall(r"measure\s+([\d,]+) req/s", shown)]
    assert rates and max(rates) > 0, shown[-3000:]
    assert "fastapi-async@uvicorn-w1__json__u4__r1" in shown and "warm-up" in shown
    assert re.search(r"\d/4 windows\s+ETA \d", shown)
    # The lines are there too, and the bars are gone by the closing table.
    assert "[4/4] " in shown and "results: " in shown
    closing = shown[re.search(r"stack\s+mix\s+users", shown).start() :]  # type: ignore[union-attr]
    assert "req/s" not in closing
    # Locust's live files are read and removed with their window.
    (run,) = tmp_path.iterdir()
    assert not list((run / "rounds").rglob("live-*.json"))
