"""Jobs over REST: failed jobs are listed (paged) and can be retried once the data is fixed."""

import json

import pytest

FILM = {
    "id": "broken-film",
    "title": "Broken Film",
    "year": 2001,
    "genres": ["Drama"],
    "keywords": ["grief"],
    "synopsis": {"en": "A widow grieves."},
}


def break_film(store, fid):
    """Store a film record without its revision, as a bad import or manual edit might (as
    plain JSON, which the store reads as well as the compressed records it writes)."""
    good = store.r.get(store.keys.join("film", fid))
    bad = {k: v for k, v in store.get_film(fid).items() if k != "rev"}
    store.r.set(store.keys.join("film", fid), json.dumps(bad))
    return good


def test_failed_job_is_listed_and_retried(client, store, run_jobs):
    job_id = client.post("/api/v1/films", json=FILM).get_json()["job_id"]
    good = break_film(store, "broken-film")
    run_jobs()  # the job raises KeyError, is retried JOB_RETRIES times, then fails for good

    body = client.get("/api/v1/jobs?state=failed").get_json()
    assert set(body) >= {"results", "page", "total_pages", "total_results"}
    assert body["total_results"] == 1 and body["results"][0]["id"] == job_id
    assert body["results"][0]["state"] == "failed" and "KeyError" in body["results"][0]["error"]
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["state"] == "failed"
    assert client.get("/api/v1/films/broken-film/recommendations").get_json()["status"] == "pending"

    store.r.set(store.keys.join("film", "broken-film"), good)  # the data is fixed
    resp = client.post(f"/api/v1/jobs/{job_id}/retry")
    assert resp.status_code == 202 and resp.get_json()["state"] == "queued"
    assert client.get("/api/v1/jobs?state=failed").get_json()["total_results"] == 0
    assert [j["id"] for j in client.get("/api/v1/jobs?state=queued").get_json()["results"]] == [
        job_id
    ]
    run_jobs()
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["state"] == "finished"
    assert client.get("/api/v1/films/broken-film/recommendations").get_json()["status"] == "fresh"
    assert job_id in [
        j["id"] for j in client.get("/api/v1/jobs?state=finished").get_json()["results"]
    ]


def test_retry_answers_409_unless_failed_and_404_when_unknown(client, run_jobs):
    job_id = client.post("/api/v1/films", json=FILM).get_json()["job_id"]
    queued = client.post(f"/api/v1/jobs/{job_id}/retry")
    assert queued.status_code == 409 and "queued" in queued.get_json()["message"]
    run_jobs()
    assert client.post(f"/api/v1/jobs/{job_id}/retry").status_code == 409
    missing = client.post("/api/v1/jobs/refresh-nope-12345678/retry")
    assert missing.status_code == 404 and missing.get_json()["code"] == 404


def test_job_list_is_paged(client, store, run_jobs):
    ids = [
        client.post("/api/v1/films", json={**FILM, "id": f"broken-{n}"}).get_json()["job_id"]
        for n in range(5)
    ]
    for n in range(5):
        break_film(store, f"broken-{n}")
    run_jobs()
    pages = [
        client.get(f"/api/v1/jobs?state=failed&page_size=2&page={p}").get_json() for p in (1, 2, 3)
    ]
    assert [p["total_results"] for p in pages] == [5, 5, 5]
    assert [p["total_pages"] for p in pages] == [3, 3, 3]
    assert [len(p["results"]) for p in pages] == [2, 2, 1]
    assert sorted(j["id"] for p in pages for j in p["results"]) == sorted(ids)


@pytest.mark.parametrize("query", ["state=broken", "page=0", "page_size=1000"])
def test_job_list_rejects_bad_arguments(client, query):
    resp = client.get(f"/api/v1/jobs?{query}")
    assert resp.status_code == 422 and resp.get_json()["code"] == 422


def test_rebuild_requested_while_one_runs_waits_and_runs_once(app, client, store, run_jobs):
    """Requests during a rebuild coalesce into one that starts when it ends, never fail."""
    from service.queue import enqueue_rebuild

    client.post("/api/v1/films", json={"id": "one", "title": "One", "keywords": ["firefighter"]})
    queue = app.extensions["recs"]["queue"]
    first = enqueue_rebuild(store, queue)
    second = enqueue_rebuild(store, queue)
    assert second != first and enqueue_rebuild(store, queue) == second  # a third one coalesces
    waiting = client.get(f"/api/v1/jobs/{second}").get_json()
    assert waiting["state"] == "deferred" and waiting["progress"]["after"] == first
    run_jobs()
    for job_id in (first, second):
        body = client.get(f"/api/v1/jobs/{job_id}").get_json()
        assert (body["state"], body["progress"]["phase"]) == ("finished", "done"), body
    assert store.active_rebuild() is None
    assert store.rebuild_progress(second)["version"] > store.rebuild_progress(first)["version"]
    assert enqueue_rebuild(store, queue) not in (first, second)  # free again: a new one runs
    run_jobs()


def test_a_waiting_ranking_only_rebuild_extracts_when_asked_to(app, client, store, run_jobs):
    """A ranking-only rebuild waiting behind another one covers a later request that
    re-extracts the tags: it extracts too, and says so."""
    from service.queue import enqueue_rebuild

    queue = app.extensions["recs"]["queue"]
    first = enqueue_rebuild(store, queue)
    second = enqueue_rebuild(store, queue, reuse_tags=True)
    assert client.get(f"/api/v1/jobs/{second}").get_json()["progress"]["after"] == first
    described = client.get(f"/api/v1/jobs/{second}").get_json()["description"]
    assert described == "full rebuild, ranking only (tags reused)"
    assert enqueue_rebuild(store, queue) == second
    assert queue.fetch_job(second).args[-1] is False
    assert client.get(f"/api/v1/jobs/{second}").get_json()["description"] == "full rebuild"
    run_jobs()
    assert store.rebuild_progress(second)["steps"] == 2
