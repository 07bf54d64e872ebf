"""The wrk cross-check: after Locust's measurement, the same server, concurrency and pinning
measured with wrk (`wrk -t1 -c<users> -d<measure_s>`, pinned to the load CPUs).

A mix becomes one path: its heaviest-weighted GET kind (crud, the only kind that writes,
falls back to GET /items?limit=20, the list it reads). Simple and comparable: wrk is the
ceiling reference for that endpoint, not a replay of the mix.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, ScenarioError
from harness.procs import ProcessRegistry, cpu_list
from harness.registry import REPO_ROOT
from harness.scenario import Mix, Scenario

TOOLS = ("wrk",)
WRK = "wrk"

_PATHS = {
    "json": "/json",
    "plaintext": "/plaintext",
    "db": "/db/query",
    "list": "/items?limit=20",
    "crud": "/items?limit=20",
    "sleep": "/io/sleep?ms={sleep_ms}",
    "upstream": "/io/upstream?ms={upstream_ms}",
    "cpu": "/cpu?n={cpu_n}",
    "static": "/static/app.js",
}
_RPS = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class CrosscheckError(HarnessError):
    """wrk failed or printed no rate."""


def require(tool: str | None) -> None:
    """Fail before anything starts when the cross-check tool is unknown or not installed."""
    if tool is None:
        return
    if tool not in TOOLS:
        raise ScenarioError(f"crosscheck: expected one of {', '.join(TOOLS)}, got {tool!r}")
    if shutil.which(WRK) is None:
        raise ScenarioError(
            "crosscheck: wrk is not installed (no `wrk` on PATH); run `make system-deps`"
        )


def mix_path(mix: Mix) -> str:
    """The path wrk requests for a mix: its heaviest-weighted kind (first on ties)."""
    kind = max(mix.weights, key=lambda kw: kw[1])[0]
    return _PATHS[kind].format(**dict(mix.params))


@dataclass(frozen=True)
class WrkResult:
    rps: float
    path: str
    non_2xx: int
    socket_errors: int
    argv: list[str]


def parse_wrk(text: str) -> tuple[float, int, int]:
    """(requests/s, non-2xx responses, socket errors) from wrk's output."""
    found = _RPS.search(text)
    if not found:
        raise CrosscheckError(f"wrk printed no Requests/sec line:\n{text[-800:]}")
    non_2xx = int(m.group(1)) if (m := _ERRORS.search(text)) else 0
    sock = sum(int(g) for g in m.groups()) if (m := _SOCKET_ERRORS.search(text)) else 0
    return float(found.group(1)), non_2xx, sock


def run_wrk(
    procs: ProcessRegistry,
    url: str,
    mix: Mix,
    users: int,
    seconds: float,
    cpus: tuple[int, ...],
    log_path: Path,
) -> WrkResult:
    """wrk against url for `seconds` with `users` connections on one thread, pinned."""
    path = mix_path(mix)
    argv = [
        shutil.which(WRK) or WRK,
        "-t1",
        f"-c{users}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        url + path,
    ]
    proc = procs.spawn(argv, cpus=cpus, env={}, log_path=log_path, cwd=REPO_ROOT)
    try:
        code = proc.wait(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise CrosscheckError(f"wrk still running {seconds + 30:g} s after its start") from None
    finally:
        procs.stop(proc)
    text = log_path.read_text(errors="replace")
    if code != 0:
        raise CrosscheckError(
            f"wrk exited with code {code} on cpus {cpu_list(cpus)}:\n{text[-800:]}"
        )
    rps, non_2xx, sock = parse_wrk(text)
    return WrkResult(rps, path, non_2xx, sock, argv)


def with_tool(scenario: Scenario, tool: str) -> Scenario:
    """The scenario with load.crosscheck set (the run command's --crosscheck)."""
    return dataclasses.replace(scenario, load=dataclasses.replace(scenario.load, crosscheck=tool))
