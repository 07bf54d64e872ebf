"""Contract checks: does an app (over any httpx.Client) serve exactly apps/contract/openapi.yaml?

    problems = run_checks(client)             # every check
    problems = run_checks(client, quick=True)  # the cheap read-mostly subset (< 0.5 s)

Every response of every check is also validated against openapi.yaml (status, headers,
Content-Length, compact JSON, the body schema of that status) by apps/contract/probe.py.
"""

from __future__ import annotations

import httpx

from apps.contract.checks_basic import BASIC_CHECKS
from apps.contract.checks_inputs import INPUT_CHECKS
from apps.contract.checks_items import ITEM_CHECKS
from apps.contract.checks_static import STATIC_CHECKS
from apps.contract.probe import Check, Problem, Severity

__all__ = ["CHECKS", "Check", "Problem", "Severity", "check_by_name", "errors", "run_checks"]

CHECKS: tuple[Check, ...] = BASIC_CHECKS + ITEM_CHECKS + INPUT_CHECKS + STATIC_CHECKS

_names = [c.name for c in CHECKS]
if len(set(_names)) != len(_names):
    raise RuntimeError(f"duplicate check names in {_names}")


def check_by_name(name: str) -> Check:
    """The check called name."""
    for candidate in CHECKS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no check named {name!r}")


def run_checks(
    client: httpx.Client, *, quick: bool = False, upstream: bool = True
) -> list[Problem]:
    """Run every check (or only the quick ones) and return all problems found.

    Never stops at the first problem; an exception inside a check becomes an ERROR
    problem. upstream=False skips the checks that need a running upstream server.
    """
    problems: list[Problem] = []
    for candidate in CHECKS:
        if quick and not candidate.quick:
            continue
        if candidate.needs_upstream and not upstream:
            continue
        try:
            problems += candidate.func(client)
        except Exception as exc:  # a check's own bug must not hide the others
            url = str(client.base_url)
            reason = f"check crashed: {type(exc).__name__}: {exc}"
            problems.append(Problem(Severity.ERROR, candidate.name, reason, url))
    return problems


def errors(problems: list[Problem]) -> list[Problem]:
    """Only the ERROR problems."""
    return [p for p in problems if p.severity is Severity.ERROR]
