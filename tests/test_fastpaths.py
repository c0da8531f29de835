"""Every fast path of service/fastpaths.py is taken: the general path it stands in for is
made to fail (or counted), and the hot request must not reach it.

tests/test_rec_fastpath.py checks that the fast paths give what the general paths give; these
check that they are still used at all.
"""

import pytest

from service import security
from service.recommendations import RecPage, blp
from service.schemas import FilmSchema

RECS = "/api/v1/films/love-911/recommendations"


def refuse(*args, **kwargs):
    raise AssertionError("the general path ran where the fast path should have")


@pytest.mark.parametrize(
    "query", ["", "?limit=5", "?page=2&page_size=3&lang=en", "?exclude=heat-1995"]
)
def test_plain_recommendation_queries_skip_webargs(client, seeded, monkeypatch, query):
    calls = []
    parse = blp.ARGUMENTS_PARSER.parse
    monkeypatch.setattr(
        blp.ARGUMENTS_PARSER, "parse", lambda *a, **k: calls.append(a) or parse(*a, **k)
    )
    assert client.get(RECS + query).status_code == 200
    assert calls == []
    assert client.get(RECS + "?lang=EN").status_code == 200  # unusual: webargs parses it
    assert len(calls) == 1


def test_recommendation_pages_are_dumped_without_marshmallow(client, seeded, monkeypatch):
    monkeypatch.setattr(RecPage, "dump", refuse)
    body = client.get(RECS + "?limit=5").get_json()
    assert len(body["results"]) == 5


def test_film_reads_are_dumped_without_marshmallow(client, seeded, monkeypatch):
    monkeypatch.setattr(FilmSchema, "dump", refuse)
    assert client.get("/api/v1/films/love-911").get_json()["id"] == "love-911"


def test_flask_limiter_resolves_limits_only_where_one_applies(make_app, monkeypatch):
    """Flask-Limiter's request filter exempts reads no limit covers before it resolves any
    limit: their exempt_when checks are never asked. Where a limit applies they are, and the
    request is counted (X-RateLimit-*)."""
    asked = []
    for name in ("writes_exempt", "reads_exempt"):
        check = getattr(security, name)
        monkeypatch.setattr(security, name, lambda check=check: asked.append(1) or check())
    app = make_app()
    client = app.test_client()
    key = app.config["RECS_API_KEYS"][0]
    assert client.get("/api/v1/films/nope").status_code == 404  # a read no limit covers
    assert client.get("/healthz").status_code == 200
    assert client.get(RECS.replace("love-911", "nope")).status_code in (200, 404)
    assert asked == []
    created = client.post(
        "/api/v1/films", json={"title": "Limited"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert created.status_code == 201 and "X-RateLimit-Limit" in created.headers
    assert asked  # a write: Flask-Limiter resolved the limits and counted it


def test_a_current_kept_film_page_skips_flask_limiter(client, seeded, monkeypatch):
    asked = []
    check = security.reads_exempt
    monkeypatch.setattr(security, "reads_exempt", lambda: asked.append(1) or check())
    rendered = client.get("/films/love-911")
    assert rendered.status_code == 200 and "X-RateLimit-Limit" in rendered.headers
    assert asked  # a render is an expensive read: limited
    asked.clear()
    again = client.get("/films/love-911")
    assert again.status_code == 200 and "X-RateLimit-Limit" not in again.headers
    assert asked == []  # kept and current: Flask-Limiter resolved nothing
