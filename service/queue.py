"""Queue rq jobs for films, with one pending refresh per film."""

import uuid

from rq import Queue
from rq.serializers import JSONSerializer

from config import settings
from service.storage import Store


def get_queue(connection, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer,
                 default_timeout=settings.JOB_TIMEOUT)


def enqueue_refresh(store: Store, queue: Queue, film_id: str, needed: bool = True) -> str | None:
    """Queue a refresh of film_id unless one is pending; return the pending job's id.

    `needed` is whether the write newly marked the film dirty: when it did not, a job
    is already queued and this write coalesces into it.
    """
    if not needed:
        pending = store.pending_job(film_id)
        if pending:
            return pending
    job_id = f"refresh-{film_id}-{uuid.uuid4().hex[:8]}"
    store.set_pending_job(film_id, job_id)
    queue.enqueue("workers.jobs.refresh_film", store.p, film_id, job_id=job_id,
                  result_ttl=3600, failure_ttl=7 * 86400, description=f"refresh {film_id}")
    return job_id


def enqueue_rebuild(store: Store, queue: Queue) -> str:
    """Queue a full rebuild of every film's tags and list."""
    job_id = f"rebuild-{uuid.uuid4().hex[:12]}"
    queue.enqueue("workers.rebuild.rebuild", store.p, job_id=job_id,
                  job_timeout=settings.REBUILD_TIMEOUT, result_ttl=86400,
                  failure_ttl=7 * 86400, description="full rebuild")
    return job_id
