"""The wrk cross-check: after Locust's measurement, the same server, concurrency and pinning
measured with wrk (`wrk -t1 -c<users> -d<measure_s> -s mix.lua`, pinned to the load CPUs).

wrk drives the mix's GET paths in proportion to their weights: a Lua script written into
the cell directory (`wrk.lua`) whose request() cycles through a precomputed list of paths,
spread evenly (smooth weighted round robin). The paths come from the task kinds
(apps/contract/tasks.toml): a kind that sends several GETs in order contributes each with
the kind's weight, a rotating one (static) shares the weight among its paths. Kinds that
need more than GETs without state stay out (crud: its PUT and DELETE need the id its POST
returned) and are recorded as left out; a mix with nothing left is not cross-checked.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

from apps.contract.tasks import task_kinds
from harness.core.errors import HarnessError, ScenarioError
from harness.core.paths import REPO_ROOT
from harness.core.procs import ProcessRegistry, cpu_list
from harness.plan.scenario import Mix, Scenario

TOOLS = ("wrk",)
WRK = "wrk"
SCRIPT_NAME = "wrk.lua"

_SAFE_PATH = re.compile(r"^/[A-Za-z0-9/_.?=&-]*$")
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


@dataclass(frozen=True)
class WrkPlan:
    """What wrk drives for a mix: GET paths with their weights, and the kinds left out."""

    paths: dict[str, int]
    left_out: tuple[str, ...]

    def sequence(self) -> list[str]:
        """One cycle of requests: each path weight / gcd times, spread evenly (smooth
        weighted round robin, as nginx balances upstreams)."""
        divisor = reduce(math.gcd, self.paths.values())
        weights = {path: w // divisor for path, w in self.paths.items()}
        total = sum(weights.values())
        current = dict.fromkeys(weights, 0)
        out = []
        for _ in range(total):
            for path, w in weights.items():
                current[path] += w
            chosen = max(current, key=lambda p: current[p])  # first on ties
            current[chosen] -= total
            out.append(chosen)
        return out

    def columns(self) -> dict[str, str]:
        """cells.csv's wrk_paths ("path*weight" joined by ";") and wrk_left_out."""
        return {
            "wrk_paths": ";".join(f"{p}*{w}" for p, w in self.paths.items()),
            "wrk_left_out": ";".join(self.left_out),
        }


def mix_plan(mix: Mix) -> WrkPlan:
    """The mix's stateless GET kinds as paths with their weights; the others left out.

    A task of a rotating kind sends one of its n paths, so each path gets 1/n of the kind's
    weight: every weight is scaled by the least common multiple of the rotations' lengths
    to stay whole."""
    kinds = task_kinds()
    params = dict(mix.params)
    sendable = [(kinds[k], w) for k, w in mix.weights if kinds[k].stateless_gets]
    scale = math.lcm(*(len(k.requests) for k, _ in sendable if k.rotate)) if sendable else 1
    paths: dict[str, int] = {}
    for kind, weight in sendable:
        share = scale * weight // len(kind.requests) if kind.rotate else scale * weight
        for path in kind.paths(params):
            paths[path] = paths.get(path, 0) + share
    left_out = tuple(k for k, _ in mix.weights if not kinds[k].stateless_gets)
    return WrkPlan(paths, left_out)


def lua_script(plan: WrkPlan) -> str:
    """wrk's script: request() cycles through plan.sequence()."""
    sequence = plan.sequence()
    for path in sequence:
        if not _SAFE_PATH.match(path):
            raise CrosscheckError(f"wrk: refusing to write path {path!r} into a Lua script")
    # A JSON string of these characters is a valid Lua string literal.
    listed = ",\n".join(f"  {json.dumps(p)}" for p in sequence)
    return (
        "-- Written by harness/measure/crosscheck.py: the mix's GET paths in proportion to their\n"
        "-- weights, one cycle of the list after another.\n"
        f"local paths = {{\n{listed},\n}}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n % #paths + 1\n"
        '  return wrk.format("GET", paths[n])\n'
        "end\n"
    )


@dataclass(frozen=True)
class WrkResult:
    rps: float
    paths: dict[str, int]
    left_out: list[str]
    script: str
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
    plan: WrkPlan,
    users: int,
    seconds: float,
    cpus: tuple[int, ...],
    cell_dir: Path,
    *,
    close: bool = False,
) -> WrkResult:
    """wrk against url (http or https) for `seconds` with `users` connections on one
    thread, pinned, driving the plan's paths through cell_dir/wrk.lua; its output goes to
    cell_dir/wrk.log. close: every request asks the server to close its connection, as the
    load's clients do with client_keepalive = false (wrk then reconnects)."""
    script = cell_dir / SCRIPT_NAME
    script.write_text(lua_script(plan))
    log_path = cell_dir / "wrk.log"
    argv = [
        shutil.which(WRK) or WRK,
        "-t1",
        f"-c{users}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        *(["-H", "Connection: close"] if close else []),
        "-s",
        str(script),
        url + "/",
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
    return WrkResult(rps, plan.paths, list(plan.left_out), SCRIPT_NAME, non_2xx, sock, argv)


def plans(scenario: Scenario) -> dict[str, dict[str, object]] | None:
    """For metadata.json: per mix, the paths wrk drives and the kinds it leaves out."""
    if scenario.load.crosscheck is None:
        return None
    return {
        mix.name: {"paths": plan.paths, "left_out": list(plan.left_out)}
        for mix, plan in ((m, mix_plan(m)) for m in scenario.mixes)
    }


def with_tool(scenario: Scenario, tool: str) -> Scenario:
    """The scenario with load.crosscheck set (the run command's --crosscheck)."""
    return dataclasses.replace(scenario, load=dataclasses.replace(scenario.load, crosscheck=tool))
