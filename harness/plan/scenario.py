"""Scenario files (TOML): parsed and validated in full before anything starts.

Every problem is collected and reported as "<file>: <key path>: <problem>".
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from apps import toml_file
from apps.contract.tasks import TaskKind, TasksFileError, task_kinds
from harness.core.errors import ScenarioError
from harness.core.paths import REPO_ROOT
from harness.plan import registry
from harness.plan.capacity import parse_capacity
from harness.plan.cpus import AUTO, CpuSets, parse_cpus, worker_counts
from harness.plan.distribution import (
    DISTRIBUTION_KEYS,
    MASTER_PORT,
    endpoints,
    parse_distribution,
    target_stacks,
)
from harness.plan.services import SERVICE_KEYS, ServicesSpec, parse_services, proxy_axis
from harness.plan.stacks import Stack, invalid_reason, make_stack
from harness.results.capacity import CapacitySpec

LOCUSTFILE_DIR = REPO_ROOT / "scenarios" / "locustfiles"

TOP_KEYS = {"name", "description", "load", "cpus", "stacks", "mixes", "capacity", *SERVICE_KEYS}
CLIENTS = ("fasthttp", "lean")
CROSSCHECK_TOOLS = ("wrk",)
SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
SELECTOR_KEYS = {
    "apps", "servers", "workers", "threads", "skip_invalid", "proxy", "target", "db_pool_size",
    "tls", "instances",
}  # fmt: skip


DESIGNS = ("rounds", "isolated")


@dataclass(frozen=True)
class LoadSpec:
    """The [load] table. A field's default is the key's default (the README's table of
    [load] keys is checked against these by a test); fields without one are required."""

    warmup_s: float
    measure_s: float
    users: tuple[int, ...]
    locustfile: Path = LOCUSTFILE_DIR / "mix.py"
    # LeanHttpUser passed the contract checks on every stack of scenarios/default.toml
    # (harness/README.md: Load clients); FastHttpUser stays selectable.
    client: str = "lean"
    # Rounds: each measures every (stack, mix, level) window once, in a fresh order.
    rounds: int = 1
    # "rounds": every stack started once and kept warm, the windows of each round in a
    # fresh order, one Locust process per round; "isolated": a fresh server and Locust per
    # cell (distributed Locust, or a scenario that must not share a machine between stacks).
    design: str = "rounds"
    spawn_margin_s: float = 10.0
    stop_timeout_s: float = 2.0
    startup_timeout_s: float = 30.0
    # Locust users fail a request unanswered after this long (connect and whole response).
    request_timeout_s: float = 60.0
    # Fidelity (harness/measure/fidelity.py): calibrate the generator at the start of the run,
    # cross-check every cell with another tool ("wrk"), seed of the shuffled cell order.
    calibrate: bool = False
    crosscheck: str | None = None
    seed: int | None = None
    # Isolated design: before a cell without keep-alive, wait up to this long for TIME_WAIT
    # to drain (rounds give every window addresses of its own instead).
    time_wait_drain_s: float = 60.0
    # "closed": each user sends again when answered (levels: users); "open": a fixed
    # arrival rate per level (rates, requests/s), users = [pool size] (mix.py: open loop).
    mode: str = "closed"
    rates: tuple[int, ...] = ()
    # Distributed Locust (isolated design): processes > 1 forks a master and that many
    # workers on the load CPUs (--processes); load_workers > 0 starts a master that waits
    # for that many workers started by hand, possibly on other hosts, connecting to
    # master_host:master_port.
    processes: int = 1
    load_workers: int = 0
    master_host: str = "127.0.0.1"
    master_port: int = MASTER_PORT
    # How long the master waits for its workers to connect before the cell fails.
    workers_wait_s: float = 300.0

    @property
    def load_processes(self) -> int:
        """How many Locust processes run users: the workers, or the one local process."""
        return self.load_workers or self.processes


# The [load] keys: LoadSpec's fields (locustfile by its name in scenarios/locustfiles/),
# and the old names read with a warning: repeats (rounds), workers (load_workers).
LOAD_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(LoadSpec) if f.default is not MISSING
}
LOAD_KEYS = {f.name for f in fields(LoadSpec)} | DISTRIBUTION_KEYS | {"repeats"}


@dataclass(frozen=True)
class Mix:
    name: str
    weights: tuple[tuple[str, int], ...]
    params: tuple[tuple[str, int], ...]

    @property
    def needs_upstream(self) -> bool:
        return any(kind == "upstream" for kind, _ in self.weights)

    def to_json(self) -> str:
        """The mix as the locustfile reads it from the environment."""
        return json.dumps(
            {"name": self.name, "weights": dict(self.weights), "params": dict(self.params)}
        )


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: Path
    load: LoadSpec
    cpus: CpuSets
    stacks: tuple[Stack, ...]
    mixes: tuple[Mix, ...]
    content: dict[str, Any] = field(compare=False, hash=False, repr=False)
    # Database, pgbouncer, proxy options (harness/plan/services.py).
    services: ServicesSpec = field(default_factory=ServicesSpec)
    # Every host the run talks to or listens on beside its own loopback servers, with the
    # file and key that name it, checked against --allow-remote (faults.require_endpoints).
    endpoints: tuple[tuple[str, str], ...] = ()
    # What the file should change but the run can live with (a deprecated key), each as
    # "<file>: <key path>: <warning>"; printed when a run starts.
    warnings: tuple[str, ...] = ()
    # [capacity]: the run searches each stack's capacity instead of measuring fixed levels.
    capacity: CapacitySpec | None = None

    @property
    def needs_upstream(self) -> bool:
        return any(m.needs_upstream for m in self.mixes)


class _Checker:
    """Collects problems with their key paths instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def bad(self, key: str, problem: str) -> None:
        self.problems.append(f"{self.source}: {key}: {problem}")

    def warn(self, key: str, warning: str) -> None:
        self.warnings.append(f"{self.source}: {key}: {warning}")

    def number(
        self, table: dict[str, Any], key: str, path: str, lo: float, default: float | None = None
    ) -> float:
        value = table.get(key, default)
        if value is None:
            self.bad(f"{path}.{key}", "missing")
            return lo
        if isinstance(value, bool) or not isinstance(value, int | float) or value < lo:
            self.bad(f"{path}.{key}", f"expected a number >= {lo}, got {value!r}")
            return lo
        return float(value)

    def int_list(self, table: dict[str, Any], key: str, path: str, lo: int) -> tuple[int, ...]:
        value = table.get(key)
        ok = (
            isinstance(value, list)
            and value
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= lo for v in value)
        )
        if not ok:
            self.bad(f"{path}.{key}", f"expected a non-empty list of ints >= {lo}, got {value!r}")
            return ()
        return tuple(value)  # type: ignore[arg-type]

    def str_list(self, table: dict[str, Any], key: str, path: str, known: list[str]) -> list[str]:
        value = table.get(key)
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            self.bad(f"{path}.{key}", f"expected a non-empty list of names, got {value!r}")
            return []
        noun = "server" if key == "servers" else "app variant"
        for v in value:
            if v not in known:
                self.bad(f"{path}.{key}", f"unknown {noun} {v!r} (known: {', '.join(known)})")
        return [v for v in value if v in known]

    def task_kinds(self) -> dict[str, TaskKind]:
        """The task kinds of apps/contract/tasks.toml (or PWB_TASKS_FILE); a broken tasks
        file is a problem of its own."""
        try:
            return task_kinds()
        except TasksFileError as exc:
            if str(exc) not in self.problems:
                self.problems.append(str(exc))
            return {}

    def unknown_keys(self, table: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in sorted(set(table) - allowed):
            self.bad(
                f"{path}.{key}" if path else key,
                f"unknown key (allowed: {', '.join(sorted(allowed))})",
            )


def _table(chk: _Checker, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        chk.bad(key, f"expected a table, got {value!r}")
        return {}
    return value


def _parse_load(chk: _Checker, data: dict[str, Any]) -> LoadSpec:
    t = _table(chk, data, "load")
    chk.unknown_keys(t, LOAD_KEYS, "load")
    default = LOAD_DEFAULTS
    locustfile = t.get("locustfile", default["locustfile"].name)
    path = LOCUSTFILE_DIR / str(locustfile)
    if not isinstance(locustfile, str) or "/" in locustfile or not path.is_file():
        chk.bad("load.locustfile", f"no such file in scenarios/locustfiles/: {locustfile!r}")
    client = t.get("client", default["client"])
    if client not in CLIENTS:
        chk.bad("load.client", f"expected one of {', '.join(CLIENTS)}, got {client!r}")
    if "repeats" in t:
        if "rounds" in t:
            chk.bad("load.repeats", "the old name of load.rounds: give only rounds")
        else:
            chk.warn("load.repeats", "deprecated: rounds are the repeats now (load.rounds)")
            t = {**t, "rounds": t["repeats"]}
    rounds = t.get("rounds", default["rounds"])
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        chk.bad("load.rounds", f"expected an int >= 1, got {rounds!r}")
        rounds = 1
    distribution = parse_distribution(t, chk.bad, chk.warn, default)
    design = t.get("design", default["design"])
    if design not in DESIGNS:
        chk.bad("load.design", f"expected one of {', '.join(DESIGNS)}, got {design!r}")
    elif design == "rounds" and (distribution["processes"] > 1 or distribution["load_workers"]):
        chk.bad(
            "load.design",
            "distributed Locust (processes > 1 or load_workers) runs one Locust per cell: "
            'set design = "isolated"',
        )
    return LoadSpec(
        locustfile=path,
        client=str(client),
        warmup_s=chk.number(t, "warmup_s", "load", 0),
        measure_s=chk.number(t, "measure_s", "load", 0.5),
        users=chk.int_list(t, "users", "load", 1),
        rounds=rounds,
        design=str(design),
        spawn_margin_s=chk.number(t, "spawn_margin_s", "load", 0, default["spawn_margin_s"]),
        stop_timeout_s=chk.number(t, "stop_timeout_s", "load", 0, default["stop_timeout_s"]),
        startup_timeout_s=chk.number(
            t, "startup_timeout_s", "load", 1, default["startup_timeout_s"]
        ),
        request_timeout_s=chk.number(
            t, "request_timeout_s", "load", 0.1, default["request_timeout_s"]
        ),
        **_fidelity_keys(chk, t, "capacity" in data),
        **distribution,
    )


def _fidelity_keys(chk: _Checker, t: dict[str, Any], capacity: bool) -> dict[str, Any]:
    default = LOAD_DEFAULTS
    calibrate = t.get("calibrate", default["calibrate"])
    crosscheck, seed = t.get("crosscheck", default["crosscheck"]), t.get("seed", default["seed"])
    if not isinstance(calibrate, bool):
        chk.bad("load.calibrate", f"expected true or false, got {calibrate!r}")
    if crosscheck is not None and crosscheck not in CROSSCHECK_TOOLS:
        chk.bad(
            "load.crosscheck", f"expected one of {', '.join(CROSSCHECK_TOOLS)}, got {crosscheck!r}"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        chk.bad("load.seed", f"expected an int, got {seed!r}")
    drain = chk.number(t, "time_wait_drain_s", "load", 0, default["time_wait_drain_s"])
    mode = t.get("mode", default["mode"])
    rates: tuple[int, ...] = ()
    if mode not in ("closed", "open"):
        chk.bad("load.mode", f"expected closed or open, got {mode!r}")
    elif mode == "open" and capacity:
        if "rates" in t:
            chk.bad("load.rates", "a capacity search chooses the rates: leave rates out")
    elif mode == "open":
        rates = chk.int_list(t, "rates", "load", 1)
        if len(t.get("users") or []) != 1:
            chk.bad("load.users", "open mode: expected one value, the pool of users")
    elif "rates" in t:
        chk.bad("load.rates", 'only with mode = "open"')
    return {
        "mode": mode,
        "rates": rates,
        "calibrate": calibrate is True,
        "crosscheck": crosscheck,
        "seed": seed,
        "time_wait_drain_s": drain,
    }


def _parse_mix(chk: _Checker, name: str, t: Any) -> Mix | None:
    path = f"mixes.{name}"
    # The name goes into cell ids, directory names and Locust's environment.
    if not SAFE_NAME.fullmatch(name):
        chk.bad(path, f"expected a mix name of letters, digits, '-' or '_', got {name!r}")
    elif name.startswith("_"):
        # _cold is the cold windows' mix (harness/plan/cells.py).
        chk.bad(path, "names starting with _ are reserved")
    if not isinstance(t, dict):
        chk.bad(path, f"expected a table, got {t!r}")
        return None
    raw_params = t.get("params", {})
    kinds = chk.task_kinds()
    weights = []
    for kind, weight in t.items():
        if kind == "params":
            continue
        if kind not in kinds:
            chk.bad(f"{path}.{kind}", f"unknown task kind (known: {', '.join(kinds)})")
        elif isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            chk.bad(f"{path}.{kind}", f"expected a weight int >= 1, got {weight!r}")
        else:
            weights.append((kind, weight))
    if not weights:
        chk.bad(path, "a mix needs at least one task kind with a weight")
    if not isinstance(raw_params, dict):
        chk.bad(f"{path}.params", f"expected a table, got {raw_params!r}")
        raw_params = {}
    needed = {p.name: p for k, _ in weights if (p := kinds[k].param) is not None}
    params: list[tuple[str, int]] = []
    for key in sorted(set(needed) | {str(k) for k in raw_params}):
        value = raw_params.get(key)
        lo, hi = (needed[key].lo, needed[key].hi) if key in needed else (0, -1)
        if key not in needed:
            chk.bad(f"{path}.params.{key}", "not used by any task of this mix")
        elif isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            chk.bad(f"{path}.params.{key}", f"expected an int in {lo}..{hi}, got {value!r}")
        else:
            params.append((key, value))
    return Mix(name=name, weights=tuple(weights), params=tuple(params))


def _parse_mixes(chk: _Checker, data: dict[str, Any]) -> tuple[Mix, ...]:
    mixes = _table(chk, data, "mixes")
    if not mixes:
        chk.bad("mixes", "at least one mix is required")
    parsed = [_parse_mix(chk, name, t) for name, t in mixes.items()]
    return tuple(m for m in parsed if m is not None)


def _pool_axis(chk: _Checker, sel: dict[str, Any], path: str) -> tuple[int | None, ...]:
    """A selector's db_pool_size: an int or a list of them; (None,) when absent (the
    scenario-wide db_pool_size applies)."""
    if "db_pool_size" not in sel:
        return (None,)
    value = sel["db_pool_size"]
    wrapped = {"db_pool_size": value if isinstance(value, list) else [value]}
    return chk.int_list(wrapped, "db_pool_size", path, 1) or (None,)


def _tls_axis(chk: _Checker, sel: dict[str, Any], path: str) -> tuple[bool, ...]:
    """A selector's tls key: true (HTTPS at the front), false, or [false, true] for both."""
    value = sel.get("tls", False)
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, bool) for v in values):
        chk.bad(f"{path}.tls", f"expected true, false or a list of them, got {value!r}")
        return (False,)
    return tuple(dict.fromkeys(values))


def _selector_stacks(chk: _Checker, i: int, sel: Any, cores: int) -> list[Stack]:
    path = f"stacks[{i}]"
    problems_before = len(chk.problems)
    if not isinstance(sel, dict):
        chk.bad(path, f"expected a table, got {sel!r}")
        return []
    chk.unknown_keys(sel, SELECTOR_KEYS, path)
    apps = chk.str_list(sel, "apps", path, list(registry.variants()))
    servers = chk.str_list(sel, "servers", path, list(registry.servers()))
    workers = (
        worker_counts(sel["workers"], cores, lambda p: chk.bad(f"{path}.workers", p))
        if "workers" in sel
        else (1,)
    )
    threads = chk.int_list(sel, "threads", path, 1) if "threads" in sel else None
    skip = sel.get("skip_invalid", False)
    proxies = proxy_axis(sel.get("proxy", "none"), lambda p: chk.bad(f"{path}.proxy", p))
    pools = _pool_axis(chk, sel, path)
    tls_axis = _tls_axis(chk, sel, path)
    instance_axis = tuple(chk.int_list(sel, "instances", path, 1)) if "instances" in sel else (1,)
    if not isinstance(skip, bool):
        chk.bad(f"{path}.skip_invalid", f"expected true or false, got {skip!r}")
    stacks = []
    for app_id in apps:
        for server_id in servers:
            app, server = registry.variants()[app_id], registry.servers()[server_id]
            # A thread list applies to the threaded servers of the selector only.
            thread_axis: tuple[int | None, ...] = (
                (threads or (None,)) if server.threads else (None,)
            )
            axes = [
                (w, t, p, tls, n) for w in workers for t in thread_axis for p in proxies
                for tls in tls_axis for n in instance_axis
            ]  # fmt: skip
            for (w, t, proxy, tls, n), pool in [(a, pool) for a in axes for pool in pools]:
                reason = invalid_reason(app, server, w, t, proxy, tls, n)
                if not reason:
                    stacks.append(make_stack(app_id, server_id, w, t, proxy, pool, tls, n))
                elif skip is not True:
                    chk.bad(path, f"{reason} (set skip_invalid = true to skip such combinations)")
    if not stacks and len(chk.problems) == problems_before:
        chk.bad(path, "selects no valid stack")
    if "target" in sel:
        return target_stacks(path, sel, stacks, chk.bad)
    return stacks


def _parse_stacks(chk: _Checker, data: dict[str, Any], cores: int) -> tuple[Stack, ...]:
    """The stacks of every selector; cores (the server's CPU count) is what a worker
    expression's `cores` stands for."""
    selectors = data.get("stacks")
    if not isinstance(selectors, list) or not selectors:
        chk.bad("stacks", "expected at least one [[stacks]] selector")
        return ()
    seen: dict[str, Stack] = {}
    for i, sel in enumerate(selectors):
        for stack in _selector_stacks(chk, i, sel, cores):
            first = seen.setdefault(stack.id, stack)
            if first.target != stack.target:
                chk.bad(
                    f"stacks[{i}]",
                    f"{stack.id} is selected twice with different targets "
                    f"({first.target or 'started by the harness'}, "
                    f"{stack.target or 'started by the harness'}): one id, one server",
                )
    return tuple(seen.values())


def _auto_processes(data: dict[str, Any], load: LoadSpec, cpus: CpuSets) -> LoadSpec:
    """With cpus = "auto" in the isolated design, Locust forks a process per load CPU unless
    [load] says processes (or waits for load_workers). The rounds design keeps its one
    Locust process per round: it cannot distribute."""
    table = data.get("load")
    given = (isinstance(table, dict) and "processes" in table) or load.load_workers > 0
    if data.get("cpus") != AUTO or given or load.design != "isolated" or len(cpus.load) < 2:
        return load
    return replace(load, processes=len(cpus.load))


def _capacity_load(
    chk: _Checker, data: dict[str, Any], load: LoadSpec, capacity: CapacitySpec
) -> LoadSpec:
    """A capacity search runs open loop in the rounds design and plans its own rounds; its
    first rate stands for the level of the cold windows."""
    table = data.get("load")
    given = table if isinstance(table, dict) else {}
    if load.mode != "open":
        chk.bad("load.mode", '[capacity] searches arrival rates: set mode = "open"')
    if load.design != "rounds":
        chk.bad("load.design", '[capacity] steps are windows of rounds: design = "rounds"')
    if "rounds" in given or "repeats" in given:
        chk.bad("load.rounds", "[capacity] plans its own rounds: give capacity.settle_rounds")
    return replace(load, rates=(capacity.start_rps,))


def parse_scenario(
    data: dict[str, Any], source: str, path: Path, machine: Sequence[int] | None = None
) -> Scenario:
    """Validate a parsed scenario in full; ScenarioError lists every problem found.
    machine: the CPUs to plan for (default: those this process may run on)."""
    chk = _Checker(source)
    chk.unknown_keys(data, TOP_KEYS, "")
    name = data.get("name")
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        chk.bad("name", f"expected a name of letters, digits, '-' or '_', got {name!r}")
        name = "invalid"
    load = _parse_load(chk, data)
    capacity = parse_capacity(data.get("capacity"), chk.bad)
    if capacity is not None:
        load = _capacity_load(chk, data, load, capacity)
    cpus = parse_cpus(
        data.get("cpus", {}),
        sorted(os.sched_getaffinity(0) if machine is None else machine),
        chk.bad,
    )
    load = _auto_processes(data, load, cpus)
    mixes = _parse_mixes(chk, data)
    stacks = _parse_stacks(chk, data, max(1, len(cpus.server)))
    services = parse_services(data, chk.bad)
    if chk.problems:
        raise ScenarioError("\n".join(chk.problems))
    return Scenario(
        name=name,
        description=str(data.get("description", "")),
        path=path,
        load=load,
        cpus=cpus,
        stacks=stacks,
        mixes=mixes,
        content=data,
        services=services,
        endpoints=endpoints(data, load.load_workers, load.master_host, source),
        warnings=tuple(chk.warnings),
        capacity=capacity,
    )


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """A TOML file's content and the name its problems are reported under."""
    source = _display(path)
    return toml_file.read_toml(path, ScenarioError, source), source


def load_scenario(path: Path, machine: Sequence[int] | None = None) -> Scenario:
    """Read and validate a scenario file (machine: as parse_scenario)."""
    data, source = read_toml(path)
    return parse_scenario(data, source, path, machine)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def with_prices(scenario: Scenario, core_hour: float | None, gb_hour: float | None) -> Scenario:
    """The scenario with the prices given on the command line in place of [capacity]'s."""
    if scenario.capacity is None:
        raise ScenarioError(
            f"{scenario.path}: --price-core-hour and --price-gb-hour price a capacity "
            "search, and this scenario has no [capacity]"
        )
    spec = scenario.capacity
    spec = replace(
        spec,
        price_core_hour=spec.price_core_hour if core_hour is None else core_hour,
        price_gb_hour=spec.price_gb_hour if gb_hour is None else gb_hour,
    )
    return replace(scenario, capacity=spec)
