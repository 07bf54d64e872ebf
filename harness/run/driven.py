"""One Locust process per round of the rounds design, driven window by window through files
in a control directory (the other side: scenarios/locustfiles/_rounds.py).

start() spawns Locust pinned to the load CPUs with the round's largest user count and
waits for `ready.json`; run_window() writes `window-<k>.json`, waits for
`window-<k>.done.json` while watching Locust and the window's server, and returns the
window's records; stop() writes `quit` and stops the process group. With a live feed (a
terminal's progress bar), Locust also writes `live-<k>.json`, the window's requests so far,
twice a second, and the harness passes each new one on.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import LoadError
from harness.core.paths import REPO_ROOT
from harness.plan.cells import Cell
from harness.plan.scenario import LoadSpec
from harness.results.records import read_records
from harness.run import loadgen
from harness.run.faults import DEADLINE_GRACE_S, ServerExitedError
from harness.run.launch import log_tail
from harness.run.progress import LiveFeed
from harness.run.session import Session

POLL_S = 0.005
READY_TIMEOUT_S = 60.0
# After the quit file, Locust gets this long to end by itself before its group is stopped.
QUIT_WAIT_S = 5.0
# Between windows the users finish their requests and idle: the load goes on this long
# past the measure window, so that it ends under full load.
TAIL_S = 0.1
# How often the harness looks for a new live-<k>.json (Locust writes one every 0.5 s).
LIVE_READ_S = 0.25


@dataclass(frozen=True)
class WindowLoad:
    """What Locust reported of one window, and its output as the isolated design has it."""

    output: loadgen.LoadOutput
    users_joined: int
    users_killed: int
    took_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "users_joined": self.users_joined,
            "users_killed": self.users_killed,
            "window_s": round(self.took_s, 3),
        }


def window_budget_s(load: LoadSpec) -> float:
    """The longest a window may take: warm-up, measure, tail and the drain."""
    return load.warmup_s + load.measure_s + TAIL_S + loadgen.stop_timeout_s(load)


class DrivenLocust:
    """The Locust process of one round; `argv` for cell.json."""

    def __init__(
        self,
        session: Session,
        load: LoadSpec,
        cpus: tuple[int, ...],
        control_dir: Path,
        users: int,
        windows: int,
        feed: LiveFeed | None = None,
    ) -> None:
        self._session = session
        self._feed = feed
        self._load = load
        self._cpus = cpus
        self.control_dir = control_dir
        self._users = users
        self._windows = windows
        self._next = 1
        self.proc: subprocess.Popen[bytes] | None = None
        self.argv: list[str] = []

    @property
    def log_path(self) -> Path:
        return self.control_dir / "locust.log"

    def start(self) -> None:
        """Spawn Locust and wait until every user runs (ready.json)."""
        self.control_dir.mkdir(parents=True, exist_ok=True)
        load = self._load
        # An upper bound only: the harness ends the process with the quit file.
        run_time = math.ceil(load.spawn_margin_s + self._windows * (window_budget_s(load) + 5))
        self.argv = [
            sys.executable, "-m", "locust", "-f", str(load.locustfile), "--headless",
            # A placeholder: every window names its own stack's URL.
            "--host", "http://127.0.0.1:9",
            "--users", str(self._users), "--spawn-rate", str(self._users),
            "--run-time", f"{run_time}s", "--stop-timeout", "1",
            "--exit-code-on-error", "0", "--loglevel", "WARNING", "--only-summary",
        ]  # fmt: skip
        env = {
            **os.environ,
            "PWB_CONTROL_DIR": str(self.control_dir),
            "PWB_CLIENT": load.client,
            "PWB_REQUEST_TIMEOUT_S": f"{load.request_timeout_s:g}",
            **self._session.load_env,
        }
        self.proc = self._session.procs.spawn(
            self.argv, cpus=self._cpus, env=env, log_path=self.log_path, cwd=REPO_ROOT
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (self.control_dir / "ready.json").exists():
            self._check_alive("before its users ran")
            if time.monotonic() > deadline:
                raise LoadError(
                    f"Locust did not start its {self._users} users within {READY_TIMEOUT_S:g} s; "
                    f"log tail:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.02)

    def _check_alive(self, when: str) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise LoadError(
                f"Locust exited with code {self.proc.returncode} {when}; log tail:\n"
                f"{log_tail(self.log_path)}"
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def run_window(
        self,
        cell: Cell,
        url: str,
        source: str | None,
        server: subprocess.Popen[bytes] | None,
        server_log: Path | None,
    ) -> WindowLoad:
        """Load url with the cell's mix and users for one window; raises ServerExitedError
        when the server exits meanwhile, LoadError when Locust does or overruns."""
        load, k = self._load, self._next
        self._next += 1
        spec = {
            "cell": cell.id, "host": url, "source": source, "users": cell.users,
            "target_rps": float(cell.target_rps or 0), "mix": json.loads(cell.mix.to_json()),
            "warmup_s": load.warmup_s, "measure_s": load.measure_s, "tail_s": TAIL_S,
            "stop_timeout_s": load.stop_timeout_s, "live": self._feed is not None,
        }  # fmt: skip
        path = self.control_dir / f"window-{k}.json"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(spec))
        t0 = time.monotonic()
        os.replace(tmp, path)
        if self._feed is not None:
            self._feed.window_started(cell.id, load.warmup_s, load.measure_s)
        live = self.control_dir / f"live-{k}.json"
        next_read, seen = t0, 0.0
        done = self.control_dir / f"window-{k}.done.json"
        deadline = t0 + window_budget_s(load) + DEADLINE_GRACE_S
        while not done.exists():
            if self._feed is not None and time.monotonic() >= next_read:
                next_read += LIVE_READ_S
                seen = self._pass_on(live, seen)
            if server is not None and server.poll() is not None:
                tail = log_tail(server_log) if server_log is not None else ""
                raise ServerExitedError(
                    f"server exited with code {server.returncode} during the load; "
                    f"log tail:\n{tail}"
                )
            self._check_alive(f"during window {k}")
            if time.monotonic() > deadline:
                raise LoadError(
                    f"window {k} still running {deadline - t0:g} s after it started; log "
                    f"tail:\n{log_tail(self.log_path)}"
                )
            time.sleep(POLL_S)
        took = time.monotonic() - t0
        report = json.loads(done.read_text())
        requests_file = self.control_dir / f"requests.{k}.csv"
        records = read_records(requests_file)
        requests_file.unlink()
        live.unlink(missing_ok=True)
        records.sort(key=lambda r: r.t_start)
        output = loadgen.LoadOutput(
            records=records,
            spawn_complete_at=float(report["start"]),
            locust_requests=int(report["locust_requests"]),
            locust_failures=None,
            per_process={str(self.proc.pid if self.proc else 0): {"records": len(records)}},
        )
        return WindowLoad(output, int(report["users_joined"]), int(report["users_killed"]), took)

    def _pass_on(self, live: Path, seen: float) -> float:
        """Hand the feed a live-<k>.json newer than the one seen (its time); a missing
        or half-read file waits for the next look."""
        try:
            report = json.loads(live.read_text())
            at, count = float(report["at"]), int(report["requests"])
        except (OSError, ValueError, KeyError, TypeError):
            return seen
        if at > seen and self._feed is not None:
            self._feed.requests(count, at)
        return max(at, seen)

    def stop(self) -> None:
        """Tell the process to quit (it writes its summary), then stop its group; after
        Ctrl-C or SIGTERM at once."""
        if self.proc is None:
            return
        (self.control_dir / "quit").touch()
        if not self._session.procs.interrupted:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=QUIT_WAIT_S)
        self._session.procs.stop(self.proc)
