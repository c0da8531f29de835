"""service/pagefront.py: a kept film page is answered beneath Flask, with what Flask would have
answered (headers, metrics, access line), and never once its sources changed."""

import pytest

from service.pagefront import PageFront
from tests.helpers import json_log_lines
from tests.test_html_cache import CHANGES, PAGE, make_change, rendered
from tests.test_metrics import rule_of, scrape, value

OWN = {"Date", "X-Request-ID"}  # made for each answer


def front(app) -> PageFront:
    wsgi = app.wsgi_app  # beneath the related-titles front (service/relatedfront.py)
    while not isinstance(wsgi, PageFront):
        wsgi = wsgi.wsgi_app
    return wsgi


def headers_but_own(response) -> dict:
    return {k: v for k, v in response.headers.items() if k not in OWN}


def through_flask(app, client, url=PAGE):
    """Return what Flask itself answers (with the front off)."""
    replays = front(app).replays
    size, replays.size = replays.size, 0
    try:
        return client.get(url)
    finally:
        replays.size = size


def test_a_kept_page_is_served_by_the_front_as_flask_served_it(app, client, seeded):
    first = client.get(PAGE)
    assert rendered(first) and front(app).served == 0  # rendered and kept: the front learns it
    again = [client.get(PAGE) for _ in range(3)]
    assert front(app).served == 3
    flask = through_flask(app, client)
    assert not rendered(flask) and front(app).served == 3
    assert headers_but_own(flask) == {
        k: v for k, v in headers_but_own(first).items() if not k.startswith("X-RateLimit")
    }
    for response in again:
        assert response.status_code == 200
        assert response.get_data() == flask.get_data()
        assert headers_but_own(response) == headers_but_own(flask)
        assert set(response.headers.keys()) >= OWN
    assert len({r.headers["X-Request-ID"] for r in again}) == 3
    given = client.get(PAGE, headers={"X-Request-ID": "req-7"})
    assert given.headers["X-Request-ID"] == "req-7" and front(app).served == 4


@pytest.mark.parametrize(
    "lang, accept, expect",
    [("?lang=en", "de", "en"), ("?lang=de-DE", "en", "de"), ("", "en-GB,en;q=0.9", "en")],
)
def test_the_front_keys_pages_by_language_as_flask_does(app, client, seeded, lang, accept, expect):
    responses = [client.get(PAGE + lang, headers={"Accept-Language": accept}) for _ in range(3)]
    assert front(app).served == 2
    assert {r.headers["Content-Language"] for r in responses} == {expect}
    assert len({r.get_data() for r in responses}) == 1


@pytest.mark.parametrize("change", CHANGES)
def test_the_front_never_serves_a_page_after_a_change(app, client, seeded, change):
    for _ in range(3):
        client.get(PAGE)
    assert front(app).served == 2
    make_change(client, seeded, change)
    served = front(app).served
    after = client.get(PAGE)
    assert front(app).served == served, "the front served a page made before the change"
    expected = {
        "review": "Neue Kritik.",
        "film": "Love 911 (neu)",
        "listed film": "Ein neuer Titel",
    }.get(change)
    if expected:
        assert expected in after.get_data(as_text=True)


def test_a_page_another_process_shared_is_served_by_the_front(app, client, seeded, second_worker):
    assert rendered(client.get(PAGE))
    other = second_worker.test_client()
    shared = [other.get(PAGE) for _ in range(3)]  # read from Redis once, then the front's
    assert front(second_worker).served == 2
    assert not any(rendered(r) for r in shared)
    assert len({r.get_data() for r in shared}) == 1
    assert len({tuple(headers_but_own(r).items()) for r in shared}) == 1


@pytest.mark.parametrize(
    "url, headers",
    [
        (PAGE + "?x=1", {}),  # another page, kept by Flask's path alone
        (PAGE + "?lang=de&lang=en", {}),
        (PAGE + "/", {}),
        (PAGE, {"If-None-Match": "*"}),
        (PAGE, {"Range": "bytes=0-10"}),
    ],
)
def test_requests_other_than_plain_reads_go_through_flask(app, client, seeded, url, headers):
    for _ in range(3):
        client.get(url, headers=headers)
    assert front(app).served == 0


def test_a_read_with_a_body_goes_through_flask_and_an_empty_one_does_not(app, client, seeded):
    for _ in range(3):
        assert client.get(PAGE, data=b"abc").status_code == 200
    assert front(app).served == 0
    for _ in range(3):  # the first is Flask's, from the page it kept
        client.get(PAGE, headers={"Content-Length": "0"})
    assert front(app).served == 2


def test_a_conditional_read_still_gets_its_304(app, client, seeded):
    for _ in range(3):
        etag = client.get(PAGE).headers["ETag"]
    assert client.get(PAGE, headers={"If-None-Match": etag}).status_code == 304
    assert client.head(PAGE).status_code == 200 and front(app).served == 2


def test_front_answers_are_counted_and_logged(app, client, seeded):
    assert rendered(client.get(PAGE))
    assert_counted_and_logged(app, client, front(app), PAGE)


def assert_counted_and_logged(app, client, front, path: str, query: str = "") -> None:
    """Three more GETs of path (with query), answered by the front (which has kept the
    answer), are counted in the metrics and written to the access log as Flask's hooks do."""
    route = rule_of(app, path)
    labels = {"method": "GET", "route": route, "status": "200"}
    before = scrape(client)
    with json_log_lines("recs.access") as lines:
        responses = [client.get(path + query, headers={"X-Request-ID": f"r{i}"}) for i in range(3)]
    assert front.served == 3
    after = scrape(client)
    for name in ("recs_http_requests_total", "recs_http_request_duration_seconds_count"):
        assert value(after, name, **labels) - value(before, name, **labels) == 3
    assert [line["request_id"] for line in lines] == ["r0", "r1", "r2"]
    assert [r.headers["X-Request-ID"] for r in responses] == ["r0", "r1", "r2"]
    for line in lines:
        assert (line["method"], line["path"], line["route"], line["status"]) == (
            "GET",
            path,
            route,
            200,
        )
        assert line["duration_ms"] >= 0 and line["remote"] == "127.0.0.1"


def test_the_front_is_off_with_the_page_cache(make_app):
    app = make_app(HTML_CACHE=0)
    web = app.test_client()
    assert [web.get("/films/ghost").status_code for _ in range(3)] == [404] * 3
    assert front(app).served == 0 and front(app).replays.pages == {}
