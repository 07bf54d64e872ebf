"""One measurement of one load generator against a running server: Locust (FastHttpUser or
LeanHttpUser, through benchmarks/ceiling_locustfile.py) or wrk."""

from __future__ import annotations

import json
import math
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.cpu_window import CpuSample, take_sample
from harness.core.errors import HarnessError
from harness.core.paths import REPO_ROOT
from harness.core.procs import ProcessRegistry
from harness.plan.stacks import Stack
from harness.run.launch import log_tail

WRK = "/usr/bin/wrk"
PATH = "/json"
LOCUSTFILE = Path(__file__).resolve().parent / "ceiling_locustfile.py"
LOCUST_CLASSES = {"lean": "Lean", "fasthttp": "FastHttp", "floor": "Floor"}
FLOOR_LABEL = "no server (Locust floor)"
# Beyond warm-up + measure: Locust's start (imports take ~2 s here) and its stop.
SLACK_S = 60
_WRK_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(ms|s|m)\b")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0}


class RunError(HarnessError):
    """A generator run that produced no figures."""


@dataclass(frozen=True)
class Config:
    """What every measurement of a benchmark run shares."""

    connections: int = 64
    warmup_s: int = 2
    measure_s: int = 10
    repeats: int = 3
    generators: tuple[str, ...] = ("wrk", "lean", "fasthttp")
    server_cpus: tuple[int, ...] = (1,)
    load_cpus: tuple[int, ...] = (0,)
    quiet_pct: float = 15.0
    quiet_wait_s: float = 180.0
    max_attempts: int = 3


@dataclass(frozen=True)
class Target:
    """What a measurement runs against, and what it needs around it."""

    label: str  # the stack id
    keepalive: bool
    url: str
    server_pid: int  # 0 when there is no server (Locust's floor)
    procs: ProcessRegistry
    work: Path

    @classmethod
    def of_stack(
        cls, stack: Stack, url: str, pid: int, procs: ProcessRegistry, work: Path
    ) -> Target:
        return cls(stack.id, stack.server.keepalive, url, pid, procs, work)


@dataclass(frozen=True)
class Measurement:
    """One measured window of one generator against one stack."""

    stack: str
    keepalive: bool
    generator: str
    repeat: int
    seconds: float
    responses: int  # answered and not failed
    failures: int  # failed requests, error statuses, socket errors
    generator_cpu_s: float
    generator_sys_s: float  # the kernel's part of generator_cpu_s
    server_cpu_s: float
    busy_cpu_s: float  # busy time of all CPUs together in the window
    errors: str
    note: str = ""
    ended_at: float = 0.0  # time.time() at the window's end
    # How fast the server's and the generator's CPUs ran in the window, loop iterations
    # per µs (harness/measure/cpuspeed.py); NaN when not probed.
    server_speed: float = math.nan
    load_speed: float = math.nan

    @property
    def rps(self) -> float:
        return self.responses / self.seconds

    def pct(self, cpu_s: float) -> float:
        return 100.0 * cpu_s / self.seconds

    @property
    def other_cpu_s(self) -> float:
        """Busy time that was neither the generator nor the server: other work."""
        return max(0.0, self.busy_cpu_s - self.generator_cpu_s - self.server_cpu_s)

    @property
    def generator_us_per_response(self) -> float:
        return 1e6 * self.generator_cpu_s / max(self.responses, 1)

    @property
    def generator_sys_us_per_response(self) -> float:
        return 1e6 * self.generator_sys_s / max(self.responses, 1)

    def disturbed(self, cfg: Config) -> bool:
        return self.pct(self.other_cpu_s) > cfg.quiet_pct


def _run(target: Target, cfg: Config, argv: list[str], name: str, env: dict[str, str]) -> str:
    """Run a generator pinned to the load CPUs to its end; its output (stdout + stderr)."""
    log = target.work / f"{target.label}.{name}.log"
    log.unlink(missing_ok=True)
    proc = target.procs.spawn(argv, cpus=cfg.load_cpus, env=env, log_path=log, cwd=REPO_ROOT)
    timeout = cfg.warmup_s + cfg.measure_s + 2 * SLACK_S
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunError(f"{name} did not finish within {timeout} s; log:\n{log_tail(log)}") from None
    finally:
        target.procs.stop(proc)
    return log.read_text(errors="replace")


def measure_locust(generator: str, target: Target, cfg: Config) -> Measurement:
    """A Locust run whose locustfile measures its own window after warm-up."""
    out = target.work / f"{target.label}.{generator}.json"
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    argv += ["-u", str(cfg.connections), "-r", str(cfg.connections), "--host", target.url]
    argv += ["--run-time", f"{cfg.warmup_s + cfg.measure_s + SLACK_S}s", "--only-summary"]
    argv += ["--loglevel", "WARNING", "--exit-code-on-error", "0", LOCUST_CLASSES[generator]]
    env = {
        **os.environ,
        "CEILING_WARMUP_S": str(cfg.warmup_s),
        "CEILING_MEASURE_S": str(cfg.measure_s),
        "CEILING_SERVER_PID": str(target.server_pid),
        "CEILING_OUT": str(out),
    }
    log = _run(target, cfg, argv, generator, env)
    if not out.exists():
        raise RunError(f"{generator} against {target.label} wrote no figures; log:\n{log[-3000:]}")
    result = json.loads(out.read_text())
    window = result["window"]
    return Measurement(
        stack=target.label,
        keepalive=target.keepalive,
        generator=generator,
        repeat=0,
        seconds=window["wall"],
        responses=result["requests"] - result["failures"],
        failures=result["failures"],
        generator_cpu_s=result["generator_cpu_s"],
        generator_sys_s=result["generator_sys_s"],
        server_cpu_s=window["server"],
        busy_cpu_s=sum(window["busy"]),
        errors="; ".join(result["errors"]),
        ended_at=result["ended_at"],
    )


def measure_floor(cfg: Config, procs: ProcessRegistry, work: Path) -> Measurement:
    """Locust's own cost per request without any I/O (the Floor user), nothing to talk to."""
    target = Target(FLOOR_LABEL, False, "http://127.0.0.1:9", 0, procs, work)
    return measure_locust("floor", target, cfg)


def parse_wrk(text: str) -> tuple[int, float, int, int]:
    """(responses, seconds, non-2xx/3xx responses, socket errors) from wrk's output."""
    total = _WRK_TOTAL.search(text)
    if total is None:
        raise RunError(f"no 'N requests in T' line in wrk's output:\n{text[-2000:]}")
    socket = _WRK_SOCKET.search(text)
    non2xx = _WRK_NON2XX.search(text)
    seconds = float(total[2]) * _UNIT_S[total[3]]
    errors = sum(int(n) for n in socket.groups()) if socket else 0
    return int(total[1]), seconds, int(non2xx[1]) if non2xx else 0, errors


def measure_wrk(generator: str, target: Target, cfg: Config) -> Measurement:
    """wrk -t1: a warm-up run, then the measured run."""
    base = [WRK, "-t1", f"-c{cfg.connections}", "--timeout", "10s"]
    url = target.url + PATH
    _run(target, cfg, [*base, f"-d{cfg.warmup_s}s", url], "wrk-warmup", {})
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sample0 = take_sample(target.server_pid)
    text = _run(target, cfg, [*base, f"-d{cfg.measure_s}s", url], "wrk", {})
    ended_at = time.time()
    window: CpuSample = take_sample(target.server_pid).minus(sample0)
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests, seconds, non2xx, socket_errors = parse_wrk(text)
    socket_line = _WRK_SOCKET.search(text)
    return Measurement(
        stack=target.label,
        keepalive=target.keepalive,
        generator=generator,
        repeat=0,
        seconds=seconds,
        responses=requests - non2xx,
        failures=non2xx + socket_errors,
        generator_cpu_s=(usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime),
        generator_sys_s=usage1.ru_stime - usage0.ru_stime,
        server_cpu_s=window.server * seconds / window.wall,
        busy_cpu_s=sum(window.busy) * seconds / window.wall,
        errors=socket_line[0] if socket_line and socket_errors else "",
        ended_at=ended_at,
    )
