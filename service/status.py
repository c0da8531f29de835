"""What `recs status` shows: queues, workers, failed jobs, job counts and the index's age."""

import time

from rq import Worker
from rq.job import Job

from service.jobstats import index_state, job_stats, queue_depths
from service.storage import Store


def _ts(dt) -> float | None:
    return round(dt.timestamp(), 3) if dt else None


def error_line(job: Job) -> str:
    """Return the last line of a failed job's traceback (the exception and its message)."""
    result = job.latest_result()
    text = ((result.exc_string if result else None) or "").strip()
    return text.splitlines()[-1] if text else "failed (no traceback kept)"


def worker_states(queue, at: float) -> list[dict]:
    """Return every worker listening on queue: name, state, current job and heartbeat."""
    rows = []
    for w in sorted(Worker.all(queue=queue), key=lambda w: w.name):
        beat = _ts(w.last_heartbeat)
        rows.append(
            {
                "name": w.name,
                "hostname": w.hostname,
                "pid": w.pid,
                "state": str(getattr(w.get_state(), "value", w.get_state())),
                "current_job": w.get_current_job_id(),
                "last_heartbeat": beat,
                "heartbeat_age_seconds": round(at - beat, 1) if beat else None,
                "jobs_done": w.successful_job_count,
                "jobs_failed": w.failed_job_count,
            }
        )
    return rows


def failed_jobs(queue, last: int) -> dict:
    """Return how many jobs failed (and are kept) and the latest few with their error line."""
    registry = queue.failed_job_registry
    count = registry.count
    ids = registry.get_job_ids(max(0, count - last), -1) if count else []
    jobs = Job.fetch_many(ids, connection=queue.connection, serializer=queue.serializer)
    recent = [
        {
            "id": job.id,
            "description": job.description,
            "ended_at": _ts(job.ended_at),
            "error": error_line(job),
        }
        for job in jobs
        if job is not None
    ]
    recent.sort(key=lambda j: j["ended_at"] or 0, reverse=True)
    return {"count": count, "recent": recent}


def status_report(store: Store, queue, last_failed: int = 5) -> dict:
    """Return the whole picture as plain data (what `recs status --json` prints)."""
    at = time.time()
    return {
        "at": round(at, 3),
        "queue": queue.name,
        "prefix": store.p,
        "registries": queue_depths(queue),
        "workers": worker_states(queue, at),
        "failed": failed_jobs(queue, last_failed),
        "jobs": {
            kind: {
                "count": s["count"],
                "failed": s["failed"],
                "mean_seconds": round(s["sum"] / s["count"], 3) if s["count"] else None,
            }
            for kind, s in sorted(job_stats(store).items())
        },
        "index": index_state(store, at),
    }


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows
    ]


def format_report(report: dict) -> str:
    """Render the report as aligned plain text for a terminal."""
    idx = report["index"]
    lines = [f"Queue '{report['queue']}' (key prefix '{report['prefix']}')"]
    lines += _table([list(report["registries"]), [str(n) for n in report["registries"].values()]])
    lines.append(f"\nWorkers: {len(report['workers'])}")
    if report["workers"]:
        lines += _table(
            [["name", "state", "current job", "last heartbeat", "done", "failed"]]
            + [
                [
                    w["name"],
                    w["state"],
                    w["current_job"] or "-",
                    _age(w["heartbeat_age_seconds"]) + " ago",
                    str(w["jobs_done"]),
                    str(w["jobs_failed"]),
                ]
                for w in report["workers"]
            ]
        )
    failed = report["failed"]
    lines.append(f"\nFailed jobs: {failed['count']}")
    if failed["recent"]:
        lines += _table([[j["id"], j["error"][:100]] for j in failed["recent"]])
    if report["jobs"]:
        lines.append("\nJobs run (all workers)")
        lines += _table(
            [["kind", "count", "failed", "mean"]]
            + [
                [
                    kind,
                    str(s["count"]),
                    str(s["failed"]),
                    f"{s['mean_seconds']:.3f}s" if s["mean_seconds"] is not None else "-",
                ]
                for kind, s in report["jobs"].items()
            ]
        )
    switched = (
        f"switched in {_age(idx['age_seconds'])} ago"
        if idx["age_seconds"] is not None
        else "never switched by a rebuild"
    )
    updated = (
        f"last list computed {_age(idx['updated_age_seconds'])} ago"
        if idx["updated_age_seconds"] is not None
        else "no list computed yet"
    )
    lines.append(f"\nIndex: version {idx['version']}, {switched}, {updated}")
    return "\n".join(lines)
