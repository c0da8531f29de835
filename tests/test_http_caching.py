"""HTTP caching: ETag and Last-Modified on reads, 304 for a current copy, Cache-Control, Vary."""

import pytest

from service.caching import CACHEABLE


def assert_revalidates(client, url, **kwargs):
    """Return the 200 answer at url after checking that its ETag and its Last-Modified give 304."""
    first = client.get(url, **kwargs)
    assert first.status_code == 200, first.data
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    headers = kwargs.pop("headers", {})
    again = client.get(url, headers={**headers, "If-None-Match": etag}, **kwargs)
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    if "Last-Modified" in first.headers:
        since = client.get(
            url, headers={**headers, "If-Modified-Since": first.headers["Last-Modified"]}, **kwargs
        )
        assert since.status_code == 304
    other = client.get(url, headers={**headers, "If-None-Match": 'W/"something-else"'}, **kwargs)
    assert other.status_code == 200 and other.data == first.data
    return first


def test_film_and_its_reviews_revalidate_and_change_with_the_film(client):
    client.post("/api/v1/films", json={"id": "kino", "title": "Kino", "year": 2000})
    film = assert_revalidates(client, "/api/v1/films/kino")
    assert "Last-Modified" in film.headers
    reviews = assert_revalidates(client, "/api/v1/films/kino/reviews")
    posted = client.post("/api/v1/films/kino/reviews", json={"body": "Schön.", "author": "A"})
    assert posted.headers["Cache-Control"] == "no-store"
    stale = {"If-None-Match": reviews.headers["ETag"]}
    assert client.get("/api/v1/films/kino/reviews", headers=stale).status_code == 200
    assert (
        client.get(
            "/api/v1/films/kino", headers={"If-None-Match": film.headers["ETag"]}
        ).status_code
        == 200
    )
    assert_revalidates(client, f"/api/v1/reviews/{posted.get_json()['id']}")
    client.patch("/api/v1/films/kino", json={"year": 2001})
    changed = client.get("/api/v1/films/kino")
    assert changed.headers["ETag"] != film.headers["ETag"]
    assert changed.get_json()["year"] == 2001


def test_related_titles_and_page_revalidate(client, seeded):
    recs = assert_revalidates(client, "/api/v1/films/love-911/recommendations?limit=5&lang=de")
    assert "stale-while-revalidate=" in recs.headers["Cache-Control"]
    assert "Last-Modified" in recs.headers
    other_lang = client.get("/api/v1/films/love-911/recommendations?limit=5&lang=en")
    assert other_lang.headers["ETag"] != recs.headers["ETag"]
    page = assert_revalidates(client, "/films/love-911", headers={"Accept-Language": "de-DE,de"})
    assert page.headers["Content-Language"] == "de"
    assert "Accept-Language" in page.headers["Vary"]
    english = client.get("/films/love-911", headers={"Accept-Language": "en-GB"})
    assert english.headers["Content-Language"] == "en"
    assert english.headers["ETag"] != page.headers["ETag"]
    assert_revalidates(client, "/api/v1/films/love-911/tags")
    assert_revalidates(client, "/?lang=en")


def test_a_list_being_computed_is_revalidated_every_time(client, seeded):
    client.post("/api/v1/films/love-911/reviews", json={"body": "Noch eine Kritik.", "author": "B"})
    stale = client.get("/api/v1/films/love-911/recommendations")
    assert stale.get_json()["status"] == "stale"
    assert stale.headers["Cache-Control"] == "no-cache" and "ETag" in stale.headers
    assert client.get("/films/love-911").headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/api/v1/films/nope"),
        ("get", "/films/nope"),
        ("post", "/api/v1/films"),
        ("get", "/api/v1/films?page=0"),
    ],
)
def test_errors_and_writes_are_never_stored(client, method, url):
    resp = getattr(client, method)(url, json={"title": "Neu"} if method == "post" else None)
    assert resp.headers["Cache-Control"] == "no-store"


def test_the_spec_documents_304_on_cacheable_reads(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "304" in paths["/api/v1/films/{film_id}"]["get"]["responses"]
    assert "304" in paths["/api/v1/films/{film_id}/recommendations"]["get"]["responses"]
    assert "304" not in paths["/api/v1/jobs"]["get"]["responses"]


def test_other_reads_are_revalidated(client):
    assert client.get("/api/v1/jobs").headers["Cache-Control"] == "no-cache"
    assert client.get("/healthz").headers["Cache-Control"] == "no-cache"
    assert "films.FilmById" in CACHEABLE


def test_cors_varies_on_origin_and_allows_the_request_id(make_app):
    web = make_app(CORS_ORIGINS=["https://www.example.de"]).test_client()
    for origin in ("https://www.example.de", "https://evil.example", None):
        resp = web.get("/api/v1/films", headers={"Origin": origin} if origin else {})
        assert "Origin" in resp.headers["Vary"], origin
    allowed = web.get("/api/v1/films", headers={"Origin": "https://www.example.de"})
    exposed = allowed.headers["Access-Control-Expose-Headers"].lower()
    assert "x-request-id" in exposed and "etag" in exposed
    preflight = web.options(
        "/api/v1/films",
        headers={
            "Origin": "https://www.example.de",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Request-ID",
        },
    )
    assert "x-request-id" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "Origin" in preflight.headers["Vary"]


CONDITIONS = [
    {},
    {"If-None-Match": "current"},
    {"If-None-Match": 'W/"other"'},
    {"If-Modified-Since": "current"},
    {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
    {"If-Match": "*"},
    {"Range": "bytes=0-9"},
]
COMPARED = (
    "ETag",
    "Last-Modified",
    "Cache-Control",
    "Content-Length",
    "Content-Type",
    "Vary",
    "Content-Language",
)


@pytest.mark.parametrize(
    "url",
    ["/api/v1/films/love-911/recommendations?limit=5", "/films/love-911", "/api/v1/films/love-911"],
)
def test_validators_answer_as_werkzeug_would(client, seeded, monkeypatch, url):
    """Reads without conditional headers skip werkzeug's make_conditional: the answer must be
    the one it gives, and every conditional header must still go through it."""
    first = client.get(url)
    current = {
        "If-None-Match": first.headers["ETag"],
        "If-Modified-Since": first.headers["Last-Modified"],
    }
    lean = []
    for condition in CONDITIONS:
        headers = {k: current[k] if v == "current" else v for k, v in condition.items()}
        lean.append((headers, client.get(url, headers=headers)))
    monkeypatch.setattr("service.caching.CONDITIONAL", ("REQUEST_METHOD",))  # always werkzeug
    for headers, answer in lean:
        full = client.get(url, headers=headers)
        assert (answer.status_code, answer.data) == (full.status_code, full.data), headers
        assert {k: answer.headers.get(k) for k in COMPARED} == {
            k: full.headers.get(k) for k in COMPARED
        }
        assert "Date" in answer.headers


def test_plain_reads_skip_make_conditional(client, seeded, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("make_conditional on a read without conditional headers")

    monkeypatch.setattr("flask.Response.make_conditional", refuse)
    for url in ("/api/v1/films/love-911/recommendations?limit=5", "/films/love-911"):
        assert client.get(url).status_code == 200
    with pytest.raises(AssertionError):
        client.get("/films/love-911", headers={"If-None-Match": 'W/"x"'})


def test_validators_are_formatted_as_werkzeug_formats_them():
    """add_validators writes ETag, Last-Modified and Date itself, each formatted once and
    kept (a kept page's, this second's): the same text as werkzeug's setters."""
    from werkzeug.http import http_date, quote_etag

    from service.caching import date_now, date_of, weak_etag

    assert weak_etag("abc") == quote_etag("abc", weak=True) == 'W/"abc"'
    assert date_of(1765000000) == http_date(1765000000)
    before, now, after = http_date(), date_now(), http_date()
    assert now in (before, after)
