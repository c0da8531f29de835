"""Issue 15 item 10: what schemathesis found the spec accepting and the app refusing. Each body
is checked against the spec's own schema (JSON Schema 2020-12, as OpenAPI 3.1 says) and sent."""

import pytest
from jsonschema import Draft202012Validator


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def spec_allows(spec: dict, name: str, body) -> bool:
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return Draft202012Validator(schema).is_valid(body)


@pytest.mark.parametrize(
    ("name", "path", "body"),
    [
        ("Film", "/api/v1/films", {"title": "T", "external_ids": {"x": "1"}}),
        ("Film", "/api/v1/films", {"title": "T", "synopsis": {"Deutsch": "Text"}}),
        ("Film", "/api/v1/films", {"title": "T", "synopsis": {"de-DE": "Text"}}),
        ("Review", "/api/v1/films/f/reviews", {"body": "Gut.", "source_url": "0"}),
        (
            "Review",
            "/api/v1/films/f/reviews",
            {"body": "Gut.", "source_url": "ftp://example.com/x"},
        ),
        ("FilmPatch", "/api/v1/films/f", {}),
        ("ReviewPatch", "/api/v1/reviews/{review}", {}),
    ],
)
def test_spec_refuses_what_the_app_refuses(spec, client, name, path, body):
    client.post("/api/v1/films", json={"id": "f", "title": "F"})
    review = client.post("/api/v1/films/f/reviews", json={"body": "Gut."}).get_json()["id"]
    method = client.patch if name.endswith("Patch") else client.post
    resp = method(path.format(review=review), json=body)
    assert resp.status_code == 422, resp.get_json()
    assert not spec_allows(spec, name, body)


@pytest.mark.parametrize(
    ("name", "path", "body"),
    [
        (
            "Film",
            "/api/v1/films",
            {
                "title": "T",
                "external_ids": {"tmdb": "1", "imdb": "tt1"},
                "synopsis": {"de": "Text", "kor": "Text"},
                "year": 1965.0,
            },
        ),
        (
            "Review",
            "/api/v1/films/f/reviews",
            {"body": "Gut.", "source_url": "https://blog.example.com:8080/a?b=c#d"},
        ),
    ],
)
def test_spec_and_app_accept_the_same(spec, client, name, path, body):
    client.post("/api/v1/films", json={"id": "f", "title": "F"})
    assert spec_allows(spec, name, body)
    assert client.post(path, json=body).status_code == 201


def test_an_empty_page_is_outside_the_fill_spec(spec, client):
    schema = spec["paths"]["/api/v1/pages/fill"]["post"]["requestBody"]["content"]["text/plain"][
        "schema"
    ]
    assert not Draft202012Validator(schema).is_valid("")
    assert client.post("/api/v1/pages/fill", data=b"", content_type="text/plain").status_code == 422


def test_a_url_with_a_final_newline_is_refused(client):
    """Python's '$' matches before a final newline; ECMA-262's (the spec's) does not."""
    client.post("/api/v1/films", json={"id": "f", "title": "F"})
    resp = client.post(
        "/api/v1/films/f/reviews", json={"body": "Gut.", "source_url": "https://example.com/\n"}
    )
    assert resp.status_code == 422 and "source_url" in resp.get_json()["errors"]["json"]
