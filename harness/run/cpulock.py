"""One run at a time per CPU: two runs pinned to the same CPUs measure each other.

A measuring command (run, calibrate, claims) holds a presence file in the system's
temporary folder (pywebbench-cpus/run-<pid>.lock) for as long as it runs: its name, pid,
start and CPUs, under an exclusive flock. The kernel drops the flock when the process
dies, however it dies, so a presence whose lock can be taken is a dead run's and is
removed. A run whose CPUs meet a live run's is refused with that run's name, unless it
allows running concurrently: then it goes on, and every window it measures names the
runs that shared its CPUs (the `concurrent` column, a flag in the report).

Holding is per process and nests: a run inside a claims command extends the claims'
presence with its CPUs and names it after itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError

LOCK_DIR = Path(tempfile.gettempdir()) / "pywebbench-cpus"
MUTEX = ".mutex"


class CpusBusyError(HarnessError):
    """Another run holds a CPU this run would use."""


@dataclass
class Holding:
    """This process's presence: what it says about itself, and its locked file."""

    name: str
    cpus: set[int]
    allow_concurrent: bool
    path: Path
    fd: int
    since: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def write(self) -> None:
        text = json.dumps(
            {"name": self.name, "pid": os.getpid(), "since": self.since, "cpus": sorted(self.cpus)}
        )
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, text.encode(), 0)

    def rename(self, name: str) -> None:
        self.name = name
        with _mutex():
            self.write()

    def others(self) -> list[str]:
        """The live runs sharing a CPU with this one now, each as 'name (pid, since, CPUs)'."""
        with _mutex():
            return [describe(other) for other in live_others(self.cpus)]

    def others_text(self) -> str:
        return "; ".join(self.others())


_held: Holding | None = None


def describe(presence: dict[str, Any]) -> str:
    cpus = ",".join(str(c) for c in presence.get("cpus", []))
    return (
        f"{presence.get('name', '?')} (pid {presence.get('pid', '?')}, since "
        f"{presence.get('since', '?')}, CPUs {cpus})"
    )


def _alive(path: Path) -> dict[str, Any] | None:
    """The presence in path when its run is alive; a dead run's file is removed."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # held: its run is alive
            raw = os.pread(fd, 4096, 0)
            try:
                presence = json.loads(raw.decode())
            except ValueError:
                presence = None
            # Being written right now, or not ours: it holds every CPU to be safe.
            if not isinstance(presence, dict):
                return {"name": path.name, "cpus": list(range(os.cpu_count() or 1))}
            return presence
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    finally:
        os.close(fd)


def live_others(cpus: Iterable[int]) -> list[dict[str, Any]]:
    """The presences of other live runs with a CPU in cpus (call under _mutex: a presence
    is rewritten under it)."""
    wanted = set(cpus)
    found: list[dict[str, Any]] = []
    if not LOCK_DIR.is_dir():
        return found
    for path in sorted(LOCK_DIR.glob("run-*.lock")):
        if path.name == f"run-{os.getpid()}.lock":
            continue
        presence = _alive(path)
        if presence is not None and wanted & set(presence.get("cpus", [])):
            found.append(presence)
    return found


@contextlib.contextmanager
def _mutex() -> Iterator[None]:
    """Checking for others and announcing oneself happen under one lock: two runs
    started at the same moment cannot both miss each other."""
    fd = os.open(LOCK_DIR / MUTEX, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _refuse(cpus: set[int], allow_concurrent: bool) -> None:
    others = live_others(cpus)
    if others and not allow_concurrent:
        raise CpusBusyError(
            f"CPUs {','.join(str(c) for c in sorted(cpus))} are in use by "
            + "; ".join(describe(o) for o in others)
            + ": two runs on the same CPUs measure each other. Wait for it to finish, or "
            "pass --allow-concurrent (every window is then flagged concurrent)"
        )


@contextlib.contextmanager
def holding(
    cpus: Iterable[int], name: str, *, allow_concurrent: bool | None = None
) -> Iterator[Holding]:
    """Hold cpus for the block under name; CpusBusyError when a live run shares one
    (unless allow_concurrent). Nested in a holding of this process, it extends that one
    (allow_concurrent None: as the outer one said; the outermost default is False)."""
    global _held
    wanted = set(cpus)
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        LOCK_DIR.chmod(0o1777)  # shared by every user's runs, like /tmp
    outer = _held
    if outer is not None:
        allow = outer.allow_concurrent if allow_concurrent is None else allow_concurrent
        with _mutex():
            _refuse(wanted - outer.cpus, allow)
            before = (set(outer.cpus), outer.name, outer.allow_concurrent)
            outer.cpus |= wanted
            outer.allow_concurrent = allow
            outer.name = name
            outer.write()
        try:
            yield outer
        finally:
            outer.cpus, outer.name, outer.allow_concurrent = before
            with _mutex():
                outer.write()
        return
    allow = bool(allow_concurrent)
    path = LOCK_DIR / f"run-{os.getpid()}.lock"
    with _mutex():
        _refuse(wanted, allow)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held = Holding(name, wanted, allow, path, fd)
        _held.write()
    try:
        yield _held
    finally:
        _held = None
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def current() -> Holding | None:
    """This process's holding, if any."""
    return _held
