"""service/relatedfront.py: a fresh related-titles answer is served again beneath Flask, with
what Flask would answer (status, bytes, headers, metrics, access line, rate limits), and
never once its sources changed."""

import socket

import pytest
from redis.exceptions import RedisError

from service import create_app, relatedfront, security
from service.recommendations import Recommendations
from service.relatedfront import RelatedFront
from tests.conftest import REDIS_URL, TEST_SETTINGS
from tests.helpers import free_port, start_gunicorn
from tests.test_html_cache import CHANGES, make_change
from tests.test_pagefront import assert_counted_and_logged

RECS = "/api/v1/films/love-911/recommendations"
URL = RECS + "?limit=10"
OWN = {"Date", "X-Request-ID"}  # made for each answer


def front(app) -> RelatedFront:
    return app.wsgi_app


def but_own(response) -> list:
    """The headers of an answer in their order, but the ones made for each answer."""
    return [(k, v) for k, v in response.headers.items() if k not in OWN]


def through_flask(app, client, url=URL, **kwargs):
    """Return what Flask itself answers (with the front off)."""
    replays = front(app).replays
    size, replays.size = replays.size, 0
    try:
        return client.get(url, **kwargs)
    finally:
        replays.size = size


def assert_same(response, flask) -> None:
    assert response.status == flask.status
    assert response.get_data() == flask.get_data()
    assert but_own(response) == but_own(flask)
    assert [k for k, _ in response.headers.items()] == [k for k, _ in flask.headers.items()]


@pytest.mark.parametrize(
    "query",
    [
        "?limit=10",
        "",
        "?page=2&page_size=3&lang=en",
        "?exclude=heat-1995,backdraft&limit=7",
        "?exclude=",
        "?page=100&limit=100",  # past the end: no results, still a fresh answer
    ],
)
def test_a_kept_answer_is_served_by_the_front_as_flask_served_it(app, client, seeded, query):
    first = client.get(RECS + query)
    assert first.status_code == 200 and front(app).served == 0  # Flask's: the front learns it
    again = [client.get(RECS + query) for _ in range(3)]
    assert front(app).served == 3
    flask = through_flask(app, client, RECS + query)
    assert front(app).served == 3
    for response in [first, *again]:
        assert_same(response, flask)
        assert set(response.headers.keys()) >= OWN
    assert len({r.headers["X-Request-ID"] for r in again}) == 3
    given = client.get(RECS + query, headers={"X-Request-ID": "req-7"})
    assert given.headers["X-Request-ID"] == "req-7" and front(app).served == 4


def test_flask_view_does_not_run_for_a_kept_answer(app, client, seeded, monkeypatch):
    """Fails when the front stops being taken (its answer made None, say)."""
    first = client.get(URL)

    def refuse(*args, **kwargs):
        raise AssertionError("Flask's view ran where the front should have answered")

    monkeypatch.setattr(Recommendations, "get", refuse)
    again = client.get(URL)
    assert again.status_code == 200 and again.get_data() == first.get_data()


@pytest.mark.parametrize(
    "url, headers",
    [
        (RECS + "?lang=EN", {}),  # webargs parses it
        (RECS + "?limit=5&lang=de-DE", {}),  # so too
        (RECS + "?limit=5&limit=6", {}),
        (RECS + "?other=1", {}),
        (RECS + "?limit=%31%30", {}),  # to be decoded
        (RECS + "?limit=10&", {}),
        (RECS + "?limit", {}),
        (RECS + "?exclude=" + "a" * 300, {}),
        (RECS + "/", {}),
        (URL, {"If-None-Match": "*"}),
        (URL, {"If-Modified-Since": "Mon, 07 Dec 2026 07:00:00 GMT"}),
        (URL, {"Range": "bytes=0-10"}),
        (URL, {"Origin": "https://elsewhere.example"}),
    ],
)
def test_requests_other_than_plain_reads_go_through_flask(app, client, seeded, url, headers):
    for _ in range(3):
        client.get(url, headers=headers)
    assert front(app).served == 0 and front(app).replays.pages == {}


def test_a_read_with_a_body_goes_through_flask_and_an_empty_one_does_not(app, client, seeded):
    for _ in range(3):
        assert client.get(URL, data=b"abc").status_code == 200
    assert front(app).served == 0
    for _ in range(3):
        client.get(URL, headers={"Content-Length": "0"})
    assert front(app).served == 2


def test_head_and_conditional_reads_get_flask_answers(app, client, seeded):
    for _ in range(3):
        etag = client.get(URL).headers["ETag"]
    assert front(app).served == 2
    assert client.get(URL, headers={"If-None-Match": etag}).status_code == 304
    head = client.head(URL)
    assert head.status_code == 200 and head.get_data() == b"" and front(app).served == 2


def test_unknown_films_and_stale_lists_are_not_replayed(app, client, seeded):
    missing = RECS.replace("love-911", "no-such-film")
    assert [client.get(missing).status_code for _ in range(3)] == [404] * 3
    client.patch("/api/v1/films/love-911", json={"title": "Love 911 (neu)"})  # no job run
    answers = [client.get(URL).get_json() for _ in range(3)]
    assert {a["status"] for a in answers} == {"stale"} and answers[0]["job_id"]
    assert front(app).served == 0


@pytest.mark.parametrize("change", CHANGES)
def test_a_write_makes_the_next_request_go_to_flask(app, client, seeded, run_jobs, change):
    for _ in range(3):
        before = client.get(URL)
    assert front(app).served == 2
    listed = make_change(client, seeded, change)
    run_jobs()
    served = front(app).served
    after = client.get(URL)
    assert front(app).served == served, "the front served an answer made before the change"
    assert_same(after, through_flask(app, client))
    items = {item["id"]: item["title"] for item in after.get_json()["results"]}
    if change.startswith("listed"):
        assert after.get_data() != before.get_data()
    if change == "listed film":
        assert items[listed] == "Ein neuer Titel"
    elif change == "listed film deleted":
        assert listed not in items
    assert client.get(URL).get_data() == after.get_data() and front(app).served == served + 1


def test_an_answer_the_page_cache_dropped_goes_to_flask(app, client, seeded):
    for _ in range(2):
        first = client.get(URL)
    assert front(app).served == 1
    app.extensions["recs"]["pages"].pages.clear()  # evicted, say
    again = [client.get(URL) for _ in range(3)]  # Flask's, which keeps it anew; then the front's
    assert front(app).served == 3
    assert {r.get_data() for r in again} == {first.get_data()}


def test_after_a_change_the_list_is_checked_once(app, client, seeded, monkeypatch):
    """The front found the kept answer out of date: Flask reads the list anew at once, without
    asking Redis again whether the cache's entry is current (as without the front: one check)."""
    for _ in range(2):
        client.get(URL)
    client.patch("/api/v1/films/love-911", json={"title": "Love 911 (neu)"})
    store = type(seeded)
    checks = []
    check = store.read_list_unchanged
    monkeypatch.setattr(
        store, "read_list_unchanged", lambda *a, **k: checks.append(1) or check(*a, **k)
    )
    assert client.get(URL).get_json()["status"] == "stale" and len(checks) == 1


def test_redis_errors_in_the_check_leave_the_answer_to_flask(app, client, seeded, monkeypatch):
    first = client.get(URL)

    def fail(*args, **kwargs):
        raise RedisError("down")

    monkeypatch.setattr(relatedfront, "still_made_from", fail)
    assert client.get(URL).get_data() == first.get_data() and front(app).served == 0


def test_rate_limits_are_those_of_flask(app, seeded, monkeypatch):
    """Related titles are not limited (docs/SECURITY.md): through the front neither. Were they
    an expensive read, every request would go through Flask-Limiter, kept answers too."""
    app.config["RECS_RATE_READS"] = "2/minute"
    web = app.test_client()
    answers = [web.get(URL) for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 5 and front(app).served == 4
    assert not any(
        h.startswith(("X-RateLimit", "Retry-After")) for r in answers for h in r.headers.keys()
    )
    assert_same(answers[-1], through_flask(app, web))
    monkeypatch.setattr(
        security, "EXPENSIVE_READS", security.EXPENSIVE_READS | {relatedfront.ENDPOINT}
    )
    limited = [web.get(URL) for _ in range(3)]
    assert [r.status_code for r in limited] == [200, 200, 429] and front(app).served == 4
    assert limited[0].headers["X-RateLimit-Limit"] == "2"
    assert "Retry-After" in limited[2].headers
    assert front(app).replays.pages == {}  # a limited answer is never kept


def test_front_answers_are_counted_and_logged(app, client, seeded):
    client.get(URL)
    assert_counted_and_logged(app, client, front(app), RECS, URL[len(RECS) :])


@pytest.fixture
def cors_app(app):
    """A second web process on the same prefix, with CORS on."""
    other = create_app(
        {
            **TEST_SETTINGS,
            "RECS_PREFIX": app.config["RECS_PREFIX"],
            "QUEUE_NAME": app.config["QUEUE_NAME"],
            "CORS_ORIGINS": ["https://site.example"],
        }
    )
    yield other
    other.extensions["recs"]["store"].r.close()


def test_with_cors_the_front_answers_as_flask_and_origins_go_to_flask(seeded, cors_app):
    web = cors_app.test_client()
    answers = [web.get(URL) for _ in range(3)]
    assert front(cors_app).served == 2 and "Origin" in answers[-1].headers["Vary"]
    assert_same(answers[-1], through_flask(cors_app, web))
    cors = web.get(URL, headers={"Origin": "https://site.example"})
    assert cors.headers["Access-Control-Allow-Origin"] == "https://site.example"
    assert_same(cors, through_flask(cors_app, web, headers={"Origin": "https://site.example"}))
    assert front(cors_app).served == 2


@pytest.mark.parametrize("overrides", [{"PAGE_CACHE": 0}, {"RATELIMIT_META": "1/minute"}])
def test_the_front_is_off_with_the_page_cache_or_meta_limits(make_app, overrides):
    app = make_app(**overrides)
    web = app.test_client()
    assert [web.get(RECS.replace("love-911", "ghost")).status_code for _ in range(2)] == [404] * 2
    assert front(app).replays.size == 0 and front(app).served == 0


def test_under_gunicorn_the_wire_bytes_are_flasks(app, seeded):
    """One sync worker: the first answer is Flask's, the next ones the front's (the in-process
    tests show it is taken); status line, headers in order and body are the same bytes."""
    port = free_port()
    proc = start_gunicorn(
        {
            "REDIS_URL": REDIS_URL,
            "RECS_PREFIX": app.config["RECS_PREFIX"],
            "RECS_QUEUE": app.config["QUEUE_NAME"],
            "RECS_API_KEYS": "k-wire",
            "GUNICORN_WORKERS": "1",
        },
        port,
    )
    try:
        request = f"GET {URL} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        answers = [raw_answer(port, request) for _ in range(4)]
    finally:
        proc.terminate()
        proc.wait(30)
    assert answers[0][0].startswith(b"HTTP/1.1 200 OK")
    assert len(set(answers)) == 1, answers


def raw_answer(port: int, request: bytes) -> tuple:
    """Return an answer's status line, header lines but Date and X-Request-ID, and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    own = (b"date:", b"x-request-id:")
    return status, tuple(line for line in lines if not line.lower().startswith(own)), body
