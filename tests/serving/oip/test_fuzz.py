"""Fuzz the ``/v2`` REST endpoints from the protocol's OpenAPI document
(``serving/oip/openapi.yaml``) with schemathesis: valid and invalid requests alike, every
answer must be one the document lists (status, content type, schema), none a 5xx, and the
server must still answer afterwards. Bounded: a fixed number of examples per operation,
no shrinking, a per-request timeout.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

import serving.oip
from tests.serving.oip.conftest import MODEL

OPENAPI = Path(serving.oip.__file__).parent / "openapi.yaml"
MAX_EXAMPLES = 25
REQUEST_TIMEOUT_S = 30

schema = schemathesis.openapi.from_path(OPENAPI)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES
)
# A request the document allows may still be refused by the model (a datatype or shape it
# does not take): that is a 400 the document lists, not a failure to accept valid data.
_EXCLUDED = [schemathesis.checks.positive_data_acceptance]


@pytest.fixture(scope="module")
def session():
    with requests.Session() as s:
        yield s


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,  # nothing written into the work tree
    suppress_health_check=list(HealthCheck),
)
def test_v2_answers_conform_and_are_never_5xx(case, rest_url, session):
    case.call_and_validate(
        base_url=rest_url, session=session, excluded_checks=_EXCLUDED, timeout=REQUEST_TIMEOUT_S
    )
    if "model_name" in (case.path_parameters or {}):
        # The same request on the real model, so the fuzz reaches decoding and inference.
        case.path_parameters = {**case.path_parameters, "model_name": MODEL}
        case.call_and_validate(
            base_url=rest_url, session=session, excluded_checks=_EXCLUDED, timeout=REQUEST_TIMEOUT_S
        )


def test_the_server_is_still_up_after_the_fuzz(rest_url):
    assert requests.get(f"{rest_url}/v2/health/ready", timeout=REQUEST_TIMEOUT_S).json() == {
        "ready": True
    }
