"""Per-request records and the end of the load, in one Locust process or spread over a
master and its workers (Locust's --processes N, or --master with workers on other hosts).

Each process finds its role in the runner Locust made for it:
- local (no master): lines go to OUTPUT_DIR/requests.<pid>.csv; STOP_AFTER_S after
  spawning completed the process quits; at quitting it writes spawn.<pid>.json.
- worker: lines go to an anonymous temporary file on the worker's own host. On the
  master's "pwb_stop" message the worker stops its users, sends Locust's last stats report,
  then its file in chunks ("pwb_records") and "pwb_done" with its line and user counts.
  ZeroMQ keeps one worker's messages in order, so the master has that worker's final
  stats and every chunk when its "pwb_done" arrives. Nothing is written in OUTPUT_DIR.
- master: runs no users. Spawning completes when every worker reported its users running
  (Locust's spawning_complete on the master); STOP_AFTER_S later it sends "pwb_stop" to
  every worker, writes each worker's chunks to OUTPUT_DIR/requests.w<index>.csv (Locust's
  worker index: unique per master), waits for every "pwb_done" (at most DONE_TIMEOUT_S)
  and quits. spawn.master.json holds Locust's aggregated totals and each worker's counts.
So there is one measure window for all workers, set by the master's clock: the hosts'
clocks must agree (NTP) for the window to fit the workers' t_start values.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import gevent
from gevent.event import Event
from locust.runners import MasterRunner, WorkerRunner

# Characters per "pwb_records" message: ZeroMQ takes far more, but a worker's file can be
# tens of megabytes and one message is held in memory whole on both sides.
CHUNK_CHARS = 1 << 20
# The master waits this long after "pwb_stop" for every worker's records.
DONE_TIMEOUT_S = 120.0
BUFFER_BYTES = 4 * 1024 * 1024


def _open(path: Path) -> TextIO:
    return path.open("w", buffering=BUFFER_BYTES, encoding="ascii", newline="\n")


class Records:
    """The sink of this process's request lines and the end-of-load logic of its role."""

    def __init__(self, output_dir: Path, stop_after_s: float) -> None:
        self.output_dir = output_dir
        self.stop_after_s = stop_after_s
        # Opened at init, not import: with --processes Locust imports, then forks.
        self.file: TextIO | None = None
        self.spawn: dict[str, Any] = {"pid": os.getpid(), "spawn_complete_at": None}
        self.environment: Any = None
        # Master only: per worker id, its file, its line count, and its "pwb_done" data.
        self._files: dict[str, TextIO] = {}
        self._received: dict[str, int] = {}
        self._workers: dict[str, dict[str, Any]] = {}
        self._expected: set[str] = set()
        self._all_done = Event()

    @property
    def role(self) -> str:
        runner = self.environment.runner if self.environment is not None else None
        if isinstance(runner, MasterRunner):
            return "master"
        return "worker" if isinstance(runner, WorkerRunner) else "local"

    def init(self, environment: Any) -> None:
        """Open the sink for this process's role and register the role's messages."""
        self.environment = environment
        self.spawn["pid"] = os.getpid()
        role = self.role
        self.spawn["role"] = role
        if role == "local":
            self.file = _open(self.output_dir / f"requests.{os.getpid()}.csv")
        elif role == "worker":
            # Kept open for the whole load and closed in quitting(): no `with` fits.
            self.file = tempfile.TemporaryFile(  # noqa: SIM115
                "w+", buffering=BUFFER_BYTES, encoding="ascii", newline="\n"
            )
            environment.runner.register_message("pwb_stop", self._worker_stop)
        else:
            environment.runner.register_message("pwb_records", self._master_chunk)
            environment.runner.register_message("pwb_done", self._master_done)

    def spawning_complete(self, user_count: int) -> None:
        """Only the first completion marks the start of steady load; a worker waits for
        the master's "pwb_stop" instead of its own timer."""
        if self.spawn["spawn_complete_at"] is not None or self.role == "worker":
            return
        self.spawn["spawn_complete_at"] = time.time()
        self.spawn["user_count"] = user_count
        if self.stop_after_s > 0:
            stop = self._master_stop if self.role == "master" else self.environment.runner.quit
            gevent.spawn_later(self.stop_after_s, stop)

    def quitting(self, environment: Any) -> None:
        """Close the sink; local and master write their spawn file."""
        if self.file is not None:
            self.file.close()
        role = self.role
        if role == "worker":
            return
        total = environment.stats.total
        self.spawn["locust_requests"] = total.num_requests
        self.spawn["locust_failures"] = total.num_failures
        name = f"spawn.{os.getpid()}.json"
        if role == "master":
            for f in self._files.values():
                f.close()
            self.spawn["workers"] = self._workers
            self.spawn["workers_missing"] = sorted(self._expected - self._done_ids())
            name = "spawn.master.json"
        (self.output_dir / name).write_text(json.dumps(self.spawn))

    # Worker side.
    def _worker_stop(self, environment: Any, msg: Any) -> None:
        runner = environment.runner
        runner.stop()
        # Locust's own last report (its quit message sends one too, after our records).
        runner._send_stats()
        file = self.file
        assert file is not None
        file.flush()
        file.seek(0)
        lines = 0
        while chunk := file.read(CHUNK_CHARS):
            lines += chunk.count("\n")
            runner.send_message("pwb_records", {"chunk": chunk})
        users = sum(runner.final_user_classes_count.values())
        runner.send_message(
            "pwb_done",
            {"records": lines, "users": users, "host": socket.gethostname(), "pid": os.getpid()},
        )

    # Master side.
    def _master_stop(self) -> None:
        runner = self.environment.runner
        self._expected = {client.id for client in runner.clients.all}
        runner.send_message("pwb_stop")
        self._all_done.wait(timeout=DONE_TIMEOUT_S)
        runner.quit()

    def _worker_file(self, node_id: str) -> TextIO:
        if node_id not in self._files:
            index = self.environment.runner.get_worker_index(node_id)
            self._files[node_id] = _open(self.output_dir / f"requests.w{index}.csv")
            self._received[node_id] = 0
        return self._files[node_id]

    def _master_chunk(self, environment: Any, msg: Any) -> None:
        chunk = msg.data["chunk"]
        self._worker_file(msg.node_id).write(chunk)
        self._received[msg.node_id] += chunk.count("\n")

    def _master_done(self, environment: Any, msg: Any) -> None:
        self._worker_file(msg.node_id).flush()
        index = environment.runner.get_worker_index(msg.node_id)
        self._workers[f"w{index}"] = {
            **msg.data,
            "client_id": msg.node_id,
            "received": self._received[msg.node_id],
        }
        if self._expected <= self._done_ids():
            self._all_done.set()

    def _done_ids(self) -> set[str]:
        return {w["client_id"] for w in self._workers.values()}
