"""Fixtures: an app on a real Redis under a fresh key prefix, a real rq worker, `recs`."""

import os
import uuid
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from rq import SimpleWorker

from service import create_app
from service.queue import drop_queue, get_queue
from workers.context import use_settings

REDIS_URL = os.environ.get(
    "RECS_TEST_REDIS_URL", "redis://127.0.0.1:6379/9"
)  # own database and prefixes
# One key per run, also when this module is imported twice (as conftest and as tests.conftest).
API_KEY = os.environ.setdefault("RECS_TEST_API_KEY", "test-key-" + uuid.uuid4().hex)
# High limits so no test is slowed or throttled; tests/test_security.py sets tiny ones on its own app.
TEST_SETTINGS = {
    "TESTING": True,
    "REDIS_URL": REDIS_URL,
    "RECS_DATA_DIR": "/nonexistent",
    "RECS_API_KEYS": [API_KEY],
    "RECS_RATE_WRITES": "100000/minute",
    "RECS_RATE_READS": "100000/minute",
    "RECS_RATE_AUTH_FAILURES": "100000/minute",
}


# The TMDB 5000 table beside the repo (../shared/data/tmdb5000), for the tests at TMDB size.
TMDB_CSV = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "tmdb5000" / "tmdb_5000_movies.csv"
)


def remove_prefix(name: str) -> None:
    """Delete every key of a test app's prefix, and its rq queue with its registries and jobs
    (through rq's own API: rq's key layout is rq's)."""
    from config.settings import Settings

    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=name + ":*", count=1000))
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start : start + 500])
        drop_queue(get_queue(client, name, Settings.from_env()))


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
        return create_app(
            {**TEST_SETTINGS, "RECS_PREFIX": name + ":", "QUEUE_NAME": name, **overrides}
        )

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
    """Run every queued job (and the ones they queue) in a real rq worker, then return.

    The jobs run with the app's settings, changed by run(NAME=value, ...) for this run only,
    as a worker given those settings would run them.
    """
    queue = app.extensions["recs"]["queue"]

    def run(**changes):
        use_settings(app.extensions["recs"]["settings"].replace(**changes))
        try:
            worker = SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer)
            worker.work(burst=True)
        finally:
            use_settings(None)
        return worker

    return run


@pytest.fixture
def runner(app):
    """Run `recs ARGS...` against the test app's settings (its Redis, key prefix and queue);
    return click's result."""
    from service.cli import main

    def invoke(*args, **kwargs):
        return CliRunner().invoke(
            main, list(args), obj=app.extensions["recs"]["settings"], **kwargs
        )

    return invoke


@pytest.fixture(scope="session")
def tmdb_csv() -> Path:
    """The TMDB 5000 table; the test is skipped where it is not beside the repo."""
    if not TMDB_CSV.exists():
        pytest.skip(f"{TMDB_CSV} is not beside the repo (../shared/data/tmdb5000)")
    return TMDB_CSV


@pytest.fixture
def seeded(app, store, run_jobs):
    """The seed catalog, imported and rebuilt."""
    from service.cli import _seed

    with app.app_context():
        _seed(store, app.extensions["recs"]["queue"])
    run_jobs()
    return store


@pytest.fixture
def new_worker(app):
    """Make another web process on the same prefix, with its own (empty) caches: a second
    gunicorn worker, or a replica's."""
    made = []

    def make():
        made.append(
            create_app(
                {
                    **TEST_SETTINGS,
                    "RECS_PREFIX": app.config["RECS_PREFIX"],
                    "QUEUE_NAME": app.config["QUEUE_NAME"],
                }
            )
        )
        return made[-1]

    yield make
    for other in made:
        other.extensions["recs"]["store"].r.close()


@pytest.fixture
def second_worker(new_worker):
    return new_worker()
