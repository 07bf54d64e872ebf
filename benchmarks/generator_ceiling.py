"""How fast can each load generator go? FastHttpUser vs LeanHttpUser vs wrk on GET /json.

For each stack the server runs pinned to the server CPUs and each generator, pinned to the
load CPUs, keeps a fixed number of connections (users) busy in a closed loop: warm-up, then
a measured window, repeated, generators interleaved. Every generator does what it does
naturally: wrk sends no "Connection: close" (Locust does not either) and reconnects when a
server closes. Before each measurement the machine must be quiet (other processes using
little CPU); a window that other work disturbed anyway is measured again.

    python -m benchmarks.generator_ceiling                  # default stacks + default.toml
    python -m benchmarks.generator_ceiling --stacks raw-asgi@granian-asgi-w1 --repeats 1

Writes benchmarks/results/generator_ceiling.csv and .md and prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import psutil

from benchmarks import ceiling_report
from benchmarks.ceiling_runs import (
    FLOOR_LABEL,
    Config,
    Measurement,
    Target,
    measure_floor,
    measure_locust,
    measure_wrk,
)
from harness.core.errors import HarnessError
from harness.core.paths import REPO_ROOT
from harness.core.procs import ProcessRegistry
from harness.measure import cpuspeed
from harness.plan.scenario import load_scenario
from harness.plan.stacks import Stack, parse_stack_id
from harness.run.launch import HOST, free_port, start, wait_healthy
from harness.run.session import open_session

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_SCENARIO = REPO_ROOT / "scenarios" / "default.toml"
DEFAULT_STACKS = (
    "raw-asgi@granian-asgi-w1",
    "fastapi-async@uvicorn-w1",
    "flask@gunicorn-sync-w1",
    "flask@uwsgi-w1t1",  # --http-socket, "Connection: close" on every answer
)
GENERATORS: dict[str, Callable[[str, Target, Config], Measurement]] = {
    "wrk": measure_wrk,
    "lean": measure_locust,
    "fasthttp": measure_locust,
}


def plan_stacks(ids: Sequence[str], scenario: Path | None) -> list[Stack]:
    """The stacks named, then the scenario's, each once, in that order."""
    stacks = [parse_stack_id(i) for i in ids]
    if scenario is not None and scenario.exists():
        stacks += load_scenario(scenario).stacks
    unique: dict[str, Stack] = {}
    for stack in stacks:
        unique.setdefault(stack.id, stack)
    return list(unique.values())


def wait_until_quiet(cfg: Config) -> str:
    """Wait (up to cfg.quiet_wait_s) until no CPU is busier than cfg.quiet_pct; "" or a note."""
    deadline = time.monotonic() + cfg.quiet_wait_s
    while True:
        busiest = max(psutil.cpu_percent(interval=1.0, percpu=True))
        if busiest <= cfg.quiet_pct:
            return ""
        if time.monotonic() > deadline:
            return f"machine busy ({busiest:.0f}% on a CPU) when started"
        time.sleep(4.0)


def finished_rows(path: Path, cfg: Config) -> list[Measurement]:
    """The rows of an earlier run whose stacks have every generator and repeat measured."""
    if not path.exists():
        return []
    rows = ceiling_report.read_csv(path)
    finished = []
    for stack in dict.fromkeys(m.stack for m in rows):
        mine = [m for m in rows if m.stack == stack]
        wanted = ("floor",) if stack == FLOOR_LABEL else cfg.generators
        seen = {(m.generator, m.repeat) for m in mine}
        if all((g, r) in seen for g in wanted for r in range(1, cfg.repeats + 1)):
            finished += mine
    return finished


def probed(run: Callable[[], Measurement], cfg: Config) -> Measurement:
    """run() with the CPU speed probe on the server and load CPUs; the measurement gains
    their speeds in its window."""
    with cpuspeed.SpeedProbe([*cfg.server_cpus, *cfg.load_cpus]) as probe:
        m = run()
    start = m.ended_at - m.seconds
    return dataclasses.replace(
        m,
        server_speed=cpuspeed.speed(probe.samples, cfg.server_cpus, start, m.ended_at),
        load_speed=cpuspeed.speed(probe.samples, cfg.load_cpus, start, m.ended_at),
    )


def measure_once(run: Callable[[], Measurement], cfg: Config) -> list[Measurement]:
    """One measurement, repeated while other work disturbed it (all attempts returned)."""
    attempts: list[Measurement] = []
    for _ in range(cfg.max_attempts):
        note = wait_until_quiet(cfg)
        m = probed(run, cfg)
        attempts.append(dataclasses.replace(m, note="; ".join(filter(None, [note, m.note]))))
        if not m.disturbed(cfg):
            break
    return attempts


def _keep(rows: list[Measurement], attempts: list[Measurement], repeat: int) -> None:
    for m in attempts:
        rows.append(dataclasses.replace(m, repeat=repeat))
        print(ceiling_report.progress_line(rows[-1]), flush=True)


def measure_floor_repeats(cfg: Config, procs: ProcessRegistry, work: Path) -> list[Measurement]:
    """Locust's own cost per request (no server, no I/O), cfg.repeats times."""
    rows: list[Measurement] = []
    for repeat in range(1, cfg.repeats + 1):
        _keep(rows, measure_once(partial(measure_floor, cfg, procs, work), cfg), repeat)
    return rows


def measure_stack(
    stack: Stack, cfg: Config, procs: ProcessRegistry, env: dict[str, str], work: Path
) -> list[Measurement]:
    """Start the stack's server once and run every generator cfg.repeats times, interleaved."""
    port = free_port()
    running = start(
        procs, stack.argv(HOST, port), port, cpus=cfg.server_cpus, env=env,
        log_path=work / f"{stack.id}.log", stop_signal=stack.server.stop_signal,
    )  # fmt: skip
    rows: list[Measurement] = []
    target = Target.of_stack(stack, running.url, running.proc.pid, procs, work)
    try:
        wait_healthy(running, "/health", timeout=60)
        wait_healthy(running, "/json", timeout=10)
        for repeat in range(1, cfg.repeats + 1):
            # Rotate the order so that no generator always runs first on a fresh server.
            shift = (repeat - 1) % len(cfg.generators)
            for generator in cfg.generators[shift:] + cfg.generators[:shift]:
                run = partial(GENERATORS[generator], generator, target, cfg)
                _keep(rows, measure_once(run, cfg), repeat)
    finally:
        procs.stop(running.proc)
    return rows


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--stacks", nargs="*", default=list(DEFAULT_STACKS), help="stack ids")
    p.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="add its stacks")
    p.add_argument("--no-scenario", action="store_true", help="only the --stacks")
    p.add_argument("--generators", nargs="*", default=list(GENERATORS), choices=list(GENERATORS))
    p.add_argument("--connections", type=int, default=64, help="connections (wrk) = users")
    p.add_argument("--warmup", type=int, default=2, help="seconds")
    p.add_argument("--measure", type=int, default=10, help="seconds")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quiet-pct", type=float, default=15.0, help="CPU %% counted as quiet")
    p.add_argument("--quiet-wait", type=float, default=180.0, help="seconds to wait for quiet")
    p.add_argument("--no-floor", action="store_true", help="skip Locust's no-I/O floor")
    p.add_argument("--resume", action="store_true", help="keep the finished stacks of --out's CSV")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 2 with one line on stderr otherwise."""
    args = _parse_args(argv)
    cfg = Config(
        connections=args.connections, warmup_s=args.warmup, measure_s=args.measure,
        repeats=args.repeats, generators=tuple(args.generators),
        quiet_pct=args.quiet_pct, quiet_wait_s=args.quiet_wait,
    )  # fmt: skip
    try:
        stacks = plan_stacks(args.stacks, None if args.no_scenario else args.scenario)
        rows = finished_rows(args.out / "generator_ceiling.csv", cfg) if args.resume else []
        done = {m.stack for m in rows}
        with tempfile.TemporaryDirectory(prefix="ceiling-") as tmp:
            work = Path(tmp)
            with open_session(f"ceiling-{int(time.time())}", work, upstream_cpus=None) as session:
                if not args.no_floor and FLOOR_LABEL not in done:
                    rows += measure_floor_repeats(cfg, session.procs, work)
                for stack in (s for s in stacks if s.id not in done):
                    rows += measure_stack(stack, cfg, session.procs, session.env, work)
                    # Written after every stack: a long run cut short keeps what it measured.
                    ceiling_report.write(rows, cfg, args.out)
        paths = ceiling_report.write(rows, cfg, args.out)
    except HarnessError as exc:
        print(f"generator_ceiling: {exc}", file=sys.stderr)
        return 2
    print(ceiling_report.summary_markdown(rows, cfg))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
