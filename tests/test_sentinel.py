"""Redis behind Sentinel: URLs, a real failover under writes, WAIT for replicas, `recs status`.

The failover tests start a primary, a replica and three Sentinels (tests/redis_ha.py) and real
`recs worker` processes, and stop every one by PID.
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis

from service import create_app
from service.redisconn import SentinelUrl, connect, parse_sentinel_url
from tests.redis_ha import RedisHA, available, wait_for
from tests.test_faults import kill_tree

RECS = os.path.join(os.path.dirname(sys.executable), "recs")
API_KEY = "sentinel-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {API_KEY}"}
needs_redis_server = pytest.mark.skipif(not available(), reason="redis-server is not installed")


@pytest.mark.parametrize(
    "url, expected",
    [
        (
            "redis+sentinel://127.0.0.1:26379/mymaster",
            SentinelUrl((("127.0.0.1", 26379),), "mymaster"),
        ),
        (
            "redis+sentinel://a:1,b:2,c:3/mymaster/4",
            SentinelUrl((("a", 1), ("b", 2), ("c", 3)), "mymaster", db=4),
        ),
        (
            "redis+sentinel://:s%40cret@a:1,[::1]:2/svc",
            SentinelUrl((("a", 1), ("::1", 2)), "svc", password="s@cret"),
        ),
        (
            "redis+sentinel://me:pw@a:1/svc/0",
            SentinelUrl((("a", 1),), "svc", username="me", password="pw"),
        ),
    ],
)
def test_sentinel_url_is_parsed(url, expected):
    assert parse_sentinel_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://a:1",  # no service
        "redis+sentinel://a/svc",  # no port
        "redis+sentinel://a:1/svc/x",  # db not a number
        "redis+sentinel://a:1/svc/0/extra",
        "redis://a:1/0",
    ],
)
def test_bad_sentinel_url_says_what_is_wrong(url):
    with pytest.raises(ValueError, match="Sentinel|sentinel"):
        parse_sentinel_url(url)


def test_limiter_uri_has_the_service_and_no_db():
    conf = parse_sentinel_url("redis+sentinel://a:1,b:2/svc/3")
    assert conf.limits_uri() == "redis+sentinel://a:1,b:2/svc"
    assert (
        parse_sentinel_url("redis+sentinel://[::1]:2/svc").limits_uri()
        == "redis+sentinel://[::1]:2/svc"
    )


@pytest.fixture
def ha(tmp_path):
    if not available():
        pytest.skip("redis-server is not installed")
    cluster = RedisHA(tmp_path).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def names():
    name = "sentinel-" + uuid.uuid4().hex[:8]
    return {"RECS_PREFIX": name + ":", "QUEUE_NAME": name}


def make_app(ha, names, **extra):
    return create_app(
        {
            "TESTING": True,
            "REDIS_URL": ha.url,
            "RECS_DATA_DIR": "/nonexistent",
            "RECS_API_KEYS": [API_KEY],
            "RECS_RATE_WRITES": "100000/minute",
            "RECS_RATE_READS": "100000/minute",
            **names,
            **extra,
        }
    )


@pytest.fixture
def worker(ha, names, tmp_path):
    """One `recs worker` on the Sentinel URL; killed (with its work horse) after the test."""
    env = {
        **os.environ,
        "REDIS_URL": ha.url,
        "RECS_API_KEYS": API_KEY,
        "RECS_PREFIX": names["RECS_PREFIX"],
        "RECS_QUEUE": names["QUEUE_NAME"],
    }
    with open(tmp_path / "worker.log", "w") as log:
        proc = subprocess.Popen(
            [RECS, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    yield proc
    kill_tree(proc.pid)
    proc.wait(10)


def film(i: int, tag: str = "") -> dict:
    return {
        "id": f"ha-{tag}{i}",
        "title": f"Feuerwache {tag}{i}",
        "year": 2000 + i % 20,
        "genres": ["Drama"],
        "synopsis": {
            "de": "Eine Feuerwehrfrau rettet Menschen aus "
            "brennenden Häusern und trauert um ihren Mann."
        },
    }


@needs_redis_server
def test_clients_follow_a_failover(ha, names):
    client = connect(ha.url, "/nonexistent")
    client.set(names["RECS_PREFIX"] + "before", "1")
    replica = redis.Redis(port=[p for p in ha.servers if p != ha.first_primary][0])
    wait_for(lambda: replica.get(names["RECS_PREFIX"] + "before"), 10)
    old = ha.kill_primary()
    new = ha.wait_failover(old)
    assert new != old
    assert wait_for(lambda: client.set(names["RECS_PREFIX"] + "after", "2"), 20)
    assert client.get(names["RECS_PREFIX"] + "before") == b"1"


@needs_redis_server
def test_no_acknowledged_write_is_lost_in_a_failover(ha, names, worker, tmp_path):
    """A writer POSTs films while the primary is SIGKILLed; WAIT for 1 replica is on."""
    app = make_app(ha, names, RECS_REDIS_WAIT_REPLICAS=1, RECS_REDIS_WAIT_TIMEOUT_MS=500)
    web = app.test_client()
    acked, failed, stop = [], [], threading.Event()

    def write():
        i = 0
        while not stop.is_set():
            body = film(i)
            try:
                resp = web.post("/api/v1/films", json=body, headers=AUTH)
                code = resp.status_code
            except redis.RedisError:
                code = None
            if code == 201:
                acked.append((time.monotonic(), body["id"]))
                i += 1
            elif code == 409:  # an earlier try reached the primary but was not confirmed
                i += 1
            else:
                failed.append((time.monotonic(), code))
                time.sleep(0.05)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_for(lambda: len(acked) >= 20, 30)
        old = ha.kill_primary()
        killed_at = time.monotonic()
        ha.wait_failover(old)
        promoted = time.monotonic() - killed_at
        # as a supervisor would, once Sentinel has promoted the replica (an empty server back
        # sooner would be taken for the primary again); with WAIT 1, writes need a replica
        ha.restart_as_replica(old)
        restarted = time.monotonic() - killed_at
        wait_for(lambda: any(t > killed_at for t, _ in acked), 20)
        recovered = next(t for t, _ in acked if t > killed_at) - killed_at
        time.sleep(1)
    finally:
        stop.set()
        writer.join(30)
    assert failed, "the writer never saw the failover: the test did not test it"
    assert recovered <= 20, (
        f"killed at 0 s, promoted at {promoted:.1f} s, restarted at {restarted:.1f} s"
    )
    ids = [fid for _, fid in acked]
    print(
        f"failover: promoted {promoted:.1f} s after the kill, writes back at {recovered:.1f} s,"
        f" {len(ids)} films acknowledged"
    )  # the figures docs/OPERATIONS.md quotes (pytest -s)
    missing = [fid for fid in ids if web.get(f"/api/v1/films/{fid}").status_code != 200]
    assert not missing, f"{len(missing)} of {len(ids)} acknowledged films lost: {missing[:5]}"

    # the worker reconnected: /readyz sees it, and a film written now gets a fresh list
    wait_for(lambda: web.get("/readyz").status_code == 200, 60, step=0.5)
    after = film(0, tag="after-")
    # as a client honouring Retry-After would: the restarted replica may still be syncing
    assert wait_for(
        lambda: web.post("/api/v1/films", json=after, headers=AUTH).status_code in (201, 409),
        20,
        step=0.5,
    )

    def fresh():
        body = web.get(f"/api/v1/films/{after['id']}/recommendations").get_json()
        return body["status"] == "fresh" and body["results"]

    assert wait_for(fresh, 90, step=0.5)


@needs_redis_server
def test_wait_refuses_to_acknowledge_without_replicas(ha, names):
    app = make_app(ha, names, RECS_REDIS_WAIT_REPLICAS=2, RECS_REDIS_WAIT_TIMEOUT_MS=200)
    web = app.test_client()
    resp = web.post("/api/v1/films", json=film(1), headers=AUTH)
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["code"] == 503 and "of 2 replicas confirmed it" in body["message"]
    assert resp.headers["Retry-After"] == "1"
    # reads are not held, and one replica is enough when one is asked for
    assert web.get("/api/v1/films/ha-1").status_code == 200
    app1 = make_app(ha, names, RECS_REDIS_WAIT_REPLICAS=1)
    assert app1.test_client().post("/api/v1/films", json=film(2), headers=AUTH).status_code == 201


@needs_redis_server
def test_recs_status_through_sentinel(ha, names):
    env = {
        **os.environ,
        "REDIS_URL": ha.url,
        "RECS_PREFIX": names["RECS_PREFIX"],
        "RECS_QUEUE": names["QUEUE_NAME"],
    }
    out = subprocess.run(
        [RECS, "status", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["queue"] == names["QUEUE_NAME"] and report["prefix"] == names["RECS_PREFIX"]


def run_jobs(app) -> None:
    """Run every queued job in a real rq SimpleWorker, in this process."""
    from rq import SimpleWorker

    queue = app.extensions["recs"]["queue"]
    SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer).work(burst=True)


def evals_ro(port: int) -> int:
    """Return how many read-only script calls a server has run."""
    with redis.Redis(port=port) as r:
        stats = r.info("commandstats")
    return sum(
        stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha_ro", "eval_ro")
    )


@needs_redis_server
def test_reads_go_to_sentinels_replicas(ha, names):
    app = make_app(ha, names, RECS_READ_FROM_REPLICAS=True)
    web = app.test_client()
    for i in range(3):
        assert web.post("/api/v1/films", json=film(i), headers=AUTH).status_code == 201
    run_jobs(app)
    primary = ha.primary_port()
    replica = next(p for p in ha.servers if p != primary)
    before = evals_ro(replica), evals_ro(primary)

    def listed():
        body = web.get("/api/v1/films/ha-0/recommendations").get_json()
        return body["status"] == "fresh" and body["results"]

    wait_for(listed, 10)
    assert web.get("/films/ha-0").status_code == 200
    assert evals_ro(replica) > before[0], "the list was not read on the replica"
    assert evals_ro(primary) == before[1]


@needs_redis_server
def test_a_lagging_replica_never_claims_fresh(ha, names):
    primary = ha.primary_port()
    replica = next(p for p in ha.servers if p != primary)
    app = make_app(
        ha,
        names,
        REDIS_URL=f"redis://127.0.0.1:{primary}/0",
        RECS_REDIS_READ_URL=f"redis://127.0.0.1:{replica}/0",
    )
    web = app.test_client()
    for i in range(3):
        assert web.post("/api/v1/films", json=film(i), headers=AUTH).status_code == 201
    run_jobs(app)
    url = "/api/v1/films/ha-0/recommendations"
    wait_for(lambda: web.get(url).get_json()["status"] == "fresh", 10)
    wait_for(lambda: "werden gerade" not in web.get("/films/ha-0").get_data(as_text=True), 10)
    assert app.extensions["recs"]["html"].pages, "the fresh film page is kept"
    with redis.Redis(port=replica) as r:
        r.replicaof("no", "one")  # the replica stops here: from now on it lags the primary
    patch = web.patch("/api/v1/films/ha-0", json={"year": 1999}, headers=AUTH)
    assert patch.status_code == 200
    body = web.get(url).get_json()
    assert body["status"] == "stale" and body["job_id"], body
    assert body["results"], "the replica's list is still served, marked stale"
    page = web.get("/films/ha-0").get_data(as_text=True)  # the kept page is not served as fresh
    assert "werden gerade aktualisiert" in page
