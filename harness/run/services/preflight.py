"""Before a run starts anything: every system binary its scenario needs must be there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.run.services import pgbouncer
from harness.run.services.binaries import require

if TYPE_CHECKING:
    from harness.plan.scenario import Scenario


def needed(scenario: Scenario) -> dict[str, list[str]]:
    """What needs which binaries: {reason: [binary, ...]}."""
    needs: dict[str, list[str]] = {}
    if scenario.services.db == "postgres":
        needs['db = "postgres"'] = ["initdb", "postgres"]
    if scenario.services.pgbouncer:
        needs["pgbouncer = true"] = ["pgbouncer"]
    if any(s.proxy is not None for s in scenario.stacks):
        needs['proxy = "nginx"'] = ["nginx"]
    if any(s.tls for s in scenario.stacks):
        needs["tls = true (the run's certificate)"] = ["openssl"]
    return needs


def preflight(scenario: Scenario) -> None:
    """PreflightError naming a missing binary and `make system-deps`; nothing is started."""
    found: dict[str, str] = {}
    for why, names in needed(scenario).items():
        found |= require(names, why)
    if scenario.services.pgbouncer:
        pgbouncer.check_mode(found["pgbouncer"], scenario.services.pgbouncer_pool_mode)
