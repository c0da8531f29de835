"""`recs status`: queues, workers, failed jobs with their error line, index version and age."""

import json

import pytest
from rq import Worker
from rq.worker import WorkerStatus

from service.queue import enqueue_rebuild


@pytest.fixture
def recs(runner):
    """Run `recs ...` against the test app's Redis, key prefix and queue."""

    def run(*args):
        result = runner(*args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return run


@pytest.fixture
def failed_job(app, run_jobs):
    queue = app.extensions["recs"]["queue"]
    job = queue.enqueue(
        "workers.jobs.refresh_film",
        app.config["RECS_PREFIX"],
        12345,
        failure_ttl=300,
        description="refresh a film id that is not a string",
    )
    run_jobs()
    yield job
    job.delete()


@pytest.fixture
def idle_worker(app):
    """A worker registered on the test queue (as a running `recs worker` would be)."""
    queue = app.extensions["recs"]["queue"]
    worker = Worker([queue], connection=queue.connection, serializer=queue.serializer)
    worker.register_birth()
    worker.set_state(WorkerStatus.IDLE)
    worker.heartbeat()
    yield worker
    worker.register_death()


def test_status_json(app, client, store, run_jobs, failed_job, idle_worker, recs):
    client.post("/api/v1/films", json={"id": "status-film", "title": "Status", "genres": ["Drama"]})
    run_jobs()
    enqueue_rebuild(store, app.extensions["recs"]["queue"])
    run_jobs()
    client.post("/api/v1/films", json={"id": "queued-film", "title": "Queued", "genres": ["Drama"]})

    report = json.loads(recs("status", "--json"))
    assert report["queue"] == app.config["QUEUE_NAME"]
    assert report["registries"]["queued"] == 1
    assert report["registries"]["failed"] == 1
    [worker] = report["workers"]
    assert worker["name"] == idle_worker.name
    assert worker["state"] == "idle"
    assert worker["current_job"] is None
    assert 0 <= worker["heartbeat_age_seconds"] < 60
    assert report["failed"]["count"] == 1
    [failed] = report["failed"]["recent"]
    assert failed["id"] == failed_job.id
    assert failed["error"].startswith("TypeError")
    assert report["jobs"]["refresh"]["failed"] == 1
    assert report["jobs"]["refresh"]["count"] == 2
    assert report["index"]["version"] == store.index_version() >= 1
    assert 0 <= report["index"]["age_seconds"] < 60


def test_status_text(app, failed_job, idle_worker, recs):
    out = recs("status")
    assert f"Queue '{app.config['QUEUE_NAME']}'" in out
    assert "Workers: 1" in out and idle_worker.name in out
    assert "Failed jobs: 1" in out and failed_job.id in out and "TypeError" in out
    assert "Index: version 0, never switched by a rebuild" in out


def test_status_on_an_empty_queue(recs):
    out = recs("status")
    assert "Workers: 0" in out and "Failed jobs: 0" in out
    assert "no list computed yet" in out
