"""gunicorn as deployed (config/gunicorn.conf.py): with the threaded worker `recs serve` runs,
slow clients never hold back the others; with either worker, gunicorn's own 414 and 431 carry
the JSON error body."""

import http.client
import io
import json
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tests.conftest import REDIS_URL, remove_prefix
from tests.helpers import free_port, raw_request, start_gunicorn, times_beside_slow_clients

KEY = "k-" + uuid.uuid4().hex


def serve(**env: str):
    """gunicorn with the deployed config (and env) on a free port and a fresh key prefix."""
    name = "slow-" + uuid.uuid4().hex[:8]
    port = free_port()
    proc = start_gunicorn(
        {
            "REDIS_URL": REDIS_URL,
            "RECS_PREFIX": name + ":",
            "RECS_QUEUE": name,
            "RECS_API_KEYS": KEY,
            **env,
        },
        port,
    )
    yield port
    proc.terminate()
    proc.wait(30)
    remove_prefix(name)


@pytest.fixture(scope="module")
def threaded():
    """The threaded worker, as `recs serve` runs it (no proxy in front)."""
    yield from serve(GUNICORN_WORKER_CLASS="config.gunicorn_worker.JsonErrorThreadWorker")


@pytest.fixture(scope="module")
def sync():
    """The config's default sync worker, as compose runs it behind nginx."""
    yield from serve()


def test_thirty_slow_clients_leave_the_others_served(threaded):
    """30 connections sending their headers a byte at a time held every sync worker (issue 15)."""
    times = times_beside_slow_clients(threaded)
    within = sum(t <= 2.0 for t in times) / len(times)
    print(
        f"\n30 slow clients: {within:.0%} of {len(times)} requests within 2 s, slowest {max(times):.2f} s"
    )
    assert within >= 0.95, times


@pytest.mark.parametrize(
    "request_bytes, code",
    [
        (b"GET /api/v1/films?q=" + b"x" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (
            b"GET /api/v1/films HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-F%d: v\r\n" % n for n in range(120))
            + b"\r\n",
            431,
        ),
        (b"GET /api/v1/films HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431),
    ],
)
@pytest.mark.parametrize("worker", ["threaded", "sync"])
def test_gunicorn_limits_answer_with_the_json_error_body(request, worker, request_bytes, code):
    status, headers, body = raw_request(request.getfixturevalue(worker), request_bytes)
    assert status == code and headers["content-type"] == "application/json"
    error = json.loads(body)
    assert error["code"] == code and error["status"] and error["message"]


@pytest.mark.parametrize(("key", "code"), [(KEY, 413), (None, 401), ("wrong", 401)])
@pytest.mark.parametrize("worker", ["threaded", "sync"])
def test_a_client_writing_20_mb_before_reading_reads_the_refusal(request, worker, key, code):
    """Issue 15 item 11: Python's urllib writes the whole body, then reads; a server that closed
    on the unread body left it a broken pipe. The refused body is drained (32 MB at most)."""
    port = request.getfixturevalue(worker)
    body = b'{"title": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    headers = {
        "Content-Type": "application/json",
        **({"Authorization": f"Bearer {key}"} if key else {}),
    }
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/films", data=body, headers=headers
    )
    started = time.monotonic()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    with refused.value as answer:
        error = json.loads(answer.read())
    print(
        f"\n{worker}: 20 MB refused with {refused.value.code} in {time.monotonic() - started:.2f} s"
    )
    assert refused.value.code == error["code"] == code and error["message"]


def test_drain_stops_at_its_bound():
    from service.drain import drain

    stream = io.BytesIO(b"x" * 300_000)
    assert drain(stream, 100_000, 5) == 100_000 and stream.tell() == 100_000
    assert drain(stream, 10**9, 5) == 200_000  # to the end of the body, no further


@pytest.mark.parametrize("worker", ["sync", "threaded"])
@pytest.mark.parametrize("conditional", [{}, {"If-None-Match": '"x"'}])
def test_one_date_header_under_gunicorn(worker, conditional, request):
    """gunicorn writes the Date header itself: the app must not add a second one."""
    port = request.getfixturevalue(worker)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/api/v1/films", headers={"X-API-Key": KEY, **conditional})
        answer = conn.getresponse()
        answer.read()
        dates = [v for k, v in answer.getheaders() if k.lower() == "date"]
    finally:
        conn.close()
    assert answer.status == 200 and answer.getheader("ETag")
    assert len(dates) == 1, dates
