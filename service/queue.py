"""Queue rq jobs by their dotted names, with one pending refresh per film (the jobs' front door).

The web and the jobs both enqueue through here; neither needs the other's modules. The
workers that run the jobs are built in workers/worker.py.
"""

import uuid

from rq import Callback, Queue, Retry
from rq.job import Job, JobStatus
from rq.results import Result
from rq.serializers import JSONSerializer

from config.settings import Settings
from service.storage import Store


class JobQueue(Queue):
    """An rq queue that carries the settings its jobs are queued with (timeouts, retries)."""

    settings: Settings


def get_queue(connection, name: str, settings: Settings, timeout: int | None = None) -> JobQueue:
    """Return the rq queue name (JSON serializer), its jobs timing out after JOB_TIMEOUT s
    (or timeout) and retried as settings say."""
    queue = JobQueue(
        name,
        connection=connection,
        serializer=JSONSerializer,
        default_timeout=settings.JOB_TIMEOUT if timeout is None else timeout,
    )
    queue.settings = settings
    return queue


def retry_policy(settings: Settings) -> Retry | None:
    """Requeue a job that raised or whose worker died, JOB_RETRIES times (see docs/OPERATIONS.md)."""
    return Retry(max=settings.JOB_RETRIES) if settings.JOB_RETRIES > 0 else None


LIVE_STATES = frozenset(
    {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
)


def job_is_live(queue: Queue, job_id: str) -> bool:
    """Return whether job_id is queued, running or waiting to run (one HGET)."""
    status = queue.connection.hget(Job.key_for(job_id), "status")
    return status is not None and status.decode() in LIVE_STATES


def reconcile_dirty(store: Store, queue: Queue) -> list[str]:
    """Queue a refresh for every film that is dirty without a live job on two passes in a row;
    return their ids.

    A write marks its film dirty in the same transaction as the film (the promise of a refresh)
    and queues the job after it; a web process killed in between left the film pointing at a
    job that never existed, and later writes coalesced into it for a day. The second pass (one
    maintenance interval later) leaves a write that is queueing its job right now alone.
    """
    pending = store.dirty_pending()
    ids = [job_id for job_id in pending.values() if job_id]
    jobs = dict(
        zip(ids, Job.fetch_many(ids, connection=queue.connection, serializer=queue.serializer))
    )
    orphans = {
        fid: job_id
        for fid, job_id in pending.items()
        if jobs.get(job_id) is None or jobs[job_id].get_status(refresh=False) not in LIVE_STATES
    }
    seen = store.orphans_seen(orphans)
    stuck = sorted(fid for fid, job_id in orphans.items() if seen.get(fid) == job_id)
    for fid in stuck:
        enqueue_refresh(store, queue, fid)
    return stuck


def enqueue_refresh(store: Store, queue: JobQueue, film_id: str, needed: bool = True) -> str | None:
    """Queue a refresh of film_id unless one is pending; return the pending job's id.

    `needed` is whether the write newly marked the film dirty: when it did not, a job
    is already queued and this write coalesces into it, unless that job is not live (its
    web process died before queueing it): then this write queues one.
    """
    if not needed:
        pending = store.pending_job(film_id)
        if pending and job_is_live(queue, pending):
            return pending
    job_id = f"refresh-{film_id}-{uuid.uuid4().hex[:8]}"
    store.set_pending_job(film_id, job_id)
    # At the front: a refresh takes a fraction of a second and must not wait behind the
    # chunks of a full rebuild (minutes of work) queued before it.
    queue.enqueue(
        "workers.jobs.refresh_film",
        store.p,
        film_id,
        job_id=job_id,
        result_ttl=3600,
        failure_ttl=7 * 86400,
        retry=retry_policy(queue.settings),
        description=f"refresh {film_id}",
        at_front=True,
    )
    return job_id


REBUILD_DESCRIPTIONS = {False: "full rebuild", True: "full rebuild, ranking only (tags reused)"}


def enqueue_rebuild(store: Store, queue: JobQueue, reuse_tags: bool = False) -> str:
    """Queue a full rebuild of every film's list (and tags, unless reuse_tags); return the id of the rebuild that
    will do it.

    While one runs, a request is remembered and starts when that one ends (finished or
    failed), once: later requests get the id of the one already waiting (its job is
    "deferred" until then; its progress says after which rebuild it runs).
    """
    job_id = f"rebuild-{uuid.uuid4().hex[:12]}"
    runs, running = store.request_rebuild(job_id, rebuild_ttl(queue.settings))
    if runs != job_id:
        waiting = queue.fetch_job(runs)
        if waiting is not None and not reuse_tags and waiting.args[-1] is True:
            waiting.args = (store.p, False)  # the waiting one now covers a request that extracts
            waiting.description = REBUILD_DESCRIPTIONS[False]
            waiting.save()
        return runs
    status = JobStatus.QUEUED if running is None else JobStatus.DEFERRED
    job = queue.create_job(
        "workers.rebuild.rebuild",
        args=(store.p, reuse_tags),
        job_id=job_id,
        timeout=queue.settings.REBUILD_TIMEOUT,
        result_ttl=86400,
        failure_ttl=7 * 86400,
        retry=retry_policy(queue.settings),
        description=REBUILD_DESCRIPTIONS[reuse_tags],
        status=status,
        on_failure=Callback("workers.rebuild.rebuild_failed"),
    )
    if running is None:
        queue.enqueue_job(job)
    else:
        store.rebuild_progress(job_id, phase="waiting", after=running)
        job.save()
        queue.deferred_job_registry.add(job, ttl=-1)
    return job_id


def start_waiting_rebuild(queue: Queue, job_id: str) -> None:
    """Queue the rebuild that waited for the previous one to end."""
    job = queue.fetch_job(job_id)
    if job is None:
        raise LookupError(f"rebuild job {job_id} is gone")
    queue.deferred_job_registry.remove(job)
    if job.get_status() in (JobStatus.DEFERRED, JobStatus.FINISHED, None):
        job.set_status(JobStatus.QUEUED)  # rq's enqueue_job leaves a deferred job deferred
        queue.enqueue_job(job)


def drop_queue(queue: Queue) -> None:
    """Delete a queue with its jobs, their results and its registries, through rq's own API
    (rq's key layout is rq's): for tests and benches that are done with a queue."""
    registries = (
        queue.started_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.deferred_job_registry,
        queue.scheduled_job_registry,
        queue.canceled_job_registry,
    )
    job_ids = set(queue.get_job_ids())
    for registry in registries:
        job_ids.update(registry.get_job_ids(cleanup=False))
    for job in Job.fetch_many(
        sorted(job_ids), connection=queue.connection, serializer=queue.serializer
    ):
        if job is not None:
            Result.delete_all(job)
            job.delete()
    for registry in registries:
        queue.connection.delete(registry.key)
    queue.delete(delete_jobs=False)


def rebuild_ttl(settings: Settings) -> int:
    """How long the rebuild slot is held at most (a rebuild whose jobs all vanished)."""
    return settings.REBUILD_TIMEOUT * 4
