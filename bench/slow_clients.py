"""Serve normal requests while slow clients trickle their headers in, under `recs serve`; print
the share answered within 2 s.

Usage: .venv/bin/python bench/slow_clients.py [--slow 30] [--requests 40] [--worker-class sync]

Starts `recs serve --no-seed` on a free loopback port (REDIS_URL: the bench Redis, a fresh
prefix; 2 gunicorn workers as `recs serve` runs them), opens --slow connections that each send
one byte of a request line every --byte-every seconds and never finish it, then sends
--requests normal requests one after another (/healthz, a film, the catalog page, in turn),
each with a 25 s limit, and prints how many were answered within 2 s. `recs serve` runs the
threaded worker (config/gunicorn_worker.py); --worker-class sync
measures gunicorn's sync workers (GUNICORN_WORKER_CLASS, threads 1), as before issue 15.
Bounded: the slow clients stop with the last request.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

PATHS = ["/healthz", "/api/v1/films/no-such-film", "/?q=love"]


def trickle(socks: list[socket.socket], every: float, stop: threading.Event) -> None:
    """Send one more byte of a never-ending request line on every slow connection, every `every` s."""
    line = b"GET /" + b"x" * 10_000
    n = 0
    while not stop.wait(every):
        for sock in socks:
            try:
                sock.sendall(line[n % len(line) : n % len(line) + 1])
            except OSError:
                pass
        n += 1


def timed_get(url: str, limit: float) -> float:
    """Return the seconds url took to answer (any status), or inf when it did not within limit."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=limit) as resp:
            resp.read()
    except urllib.error.HTTPError as err:
        err.read()
    except OSError:
        return float("inf")
    return time.monotonic() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slow", type=int, default=30, help="slow connections")
    ap.add_argument("--byte-every", type=float, default=2.0, help="seconds between their bytes")
    ap.add_argument("--requests", type=int, default=40, help="normal requests, one after another")
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between normal requests")
    ap.add_argument("--worker-class", default=None, help="GUNICORN_WORKER_CLASS (default: config)")
    args = ap.parse_args()

    prefix, queue_name = c.new_prefix("slow"), "bench-slow-" + os.urandom(4).hex()
    port = c.free_port()
    env = c.env_for(prefix, queue_name, RECS_LOG_LEVEL="WARNING")
    if args.worker_class:
        env.update(GUNICORN_WORKER_CLASS=args.worker_class, GUNICORN_THREADS="1")
    serve = subprocess.Popen(
        [str(Path(c.PY).with_name("recs")), "serve", "--no-seed", "--port", str(port)],
        env=env,
        cwd=c.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    socks, stop = [], threading.Event()
    try:
        c.wait_http(base + "/healthz")
        for _ in range(args.slow):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        sender = threading.Thread(target=trickle, args=(socks, args.byte_every, stop), daemon=True)
        sender.start()
        time.sleep(args.byte_every + 0.5)  # every slow connection has sent its first byte
        times = []
        for n in range(args.requests):
            times.append(timed_get(base + PATHS[n % len(PATHS)], 25))
            time.sleep(args.interval)
        stop.set()
        answered = [t for t in times if t != float("inf")]
        within = sum(t <= 2.0 for t in times)
        print(
            f"recs serve ({args.worker_class or 'threaded, its default'} workers), {args.slow} slow clients "
            f"(a byte every {args.byte_every:g} s): {within} of {len(times)} normal requests "
            f"answered within 2 s ({within / len(times):.0%}); {len(times) - len(answered)} not "
            f"within 25 s; median {c.median(answered) if answered else float('nan'):.3f} s, "
            f"slowest answered {max(answered) if answered else float('nan'):.3f} s"
        )
    finally:
        stop.set()
        for sock in socks:
            sock.close()
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
        c.drop_prefix(prefix, queue_name)


if __name__ == "__main__":
    main()
