"""The web process's page cache (service.recommendations.PageCache) never serves a page that a
fresh read would not give: a list patched, a listed film renamed or deleted, the film itself
changed."""

import pytest

from service import create_app
from service.queue import enqueue_rebuild
from tests.conftest import TEST_SETTINGS

URL = "/api/v1/films/love-911/recommendations?limit=5"


@pytest.fixture
def uncached(app):
    """A second app on the same prefix, without a page cache: what a fresh read gives."""
    other = create_app(
        {
            **TEST_SETTINGS,
            "RECS_PREFIX": app.config["RECS_PREFIX"],
            "QUEUE_NAME": app.config["QUEUE_NAME"],
            "PAGE_CACHE": 0,
        }
    )
    yield other.test_client()
    other.extensions["recs"]["store"].r.close()


def cache_of(app):
    return app.extensions["recs"]["pages"]


def test_a_repeated_read_is_served_from_the_cache(app, client, seeded, uncached):
    first = client.get(URL).get_json()
    assert len(cache_of(app).pages) == 1
    ((key, entry),) = cache_of(app).pages.items()
    cache_of(app).pages[key] = (*entry[:6], b'[{"marker": 1}]', entry[7])  # what it would serve
    assert client.get(URL).get_json()["results"] == [{"marker": 1}]
    cache_of(app).pages[key] = entry
    assert client.get(URL).get_json() == first == uncached.get(URL).get_json()


def test_a_renamed_listed_film_shows_its_new_title(app, client, seeded, uncached):
    before = client.get(URL).get_json()
    other = before["results"][1]["id"]
    client.patch(f"/api/v1/films/{other}", json={"title": "Ein neuer Titel"})
    after = client.get(URL).get_json()
    assert after["results"][1] == {**before["results"][1], "title": "Ein neuer Titel"}
    assert after == uncached.get(URL).get_json()


def test_a_deleted_listed_film_leaves_the_cached_page(app, client, seeded, uncached):
    before = client.get(URL).get_json()
    gone = before["results"][0]["id"]
    assert client.delete(f"/api/v1/films/{gone}").status_code == 200
    after = client.get(URL).get_json()
    assert gone not in [r["id"] for r in after["results"]]
    assert after["total_results"] == before["total_results"] - 1
    assert after == uncached.get(URL).get_json()


def test_a_patched_list_is_read_again(app, client, seeded, uncached):
    client.get(URL)
    store = seeded
    version = store.index_version()
    lst = store.get_lists(version, ["love-911"])[0]
    items = [item._replace(score=round(item.score / 2, 6)) for item in lst["items"]]
    # same ids and cards (no card written: the generation stays), other scores
    assert store.write_own_list(version, "love-911", lst["rev"], items)
    after = client.get(URL).get_json()
    assert [r["score"] for r in after["results"]] == [it.score for it in items[:5]]
    assert after == uncached.get(URL).get_json()


def test_a_review_makes_the_cached_list_stale(app, client, seeded, uncached):
    assert client.get(URL).get_json()["status"] == "fresh"
    resp = client.post(
        "/api/v1/films/love-911/reviews",
        json={"author": "Kim", "body": "Feuerwehr, Trauer und Liebe."},
    )
    assert resp.status_code == 201
    after = client.get(URL).get_json()
    assert after["status"] == "stale" and after["job_id"]
    assert after == uncached.get(URL).get_json()


def test_a_new_index_version_is_read_again(app, client, seeded, run_jobs, uncached):
    before = client.get(URL).get_json()
    enqueue_rebuild(seeded, app.extensions["recs"]["queue"], reuse_tags=True)
    run_jobs()
    after = client.get(URL).get_json()
    assert after["index_version"] == before["index_version"] + 1
    assert after == uncached.get(URL).get_json()


def test_the_cache_keeps_at_most_its_size(app, client, seeded):
    cache_of(app).size = 3
    ids = seeded.film_ids()[:6]
    for fid in ids:
        assert client.get(f"/api/v1/films/{fid}/recommendations?limit=5").status_code == 200
    assert [key[0] for key in cache_of(app).pages] == ids[3:]
