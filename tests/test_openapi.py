"""The OpenAPI document: every route of the app in it (and nothing else), errors and examples
documented, and the document itself valid OpenAPI 3."""

import re

import pytest
from openapi_spec_validator import validate

WRITES = {"post", "put", "patch", "delete"}
IGNORED = {"HEAD", "OPTIONS"}


@pytest.fixture
def spec(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    return resp.get_json()


def documented_routes(app) -> dict[str, set[str]]:
    """Return {OpenAPI path: methods} for every app route that the document must cover."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/v1/") or rule.rule in ("/healthz", "/readyz")):
            continue
        if rule.endpoint.startswith("api-docs."):  # the document itself
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(m.lower() for m in rule.methods - IGNORED)
    return routes


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield path, method, op


def test_spec_is_valid_openapi(spec):
    validate(spec)


def test_every_route_is_documented_and_nothing_else(app, spec):
    routes = documented_routes(app)
    documented = {
        path: {m for m in item if m != "parameters"} for path, item in spec["paths"].items()
    }
    assert set(routes) == set(documented)
    for path, methods in routes.items():
        assert methods == documented[path], path
    assert {
        "/healthz",
        "/readyz",
        "/api/v1/films",
        "/api/v1/films/{film_id}/recommendations",
        "/api/v1/jobs/{job_id}",
    } <= set(routes)


def test_every_operation_has_a_summary_and_a_success_response(spec):
    for path, method, op in operations(spec):
        assert op.get("summary"), (method, path)
        assert any(code.startswith("2") for code in op["responses"]), (method, path)


def test_every_operation_documents_its_errors(spec):
    for path, method, op in operations(spec):
        codes = set(op["responses"])
        where = (method, path)
        has_args = any(p.get("in") == "query" for p in op.get("parameters", []))
        if "{" in path:
            assert "404" in codes, where
        if "requestBody" in op or has_args:
            assert "422" in codes, where
        if method in WRITES and path.startswith("/api/v1/"):
            assert {"401", "413", "429"} <= codes, where
        if path == "/readyz":
            assert "503" in codes, where
        if path != "/healthz":
            assert any(code[0] in "45" for code in codes), where


def test_error_responses_have_the_error_shape(spec):
    error = spec["components"]["schemas"]["Error"]
    assert {"code", "status", "message", "errors"} <= set(error["properties"])
    unavailable = spec["paths"]["/readyz"]["get"]["responses"]["503"]
    assert unavailable == {"$ref": "#/components/responses/SERVICE_UNAVAILABLE"}


@pytest.mark.parametrize(
    "path, schema",
    [
        ("/api/v1/films/{film_id}", "Film"),
        ("/api/v1/reviews/{review_id}", "Review"),
        ("/api/v1/films/{film_id}/recommendations", "RecPage"),
    ],
)
def test_main_schemas_have_examples(spec, path, schema):
    content = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    assert content["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    example = content["example"]
    props = spec["components"]["schemas"][schema]["properties"]
    assert set(example) <= set(props), set(example) - set(props)
    assert example.get("id") or example.get("results")


def test_every_operation_has_a_unique_operation_id(spec):
    ids = [op.get("operationId") for _, _, op in operations(spec)]
    assert all(ids), ids
    assert len(ids) == len(set(ids)), ids
    assert (
        spec["paths"]["/api/v1/films/{film_id}/recommendations"]["get"]["operationId"]
        == "listRecommendations"
    )


def test_swagger_ui_is_served_from_the_package(client):
    html = client.get("/api/docs").get_data(as_text=True)
    assert "https://" not in html and "http://" not in html
    for name in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        assert f"/api/docs/static/{name}" in html
        with client.get(f"/api/docs/static/{name}") as resp:
            assert resp.status_code == 200 and len(resp.data) > 1000, name
