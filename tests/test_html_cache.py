"""The web process's film-page cache serves a page again only while a fresh render would give
the same page: the film, its reviews, its list and every listed card unchanged."""

import pytest

from service import create_app
from tests.conftest import TEST_SETTINGS

PAGE = "/films/love-911"


@pytest.fixture
def uncached(app):
    """A second app on the same prefix without page caches: what a fresh render gives."""
    other = create_app({**TEST_SETTINGS, "RECS_PREFIX": app.config["RECS_PREFIX"],
                        "QUEUE_NAME": app.config["QUEUE_NAME"], "PAGE_CACHE": 0, "HTML_CACHE": 0})
    yield other.test_client()
    other.extensions["recs"]["store"].r.close()


def kept(app):
    return app.extensions["recs"]["html"].pages


def same_page(client, uncached, url=PAGE):
    html = client.get(url).get_data(as_text=True)
    assert html == uncached.get(url).get_data(as_text=True)
    return html


def test_a_page_is_kept_and_served_again(app, client, seeded, uncached):
    first = same_page(client, uncached)
    (key, entry), = kept(app).items()
    kept(app)[key] = (*entry[:2], b"<p>kept</p>", *entry[3:])  # what the cache would serve
    assert client.get(PAGE).get_data() == b"<p>kept</p>"
    kept(app)[key] = entry
    assert client.get(PAGE).get_data(as_text=True) == first
    english = client.get(PAGE + "?lang=en")
    assert english.headers["Content-Language"] == "en" and len(kept(app)) == 2


@pytest.mark.parametrize("change", ["review", "film", "listed film", "listed film deleted"])
def test_a_change_is_shown_at_once(app, client, seeded, uncached, change):
    same_page(client, uncached)
    listed = seeded.get_lists(seeded.index_version(), ["love-911"])[0]["items"][0][0]
    if change == "review":
        client.post("/api/v1/films/love-911/reviews", json={"author": "Kim", "body": "Neue Kritik."})
    elif change == "film":
        client.patch("/api/v1/films/love-911", json={"title": "Love 911 (neu)"})
    elif change == "listed film":
        client.patch(f"/api/v1/films/{listed}", json={"title": "Ein neuer Titel"})
    else:
        client.delete(f"/api/v1/films/{listed}")
    html = same_page(client, uncached)
    if change == "listed film deleted":
        assert f'href="/films/{listed}?' not in html
    else:
        assert {"review": "Neue Kritik.", "film": "Love 911 (neu)",
                "listed film": "Ein neuer Titel"}[change] in html


def test_a_list_being_computed_is_not_kept(app, client, seeded):
    client.post("/api/v1/films/love-911/reviews", json={"author": "Kim", "body": "Neue Kritik."})
    assert "werden gerade aktualisiert" in client.get(PAGE).get_data(as_text=True)
    assert kept(app) == {}


def test_a_kept_page_is_not_rate_limited_but_a_render_is(app, seeded):
    app.config["RECS_RATE_READS"] = "2/minute"
    web = app.test_client()
    first = web.get(PAGE)  # rendered: an expensive read, counted
    assert first.status_code == 200 and first.headers["X-RateLimit-Limit"] == "2"
    again = [web.get(PAGE) for _ in range(3)]  # kept and current: one MGET, not limited
    assert [r.status_code for r in again] == [200, 200, 200]
    assert not any(h.startswith("X-RateLimit") for r in again for h in r.headers.keys())
    assert web.get("/films/ghost").status_code == 200
    refused = web.get("/films/backdraft")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert web.get(PAGE + "?x=1").status_code == 429, "another query string is another page"
