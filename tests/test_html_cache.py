"""The web process's film-page cache serves a page again only while a fresh render would give
the same page: the film, its reviews, its list and every listed card unchanged."""

import pytest

from service import create_app
from service.pagecache import decode_shared, encode_shared
from service.storage import Store
from tests.conftest import TEST_SETTINGS

PAGE = "/films/love-911"


@pytest.fixture
def uncached(app):
    """A second app on the same prefix without page caches: what a fresh render gives."""
    other = create_app(
        {
            **TEST_SETTINGS,
            "RECS_PREFIX": app.config["RECS_PREFIX"],
            "QUEUE_NAME": app.config["QUEUE_NAME"],
            "PAGE_CACHE": 0,
            "HTML_CACHE": 0,
            "SHARED_PAGE_TTL": 0,
        }
    )
    yield other.test_client()
    other.extensions["recs"]["store"].r.close()


def rendered(response) -> bool:
    """Return whether the page was rendered for this request: renders are rate-limited and say
    so in X-RateLimit-*, a page served from a cache is not (docs/SECURITY.md)."""
    assert response.status_code == 200
    return "X-RateLimit-Limit" in response.headers


def kept(app):
    return app.extensions["recs"]["html"].pages


def same_page(client, uncached, url=PAGE):
    html = client.get(url).get_data(as_text=True)
    assert html == uncached.get(url).get_data(as_text=True)
    return html


def test_a_page_is_kept_and_served_again(app, client, seeded, uncached):
    first = same_page(client, uncached)
    ((key, entry),) = kept(app).items()
    kept(app)[key] = entry._replace(html=b"<p>kept</p>")  # what the cache would serve
    assert client.get(PAGE).get_data() == b"<p>kept</p>"
    kept(app)[key] = entry
    assert client.get(PAGE).get_data(as_text=True) == first
    english = client.get(PAGE + "?lang=en")
    assert english.headers["Content-Language"] == "en" and len(kept(app)) == 2


CHANGES = ["review", "film", "listed film", "listed film deleted"]


def make_change(client, store, change: str) -> str:
    """Write one of CHANGES through the API; return the id of the first film Love 911 lists."""
    listed = store.get_lists(store.index_version(), ["love-911"])[0]["items"][0][0]
    if change == "review":
        client.post(
            "/api/v1/films/love-911/reviews", json={"author": "Kim", "body": "Neue Kritik."}
        )
    elif change == "film":
        client.patch("/api/v1/films/love-911", json={"title": "Love 911 (neu)"})
    elif change == "listed film":
        client.patch(f"/api/v1/films/{listed}", json={"title": "Ein neuer Titel"})
    else:
        client.delete(f"/api/v1/films/{listed}")
    return listed


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_is_shown_at_once(app, client, seeded, uncached, change):
    same_page(client, uncached)
    listed = make_change(client, seeded, change)
    html = same_page(client, uncached)
    if change == "listed film deleted":
        assert f'href="/films/{listed}?' not in html
    else:
        assert {
            "review": "Neue Kritik.",
            "film": "Love 911 (neu)",
            "listed film": "Ein neuer Titel",
        }[change] in html


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


def test_a_page_rendered_by_one_worker_is_served_by_another(
    app, client, seeded, second_worker, new_worker
):
    first = client.get(PAGE)
    assert rendered(first)
    other = second_worker.test_client()
    served = other.get(PAGE)
    assert not rendered(served), "the second worker rendered the page again"
    assert served.get_data() == first.get_data() and served.headers["ETag"] == first.headers["ETag"]
    assert served.headers["Last-Modified"] == first.headers["Last-Modified"]
    assert other.get(PAGE, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert len(kept(second_worker)) == 1, "the second worker keeps what it read"
    # what it served is the shared page itself, not a render of its own
    raw = seeded.read_shared_page("love-911", "de", seeded.index_version())[3]
    page = decode_shared(raw)
    seeded.put_shared_page(
        "love-911", "de", encode_shared(page._replace(html=b"<p>shared</p>")), 60
    )
    assert new_worker().test_client().get(PAGE).get_data() == b"<p>shared</p>"
    assert not rendered(other.get(PAGE + "?lang=de")), "?lang=de is the same German page"
    assert rendered(other.get(PAGE + "?lang=en")), "the English page is another page"


@pytest.mark.parametrize("change", CHANGES)
def test_a_shared_page_is_not_served_after_a_change(
    app, client, seeded, uncached, second_worker, new_worker, change
):
    other = second_worker.test_client()
    same_page(client, uncached)
    assert not rendered(other.get(PAGE))
    make_change(client, seeded, change)
    third = new_worker().test_client()
    response = third.get(PAGE)  # only finds the shared page, made before the change
    assert rendered(response)
    assert response.get_data(as_text=True) == uncached.get(PAGE).get_data(as_text=True)
    # kept the page made before the change; may serve the one third just shared
    assert other.get(PAGE).get_data(as_text=True) == uncached.get(PAGE).get_data(as_text=True)


def test_a_query_other_than_lang_is_not_shared(app, client, seeded, second_worker):
    assert rendered(client.get(PAGE + "?x=1"))
    assert not rendered(client.get(PAGE + "?x=1")), "kept by the worker that rendered it"
    assert rendered(second_worker.test_client().get(PAGE + "?x=1"))
    assert seeded.read_shared_page("love-911", "de", seeded.index_version())[3] is None


def test_pages_are_not_shared_when_turned_off(app, client, seeded, second_worker):
    app.extensions["recs"]["html"].shared_ttl = 0
    assert rendered(client.get(PAGE))
    assert seeded.read_shared_page("love-911", "de", seeded.index_version())[3] is None
    assert rendered(second_worker.test_client().get(PAGE))


def test_a_shared_page_expires(app, client, seeded):
    client.get(PAGE)
    assert (
        0
        < seeded.r.ttl(seeded.keys.join("page", "de", "love-911"))
        <= app.config["SHARED_PAGE_TTL"]
    )


def test_a_page_never_shows_a_list_older_than_its_film(app, client, seeded, uncached, monkeypatch):
    """A film written between the render's read of its list and its read of the film: the page
    shows the new film, so it must not pass the list read before as current."""
    read = Store.get_film_and_reviews

    def write_then_read(self, fid):
        monkeypatch.setattr(Store, "get_film_and_reviews", read)  # once
        self.update_film(fid, {"title": "Love 911 (neu)"})
        return read(self, fid)

    monkeypatch.setattr(Store, "get_film_and_reviews", write_then_read)
    html = client.get(PAGE).get_data(as_text=True)
    assert "Love 911 (neu)" in html
    assert "werden gerade aktualisiert" in html, "a list older than the film passed for fresh"
    assert kept(app) == {}
    assert seeded.read_shared_page("love-911", "de", seeded.index_version())[3] is None
    assert client.get(PAGE).get_data(as_text=True) == uncached.get(PAGE).get_data(as_text=True)
