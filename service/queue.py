"""Queue rq jobs for films, with one pending refresh per film; build the workers that run them."""

import logging
import time
import uuid

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Callback, Queue, Retry, Worker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from config import settings
from service.storage import Store


def get_queue(connection, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer,
                 default_timeout=settings.JOB_TIMEOUT)


def retry_policy() -> Retry | None:
    """Requeue a job that raised or whose worker died, JOB_RETRIES times (see docs/OPERATIONS.md)."""
    return Retry(max=settings.JOB_RETRIES) if settings.JOB_RETRIES > 0 else None


class RecsWorker(Worker):
    """rq's forking worker whose jobs count as abandoned JOB_HEARTBEAT_GRACE s after a missed beat,
    and whose maintenance also queues the refreshes that writes promised but never queued.

    rq adds a fixed 60 s to every heartbeat of a running job, so a job whose worker was killed
    stays "started" for over a minute; our jobs are idempotent (lists carry the film revision
    they were computed from), so running one twice after a short grace is harmless.
    """

    store: Store | None = None  # the key prefix's store, for reconcile_dirty (make_worker sets it)

    def get_heartbeat_ttl(self, job) -> int:
        return max(1, super().get_heartbeat_ttl(job) - 60 + settings.JOB_HEARTBEAT_GRACE)

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        if self.store is not None and self.store.claim_reconcile(max(1, self.maintenance_interval - 1)):
            for film_id in reconcile_dirty(self.store, self.queues[0]):
                self.log.warning("Film %s was dirty without a live refresh job: queued one", film_id)


def make_worker(queue: Queue, worker_class: type[Worker] = RecsWorker, store: Store | None = None,
                **kwargs) -> Worker:
    """Return a worker on queue with the product's heartbeat and maintenance settings (and, given
    the store of the queue's key prefix, the reconciler of dirty films)."""
    worker = worker_class([queue], connection=queue.connection, serializer=queue.serializer,
                          worker_ttl=settings.WORKER_TTL,
                          job_monitoring_interval=settings.JOB_MONITORING_INTERVAL,
                          maintenance_interval=settings.MAINTENANCE_INTERVAL, **kwargs)
    worker.store = store
    return worker


LIVE_STATES = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED})


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
    jobs = dict(zip(ids, Job.fetch_many(ids, connection=queue.connection, serializer=queue.serializer)))
    orphans = {fid: job_id for fid, job_id in pending.items()
               if jobs.get(job_id) is None or jobs[job_id].get_status(refresh=False) not in LIVE_STATES}
    seen = store.orphans_seen(orphans)
    stuck = sorted(fid for fid, job_id in orphans.items() if seen.get(fid) == job_id)
    for fid in stuck:
        enqueue_refresh(store, queue, fid)
    return stuck


def warm_up() -> None:
    """Import the job modules and load the tag vocabulary once, before jobs are forked.

    rq forks a process per job: what the parent has loaded, every job inherits for free;
    what it has not, every job loads again (the vocabulary alone takes seconds).
    """
    from workers import imports, jobs, pos, rebuild, similarity  # noqa: F401
    from workers.embedding import film_embedding
    from workers.plot import plot_words
    from workers.tagging import extract_text
    from workers.vocab import load_vocabulary

    similarity.compile_kernels()
    vocab = load_vocabulary()
    extract_text("Ein verwitweter Feuerwehrmann trauert im Krankenhaus.", "de", vocab)
    extract_text("A widowed firefighter grieves in hospital.", "en", vocab)
    # HanTa's models and wordfreq's word lists take ~1.5 s together: once here, not per job
    pos.load_taggers()
    plot_words([("de", "Feuerwehrmann"), ("en", "firefighter")])
    # the embedding model (0.5 s) and the German glossary (about 2 s): once here too
    film_embedding({"synopsis": {"de": "Ein Feuerwehrmann rettet eine Ärztin."}})


def run_worker(queue: Queue, store: Store | None = None, burst: bool = False, **work_kwargs) -> None:
    """Work the queue; when Redis goes away, wait for it and start a fresh worker.

    rq retries a lost connection while it waits for jobs, but quits when Redis vanishes
    while a job runs; the job is then recovered as abandoned (see docs/OPERATIONS.md).
    """
    warm_up()
    wait = 1.0
    while True:
        started = time.monotonic()
        try:
            make_worker(queue, store=store).work(burst=burst, **work_kwargs)
            return
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if time.monotonic() - started > 60:
                wait = 1.0
            logging.getLogger(__name__).error("Redis unreachable (%s); new worker in %.0f s", exc, wait)
            time.sleep(wait)
            wait = min(wait * 2, 30.0)


def enqueue_refresh(store: Store, queue: Queue, film_id: str, needed: bool = True) -> str | None:
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
    queue.enqueue("workers.jobs.refresh_film", store.p, film_id, job_id=job_id,
                  result_ttl=3600, failure_ttl=7 * 86400, retry=retry_policy(),
                  description=f"refresh {film_id}", at_front=True)
    return job_id


def enqueue_rebuild(store: Store, queue: Queue, reuse_tags: bool = False) -> str:
    """Queue a full rebuild of every film's list (and tags, unless reuse_tags); return the id of the rebuild that
    will do it.

    While one runs, a request is remembered and starts when that one ends (finished or
    failed), once: later requests get the id of the one already waiting (its job is
    "deferred" until then; its progress says after which rebuild it runs).
    """
    job_id = f"rebuild-{uuid.uuid4().hex[:12]}"
    runs, running = store.request_rebuild(job_id, rebuild_ttl())
    if runs != job_id:
        waiting = queue.fetch_job(runs)
        if waiting is not None and not reuse_tags and waiting.args[-1] is True:
            waiting.args = (store.p, False)  # the waiting one now covers a request that extracts
            waiting.save()
        return runs
    status = JobStatus.QUEUED if running is None else JobStatus.DEFERRED
    job = queue.create_job("workers.rebuild.rebuild", args=(store.p, reuse_tags), job_id=job_id,
                           timeout=settings.REBUILD_TIMEOUT, result_ttl=86400,
                           failure_ttl=7 * 86400, retry=retry_policy(), description="full rebuild",
                           status=status, on_failure=Callback("workers.rebuild.rebuild_failed"))
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


def rebuild_ttl() -> int:
    """How long the rebuild slot is held at most (a rebuild whose jobs all vanished)."""
    return settings.REBUILD_TIMEOUT * 4
