"""gunicorn as deployed (config/gunicorn.conf.py): slow clients never hold back the others, and
its own 414 and 431 answers carry the JSON error body."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, remove_prefix
from tests.helpers import fetch, free_port

ROOT = Path(__file__).resolve().parents[1]
SLOW_CLIENTS = 30


@pytest.fixture(scope="module")
def web():
    """gunicorn with the deployed config on a free port and a fresh key prefix; yields its port."""
    name = "slow-" + uuid.uuid4().hex[:8]
    port = free_port()
    env = {**os.environ, "REDIS_URL": REDIS_URL, "RECS_PREFIX": name + ":", "RECS_QUEUE": name,
           "RECS_API_KEYS": "k-" + name, "GUNICORN_BIND": f"127.0.0.1:{port}", "RECS_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config/gunicorn.conf.py"),
                             "service:create_app()"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while fetch(f"http://127.0.0.1:{port}/healthz") is None:
            assert time.monotonic() < deadline and proc.poll() is None, "gunicorn did not start"
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(30)
        remove_prefix(name)


def raw_request(port: int, data: bytes, timeout: float = 10) -> tuple[int, dict, bytes]:
    """Send data on a fresh connection; return (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def test_thirty_slow_clients_leave_the_others_served(web):
    """30 connections sending their headers a byte every 2 s (they held every sync worker)."""
    slow = []
    try:
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", web), timeout=5)
            sock.sendall(b"G")
            slow.append(sock)
        times = []
        for n in range(20):  # bounded: 20 requests, at most 5 s each
            if n % 4 == 0:
                for sock in slow:
                    sock.sendall(b"E")  # still sending, never done
            started = time.monotonic()
            path = "/healthz" if n % 2 else "/api/v1/films/no-such-film"
            try:
                status, _, _ = raw_request(web, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(), 5)
            except TimeoutError:
                status = None  # not answered within 5 s
            assert status in (200, 404, None)
            times.append(time.monotonic() - started if status else float("inf"))
    finally:
        for sock in slow:
            sock.close()
    within = sum(t <= 2.0 for t in times) / len(times)
    print(f"{SLOW_CLIENTS} slow clients: {within:.0%} of {len(times)} requests within 2 s, "
          f"slowest {max(times):.2f} s")
    assert within >= 0.95, times


@pytest.mark.parametrize("request_bytes, code", [
    (b"GET /api/v1/films?q=" + b"x" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /api/v1/films HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-F%d: v\r\n" % n for n in range(120)) + b"\r\n", 431),
    (b"GET /api/v1/films HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431),
])
def test_gunicorn_limits_answer_with_the_json_error_body(web, request_bytes, code):
    status, headers, body = raw_request(web, request_bytes)
    assert status == code and headers["Content-Type"] == "application/json"
    error = json.loads(body)
    assert error["code"] == code and error["status"] and error["message"]
