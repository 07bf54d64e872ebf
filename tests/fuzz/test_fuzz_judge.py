"""The fuzz tests' own machinery can fail: the judge of an exchange, the folding of work
parameters and the id spellings, on hand-made inputs (no app involved)."""

from __future__ import annotations

import httpx
import pytest
from schemathesis import GenerationMode

from .exchange import Exchange, contract_problems
from .generated import BOUNDED_WORK, bound_work, coverage_cases, operations, prepare
from .hostile import id_spellings


def _exchange(method: str, target: str, status: int, body: bytes) -> Exchange:
    return Exchange(
        variant="hand-made",
        method=method,
        target=target,
        headers=(),
        body=b"",
        status=status,
        response_headers=httpx.Headers({"content-type": "application/json"}),
        response_body=body,
    )


@pytest.mark.parametrize(
    ("method", "target", "status", "body"),
    [
        ("GET", "/health", 200, b'{"status":"ok"}'),
        ("GET", "/items/abc", 404, b'{"error":"not_found","message":"no such item"}'),
        ("DELETE", "/json", 405, b'{"error":"method_not_allowed","message":"GET only"}'),
        ("OPTIONS", "/json", 200, b""),
        ("GET", "/nowhere", 404, b'{"error":"not_found","message":"no route"}'),
    ],
)
def test_conforming_exchanges_pass(method: str, target: str, status: int, body: bytes) -> None:
    assert contract_problems(_exchange(method, target, status, body)) == []


@pytest.mark.parametrize(
    ("method", "target", "status", "body", "found"),
    [
        ("GET", "/health", 500, b'{"error":"internal_error","message":"x"}', "server error"),
        ("OPTIONS", "/json", 503, b"", "server error"),
        ("GET", "/items/1", 404, b'{"error":"bad_request","message":"x"}', "expected"),
        ("GET", "/items/1", 404, b'{"error":"not_found","message":"x","id":1}', "exactly"),
        ("GET", "/items/1", 404, b'{"error":"not_found","message":""}', "non-empty"),
        ("GET", "/items", 400, b'{"error":"bad_request","message":"x"}', "not documented"),
        ("GET", "/json/", 200, b'{"message":"Hello, World!"}', "404"),
        ("GET", "/json", 200, b'{"message":"Hello"}', "body"),
    ],
)
def test_broken_exchanges_are_caught(
    method: str, target: str, status: int, body: bytes, found: str
) -> None:
    problems = contract_problems(_exchange(method, target, status, body))
    assert any(found in problem for problem in problems), problems


def test_work_parameters_are_folded_small_and_garbage_is_kept() -> None:
    operation = operations()["GET /io/sleep"]
    _, hi, small = BOUNDED_WORK["ms"]
    for sent, folded in [(hi, hi % (small + 1)), ("9999", "3"), (-1, -1), ("abc", "abc")]:
        case = bound_work(operation.Case(query={"ms": sent}))
        assert case.query["ms"] == folded, (sent, case.query)
    cpu = bound_work(operations()["GET /cpu"].Case(query={"n": [1_000_000, "x"]}))
    assert cpu.query["n"][1] == "x"
    assert 1 <= cpu.query["n"][0] <= BOUNDED_WORK["n"][2]


def test_coverage_cases_never_ask_for_long_work() -> None:
    # Out-of-range values stay as they are (they must be refused, doing no work).
    for label in ("GET /io/sleep", "GET /io/upstream", "GET /cpu"):
        for mode in GenerationMode:
            for case in coverage_cases(label, mode):
                target = prepare(case).target
                for key, value in httpx.URL(target).params.multi_items():
                    _, hi, small = BOUNDED_WORK[key]
                    if value.isdigit():
                        assert not small < int(value) <= hi, target


def test_id_spellings_read_as_the_id_by_a_lenient_parser() -> None:
    spellings = id_spellings(42)
    assert spellings["id_wide"] == "%EF%BC%94%EF%BC%92"
    assert spellings["id_arabic"] == "%D9%A4%D9%A2"
    assert spellings["id_split"] == "4_2"
    assert int(spellings["id_hex"], 16) == 42
    with pytest.raises(ValueError, match="two digits"):
        id_spellings(7)
