"""The net under the harness's own sudden death: SIGKILL, the OOM killer, a CI job's
timeout, a closed terminal. Signal handlers cannot run then, so a small process of its
own, started first in a session of its own, watches the harness through a pipe.

The harness writes a line on the pipe for every process group it starts ("group PGID")
and stops ("gone PGID"), and "done" when it has stopped everything itself. When the pipe
closes without "done" (its writer is gone), the reaper stops every group still listed
(SIGTERM, then SIGKILL a second later: server workers, which are grandchildren, share
their master's group) and every process carrying the run's PWB_RUN_ID, and exits.

    python -m harness.core.reaper RUN_ID      (stdin: the pipe)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import IO

from harness.core.marks import kill_marked
from harness.core.paths import REPO_ROOT

GRACE_S = 1.0


class Reaper:
    """The harness's side: the watching process and the pipe to it."""

    def __init__(self, run_id: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.core.reaper", run_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO_ROOT,
        )
        assert self.proc.stdin is not None
        self._pipe: IO[bytes] = self.proc.stdin

    def _say(self, line: str) -> None:
        with contextlib.suppress(BrokenPipeError, ValueError):
            self._pipe.write(f"{line}\n".encode())
            self._pipe.flush()

    def watch(self, pgid: int) -> None:
        self._say(f"group {pgid}")

    def forget(self, pgid: int) -> None:
        self._say(f"gone {pgid}")

    def done(self) -> None:
        """Everything is stopped: the reaper exits without touching anything."""
        self._say("done")
        with contextlib.suppress(BrokenPipeError, ValueError):
            self._pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


def _signal(pgids: set[int], sig: signal.Signals) -> None:
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def reap(run_id: str, pgids: set[int]) -> None:
    """Stop the groups (SIGTERM, then SIGKILL after GRACE_S) and the run's marked processes."""
    _signal(pgids, signal.SIGTERM)
    time.sleep(GRACE_S)
    _signal(pgids, signal.SIGKILL)
    kill_marked(run_id)


def main(argv: list[str]) -> int:
    """Read the pipe until it closes; reap unless told "done"."""
    run_id = argv[0]
    # The harness's Ctrl-C reaches its whole terminal's foreground group, not this session.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pgids: set[int] = set()
    for raw in sys.stdin.buffer:
        word, _, value = raw.decode(errors="replace").strip().partition(" ")
        if word == "group":
            pgids.add(int(value))
        elif word == "gone":
            pgids.discard(int(value))
        elif word == "done":
            return 0
    reap(run_id, pgids)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
