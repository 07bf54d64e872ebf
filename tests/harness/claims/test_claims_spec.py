"""scenarios/claims.toml and the claims file format: the shipped file is valid and holds
every claim; a bad file names the file, the key and the problem."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness.claims.spec import load_claims, merged, parse_claims
from harness.core.errors import ScenarioError
from harness.core.paths import REPO_ROOT
from tests.harness.claims.test_claims_verdict import CLAIMS

CLAIMS_FILE = REPO_ROOT / "scenarios" / "claims.toml"
EXPECTED_IDS = [
    "sync-worker-serial", "async-many-io", "threads-gevent-close-gap", "async-no-help-cpu",
    "async-not-faster-db", "workers-to-cores", "fastapi-threadpool-cap", "blocking-in-async",
    "nginx-in-front", "wsgiref-serial", "uwsgi-vs-gunicorn", "django-async-vs-sync",
    "tls-at-nginx", "tls-at-nginx-reconnect", "uwsgi-protocol", "nginx-unix-socket",
    "nginx-balance-instances", "nginx-limit-protects",
]  # fmt: skip


def test_shipped_claims_file_is_valid_and_complete() -> None:
    claims = load_claims(CLAIMS_FILE)
    assert [c.id for c in claims.claims] == EXPECTED_IDS
    assert claims.budget_s == 1800
    for claim in claims.claims:
        assert claim.statement and claim.checks
        assert claim.scenario.name == claim.id
        assert claim.scenario.description == claim.statement
        assert claim.scenario.load.rounds >= 6, claim.id  # a 95% interval needs 6 rounds
        # Defaults fill in what the claim leaves out.
        assert claim.scenario.cpus.server == (1,) and claim.scenario.cpus.load == (0,)
    by_id = {c.id: c for c in claims.claims}
    assert by_id["async-not-faster-db"].scenario.services.db == "postgres"
    assert any(s.proxy == "nginx" for s in by_id["nginx-in-front"].scenario.stacks)
    assert [s.app.id for s in by_id["blocking-in-async"].scenario.stacks] == [
        "fastapi-blocking", "fastapi-async",
    ]  # fmt: skip
    # A claim's own load keys win over the defaults.
    assert by_id["async-many-io"].scenario.load.stop_timeout_s == 12
    assert by_id["async-many-io"].scenario.load.users == (200,)


def test_quick_replaces_window_and_rounds_only() -> None:
    full, quick = load_claims(CLAIMS_FILE), load_claims(CLAIMS_FILE, quick=True)
    for a, b in zip(full.claims, quick.claims, strict=True):
        assert b.scenario.load.rounds == 3 and b.scenario.load.measure_s == 1.5
        assert b.scenario.load.users == a.scenario.load.users
        assert b.scenario.stacks == a.scenario.stacks
    assert sum(c.cells for c in quick.claims) < sum(c.cells for c in full.claims)


def test_merged_is_table_by_table() -> None:
    defaults = {"load": {"users": [1], "rounds": 3}, "cpus": {"server": [1]}, "db": "sqlite"}
    own = {"load": {"users": [8]}, "db": "postgres"}
    assert merged(defaults, own) == {
        "load": {"users": [8], "rounds": 3}, "cpus": {"server": [1]}, "db": "postgres",
    }  # fmt: skip
    assert defaults["load"] == {"users": [1], "rounds": 3}  # not modified


def problems(mutate: Any) -> str:
    data = tomllib.loads(CLAIMS)
    mutate(data)
    with pytest.raises(ScenarioError) as info:
        parse_claims(data, "scenarios/claims.toml", Path("claims.toml"))
    return str(info.value)


def claim0(data: dict[str, Any]) -> dict[str, Any]:
    return data["claims"][0]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: claim0(d)["checks"][0]["of"].update(stack="flask@uwsgi-w1t1"),
            "scenarios/claims.toml: claims[0] (one).checks[0].of.stack: 'flask@uwsgi-w1t1' "
            "is not a stack of this claim's scenario",
        ),
        (
            lambda d: claim0(d)["checks"][0].update(op=">"),
            "claims[0] (one).checks[0].op: expected one of >=, <=, got '>'",
        ),
        (
            lambda d: claim0(d)["checks"][1].update(metric="throughput"),
            "claims[0] (one).checks[1].metric: expected one of rps, p50_ms",
        ),
        (
            lambda d: claim0(d)["checks"][1]["of"].update(users=64),
            "claims[0] (one).checks[1].of.users: 64 is not a level of load.users [32]",
        ),
        (
            lambda d: claim0(d)["checks"][1].update(threshold="21"),
            "claims[0] (one).checks[1].threshold: expected a number, got '21'",
        ),
        (
            lambda d: claim0(d)["checks"][1].pop("label"),
            "claims[0] (one).checks[1].label: missing",
        ),
        (
            lambda d: claim0(d).pop("statement"),
            "claims[0] (one).statement: missing",
        ),
        (
            lambda d: claim0(d).update(id="Bad Id"),
            "claims[0].id: expected a lower-case id",
        ),
        (
            lambda d: claim0(d)["scenario"]["load"].update(users=[0]),
            "scenarios/claims.toml: claims[0] (one).scenario: load.users: expected a "
            "non-empty list of ints >= 1",
        ),
        (
            lambda d: claim0(d)["scenario"].update(name="x"),
            "claims[0] (one).scenario.name: set by the claim",
        ),
        (
            lambda d: claim0(d).update(verdict="supported"),
            "claims[0] (one).verdict: unknown key",
        ),
        (
            lambda d: d["claims"].append(dict(claim0(d))),
            "claims: id 'one' is used more than once",
        ),
        (lambda d: d.update(budget_s=0), "budget_s: expected a number of seconds > 0"),
        (lambda d: d.update(quick=3), "quick: expected a table with a load table, got 3"),
        (lambda d: d.pop("claims"), "claims: missing: at least one [[claims]] table"),
        (
            lambda d: claim0(d)["checks"][0]["of"].update(mix="json"),
            "claims[0] (one).checks[0].of.mix: 'json' is not a mix of this claim's scenario",
        ),
        (
            lambda d: claim0(d)["checks"][0]["of"].update(rate=100),
            "claims[0] (one).checks[0].of.rate: only for an open-loop experiment",
        ),
        (
            lambda d: claim0(d)["checks"][1].update(metric="rejected"),
            "claims[0] (one).checks[1].metric: expected one of rps, p50_ms, p90_ms, p99_ms, "
            "error_rate, rejected_rate (capacity_rps with [capacity]), got 'rejected'",
        ),
    ],
)
def test_bad_claims_are_reported_with_file_and_key(mutate: Any, expected: str) -> None:
    assert expected in problems(mutate)


def test_every_problem_is_reported_at_once() -> None:
    def two(d: dict[str, Any]) -> None:
        claim0(d)["checks"][0].update(op="=")
        claim0(d)["checks"][1].update(metric="x")

    text = problems(two)
    assert "checks[0].op" in text and "checks[1].metric" in text


def test_unreadable_and_invalid_toml_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_claims(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[claims]\n")
    with pytest.raises(ScenarioError, match=r"bad.toml: invalid TOML"):
        load_claims(bad)


def open_loop(d: dict[str, Any], of: dict[str, Any]) -> None:
    claim0(d)["scenario"]["load"].update(mode="open", rates=[100, 400])
    claim0(d)["checks"][1]["of"].update(of)


@pytest.mark.parametrize(
    ("of", "expected"),
    [
        ({}, "claims[0] (one).checks[1].of.rate: None is not a target rate of load.rates"),
        ({"rate": 200}, "checks[1].of.rate: 200 is not a target rate of load.rates [100, 400]"),
        ({"rate": True}, "checks[1].of.rate: True is not a target rate"),
    ],
)
def test_an_open_loop_cell_is_picked_by_its_target_rate(of: dict[str, Any], expected: str) -> None:
    assert expected in problems(lambda d: open_loop(d, of))


def test_a_single_target_rate_may_be_left_out() -> None:
    data = tomllib.loads(CLAIMS)
    load = claim0(data)["scenario"]["load"]
    load.update(mode="open", rates=[400])
    claim = parse_claims(data, "claims.toml", Path("claims.toml")).claims[0]
    assert [c.of.rate for c in claim.checks] == [400, 400]
    assert claim.checks[1].of.label.endswith("· 32 users · 400 requests/s offered")
    load.update(rates=[100, 400])
    for check in claim0(data)["checks"]:
        check["of"]["rate"] = 400
        if "over" in check:
            check["over"]["rate"] = 100
    claim = parse_claims(data, "claims.toml", Path("claims.toml")).claims[0]
    assert [(c.of.rate, c.over.rate if c.over else None) for c in claim.checks] == [
        (400, 100), (400, None),
    ]  # fmt: skip
