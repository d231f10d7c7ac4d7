"""The OpenAPI contract, fuzzed: every operation, as an authenticated user, against a real server.

schemathesis generates valid and invalid requests from /openapi.json and sends them to uvicorn
(own database, moto S3/SQS); every response must be a non-5xx whose status is declared and whose
body (problem+json included) matches the declared schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ServerProcess
from tests.reliability.conftest import FUZZ, bearer_for, scaled
from tests.test_openapi import OPERATION_IDS

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def contract_server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    # Fuzzed logins must not lock the fuzzer out of the endpoints it is exploring.
    return start_server(LOGIN_MAX_FAILURES="100000", FILES_PRESIGN_MAX_PER_WINDOW="100000")


@pytest.fixture(scope="module")
def bearer(contract_server: ServerProcess) -> dict[str, str]:
    return bearer_for(contract_server.base_url)


@pytest.fixture(scope="module")
def api_schema(contract_server: ServerProcess) -> Any:
    return schemathesis.openapi.from_url(contract_server.base_url + "/openapi.json")


# One test per operation (schemathesis' own pytest loader is not compatible with pytest 9).
@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_operation_keeps_its_contract(
    operation_id: str, api_schema: Any, contract_server: ServerProcess, bearer: dict[str, str]
) -> None:
    operation = api_schema.find_operation_by_id(operation_id)
    # The documented examples reach the success paths random data rarely finds.
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
        *operation.get_strategies_from_examples(),
    )

    @given(case=cases)
    @settings(
        max_examples=scaled(12, 400),
        deadline=None,
        database=None,
        derandomize=not FUZZ,
        suppress_health_check=list(HealthCheck),
    )
    def exchange(case: Any) -> None:
        case.call_and_validate(
            base_url=contract_server.base_url, headers=bearer, checks=CHECKS, timeout=30
        )

    exchange()


def test_every_operation_is_fuzzed(api_schema: Any) -> None:
    found = {
        result.ok().definition.raw.get("operationId") for result in api_schema.get_all_operations()
    }
    assert found == set(OPERATION_IDS)
