"""Property-based fuzzing of every variant with requests generated from the OpenAPI document.

For every variant of apps/variants.toml x every operation of apps/contract/openapi.yaml x
{positive, negative}: schemathesis' deterministic coverage cases, then MAX_EXAMPLES cases
drawn by Hypothesis. Properties: no response is a 5xx, every response matches the schema
the document gives its status (a status the operation does not declare fails), every error
has the shared shape with the code of its status, and a positive (conforming) request is
accepted: a 2xx, or a 404 where an item id in the path may not exist.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from schemathesis import APIOperation, Case, GenerationMode

from apps.contract.clients import load_variants

from .exchange import Exchange, assert_conforms, send
from .generated import coverage_cases, operations, prepare, random_cases

VARIANTS = list(load_variants())
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Paths whose operation calls the upstream service: the test starts the real one for them.
UPSTREAM_PATHS = frozenset({"/io/upstream"})
# Drawn cases per (variant, operation, mode), on top of the ~250 coverage cases per variant:
# 8 variants x 26 (operation, mode) pairs must fit the ~90 s the fuzz run may take of
# `make test` on 2 cores.
MAX_EXAMPLES = 20
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    # The same cases on every run and, because the seed comes from the test function, the same
    # cases for every variant: a failure reproduces and variants are compared like for like.
    derandomize=True,
    # No example database: nothing is written under the repository.
    database=None,
    deadline=None,
    # Generating negative cases is slow and filtered by schemathesis itself: not a test problem.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
    print_blob=False,
)
REFUSED_SHOWN = 5


class ConformingRequestRefused(AssertionError):
    """A request that conforms to the document got a 4xx it should not have."""


def _has_inputs(operation: APIOperation) -> bool:
    parts = (operation.path_parameters, operation.query, operation.headers, operation.cookies)
    return any(len(part) for part in parts) or bool(len(operation.body))


def _accepted(operation: APIOperation, exchange: Exchange) -> bool:
    if 200 <= exchange.status < 300:
        return True
    # A conforming item id need not exist.
    return bool(len(operation.path_parameters)) and exchange.status == 404


def _phases(operation: APIOperation, mode: GenerationMode) -> tuple[Phase, ...]:
    # An operation without parameters or body (GET /health, ...) has nothing for a drawn
    # negative case to violate (schemathesis rightly calls that strategy unsatisfiable): its
    # negative cases are the coverage ones only (methods the path does not define, a body
    # with a Content-Type on a GET).
    if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
        return (Phase.explicit,)
    return (Phase.explicit, Phase.generate, Phase.shrink)


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("label", list(operations()))
@pytest.mark.parametrize("variant", VARIANTS)
def test_generated_requests_conform(
    variant: str,
    label: str,
    mode: GenerationMode,
    fuzz_client: Callable[[str], httpx.Client],
    request: pytest.FixtureRequest,
) -> None:
    operation = operations()[label]
    if operation.path in UPSTREAM_PATHS:
        request.getfixturevalue("upstream_server")
    client = fuzz_client(variant)
    # Refusals are collected rather than raised inside the property, so that they neither
    # stop the search for 5xx and schema violations nor get confused with them.
    refused: dict[str, None] = {}

    def exchange_conforms(case: Case) -> None:
        prepared = prepare(case)
        exchange = send(
            client,
            variant,
            prepared.method,
            prepared.target,
            headers=prepared.headers,
            body=prepared.body,
        )
        assert_conforms(exchange)
        if mode is GenerationMode.POSITIVE and not _accepted(operation, exchange):
            refused[exchange.reproducer()] = None

    test = given(case=random_cases(label, mode))(exchange_conforms)
    for case in coverage_cases(label, mode):
        test = example(case=case)(test)
    settings(FUZZ_SETTINGS, phases=_phases(operation, mode))(test)()
    if refused:
        shown = "\n  ".join(list(refused)[:REFUSED_SHOWN])
        raise ConformingRequestRefused(f"{len(refused)} conforming request(s) refused:\n  {shown}")
