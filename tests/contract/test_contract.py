"""Every variant of apps/variants.toml passes every contract check (one test per pair)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest

from apps.contract.checks import CHECKS, Problem, Severity, check_by_name, errors, run_checks
from apps.contract.clients import load_variants
from apps.contract.items import count_items
from apps.contract.probe import Session

VARIANTS = list(load_variants())


def _item_count(client: httpx.Client) -> int:
    session = Session(client, "count")
    total = count_items(session)
    assert not session.problems, _describe(session.problems)
    return total


def _describe(problems: list[Problem]) -> str:
    return "\n".join(f"[{p.severity.value}] {p.check}: {p.reason} ({p.url})" for p in problems)


@pytest.mark.parametrize("check_name", [c.name for c in CHECKS])
@pytest.mark.parametrize("variant", VARIANTS)
def test_check(
    variant: str,
    check_name: str,
    variant_client: Callable[[str], httpx.Client],
    request: pytest.FixtureRequest,
) -> None:
    check = check_by_name(check_name)
    if check.needs_upstream:
        request.getfixturevalue("upstream_server")
    client = variant_client(variant)
    before = _item_count(client)
    problems = check.func(client)
    found = errors(problems)
    assert not found, f"{variant} fails {check_name}:\n{_describe(found)}"
    # Checks run against live servers again and again: they must leave no items behind.
    assert _item_count(client) == before, f"{check_name} left items behind on {variant}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_quick_checks_pass(variant: str, variant_client: Callable[[str], httpx.Client]) -> None:
    problems = run_checks(variant_client(variant), quick=True)
    assert not errors(problems), _describe(errors(problems))


def test_quick_set_is_the_documented_one() -> None:
    quick = {c.name for c in CHECKS if c.quick}
    assert quick == {
        "health",
        "json_hello",
        "plaintext",
        "item_round_trip",
        "db_query",
        "unknown_route",
        "method_not_allowed",
        "static_files",
    }


def test_unreachable_server_is_reported_not_raised() -> None:
    # A port that was just free: every check turns the connection error into an ERROR
    # problem instead of raising.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2.0) as client:
        problems = run_checks(client, quick=True)
    assert {p.check for p in problems} == {c.name for c in CHECKS if c.quick}
    assert all(p.severity is Severity.ERROR for p in problems)
    assert any("ConnectError" in p.reason for p in problems)
