"""Claims files (scenarios/claims.toml): each claim is a statement as people make it, an
experiment (a scenario, built from the file's defaults) and checks over its results.

Validated in full before anything runs; every problem reads "<file>: <key path>: <problem>".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import ScenarioError
from harness.plan.estimate import estimate
from harness.plan.scenario import Scenario, parse_scenario, read_toml

TOP_KEYS = {"name", "description", "budget_s", "defaults", "quick", "claims"}
CLAIM_KEYS = {"id", "statement", "notes", "scenario", "checks"}
CHECK_KEYS = {"label", "metric", "of", "over", "compare", "op", "threshold", "max_error_rate"}
SELECT_KEYS = {"stack", "users", "mix", "rate"}
# Figures a check can use: columns of cells.csv, one value per repeat; and, of a capacity
# experiment (a scenario with [capacity]), each settle round's capacity.
METRICS = ("rps", "p50_ms", "p90_ms", "p99_ms", "error_rate", "rejected_rate")
CAPACITY_METRIC = "capacity_rps"
OPS = (">=", "<=")
COMPARES = ("ratio", "difference")
DEFAULT_MAX_ERROR_RATE = 0.01
# The claim's scenario gets these from the claim itself.
OWN_SCENARIO_KEYS = {"name", "description"}


@dataclass(frozen=True)
class Select:
    """One cell of the claim's experiment, over its rounds."""

    stack: str
    users: int
    mix: str
    # Open loop: the target rate of the cell (cells.csv target_rps); None: closed loop.
    rate: int | None = None

    @property
    def label(self) -> str:
        offered = f" · {self.rate} requests/s offered" if self.rate is not None else ""
        return f"{self.stack} · {self.mix} · {self.users} users{offered}"


@dataclass(frozen=True)
class Check:
    """value = metric(of), or metric(of) / metric(over) (or minus); `value op threshold`."""

    label: str
    metric: str
    of: Select
    over: Select | None
    compare: str
    op: str
    threshold: float
    max_error_rate: float

    @property
    def expression(self) -> str:
        sign = "/" if self.compare == "ratio" else "−"
        value = f"{self.metric}[{self.of.label}]"
        if self.over is not None:
            value += f" {sign} {self.metric}[{self.over.label}]"
        return f"{value} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    notes: str
    scenario: Scenario
    checks: tuple[Check, ...]

    @property
    def cells(self) -> int:
        """Its windows (a capacity search's: a guess, as in `run --dry-run`)."""
        return estimate(self.scenario).cells


@dataclass(frozen=True)
class ClaimsFile:
    name: str
    description: str
    path: Path
    budget_s: float
    quick: bool
    claims: tuple[Claim, ...]
    content: dict[str, Any]


def merged(defaults: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """defaults with own on top, table by table (own's values win; lists are replaced)."""
    out = copy.deepcopy(defaults)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class _Problems:
    def __init__(self, source: str, path: Path) -> None:
        self.source = source
        self.path = path
        self.found: list[str] = []

    def bad(self, key: str, problem: str) -> None:
        self.found.append(f"{self.source}: {key}: {problem}")

    def unknown(self, table: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in sorted(set(table) - allowed):
            where = f"{path}.{key}" if path else key
            self.bad(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _select(p: _Problems, value: Any, key: str, scenario: Scenario | None) -> Select | None:
    if not isinstance(value, dict):
        p.bad(key, f"expected a table {{ stack = ..., users = ... }}, got {value!r}")
        return None
    p.unknown(value, SELECT_KEYS, key)
    if scenario is None:  # the scenario itself is invalid: reported already
        return None
    stacks = [s.id for s in scenario.stacks]
    mixes = [m.name for m in scenario.mixes]
    stack, users, mix = value.get("stack"), value.get("users"), value.get("mix")
    if stack not in stacks:
        p.bad(f"{key}.stack", f"{stack!r} is not a stack of this claim's scenario: {stacks}")
    if len(scenario.load.users) == 1 and users is None:
        users = scenario.load.users[0]
    if users not in scenario.load.users or isinstance(users, bool):
        p.bad(f"{key}.users", f"{users!r} is not a level of load.users {list(scenario.load.users)}")
    if mix is None and len(mixes) == 1:
        mix = mixes[0]
    if mix not in mixes:
        p.bad(f"{key}.mix", f"{mix!r} is not a mix of this claim's scenario: {mixes}")
    rate, rate_ok = _rate(p, value.get("rate"), key, scenario)
    if stack in stacks and users in scenario.load.users and mix in mixes and rate_ok:
        return Select(str(stack), int(users), str(mix), rate)
    return None


def _rate(p: _Problems, rate: Any, key: str, scenario: Scenario) -> tuple[int | None, bool]:
    """A select's rate: one of an open-loop experiment's load.rates (may be left out when
    it has one), never given in a closed loop; and whether it is valid."""
    if scenario.capacity is not None:
        if rate is not None:
            p.bad(f"{key}.rate", "not in a capacity experiment: the search picks the rates")
        return None, rate is None
    if scenario.load.mode != "open":
        if rate is not None:
            p.bad(f"{key}.rate", 'only for an open-loop experiment (load.mode = "open")')
        return None, rate is None
    rates = list(scenario.load.rates)
    if rate is None and len(rates) == 1:
        rate = rates[0]
    if isinstance(rate, bool) or rate not in rates:
        p.bad(f"{key}.rate", f"{rate!r} is not a target rate of load.rates {rates}")
        return None, False
    return int(rate), True


def _check(p: _Problems, value: Any, key: str, scenario: Scenario | None) -> Check | None:
    if not isinstance(value, dict):
        p.bad(key, f"expected a table, got {value!r}")
        return None
    p.unknown(value, CHECK_KEYS, key)
    before = len(p.found)
    label = value.get("label")
    if not isinstance(label, str) or not label.strip():
        p.bad(f"{key}.label", "missing: say in words what the check shows")
    capacity = scenario is not None and scenario.capacity is not None
    metric = value.get("metric", CAPACITY_METRIC if capacity else "rps")
    if capacity and metric != CAPACITY_METRIC:
        p.bad(f"{key}.metric", f"a capacity experiment is judged by {CAPACITY_METRIC!r}, "
              f"got {metric!r}")  # fmt: skip
    elif not capacity and metric not in METRICS:
        allowed = ", ".join(METRICS) + f" ({CAPACITY_METRIC} with [capacity])"
        p.bad(f"{key}.metric", f"expected one of {allowed}, got {metric!r}")
    op = value.get("op")
    if op not in OPS:
        p.bad(f"{key}.op", f"expected one of {', '.join(OPS)}, got {op!r}")
    compare = value.get("compare", "ratio")
    if compare not in COMPARES:
        p.bad(f"{key}.compare", f"expected one of {', '.join(COMPARES)}, got {compare!r}")
    threshold = value.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        p.bad(f"{key}.threshold", f"expected a number, got {threshold!r}")
    max_errors = value.get("max_error_rate", DEFAULT_MAX_ERROR_RATE)
    if (
        isinstance(max_errors, bool)
        or not isinstance(max_errors, int | float)
        or not (0 <= max_errors <= 1)
    ):
        p.bad(f"{key}.max_error_rate", f"expected a fraction in [0, 1], got {max_errors!r}")
    of = _select(p, value.get("of"), f"{key}.of", scenario)
    over = _select(p, value["over"], f"{key}.over", scenario) if "over" in value else None
    if of is None or ("over" in value and over is None) or len(p.found) > before:
        return None
    return Check(
        label=str(label), metric=str(metric), of=of, over=over, compare=str(compare),
        op=str(op), threshold=float(threshold or 0), max_error_rate=float(max_errors),
    )  # fmt: skip


def _claim(
    p: _Problems, value: Any, i: int, defaults: dict[str, Any], quick_load: dict[str, Any] | None
) -> Claim | None:
    key = f"claims[{i}]"
    if not isinstance(value, dict):
        p.bad(key, f"expected a table, got {value!r}")
        return None
    cid = value.get("id")
    if not isinstance(cid, str) or not cid.replace("-", "").isalnum() or not cid.islower():
        p.bad(f"{key}.id", f"expected a lower-case id of letters, digits and '-', got {cid!r}")
        cid = f"claim-{i}"
    key = f"claims[{i}] ({cid})"
    p.unknown(value, CLAIM_KEYS, key)
    statement = value.get("statement")
    if not isinstance(statement, str) or not statement.strip():
        p.bad(f"{key}.statement", "missing: the claim as people make it")
    own = value.get("scenario")
    if not isinstance(own, dict):
        p.bad(f"{key}.scenario", "missing: the experiment, as the tables of a scenario file")
        own = {}
    for k in sorted(OWN_SCENARIO_KEYS & set(own)):
        p.bad(f"{key}.scenario.{k}", "set by the claim (its id and statement), not here")
    data = merged(defaults, own)
    if quick_load is not None:
        data = merged(data, {"load": quick_load})
    data.update(name=cid, description=str(statement or ""))
    scenario: Scenario | None = None
    try:
        scenario = parse_scenario(data, f"{p.source}: {key}.scenario", p.path)
    except ScenarioError as exc:
        p.found.extend(str(exc).splitlines())
    checks_raw = value.get("checks")
    if not isinstance(checks_raw, list) or not checks_raw:
        p.bad(f"{key}.checks", "missing: at least one [[claims.checks]] table")
        checks_raw = []
    before = len(p.found)
    checks = [_check(p, c, f"{key}.checks[{j}]", scenario) for j, c in enumerate(checks_raw)]
    if scenario is None or len(p.found) > before or any(c is None for c in checks):
        return None
    return Claim(
        id=cid,
        statement=str(statement),
        notes=str(value.get("notes", "")).strip(),
        scenario=scenario,
        checks=tuple(c for c in checks if c is not None),
    )


def parse_claims(
    data: dict[str, Any], source: str, path: Path, *, quick: bool = False
) -> ClaimsFile:
    """Validate a parsed claims file; ScenarioError lists every problem found."""
    p = _Problems(source, path)
    p.unknown(data, TOP_KEYS, "")
    name = data.get("name", "claims")
    budget = data.get("budget_s", 1200)
    if isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0:
        p.bad("budget_s", f"expected a number of seconds > 0, got {budget!r}")
        budget = 1200
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        p.bad("defaults", f"expected a table of scenario keys, got {defaults!r}")
        defaults = {}
    quick_table = data.get("quick", {})
    if not isinstance(quick_table, dict):
        p.bad("quick", f"expected a table with a load table, got {quick_table!r}")
        quick_table = {}
    quick_load = quick_table.get("load", {}) if quick else None
    if quick and not isinstance(quick_load, dict):
        p.bad("quick.load", f"expected a table of load keys, got {quick_load!r}")
        quick_load = {}
    raw = data.get("claims")
    if not isinstance(raw, list) or not raw:
        p.bad("claims", "missing: at least one [[claims]] table")
        raw = []
    claims = [_claim(p, c, i, defaults, quick_load) for i, c in enumerate(raw)]
    ids = [c.id for c in claims if c is not None]
    for dup in sorted({x for x in ids if ids.count(x) > 1}):
        p.bad("claims", f"id {dup!r} is used more than once")
    if p.found:
        raise ScenarioError("\n".join(p.found))
    return ClaimsFile(
        name=str(name),
        description=str(data.get("description", "")),
        path=path,
        budget_s=float(budget),
        quick=quick,
        claims=tuple(c for c in claims if c is not None),
        content=data,
    )


def load_claims(path: Path, *, quick: bool = False) -> ClaimsFile:
    """Read and validate a claims file (with --quick, its [quick.load] keys on top)."""
    data, source = read_toml(path)
    return parse_claims(data, source, path, quick=quick)
