"""What WAIT costs a write: POST latency with RECS_REDIS_WAIT_REPLICAS=0 and =1, behind Sentinel.

Usage: .venv/bin/python bench/replication.py [--writes 2000]

Starts a primary, a replica and three Sentinels on loopback ports (tests/redis_ha.py), builds
the app on the Sentinel URL, and POSTs films through Flask's test client (no HTTP server, so the
figures are the app and Redis alone), alternating blocks of each setting so that machine noise
falls on both alike. Prints p50/p99/mean per setting and their ratios, and the replication lag
a replica reader sees (a write on the primary until the replica shows it).
"""

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import create_app  # noqa: E402
from tests.redis_ha import RedisHA  # noqa: E402


def replication_lag(ha: RedisHA, n: int) -> list[float]:
    """Return, for n writes on the primary, the seconds until the replica shows each."""
    import redis

    primary = ha.primary_port()
    write = redis.Redis(port=primary)
    read = redis.Redis(port=next(p for p in ha.servers if p != primary))
    lags = []
    for i in range(n):
        t = time.perf_counter()
        write.set("bench-repl-lag", i)
        while int(read.get("bench-repl-lag") or -1) != i:
            pass
        lags.append(time.perf_counter() - t)
    return sorted(lags)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--writes", type=int, default=2000, help="writes per setting")
    ap.add_argument("--block", type=int, default=100, help="writes per block before switching")
    a = ap.parse_args()
    key = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="recs-repl-") as tmp:
        ha = RedisHA(Path(tmp)).start()
        try:
            clients = {}
            for wait in (0, 1):
                app = create_app(
                    {
                        "REDIS_URL": ha.url,
                        "RECS_DATA_DIR": tmp,
                        "RECS_API_KEYS": [key],
                        "RECS_PREFIX": f"bench-repl-{wait}:",
                        "QUEUE_NAME": f"bench-repl-{wait}",
                        "RECS_RATE_WRITES": "10000000/minute",
                        "RECS_REDIS_WAIT_REPLICAS": wait,
                    }
                )
                clients[wait] = app.test_client()
            times = {0: [], 1: []}
            headers = {"Authorization": f"Bearer {key}"}
            n = 0
            while min(len(t) for t in times.values()) < a.writes:
                for wait, client in clients.items():
                    for _ in range(a.block):
                        n += 1
                        body = {
                            "id": f"w{n}",
                            "title": f"Film {n}",
                            "year": 2000,
                            "genres": ["Drama"],
                            "synopsis": {"en": "A firefighter grieves and falls in love again."},
                        }
                        t = time.perf_counter()
                        resp = client.post("/api/v1/films", json=body, headers=headers)
                        times[wait].append(time.perf_counter() - t)
                        assert resp.status_code == 201, resp.get_json()
            lags = replication_lag(ha, 500)
        finally:
            ha.stop()
    print(
        f"{a.writes} POST /api/v1/films per setting, 1 replica, behind Sentinel (in-process client)"
    )
    stats = {}
    for wait, t in times.items():
        t = sorted(t[: a.writes])
        stats[wait] = (t[len(t) // 2], t[int(len(t) * 0.99)], statistics.fmean(t))
        p50, p99, mean = stats[wait]
        print(
            f"RECS_REDIS_WAIT_REPLICAS={wait}: p50 {p50 * 1e3:.2f} ms  p99 {p99 * 1e3:.2f} ms  "
            f"mean {mean * 1e3:.2f} ms"
        )
    print(
        f"replication lag (a write on the primary until the replica shows it, {len(lags)} "
        f"writes): p50 {lags[len(lags) // 2] * 1e3:.2f} ms  p99 {lags[int(len(lags) * 0.99)] * 1e3:.2f} ms"
        f"  max {lags[-1] * 1e3:.2f} ms"
    )
    print(
        "WAIT 1 / WAIT 0: p50 {:.2f}x  p99 {:.2f}x  mean {:.2f}x".format(
            *(stats[1][i] / stats[0][i] for i in range(3))
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
