"""Fixtures: an app on a real Redis under a fresh key prefix, and a real rq worker."""

import os
import uuid

import pytest
import redis
from rq import SimpleWorker

from service import create_app

REDIS_URL = os.environ.get("RECS_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")  # own database and prefixes
# One key per run, also when this module is imported twice (as conftest and as tests.conftest).
API_KEY = os.environ.setdefault("RECS_TEST_API_KEY", "test-key-" + uuid.uuid4().hex)
# High limits so no test is slowed or throttled; tests/test_security.py sets tiny ones on its own app.
TEST_SETTINGS = {"TESTING": True, "REDIS_URL": REDIS_URL, "RECS_DATA_DIR": "/nonexistent",
                 "RECS_API_KEYS": [API_KEY], "RECS_RATE_WRITES": "100000/minute",
                 "RECS_RATE_READS": "100000/minute",
                 "RECS_RATE_AUTH_FAILURES": "100000/minute"}


def remove_prefix(name: str) -> None:
    """Delete every key of a test app's prefix, its rq queue, registries and jobs."""
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=name + ":*", count=1000))
        queue_keys = [b"rq:queue:" + name.encode(), *client.scan_iter(match=f"rq:*:{name}", count=1000)]
        job_ids = set(client.lrange(queue_keys[0], 0, -1))
        for key in queue_keys[1:]:
            if client.type(key) == b"zset":
                job_ids.update(member.split(b":")[0] for member in client.zrange(key, 0, -1))
        for job_id in job_ids:
            keys += [b"rq:job:" + job_id, b"rq:results:" + job_id,
                     b"rq:job:" + job_id + b":dependents", b"rq:job:" + job_id + b":dependencies"]
        keys += queue_keys
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start:start + 500])
        client.srem("rq:queues", queue_keys[0])  # rq's set of every queue it has seen


@pytest.fixture
def app():
    name = "test-" + uuid.uuid4().hex[:10]
    app = create_app({**TEST_SETTINGS, "RECS_PREFIX": name + ":", "QUEUE_NAME": name})
    yield app
    app.extensions["recs"]["store"].r.close()
    remove_prefix(name)


@pytest.fixture
def make_app():
    """Build apps with their own settings (and key prefix); clean their keys up afterwards."""
    names = []

    def make(**overrides):
        name = "test-" + uuid.uuid4().hex[:10]
        names.append(name)
        return create_app({**TEST_SETTINGS, "RECS_PREFIX": name + ":", "QUEUE_NAME": name, **overrides})

    yield make
    for name in names:
        remove_prefix(name)


@pytest.fixture
def client(app):
    """A test client that sends a valid API key with every request."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {API_KEY}"
    return client


@pytest.fixture
def anon_client(app):
    """A test client without an API key, as a browser or a stranger would call."""
    return app.test_client()


@pytest.fixture
def store(app):
    return app.extensions["recs"]["store"]


@pytest.fixture
def run_jobs(app):
    """Run every queued job (and the ones they queue) in a real rq worker, then return."""
    queue = app.extensions["recs"]["queue"]

    def run():
        worker = SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer)
        worker.work(burst=True)
        return worker

    return run


@pytest.fixture
def seeded(app, store, run_jobs):
    """The seed catalog, imported and rebuilt."""
    from service.cli import _seed

    with app.app_context():
        _seed(store, app.extensions["recs"]["queue"])
    run_jobs()
    return store
