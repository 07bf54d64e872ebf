"""CPU sets of a scenario, and worker counts written in terms of the server's cores.

`[cpus]` is a table (server, load, upstream) or the string "auto": the machine's CPUs
split by AUTO_RULE (auto_split). A selector's `workers` takes numbers and expressions of
`cores`, the number of server CPUs: whole numbers, `cores`, `+`, `*` and parentheses
(worker_count; parsed here, never evaluated as Python).

Problems go through `bad(key path, problem)`, as in harness/plan/scenario.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Bad = Callable[[str, str], None]
AUTO = "auto"
ROLES = ("server", "load", "upstream")
# The rule of cpus = "auto", as metadata.json records it and harness/README.md states it.
AUTO_RULE = (
    "the machine's CPUs in order, the lower half to the load generator and the upstream "
    "service, the upper half to the server (an odd count gives the server the extra CPU)"
)
TABLE_RULE = "as written in the scenario's [cpus] table"
EXPRESSION_HELP = 'whole numbers, cores, +, * and parentheses, e.g. "2*cores+1"'
_TOKEN = re.compile(r"\s*(?:\d+\b|cores\b|[+*()])")
_WORD = re.compile(r"\s*(\w+|\S)")
# Long enough for any sensible count; keeps the recursive parser's depth small.
MAX_EXPRESSION = 40


@dataclass(frozen=True)
class CpuSets:
    server: tuple[int, ...]
    load: tuple[int, ...]
    upstream: tuple[int, ...]
    # How the sets were chosen (AUTO_RULE or TABLE_RULE) and the CPUs the machine offered.
    rule: str = TABLE_RULE
    machine: tuple[int, ...] = ()

    def describe(self) -> dict[str, list[int]]:
        """For metadata.json cpu_sets: the sets (what compare matches between runs)."""
        return {
            "server": list(self.server),
            "load": list(self.load),
            "upstream": list(self.upstream),
        }

    def split(self) -> dict[str, Any]:
        """For metadata.json cpu_split: the rule that chose the sets and the machine's CPUs."""
        return {"rule": self.rule, "machine_cpus": list(self.machine)}


def auto_split(machine: Sequence[int]) -> CpuSets:
    """The CPU sets of cpus = "auto" on a machine with these CPUs (AUTO_RULE). ValueError
    when there are fewer than two: the generator and the server must not share a CPU."""
    cpus = tuple(sorted(set(machine)))
    if len(cpus) < 2:
        raise ValueError(
            f'"auto" needs at least 2 CPUs, this machine has {list(cpus)}: the load '
            "generator and the server must not share a CPU"
        )
    half = len(cpus) // 2
    load, server = cpus[:half], cpus[half:]
    return CpuSets(server=server, load=load, upstream=load, rule=AUTO_RULE, machine=cpus)


def parse_cpus(value: Any, machine: Sequence[int], bad: Bad) -> CpuSets:
    """The [cpus] of a scenario on a machine with these CPUs: "auto" (auto_split) or a
    table (defaults: server [1], load [0], upstream = load). Sets that name a CPU the
    machine lacks or where server and load share a CPU are refused."""
    available = tuple(sorted(set(machine)))
    if value == AUTO:
        try:
            return auto_split(available)
        except ValueError as exc:
            bad("cpus", str(exc))
            return CpuSets((), (), (), AUTO_RULE, available)
    if not isinstance(value, dict):
        bad("cpus", f'expected a table or "auto", got {value!r}')
        value = {}
    for key in sorted(set(value) - set(ROLES)):
        bad(f"cpus.{key}", f"unknown key (allowed: {', '.join(sorted(ROLES))})")
    # The upstream service shares the load CPUs unless told otherwise.
    defaults = {"server": [1], "load": [0], "upstream": value.get("load", [0])}
    sets = {role: _cpu_set(value.get(role, defaults[role]), role, available, bad) for role in ROLES}
    shared = sorted(set(sets["server"]) & set(sets["load"]))
    if shared:
        bad(
            "cpus",
            f"server {list(sets['server'])} and load {list(sets['load'])} must not share a CPU "
            f"(both have {shared})",
        )
    return CpuSets(sets["server"], sets["load"], sets["upstream"], TABLE_RULE, available)


def _cpu_set(value: Any, role: str, available: tuple[int, ...], bad: Bad) -> tuple[int, ...]:
    ok = isinstance(value, list) and value
    if not ok or not all(isinstance(c, int) and not isinstance(c, bool) for c in value):
        bad(f"cpus.{role}", f"expected a non-empty list of CPU numbers, got {value!r}")
        return ()
    for cpu in value:
        if cpu not in available:
            bad(f"cpus.{role}", f"CPU {cpu} is not available (this machine has {list(available)})")
    return tuple(value)


def worker_counts(value: Any, cores: int, bad: Callable[[str], None]) -> tuple[int, ...]:
    """A selector's workers: a non-empty list of ints >= 1 and expressions of cores (the
    server's CPU count), each worked out; a count given twice is kept once."""
    if not (isinstance(value, list) and value):
        bad(
            f"expected a non-empty list of ints >= 1 and expressions ({EXPRESSION_HELP}), "
            f"got {value!r}"
        )
        return ()
    counts: list[int] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | str):
            bad(f"expected an int >= 1 or an expression ({EXPRESSION_HELP}), got {item!r}")
            continue
        try:
            count = item if isinstance(item, int) else worker_count(item, cores)
        except ValueError as exc:
            bad(f"{item!r}: {exc}")
            continue
        if count < 1 and isinstance(item, str):
            bad(f"{item!r} is {count} with cores = {cores}: expected at least 1 worker")
        elif count < 1:
            bad(f"expected at least 1 worker, got {item!r}")
        elif count not in counts:
            counts.append(count)
    return tuple(counts)


def worker_count(text: str, cores: int) -> int:
    """The value of an expression of cores; ValueError names what is wrong with it."""
    if len(text) > MAX_EXPRESSION:
        raise ValueError(f"longer than {MAX_EXPRESSION} characters")
    tokens = _tokens(text)
    value, rest = _sum(tokens, cores)
    if rest:
        raise ValueError(f"unexpected {rest[0]!r} (use {EXPRESSION_HELP})")
    return value


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None:
            word = _WORD.match(text, pos)
            raise ValueError(
                f"unexpected {word.group(1) if word else text[pos:]!r} (use {EXPRESSION_HELP})"
            )
        tokens.append(match.group().strip())
        pos = match.end()
    if not tokens:
        raise ValueError(f"empty expression (use {EXPRESSION_HELP})")
    return tokens


def _sum(tokens: list[str], cores: int) -> tuple[int, list[str]]:
    value, rest = _product(tokens, cores)
    while rest and rest[0] == "+":
        more, rest = _product(rest[1:], cores)
        value += more
    return value, rest


def _product(tokens: list[str], cores: int) -> tuple[int, list[str]]:
    value, rest = _operand(tokens, cores)
    while rest and rest[0] == "*":
        more, rest = _operand(rest[1:], cores)
        value *= more
    return value, rest


def _operand(tokens: list[str], cores: int) -> tuple[int, list[str]]:
    if not tokens:
        raise ValueError(f"the expression ends too early (use {EXPRESSION_HELP})")
    head, rest = tokens[0], tokens[1:]
    if head == "(":
        value, rest = _sum(rest, cores)
        if not rest or rest[0] != ")":
            raise ValueError("a '(' without its ')'")
        return value, rest[1:]
    if head == "cores":
        return cores, rest
    if head.isdigit():
        return int(head), rest
    raise ValueError(f"unexpected {head!r} (use {EXPRESSION_HELP})")
