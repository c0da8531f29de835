"""The API's contract: POST and GET answer the same fields, 415 for a body that is not JSON,
BCP 47 language tags, and docs/API.md naming every route."""

import re
from pathlib import Path

import pytest

from tests.test_openapi import documented_routes

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "API.md"


def test_post_and_get_answer_the_same_fields(client):
    posted = client.post("/api/v1/films", json={"id": "kino", "title": "Kino"})
    got = client.get("/api/v1/films/kino")
    assert posted.status_code == 201 and posted.get_json() == got.get_json()
    film = got.get_json()
    assert film["year"] is None and film["genres"] == [] and film["synopsis"] == {}
    assert film["job_id"] == posted.get_json()["job_id"] and film["job_id"]
    assert client.get("/api/v1/films").get_json()["results"] == [film | {"rev": film["rev"]}]
    review = client.post("/api/v1/films/kino/reviews", json={"body": "Sehr schön."})
    got = client.get(f"/api/v1/reviews/{review.get_json()['id']}")
    assert review.get_json() == got.get_json()
    assert got.get_json()["rating"] is None and got.get_json()["published_at"] is None
    listed = client.get("/api/v1/films/kino/reviews").get_json()["results"]
    assert listed == [got.get_json()]


@pytest.mark.parametrize(
    "method, url",
    [
        ("post", "/api/v1/films"),
        ("patch", "/api/v1/films/kino"),
        ("post", "/api/v1/films/kino/reviews"),
        ("post", "/api/v1/films/kino/reviews/import"),
    ],
)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_415(client, store, method, url, content_type):
    client.post("/api/v1/films", json={"id": "kino", "title": "Kino"})
    before = client.get("/api/v1/films/kino").get_json()
    resp = getattr(client, method)(
        url, data='{"title": "X", "body": "x", "content": "x"}', content_type=content_type
    )
    assert resp.status_code == 415
    assert resp.get_json()["code"] == 415 and "application/json" in resp.get_json()["message"]
    assert client.get("/api/v1/films/kino").get_json() == before


def test_415_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "415" in spec["paths"]["/api/v1/films"]["post"]["responses"]
    assert "415" in spec["paths"]["/api/v1/films/{film_id}"]["patch"]["responses"]


@pytest.mark.parametrize(
    "tag, lang", [("de-DE", "de"), ("en-GB", "en"), ("en_US", "en"), ("DE", "de")]
)
def test_lang_takes_bcp47_tags(client, tag, lang):
    client.post("/api/v1/films", json={"id": "kino", "title": "Kino", "genres": ["Comedy"]})
    assert client.get(f"/api/v1/films/kino/recommendations?lang={tag}").status_code == 200
    assert client.get(f"/api/v1/films/kino/tags?lang={tag}").status_code == 200
    assert client.get(f"/films/kino?lang={tag}").headers["Content-Language"] == lang
    assert client.get("/api/v1/films/kino/tags?lang=fr-FR").status_code == 422


def test_api_guide_names_every_route(app):
    text = API_DOC.read_text(encoding="utf-8")
    missing = []
    for path, methods in documented_routes(app).items():
        short = path.removeprefix("/api/v1")
        for method in methods:
            pattern = rf"`{method.upper()} {re.escape(short)}`"
            if not re.search(pattern, text):
                missing.append(f"{method.upper()} {short}")
    assert not missing, f"docs/API.md does not name: {missing}"
