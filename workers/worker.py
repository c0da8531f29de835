"""Build and run the rq workers: heartbeat and maintenance settings, the warm-up before forks."""

import gc
import logging
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker

from config.settings import Settings
from service.queue import JobQueue, reconcile_dirty
from service.storage import Store
from workers.context import mark_work_horse, use_settings


class RecsWorker(Worker):
    """rq's forking worker whose jobs count as abandoned JOB_HEARTBEAT_GRACE s after a missed beat,
    and whose maintenance also queues the refreshes that writes promised but never queued.

    rq adds a fixed 60 s to every heartbeat of a running job, so a job whose worker was killed
    stays "started" for over a minute; our jobs are idempotent (lists carry the film revision
    they were computed from), so running one twice after a short grace is harmless.
    """

    store: Store | None = None  # the key prefix's store, for reconcile_dirty (make_worker sets it)
    heartbeat_grace = 10  # JOB_HEARTBEAT_GRACE (make_worker sets it)

    def main_work_horse(self, job, queue):
        mark_work_horse()  # a ranking job gives back the tagging models (workers/horse.py)
        return super().main_work_horse(job, queue)

    def fork_work_horse(self, job, queue):
        self.prefetch_models()
        return super().fork_work_horse(job, queue)

    def prefetch_models(self) -> None:
        """Read the catalog's borrower and plot space here, before the fork, whenever their
        versions changed: the store keeps them per process and version, so every work horse
        inherits them instead of reading and decoding them again (the borrower is 2.3 MB at
        50,000 lenders: 0.23 s a refresh). A job reads them itself if this fails, and fails
        with the cause if that fails too."""
        if self.store is not None:
            try:
                self.store.borrower()
                self.store.plot_space()
            except (RedisError, ValueError):
                self.log.warning(
                    "Could not read the catalog's models before forking", exc_info=True
                )

    def get_heartbeat_ttl(self, job) -> int:
        return max(1, super().get_heartbeat_ttl(job) - 60 + self.heartbeat_grace)

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        if self.store is not None and self.store.claim_reconcile(
            max(1, self.maintenance_interval - 1)
        ):
            for film_id in reconcile_dirty(self.store, self.queues[0]):
                self.log.warning(
                    "Film %s was dirty without a live refresh job: queued one", film_id
                )


def make_worker(
    queue: JobQueue,
    worker_class: type[Worker] = RecsWorker,
    store: Store | None = None,
    settings: Settings | None = None,
    **kwargs,
) -> Worker:
    """Return a worker on queue with the product's heartbeat and maintenance settings (and, given
    the store of the queue's key prefix, the reconciler of dirty films).

    settings (by default the queue's) become those of the jobs this process runs.
    """
    settings = settings or queue.settings
    worker = worker_class(
        [queue],
        connection=queue.connection,
        serializer=queue.serializer,
        worker_ttl=settings.WORKER_TTL,
        job_monitoring_interval=settings.JOB_MONITORING_INTERVAL,
        maintenance_interval=settings.MAINTENANCE_INTERVAL,
        **kwargs,
    )
    worker.store = store
    worker.heartbeat_grace = settings.JOB_HEARTBEAT_GRACE
    use_settings(settings)
    return worker


def warm_up() -> None:
    """Import the job modules and load the tag vocabulary once, before jobs are forked.

    rq forks a process per job: what the parent has loaded, every job inherits for free;
    what it has not, every job loads again (the vocabulary alone takes seconds).
    """
    from service.core import borrow, plotspace, pos, similarity  # noqa: F401 (before forks)
    from service.core.embedding import film_embedding, plot_text
    from service.core.plot import plot_words
    from service.core.tagging import extract_text
    from service.core.vocab import load_vocabulary
    from workers import imports, jobs, rebuild  # noqa: F401 (loaded before forks)

    similarity.compile_kernels()
    vocab = load_vocabulary()
    extract_text("Ein verwitweter Feuerwehrmann trauert im Krankenhaus.", "de", vocab)
    extract_text("A widowed firefighter grieves in hospital.", "en", vocab)
    # HanTa's models and wordfreq's word lists take ~1.5 s together: once here, not per job
    pos.load_taggers()
    plot_words([("de", "Feuerwehrmann"), ("en", "firefighter")])
    # the embedding model (1 s) and the German glossary (about 2 s): once here too
    film_embedding({"synopsis": {"de": "Ein Feuerwehrmann rettet eine Ärztin."}})
    plot_text({"synopsis": {"de": "Ein Feuerwehrmann rettet eine Ärztin."}})
    # scikit-learn's TF-IDF for borrowed keywords (1.4 s to import): once here, not per job
    borrow.warm_up()
    plotspace.warm_up()  # and its SVD, which the plot space learns with


def prepare_forks() -> None:
    """Warm up, then keep what the warm-up loaded out of the collector's sight.

    It lives as long as the worker. Left to the collector, every work horse's collections
    walk the parent's heap and copy it page by page: a refresh job at 50,000 films took
    0.88 s with them and 0.37 s without (docs/BENCHMARKS.md, "Freshness").
    """
    warm_up()
    gc.collect()
    gc.freeze()


def run_worker(
    queue: JobQueue, store: Store | None = None, burst: bool = False, **work_kwargs
) -> None:
    """Work the queue; when Redis goes away, wait for it and start a fresh worker.

    rq retries a lost connection while it waits for jobs, but quits when Redis vanishes
    while a job runs; the job is then recovered as abandoned (see docs/OPERATIONS.md).
    """
    prepare_forks()
    wait = 1.0
    while True:
        started = time.monotonic()
        try:
            make_worker(queue, store=store).work(burst=burst, **work_kwargs)
            return
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if time.monotonic() - started > 60:
                wait = 1.0
            logging.getLogger(__name__).error(
                "Redis unreachable (%s); new worker in %.0f s", exc, wait
            )
            time.sleep(wait)
            wait = min(wait * 2, 30.0)
