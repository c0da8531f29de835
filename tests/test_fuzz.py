"""Schema-driven fuzzing: schemathesis against the app's own OpenAPI document, through WSGI.

Every operation gets a fixed, derandomized budget of generated requests (valid and invalid),
sent with an API key; no answer may be a 5xx or differ from the spec (status, content type,
headers, body schema).
"""

import json
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.generation import GenerationMode

from service import create_app
from tests.conftest import API_KEY, TEST_SETTINGS, remove_prefix

NAME = "test-fuzz-" + uuid.uuid4().hex[:8]
# Built at import (create_app touches no Redis); data and limits live under its own prefix.
APP = create_app({**TEST_SETTINGS, "RECS_PREFIX": NAME + ":", "QUEUE_NAME": NAME})
# /readyz answers 503 by design here (no worker runs). POST /api/v1/pages/fill tags a whole
# page per request: ~10 s for some generated bodies, too slow for this budget (a known gap).
SCHEMA = (
    schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)
    .exclude(path="/readyz")
    .exclude(path="/api/v1/pages/fill")
)
AUTH = {"Authorization": f"Bearer {API_KEY}"}
KNOWN = {"film_id": "fuzz-film", "review_id": None}
# Checked: no 5xx; status, content type, headers and body of every answer as documented; and
# that the app accepts what the spec allows (positive_data_acceptance: issue 15 found the spec
# taking external_ids keys, source_url "0" and synopsis keys that the app refuses). Not
# checked: that it refuses what the spec does not allow, as the key this test always sends
# makes "missing Authorization" cases look accepted.
NOT_CHECKED = [negative_data_rejection]
# The review import reads a review out of the posted page: one without review text is a 422 the
# spec documents but cannot foresee (as a fill's page out of the layout).
SEMANTIC_422 = {("POST", "/api/v1/films/{film_id}/reviews/import")}


@schemathesis.serializer("application/x-ndjson", "application/jsonl")
def jsonl(ctx, value):
    """Send generated rows to the JSON-lines import as one JSON document per line."""
    rows = value if isinstance(value, list) else [value]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


@pytest.fixture(scope="module", autouse=True)
def known_records():
    """A film and a review that about half the generated cases point at, so they get past 404."""
    web = APP.test_client()
    web.post("/api/v1/films", json={"id": "fuzz-film", "title": "Fuzz"}, headers=AUTH)
    resp = web.post("/api/v1/films/fuzz-film/reviews", json={"body": "Gut."}, headers=AUTH)
    KNOWN["review_id"] = resp.get_json()["id"]
    yield
    APP.extensions["recs"]["store"].r.close()
    remove_prefix(NAME)


def ensure_known_records():
    """Put back the known film and review when an earlier case deleted them."""
    store = APP.extensions["recs"]["store"]
    if not store.film_exists("fuzz-film"):
        store.create_film({"id": "fuzz-film", "title": "Fuzz"})
    try:
        store.get_review(KNOWN["review_id"])
    except LookupError:
        KNOWN["review_id"] = store.create_review("fuzz-film", {"body": "Gut."})[0]["id"]


@SCHEMA.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_spec(case):
    params = case.path_parameters or {}
    if case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE:
        for name in ("film_id", "review_id"):
            if isinstance(params.get(name), str) and params[name][:1] < "m":
                ensure_known_records()
                params[name] = KNOWN[name]
    excluded = NOT_CHECKED + (
        [positive_data_acceptance] if (case.method, case.path) in SEMANTIC_422 else []
    )
    case.call_and_validate(headers=AUTH, excluded_checks=excluded)
