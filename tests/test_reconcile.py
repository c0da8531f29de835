"""The reconciler: dirty films whose refresh job is not live get one, on the second pass only."""

from service.queue import job_is_live, reconcile_dirty


def test_live_jobs_are_left_alone(client, app, store):
    queue = app.extensions["recs"]["queue"]
    client.post("/api/v1/films", json={"id": "f", "title": "F"})
    assert reconcile_dirty(store, queue) == reconcile_dirty(store, queue) == []
    assert queue.count == 1


def test_a_missing_job_is_queued_again_on_the_second_pass(client, app, store, run_jobs):
    queue = app.extensions["recs"]["queue"]
    lost = client.post("/api/v1/films", json={"id": "f", "title": "F"}).get_json()["job_id"]
    client.post("/api/v1/films", json={"id": "g", "title": "G"})
    queue.connection.delete(queue.fetch_job(lost).key)
    store.r.delete(store.keys.join("pending", "g"))  # died between the write and recording its job
    assert reconcile_dirty(store, queue) == []  # a write may be queueing its job right now
    assert reconcile_dirty(store, queue) == ["f", "g"]
    assert reconcile_dirty(store, queue) == []  # their new jobs are live
    assert store.pending_job("f") != lost
    assert all(job_is_live(queue, store.pending_job(fid)) for fid in ("f", "g"))
    run_jobs()
    assert store.dirty_ids() == [] and reconcile_dirty(store, queue) == []
    assert client.get("/api/v1/films/f/recommendations").get_json()["status"] != "stale"


def test_a_job_queued_between_passes_is_not_doubled(client, app, store):
    queue = app.extensions["recs"]["queue"]
    store.r.sadd(store.keys.join("dirty"), "f")  # the write's transaction, before its enqueue
    assert reconcile_dirty(store, queue) == []
    client.post("/api/v1/films", json={"id": "f", "title": "F"})  # ...and its job, queued now
    assert reconcile_dirty(store, queue) == [] and queue.count == 1
