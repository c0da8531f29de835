"""Faults for real: workers killed mid-job, Redis killed and restarted, Redis gone, racing jobs.

Each test starts its own redis-server (AOF on) on a free port and real `recs worker`
processes, and kills them all in its own cleanup.
"""

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from config.settings import Settings
from service import create_app
from service.importer import import_rows
from service.queue import enqueue_rebuild, get_queue
from service.storage import Store

RECS = Path(sys.executable).with_name("recs")
API_KEY = "faults-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, step: float = 0.1):
    """Return check()'s first truthy value, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not true after {timeout} s: {check}")


class RedisServer:
    """A redis-server of our own with AOF on, that a test can kill and start again."""

    def __init__(self, data_dir: Path, fsync: str = "always"):
        self.dir, self.fsync, self.port, self.proc = data_dir, fsync, free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                self.fsync,
                "--save",
                "",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with redis.Redis(port=self.port) as probe:
            wait_for(lambda: _pings(probe), 10)
        return self

    def kill(self):
        """SIGKILL: no shutdown, no final fsync or save, like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


@pytest.fixture
def server(tmp_path):
    srv = RedisServer(tmp_path).start()
    yield srv
    srv.kill()


@pytest.fixture
def names():
    name = "faults-" + uuid.uuid4().hex[:8]
    return {"RECS_PREFIX": name + ":", "RECS_QUEUE": name}


@pytest.fixture
def workers(server, names, tmp_path):
    """Start `recs worker` processes on the test server; kill every one (and its work horse) after."""
    procs = []

    def start(**env):
        full = {**os.environ, "REDIS_URL": server.url, "RECS_API_KEYS": API_KEY, **names, **env}
        log = open(tmp_path / f"worker-{len(procs)}.log", "w")
        proc = subprocess.Popen(
            [str(RECS), "worker"],
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        kill_tree(proc.pid)
        proc.wait(10)


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL a worker and its work horse (rq puts the horse in a process group of its own)."""
    for child in children(pid):
        kill_tree(child)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def make_app(server, names):
    return create_app(
        {
            "TESTING": True,
            "REDIS_URL": server.url,
            "RECS_PREFIX": names["RECS_PREFIX"],
            "QUEUE_NAME": names["RECS_QUEUE"],
            "RECS_DATA_DIR": "/nonexistent",
            "RECS_API_KEYS": [API_KEY],
            "RECS_RATE_WRITES": "100000/minute",
            "RECS_RATE_READS": "100000/minute",
        }
    )


def all_fresh(store: Store) -> bool:
    ids = store.film_ids()
    version = store.index_version()
    cards = store.get_cards(ids)
    lists = store.get_lists(version, ids)
    return all(lst is not None and lst["rev"] >= cards[fid]["rev"] for fid, lst in zip(ids, lists))


def test_worker_killed_mid_job_is_recovered(server, names, workers, tmdb_csv):
    from service.core.tmdb import read_tmdb

    client = redis.Redis.from_url(server.url)
    store, queue = (
        Store(client, names["RECS_PREFIX"]),
        get_queue(client, names["RECS_QUEUE"], Settings.from_env()),
    )
    rows = ((n, film) for n, film in itertools.islice(read_tmdb(tmdb_csv), 1000))
    assert import_rows(store, rows).created == 1000
    rebuild_id = enqueue_rebuild(store, queue)
    first = workers(RECS_REBUILD_CHUNK="5000")  # one extraction job of ~1.5 s for all 1000 films

    def extracting():
        ids = [i for i in queue.started_job_registry.get_job_ids(cleanup=False) if i != rebuild_id]
        return ids[0] if ids else None

    chunk_id = wait_for(extracting, 20, 0.02)
    time.sleep(0.3)
    assert store.rebuild_progress(rebuild_id)["extracted"] == 0  # certainly mid-job
    kill_tree(first.pid)
    first.wait(10)
    killed_at = time.monotonic()
    workers(RECS_REBUILD_CHUNK="5000")

    chunk = queue.fetch_job(chunk_id)
    wait_for(lambda: chunk.get_status(refresh=True) == "finished", 45, 0.2)
    recovered = time.monotonic() - killed_at
    wait_for(lambda: store.rebuild_progress(rebuild_id).get("phase") == "done", 30, 0.2)
    done = time.monotonic() - killed_at
    print(
        f"\nworker SIGKILLed mid-job: job completed {recovered:.1f} s later, "
        f"rebuild done {done:.1f} s later"
    )
    wait_for(lambda: not queue.started_job_registry.get_job_ids(), 10)  # finish() is ending
    assert queue.failed_job_registry.get_job_ids() == []
    assert all_fresh(store)
    assert store.rebuild_progress(rebuild_id)["ranked"] == 1000


def test_acknowledged_writes_survive_redis_crash(tmp_path, server, names):
    """appendfsync always: every write answered 2xx before a SIGKILL of Redis is there after it."""
    app = make_app(server, names)
    http = app.test_client()
    films, reviews, patched = [], [], {}
    for n in range(60):
        fid = f"crash-{n}"
        if (
            http.post(
                "/api/v1/films", json={"id": fid, "title": f"Crash {n}"}, headers=AUTH
            ).status_code
            == 201
        ):
            films.append(fid)
        resp = http.post(
            f"/api/v1/films/{fid}/reviews",
            json={"body": f"review {n}", "language": "en"},
            headers=AUTH,
        )
        if resp.status_code == 201:
            reviews.append(resp.get_json()["id"])
        if (
            http.patch(f"/api/v1/films/{fid}", json={"year": 1900 + n}, headers=AUTH).status_code
            == 200
        ):
            patched[fid] = 1900 + n
    server.kill()
    failed = http.post("/api/v1/films", json={"id": "during-outage", "title": "Lost"}, headers=AUTH)
    assert failed.status_code == 503  # not acknowledged, so not promised
    server.start()

    assert len(films) == len(reviews) == len(patched) == 60
    for fid in films:
        film = http.get(f"/api/v1/films/{fid}").get_json()
        assert film["year"] == patched[fid] and film["rev"] == 3
    for rid in reviews:
        assert http.get(f"/api/v1/reviews/{rid}").status_code == 200
    assert http.get("/api/v1/films?page_size=100").get_json()["total_results"] == 60


def test_redis_down_answers_503_fast_and_recovers(server, names, workers):
    app = make_app(server, names)
    http = app.test_client()
    worker = workers()
    job_id = http.post(
        "/api/v1/films",
        json={"id": "outage", "title": "Outage", "keywords": ["grief"]},
        headers=AUTH,
    ).get_json()["job_id"]
    wait_for(lambda: http.get(f"/api/v1/jobs/{job_id}").get_json()["state"] == "finished", 20)
    wait_for(lambda: http.get("/readyz").status_code == 200, 20)

    server.kill()
    for path in (
        "/api/v1/films/outage",
        "/api/v1/films/outage/recommendations",
        "/api/v1/films",
        "/readyz",
    ):
        started = time.monotonic()
        resp = http.get(path)
        assert time.monotonic() - started < 2, path
        body = resp.get_json()
        assert resp.status_code == 503 and body["code"] == 503 and body["message"], (path, body)
    assert "unreachable" in http.get("/readyz").get_json()["message"]
    assert http.get("/healthz").status_code == 200
    time.sleep(3)  # the worker meets the outage too

    server.start()
    assert http.get("/api/v1/films/outage").status_code == 200  # the app reconnects by itself
    wait_for(lambda: http.get("/readyz").status_code == 200, 30, 0.5)
    resp = http.post(
        "/api/v1/films/outage/reviews",
        json={"body": "A widow grieves.", "language": "en"},
        headers=AUTH,
    )
    job_id = resp.get_json()["job_id"]
    wait_for(lambda: http.get(f"/api/v1/jobs/{job_id}").get_json()["state"] == "finished", 30, 0.2)
    assert worker.poll() is None
    assert http.get("/api/v1/films/outage/recommendations").get_json()["status"] == "fresh"


def test_writes_coalesce_until_the_job_starts(server, names):
    app = make_app(server, names)
    http = app.test_client()
    queue = app.extensions["recs"]["queue"]
    first = http.post(
        "/api/v1/films", json={"id": "busy", "title": "Busy"}, headers=AUTH
    ).get_json()["job_id"]
    ids = {first}
    for n in range(10):
        ids.add(
            http.patch("/api/v1/films/busy", json={"year": 2000 + n}, headers=AUTH).get_json()[
                "job_id"
            ]
        )
        ids.add(
            http.post(
                "/api/v1/films/busy/reviews",
                json={"body": f"take {n}", "language": "en"},
                headers=AUTH,
            ).get_json()["job_id"]
        )
    assert ids == {first} and queue.count == 1
    app.extensions["recs"]["store"].claim_dirty("busy")  # what the job does first
    later = http.patch("/api/v1/films/busy", json={"year": 1999}, headers=AUTH).get_json()["job_id"]
    assert later != first and queue.count == 2


def test_older_job_finishing_last_never_wins(server, names, monkeypatch):
    """Job A reads rev 1; meanwhile rev 2 is written and job B finishes; then A finishes."""
    from rq import SimpleWorker

    from workers import jobs

    app = make_app(server, names)
    http, store = app.test_client(), app.extensions["recs"]["store"]
    queue = app.extensions["recs"]["queue"]
    for n, kw in enumerate(["firefighter", "hospital", "widow", "doctor"]):
        http.post(
            "/api/v1/films",
            json={"id": f"other-{n}", "title": f"Other {n}", "keywords": [kw, "grief"]},
            headers=AUTH,
        )
    SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer).work(burst=True)
    http.post(
        "/api/v1/films",
        json={"id": "race", "title": "Race", "keywords": ["firefighter", "grief"]},
        headers=AUTH,
    )
    original, interleaved = jobs.tag_film, []

    def tag_then_let_rev_2_win(film, reviews, *borrower):
        result = original(film, reviews, *borrower)
        if film["rev"] == 1 and not interleaved:
            interleaved.append(True)
            job_b = http.patch(
                "/api/v1/films/race",
                json={"keywords": ["hospital", "doctor", "widow"]},
                headers=AUTH,
            ).get_json()["job_id"]
            b = queue.fetch_job(job_b)
            queue.remove(b)
            b.perform()  # job B, as another worker would run it, completes first
        return result

    monkeypatch.setattr(jobs, "tag_film", tag_then_let_rev_2_win)
    SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer).work(burst=True)
    assert interleaved

    card, lst, version, _ = store.read_list("race")
    assert card["rev"] == lst["rev"] == 2
    tags = http.get("/api/v1/films/race/tags").get_json()
    assert tags["status"] == "fresh" and "firefighter" not in {t["tag"] for t in tags["tags"]}
    assert store.get_tags("race")["rev"] == 2
    monkeypatch.undo()
    expected = jobs.tag_film(store.get_film("race"), [])[1]
    assert store.get_vectors(["race"])[0] == expected
    # the other films' lists hold "race" with its rev-2 score, as a fresh refresh would put it
    before = {
        fid: store.get_lists(version, [fid])[0]["items"]
        for fid in store.film_ids()
        if fid != "race"
    }
    store.r.sadd(store.keys.join("dirty"), "race")
    from service.queue import enqueue_refresh

    enqueue_refresh(store, queue, "race")
    SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer).work(burst=True)
    after = {fid: store.get_lists(version, [fid])[0]["items"] for fid in before}
    assert after == before
    assert json.loads(json.dumps(lst))["rev"] == 2


KILLED_BEFORE_ENQUEUE = """
import json, os, signal, sys
from rq import Queue
from service import create_app

Queue.enqueue = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)  # write done, job not
config, auth, path, body = json.loads(sys.argv[1])
create_app(config).test_client().patch(path, json=body, headers=auth)
"""


def patch_and_die_before_enqueue(app, path: str, body: dict) -> int:
    """PATCH through a web process of its own that is SIGKILLed between the write and its enqueue."""
    config = {
        k: app.config[k]
        for k in (
            "TESTING",
            "REDIS_URL",
            "RECS_PREFIX",
            "QUEUE_NAME",
            "RECS_DATA_DIR",
            "RECS_API_KEYS",
            "RECS_RATE_WRITES",
            "RECS_RATE_READS",
        )
    }
    return subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_ENQUEUE, json.dumps([config, AUTH, path, body])],
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
    ).returncode


def test_write_whose_web_process_died_before_enqueue_is_refreshed(server, names, workers):
    """The film is dirty (same transaction as the write) but its job never existed: the workers'
    reconciler queues a refresh, the list is fresh within 30 s, and nothing stays dirty."""
    app = make_app(server, names)
    http, store = app.test_client(), app.extensions["recs"]["store"]
    http.post(
        "/api/v1/films",
        json={"id": "peer", "title": "Peer", "keywords": ["grief", "hospital"]},
        headers=AUTH,
    )
    job_id = http.post(
        "/api/v1/films", json={"id": "gap", "title": "Gap", "keywords": ["grief"]}, headers=AUTH
    ).get_json()["job_id"]
    workers()
    wait_for(lambda: http.get(f"/api/v1/jobs/{job_id}").get_json()["state"] == "finished", 120, 0.2)
    wait_for(lambda: store.dirty_ids() == [], 30, 0.2)

    assert (
        patch_and_die_before_enqueue(app, "/api/v1/films/gap", {"keywords": ["grief", "hospital"]})
        == -9
    )
    killed_at = time.monotonic()
    assert store.get_film("gap")["rev"] == 2 and store.dirty_ids() == ["gap"]
    lost = store.pending_job("gap")
    assert (
        lost and app.extensions["recs"]["queue"].fetch_job(lost) is None
    )  # promised, never queued
    assert http.get("/api/v1/films/gap/recommendations").get_json()["status"] == "stale"

    def fresh():
        body = http.get("/api/v1/films/gap/recommendations").get_json()
        return body["status"] == "fresh" and store.read_list("gap")[1]["rev"] == 2

    wait_for(fresh, 30, 0.2)
    print(
        f"\nweb process killed between write and enqueue: list fresh {time.monotonic() - killed_at:.1f} s later"
    )
    wait_for(lambda: store.dirty_ids() == [], 5, 0.2)
    assert store.pending_job("gap") != lost


def test_a_write_never_coalesces_into_a_job_that_does_not_exist(server, names):
    app = make_app(server, names)
    http, queue = app.test_client(), app.extensions["recs"]["queue"]
    lost = http.post("/api/v1/films", json={"id": "gap", "title": "Gap"}, headers=AUTH).get_json()[
        "job_id"
    ]
    queue.connection.delete(queue.fetch_job(lost).key)  # the film stays dirty; its job is gone
    job_id = http.patch("/api/v1/films/gap", json={"year": 2002}, headers=AUTH).get_json()["job_id"]
    assert job_id != lost and queue.fetch_job(job_id) is not None
    assert (
        http.patch("/api/v1/films/gap", json={"year": 2003}, headers=AUTH).get_json()["job_id"]
        == job_id
    )
