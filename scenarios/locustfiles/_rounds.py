"""Driven load: one Locust process serves every window of a round, told what to send by the
harness through files in a control directory (PWB_CONTROL_DIR, set by harness/run/driven.py).

The process spawns the round's largest user count once and writes `ready.json`. Then, for
k = 1, 2, ...: the harness writes `window-<k>.json` (the stack's URL, the client's source
address, the mix, the users, the target rate, warm-up, measure, tail and drain times);
the first `users` users connect to that URL and send the mix until warm-up + measure +
tail have passed, then finish the request they are in and idle. A request still in
flight `stop_timeout_s` later is cut off (reported with status -1, as when Locust stops
a user) and its user idles too. The window's records go to `requests.<k>.csv`, then
`window-<k>.done.json` says the window is over: when it started, how many users took
part, how many requests were cut off, and Locust's own request count for the window.
When the window asks for it (`live`: a terminal shows a progress bar), the requests
completed so far are written to `live-<k>.json` every LIVE_S while it runs.
A `quit` file, or the harness's death (the parent changes), ends the process.

Every window starts its users on fresh connections, from its own source address when one
is given (LeanHttpUser binds it): TIME_WAIT sockets of earlier windows never share a
4-tuple with the new ones, so no window waits for them to drain.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from gevent import GreenletExit
from gevent.event import Event

POLL_S = 0.005
# After the drain, the users killed for their cut-off requests get this long to idle.
KILL_WAIT_S = 2.0
LIVE_S = 0.5


class WindowCutOff(GreenletExit):
    """Thrown into a user whose request outlived the window's drain: the clients report
    the request as cut off (lean.py, _cutoff.py) and the user idles."""


@dataclass
class Window:
    index: int
    cell: str
    host: str
    source: str | None
    users: int
    target_rps: float
    mix: dict[str, Any]
    warmup_s: float
    measure_s: float
    tail_s: float
    stop_timeout_s: float
    live: bool = False
    start: float = 0.0

    @property
    def stop_at(self) -> float:
        return self.start + self.warmup_s + self.measure_s + self.tail_s


Tasks = tuple[Sequence[Callable[..., None]], Sequence[int]]


def _say(message: str) -> None:
    """To the log, unless the log's disk is the one that is full."""
    with contextlib.suppress(OSError):
        print(message, file=sys.stderr, flush=True)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Driven:
    """The records sink of a driven Locust process, and the loop that runs its windows.

    make_tasks(mix) gives a window's task functions and weights; new_client(user, url,
    source) a fresh client for a user (closing its old one)."""

    def __init__(
        self,
        control_dir: Path,
        make_tasks: Callable[[dict[str, Any], float], Tasks],
        new_client: Callable[[Any, str, str | None], None],
    ) -> None:
        self.control_dir = control_dir
        self.file: io.StringIO = io.StringIO()
        self.environment: Any = None
        self._make_tasks = make_tasks
        self._new_client = new_client
        self._window: Window | None = None
        self._tasks: Tasks = ((), ())
        self._changed = Event()
        self._busy: dict[int, Any] = {}
        self._joined = 0
        self._next_index = 0
        self._parent = os.getppid()
        self._requests_before = 0
        self._started = False

    def init(self, environment: Any) -> None:
        self.environment = environment

    def spawning_complete(self, user_count: int) -> None:
        """Every user runs: the harness may send the first window."""
        if self._started:
            return
        self._started = True
        ready = {"pid": os.getpid(), "users": user_count, "at": time.time()}
        try:
            _write(self.control_dir / "ready.json", json.dumps(ready))
        except OSError as exc:
            # A full disk: end at once, so the harness need not wait out --run-time. From
            # a greenlet of its own: this one is the spawner, which quit() kills first.
            gevent.spawn(self.environment.runner.quit)
            _say(f"cannot write ready.json: {exc}")
            return
        gevent.spawn(self._control)

    def quitting(self, environment: Any) -> None:
        """Nothing to flush: every window wrote its records when it ended."""

    # The harness's side: one window after another.
    def _wait_for(self, path: Path) -> bool:
        """True when path exists; False when told to quit or the harness is gone."""
        quit_file = self.control_dir / "quit"
        while not path.exists():
            if quit_file.exists() or os.getppid() != self._parent:
                return False
            gevent.sleep(POLL_S)
        return True

    def _control(self) -> None:
        k = 1
        try:
            while self._wait_for(self.control_dir / f"window-{k}.json"):
                spec = json.loads((self.control_dir / f"window-{k}.json").read_text())
                done = self._run(Window(index=k, **spec))
                (self.control_dir / f"requests.{k}.csv").write_text(done.pop("records_text"))
                _write(self.control_dir / f"window-{k}.done.json", json.dumps(done))
                k += 1
        except OSError as exc:
            # A full disk: the process ends, so the harness sees at once that the window
            # failed instead of waiting for its deadline.
            self.environment.runner.quit()
            _say(f"window {k}: cannot write its records: {exc}")
            raise
        self.environment.runner.quit()

    def _run(self, window: Window) -> dict[str, Any]:
        self._tasks = self._make_tasks(window.mix, window.target_rps)
        self.file = io.StringIO()
        self._joined = 0
        window.start = time.time()
        self._window = window
        changed, self._changed = self._changed, Event()
        changed.set()
        reporter = gevent.spawn(self._report_live, window) if window.live else None
        gevent.sleep(max(0.0, window.stop_at - time.time()))
        if reporter is not None:
            reporter.kill(block=False)
        deadline = time.monotonic() + window.stop_timeout_s
        while self._busy and time.monotonic() < deadline:
            gevent.sleep(POLL_S)
        killed = list(self._busy.values())
        for greenlet in killed:
            greenlet.kill(WindowCutOff, block=False)
        deadline = time.monotonic() + KILL_WAIT_S
        while self._busy and time.monotonic() < deadline:
            gevent.sleep(POLL_S)
        text, self.file = self.file.getvalue(), io.StringIO()
        total = self.environment.stats.total
        requests, self._requests_before = (
            total.num_requests - self._requests_before,
            total.num_requests,
        )
        return {
            "cell": window.cell,
            "start": window.start,
            "ended": time.time(),
            "users_joined": self._joined,
            "users_killed": len(killed),
            "locust_requests": requests,
            "records": text.count("\n"),
            "records_text": text,
        }

    def _report_live(self, window: Window) -> None:
        """live-<k>.json every LIVE_S: the window's requests so far, for the progress bar."""
        path = self.control_dir / f"live-{window.index}.json"
        while True:
            gevent.sleep(LIVE_S)
            count = self.environment.stats.total.num_requests - self._requests_before
            with contextlib.suppress(OSError):  # a full disk: the bar waits, the load goes on
                _write(path, json.dumps({"at": time.time(), "requests": count}))

    # The users' side: the one task of a driven user, which returns only when Locust stops it.
    def serve(self, user: Any) -> None:
        index = self._next_index
        self._next_index += 1
        seen = 0
        while True:
            window = self._window
            if (
                window is None
                or window.index == seen
                or index >= window.users
                or time.time() >= window.stop_at
            ):
                self._changed.wait()
                continue
            seen = window.index
            self._joined += 1
            self._busy[index] = gevent.getcurrent()
            try:
                self._send(user, window, index)
            except WindowCutOff:
                pass
            finally:
                self._busy.pop(index, None)

    def _send(self, user: Any, window: Window, index: int) -> None:
        self._new_client(user, window.host, window.source)
        tasks, weights = self._tasks
        if window.target_rps > 0:
            # Open loop: this user's share of the rate, staggered by 1 / rate.
            user.interval = window.users / window.target_rps
            user.next_at = window.start + (index % window.users) / window.target_rps
        while time.time() < window.stop_at:
            if window.target_rps > 0 and user.next_at >= window.stop_at:
                gevent.sleep(max(0.0, window.stop_at - time.time()))
                break
            random.choices(tasks, weights)[0](user)
