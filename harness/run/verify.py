"""`verify` (full contract checks over real HTTP) and `serve` (one stack in the foreground)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.core.errors import HarnessError
from harness.plan.cpus import CpuSets
from harness.plan.stacks import Stack
from harness.results.environment import utc_now
from harness.run.launch import free_port
from harness.run.services.front import Front, start_front
from harness.run.services.tls import verify_for
from harness.run.session import Session, open_session

Printer = Callable[[str], None]
DEFAULT_CPUS = CpuSets(server=(1,), load=(0,), upstream=(0,))
STARTUP_TIMEOUT_S = 30.0
# Past this many problem lines per stack the rest are counted, not printed.
MAX_LINES_PER_STACK = 25


@dataclass(frozen=True)
class Verdict:
    """The outcome for one stack: its ERROR problems, warnings, or why it could not start."""

    stack_id: str
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def _keep(wanted: tuple[int, ...], have: set[int]) -> tuple[int, ...]:
    return tuple(c for c in wanted if c in have) or (min(have),)


def _available_cpus(cpus: CpuSets) -> CpuSets:
    """The default sets, folded onto the first CPU on a one-CPU machine (verify only)."""
    have = os.sched_getaffinity(0)
    return CpuSets(_keep(cpus.server, have), _keep(cpus.load, have), _keep(cpus.upstream, have))


@contextmanager
def _temporary_session(label: str, cpus: CpuSets, tls: bool = False) -> Iterator[Session]:
    run_id = f"{label}-{utc_now().strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}"
    with (
        tempfile.TemporaryDirectory(prefix=f"pwb-{label}-") as tmp,
        open_session(run_id, Path(tmp), upstream_cpus=cpus.upstream, tls=tls) as session,
    ):
        yield session


def _start_stack(session: Session, stack: Stack, cpus: CpuSets) -> Front:
    """The stack's server (behind nginx for a +nginx stack), healthy; logs in work_dir."""
    stack_dir = session.work_dir / stack.id
    stack_dir.mkdir(exist_ok=True)
    front = start_front(
        stack, session.procs, free_port(), cpus=cpus.server, env=session.env,
        cell_dir=stack_dir, socket_parent=session.work_dir, tls=session.tls,
    )  # fmt: skip
    front.wait_healthy("/health", STARTUP_TIMEOUT_S)
    return front


def _check_stack(session: Session, stack: Stack, cpus: CpuSets) -> Verdict:
    from apps.contract.checks import Severity, run_checks

    try:
        front = _start_stack(session, stack, cpus)
    except HarnessError as exc:
        return Verdict(stack.id, (f"did not start: {exc}",), ())
    try:
        verify = verify_for(front.running.tls_ca)
        with httpx.Client(base_url=front.running.url, timeout=30.0, verify=verify) as client:
            problems = run_checks(client, quick=False)
    finally:
        session.procs.stop(front.running.proc)
        front.stop_proxy(session.procs)
    lines = [(p.severity, f"{p.check}: {p.reason} ({p.url})") for p in problems]
    return Verdict(
        stack.id,
        tuple(text for sev, text in lines if sev is Severity.ERROR),
        tuple(text for sev, text in lines if sev is not Severity.ERROR),
    )


def verify_stacks(stacks: list[Stack], out: Printer = print) -> list[Verdict]:
    """Start each stack in turn and run every contract check against it over HTTP (HTTPS
    for a +tls stack)."""
    cpus = _available_cpus(DEFAULT_CPUS)
    verdicts = []
    with _temporary_session("verify", cpus, any(s.tls for s in stacks)) as session:
        for i, stack in enumerate(stacks, start=1):
            t0 = time.monotonic()
            verdict = _check_stack(session, stack, cpus)
            verdicts.append(verdict)
            status = "ok" if verdict.ok else f"{len(verdict.errors)} problem(s)"
            extra = f", {len(verdict.warnings)} warning(s)" if verdict.warnings else ""
            took = time.monotonic() - t0
            out(f"[{i}/{len(stacks)}] {stack.id}: {status}{extra} ({took:.1f} s)")
            listed = [f"ERROR {e}" for e in verdict.errors] + [
                f"warning {w}" for w in verdict.warnings
            ]
            for line in listed[:MAX_LINES_PER_STACK]:
                out(f"    {line}")
            if len(listed) > MAX_LINES_PER_STACK:
                out(f"    ... and {len(listed) - MAX_LINES_PER_STACK} more")
    return verdicts


def serve(stack: Stack, out: Printer = print) -> None:
    """Run one stack (and the upstream service) until Ctrl-C or SIGTERM."""
    cpus = _available_cpus(DEFAULT_CPUS)
    with _temporary_session("serve", cpus, stack.tls) as session:
        running = _start_stack(session, stack, cpus).running
        out(f"{stack.id} serving at {running.url} (server log: {running.log_path})")
        out("press Ctrl-C to stop")
        while running.proc.poll() is None:
            time.sleep(0.5)
        raise HarnessError(f"{stack.id} exited with code {running.proc.returncode}")
