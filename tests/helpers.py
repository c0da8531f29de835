"""Small helpers for tests that start real processes: free ports and plain HTTP reads."""

import contextlib
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> str | None:
    """Return the body at url, or None while nothing answers there."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode()
    except OSError:
        return None


def start_gunicorn(env: dict, port: int) -> subprocess.Popen:
    """Start the web app under gunicorn with the deployed config on 127.0.0.1:port; wait for it."""
    env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{port}", "RECS_LOG_LEVEL": "WARNING", **env}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "config/gunicorn.conf.py"),
            "service:create_app()",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while fetch(f"http://127.0.0.1:{port}/healthz") is None:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError("gunicorn did not start")
        time.sleep(0.2)
    return proc


def raw_request(port: int, data: bytes, timeout: float = 10) -> tuple[int, dict, bytes]:
    """Send data on a fresh connection; return (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:])
    }
    return int(lines[0].split()[1]), headers, body


def times_beside_slow_clients(port: int, slow: int = 30, requests: int = 20) -> list[float]:
    """Open `slow` connections that send their request headers a byte at a time and never finish,
    then time `requests` normal requests (inf for one not answered within 5 s)."""
    socks, times = [], []
    try:
        for _ in range(slow):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            socks[-1].sendall(b"G")
        for n in range(requests):  # bounded: at most 5 s each
            if n % 4 == 0:
                for sock in socks:
                    sock.sendall(b"E")  # still sending, never done
            path = "/healthz" if n % 2 else "/api/v1/films/no-such-film"
            started = time.monotonic()
            try:
                status = raw_request(
                    port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(), 5
                )[0]
            except TimeoutError:
                status = 0
            times.append(time.monotonic() - started if status in (200, 404) else float("inf"))
    finally:
        for sock in socks:
            sock.close()
    return times


@contextlib.contextmanager
def json_log_lines(logger_name: str):
    """Capture what a logger writes at INFO as JSON lines: yields a list, filled on exit with
    the lines as dicts."""
    from service.logs import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())
