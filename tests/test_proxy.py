"""config/nginx.conf (compose's proxy) run by Debian's nginx in front of gunicorn: slow clients
stay in nginx, and nginx's own errors carry the API's JSON error body."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, remove_prefix
from tests.helpers import fetch, free_port, raw_request, start_gunicorn, times_beside_slow_clients

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx)"
)


def local_config(listen: int, upstream: int) -> str:
    """The compose config with its two addresses pointed at loopback ports."""
    text = (ROOT / "config/nginx.conf").read_text()
    for compose_value, local in (
        ("listen 8000;", f"listen 127.0.0.1:{listen};"),
        ("server web:8000;", f"server 127.0.0.1:{upstream};"),
    ):
        assert text.count(compose_value) == 1, compose_value
        text = text.replace(compose_value, local)
    return text


def start_nginx(listen: int, upstream: int) -> tuple[subprocess.Popen, str]:
    prefix = tempfile.mkdtemp(prefix="recs-nginx-")
    os.chmod(prefix, 0o755)  # nginx's workers run as nobody when the tests run as root
    os.makedirs(os.path.join(prefix, "tmp"))
    conf = os.path.join(prefix, "nginx.conf")
    Path(conf).write_text(local_config(listen, upstream))
    log = Path(prefix, "stderr.log")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [NGINX, "-p", prefix + "/", "-c", conf, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    deadline = time.monotonic() + 10
    while fetch(f"http://127.0.0.1:{listen}/healthz") is None:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            proc.wait(5)
            raise AssertionError(f"nginx did not start: {log.read_text()}")
        time.sleep(0.1)
    return proc, prefix


@pytest.fixture(scope="module")
def proxy():
    """nginx on a free port in front of one sync gunicorn worker, as compose runs web (the config's
    default worker class): the proxy alone must protect it from slow clients."""
    name = "proxy-" + uuid.uuid4().hex[:8]
    web_port, port = free_port(), free_port()
    web = start_gunicorn(
        {
            "REDIS_URL": REDIS_URL,
            "RECS_PREFIX": name + ":",
            "RECS_QUEUE": name,
            "RECS_API_KEYS": "k-" + name,
            "GUNICORN_WORKERS": "1",
            "RECS_TRUSTED_PROXIES": "1",
        },
        web_port,
    )  # the config's sync worker
    nginx, prefix = start_nginx(port, web_port)
    yield {"port": port, "web": web, "key": "k-" + name}
    for proc in (nginx, web):
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    shutil.rmtree(prefix, ignore_errors=True)
    remove_prefix(name)


def assert_json_error(answer, code: int):
    status, headers, body = answer
    assert status == code and headers["content-type"].startswith("application/json"), answer
    error = json.loads(body)
    assert error["code"] == code and error["status"] and error["message"]


def test_thirty_slow_clients_never_reach_the_single_sync_worker(proxy):
    times = times_beside_slow_clients(proxy["port"])
    within = sum(t <= 2.0 for t in times) / len(times)
    print(
        f"\nnginx, 30 slow clients: {within:.0%} of {len(times)} within 2 s, slowest {max(times):.2f} s"
    )
    assert within >= 0.95, times


def test_the_app_answers_through_the_proxy(proxy):
    status, headers, body = raw_request(
        proxy["port"],
        b"GET /api/v1/films/nope HTTP/1.1\r\nHost: films.example\r\n"
        b"X-Request-ID: via-proxy\r\nConnection: close\r\n\r\n",
    )
    assert (
        status == 404 and headers["x-request-id"] == "via-proxy" and json.loads(body)["code"] == 404
    )
    assert "server" not in headers or "nginx/" not in headers["server"]


def test_nginx_limits_answer_with_the_json_error_body(proxy):
    port = proxy["port"]
    big = b"x" * (1024 * 1024 + 10)
    assert_json_error(
        raw_request(
            port,
            b"POST /api/v1/films HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer "
            + proxy["key"].encode()
            + b"\r\nContent-Length: %d\r\n\r\n" % len(big)
            + big,
        ),
        413,
    )
    for length in (
        6000,
        9000,
    ):  # gunicorn's limit (4,094) answers the first, nginx's (8 KB) the second
        assert_json_error(
            raw_request(
                port,
                b"GET /api/v1/films?q=" + b"x" * length + b" HTTP/1.1\r\nHost: x\r\n"
                b"Connection: close\r\n\r\n",
            ),
            414,
        )
    assert_json_error(
        raw_request(
            port, b"GET /api/v1/films HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n"
        ),
        431,
    )


def test_web_down_is_a_json_503(proxy):
    proxy["web"].terminate()
    proxy["web"].wait(30)
    status, headers, body = raw_request(
        proxy["port"], b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert_json_error((status, headers, body), 503)
    assert headers["retry-after"] == "5"


def test_a_client_writing_20_mb_before_reading_reads_nginx_413(proxy):
    """nginx refuses a body over its client_max_body_size (1m) and drains it (lingering close):
    Python's urllib, which writes the whole body before reading, reads the 413 (issue 15 item 11)."""
    body = b'{"title": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    req = urllib.request.Request(
        f"http://127.0.0.1:{proxy['port']}/api/v1/films",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {proxy['key']}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    with refused.value as answer:
        assert answer.code == 413 and json.loads(answer.read())["code"] == 413
