"""Time from a write until the film's related list is fresh, and one refresh's cost vs a rebuild.

Usage: .venv/bin/python bench/freshness.py [--films 50000] [--inserts 50] [--caps 100]

A bench/synth.py catalog of --films films is loaded on a fresh key prefix and rebuilt by
one `recs worker` (the full rebuild this run compares against). The service then runs
under gunicorn (config/gunicorn.conf.py) with that same single worker. For each posting
cap in --caps (RECS_SIM_MAX_POSTING, the worker is restarted with it), --inserts times:
POST /api/v1/films with a new synthetic film, then poll its recommendations every 10 ms
until status is "fresh"; then POST a review whose words add tags to an existing film and
wait the same way. Prints median and p95 of the time to fresh, the refresh jobs' own
durations (rq started_at..ended_at) and those as a fraction of the full rebuild's wall time
and of the summed durations of its jobs.
"""

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
from synth import synth_films  # noqa: E402

REVIEW = (
    "A firefighter and a surgeon in a hospital: grief, a widow's slow healing, and a "
    "heist gone wrong. Ein Feuerwehrmann trauert um seine Frau."
)


def call(base: str, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {c.API_KEY}"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def wait_fresh(base: str, film_id: str, timeout: float = 120) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if (
            call(base, "GET", f"/api/v1/films/{film_id}/recommendations?limit=1")["status"]
            == "fresh"
        ):
            return time.perf_counter()
        time.sleep(0.01)
    raise TimeoutError(film_id)


def job_seconds(store, queue_name: str, job_ids: list[str]) -> list[float]:
    from rq.job import Job

    from service.queue import get_queue

    q = get_queue(store.r, queue_name, c.SETTINGS)
    jobs = Job.fetch_many(job_ids, connection=store.r, serializer=q.serializer)
    return [
        (j.ended_at - j.started_at).total_seconds()
        for j in jobs
        if j is not None and j.ended_at and j.started_at
    ]


def rebuild_job_seconds(store, queue_name: str) -> float:
    from service.queue import get_queue

    q = get_queue(store.r, queue_name, c.SETTINGS)
    return sum(job_seconds(store, queue_name, q.finished_job_registry.get_job_ids()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--films", type=int, default=50000)
    ap.add_argument("--inserts", type=int, default=50)
    ap.add_argument("--caps", default="100", help="posting caps to measure, e.g. 100,300,1000")
    args = ap.parse_args()
    prefix, queue_name = c.new_prefix("fresh"), "bench-fresh-" + os.urandom(4).hex()
    store = c.store_for(prefix)
    worker, web = None, None
    try:
        films = synth_films(args.films + args.inserts * len(args.caps.split(",")), seed=7)
        catalog, extra = films[: args.films], films[args.films :]
        c.import_films(store, catalog, validate=False)
        worker = c.Workers(prefix, queue_name, 1)
        rebuild = c.run_rebuild(store, queue_name, timeout=7200)
        rebuild_jobs = rebuild_job_seconds(store, queue_name)
        print(
            f"catalog {args.films} synthetic films; "
            f"full rebuild with 1 worker: "
            f"{rebuild['seconds']:.1f} s wall, {rebuild_jobs:.1f} s summed job time",
            flush=True,
        )
        port = c.free_port()
        from serve import gunicorn

        web = gunicorn("service:create_app()", port, c.env_for(prefix, queue_name), None)
        base = f"http://127.0.0.1:{port}"
        c.wait_http(base + "/healthz")
        for cap in [int(x) for x in args.caps.split(",")]:
            worker.stop()
            worker = c.Workers(prefix, queue_name, 1, RECS_SIM_MAX_POSTING=cap)
            batch, extra = extra[: args.inserts], extra[args.inserts :]
            for kind in ("POST /films", "POST review"):
                waits, jobs = [], []
                for film in batch:
                    if kind == "POST /films":
                        film = {**film, "id": film["id"].replace("synth-", "new-")}
                        t0 = time.perf_counter()
                        jobs.append(call(base, "POST", "/api/v1/films", film)["job_id"])
                    else:
                        fid = film["id"].replace("synth-", "new-")
                        t0 = time.perf_counter()
                        jobs.append(
                            call(
                                base,
                                "POST",
                                f"/api/v1/films/{fid}/reviews",
                                {"body": REVIEW, "language": "en"},
                            )["job_id"]
                        )
                        film = {"id": fid}
                    waits.append(wait_fresh(base, film["id"]) - t0)
                work = job_seconds(store, queue_name, jobs)
                print(
                    f"cap {cap:5d} {kind:12s} time to fresh: median {c.median(waits):.3f} s, "
                    f"p95 {c.pct(waits, 95):.3f} s (n={len(waits)}); refresh job: median "
                    f"{c.median(work):.3f} s, p95 {c.pct(work, 95):.3f} s = "
                    f"{c.median(work) / rebuild['seconds']:.3%} of the rebuild's wall time, "
                    f"{c.median(work) / rebuild_jobs:.3%} of its summed job time",
                    flush=True,
                )
    finally:
        if web:
            web.terminate()
            web.wait(timeout=30)
        if worker:
            worker.stop()
        c.drop_prefix(prefix, queue_name)


if __name__ == "__main__":
    main()
