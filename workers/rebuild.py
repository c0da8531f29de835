"""rq jobs of a full rebuild: re-extract tags in chunks, rank in chunks, switch atomically.

Each chunk is its own job, so workers on several machines share the work. Lists go
to a new index version; readers keep the old one until every chunk is done.
"""

import json
import os
from collections.abc import Iterable
from functools import lru_cache

from rq import Callback, Queue, Worker, get_current_job

from config.settings import Settings
from service import listcodec
from service.core import similarity
from service.core.borrow import borrow_text, lend
from service.core.plotspace import MostVoted, learn
from service.core.vocab import load_vocabulary
from service.jobstats import record_index_update, timed_job
from service.queue import (
    enqueue_refresh,
    get_queue,
    rebuild_ttl,
    retry_policy,
    start_waiting_rebuild,
)
from service.storage import Store, now
from workers import index
from workers.context import job_settings
from workers.horse import shed_text_models
from workers.jobs import current_store, tag_films

BLOB_TTL = 86400


def _queue(job) -> Queue:
    settings = job_settings()
    return get_queue(job.connection, job.origin, settings, timeout=settings.REBUILD_TIMEOUT)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _enqueue(q: Queue, func, *args, rebuild_id: str, **kwargs):
    return q.enqueue(
        func,
        *args,
        rebuild_id,
        result_ttl=86400,
        failure_ttl=7 * 86400,
        retry=retry_policy(q.settings),
        on_failure=Callback(rebuild_failed),
        **kwargs,
    )


@timed_job("rebuild_start")
def rebuild(prefix: str, reuse_tags: bool = False) -> dict:
    """Start a full rebuild: one extraction job per chunk of films, then ranking.

    With reuse_tags, skip extraction and rank the stored tag vectors (enough after a change
    of the similarity knobs; a vocabulary or tagger change needs the extraction).
    """
    job = get_current_job()
    store, rid = current_store(prefix), job.id
    ids = store.film_ids()
    if not store.begin_rebuild(rid, len(ids), rebuild_ttl(job_settings())):
        # Queued past enqueue_rebuild's bookkeeping while another runs: wait for it, once.
        runs, running = store.request_rebuild(rid, rebuild_ttl(job_settings()))
        if runs != rid:
            store.rebuild_progress(rid, phase="covered", by=runs)
            return {"covered_by": runs}
        if running is not None:
            store.rebuild_progress(rid, phase="waiting", after=running)
            return {"waiting_for": running}
        store.begin_rebuild(rid, len(ids), rebuild_ttl(job_settings()))
    store.fold_older_hashes()  # an older version's df and tag numbers join the buckets
    # steps per film, for progress bars: extracted and ranked, or ranked only
    store.rebuild_progress(rid, steps="1" if reuse_tags else "2")
    if reuse_tags:  # nothing to extract: snapshot and rank in this job, one job hop less
        return {
            "films": len(ids),
            "extract_jobs": 0,
            "reuse_tags": True,
            **_rank_all(job, prefix, rid),
        }
    lenders, plot_films = build_models(store)
    store.rebuild_progress(rid, phase="models", lenders=lenders, plot_films=plot_films)
    q = _queue(job)
    # Fixed job ids: a start retried after its worker was killed queues only what is missing.
    extract = [
        q.fetch_job(f"{rid}-extract-{n}")
        or _enqueue(
            q,
            extract_chunk,
            prefix,
            chunk,
            rebuild_id=rid,
            job_id=f"{rid}-extract-{n}",
            description=f"rebuild {rid}: extract {len(chunk)} films",
        )
        for n, chunk in enumerate(_chunks(ids, job_settings().REBUILD_CHUNK))
    ]
    if q.fetch_job(f"{rid}-rank") is None:
        _enqueue(
            q,
            rank_all,
            prefix,
            rebuild_id=rid,
            depends_on=extract or None,
            job_id=f"{rid}-rank",
            description=f"rebuild {rid}: snapshot and rank",
        )
    return {"films": len(ids), "extract_jobs": len(extract), "reuse_tags": False}


def build_models(store: Store) -> tuple[int, int]:
    """Learn the catalog's models from one read of its films (learn_models) and store them, or
    none; return how many films lend keywords and how many the plot space was learned from.
    Every extraction job of the rebuild, and every refresh after it, uses what is stored."""
    films = (f for chunk in _chunks(store.film_ids(), 5000) for f in store.get_films(chunk) if f)
    borrower, lenders, space, plot_films = learn_models(films, job_settings())
    store.save_borrower(borrower.to_bytes() if borrower else None)
    store.save_plot_space(space.to_bytes() if space else None)
    return lenders, plot_films


def learn_models(films: Iterable[dict], settings: Settings) -> tuple:
    """Return (the borrower of keywords or None, how many films lend, the plot space or None,
    how many films it was learned from), reading films once: service.core.borrow.lend and,
    for a catalog that lends no keywords, service.core.plotspace.learn, with the
    RECS_BORROW_* and RECS_PLOT_* settings."""
    sample, last = MostVoted(settings.PLOT_MAX_FILMS), {}

    def noted(films: Iterable[dict]):
        for film in films:  # its text read once for both (detecting its language: 1-2 ms)
            last["text"] = borrow_text(film)
            sample.add(film, last["text"])
            yield film

    borrower, lenders = lend(
        noted(films),
        load_vocabulary().ignores_keyword,
        settings.BORROW_MAX_FILMS,
        settings.BORROW_MIN_FILMS,
        settings.BORROW_NEIGHBOURS,
        settings.BORROW_KEYWORDS,
        text_of=lambda film: last["text"],
    )
    # a catalog that lends keywords learns no plot space: its films without keywords borrow
    # from the same texts, and the two replace each other (docs/QUALITY.md, "Plot space")
    texts = sample.texts() if borrower is None else []
    space = learn(texts, settings.PLOT_MIN_FILMS, settings.PLOT_DIMS, settings.PLOT_SHARE,
                  settings.PLOT_MAX_TERMS)  # fmt: skip
    return borrower, lenders, space, len(texts) if space else 0


@timed_job("rebuild_extract")
def extract_chunk(prefix: str, ids: list[str], rebuild_id: str) -> int:
    """Re-extract the tags of a chunk of films."""
    store = current_store(prefix)
    reviews = store.reviews_of(ids)
    films = [(film, reviews[film["id"]]) for film in store.get_films(ids) if film is not None]
    embedded: list[int] = []
    tagged = tag_films(films, store.borrower(), store.plot_space(), store.get_kept(ids), embedded)
    store.save_tags_many({film["id"]: entry for (film, _), entry in zip(films, tagged)})
    store.rebuild_progress(rebuild_id, extracted=len(ids), embedded=sum(embedded))
    return len(films)


def snapshot(
    store: Store, knobs: similarity.SimilarityParams
) -> tuple[similarity.Catalog, dict[str, int]]:
    """Return a catalog of every tagged film and the film revisions it reflects.

    Films are read and folded into arrays 5,000 at a time (similarity.CatalogParts): at a
    million films, every film's vector as a dict at once would take several GB."""
    parts, revs = similarity.CatalogParts(), {}
    for chunk in _chunks(store.film_ids(), 5000):
        parts.add(index.load_films(store, chunk))
        revs.update({fid: card["rev"] for fid, card in store.get_cards(chunk).items()})
    return parts.build(knobs), revs


def rank_parts(n_rows: int, workers: int, rank_chunk: int) -> list[tuple[int, int]]:
    """Split n_rows into ranking jobs: one per listening worker, 500 (or rank_chunk if
    smaller) to rank_chunk rows each (the RANK_CHUNK setting)."""
    least = min(500, rank_chunk)
    size = min(rank_chunk, max(least, -(-n_rows // max(1, workers))))
    return [(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


@timed_job("rebuild_snapshot")
def rank_all(prefix: str, rebuild_id: str) -> dict:
    """Snapshot the catalog and rank it (see _rank_all)."""
    return _rank_all(get_current_job(), prefix, rebuild_id)


def _rank_all(job, prefix: str, rebuild_id: str) -> dict:
    """Snapshot the catalog and rank it: one part here (the catalog is in memory already) and
    the others in ranking jobs, then switch: here when there was one part, else in a job that
    rq queues once this one and every ranking job have finished.

    When the parts outnumber the listening workers (a catalog of more than RECS_RANK_CHUNK
    rows a worker: a million films make 20 parts), this job ranks none of them: its process
    ends once the snapshot is stored, so the memory that building the snapshot took (the
    most any rebuild job holds) is never held together with a part's ranking, at the cost
    of one more load of the stored snapshot (docs/BENCHMARKS.md, "A million films").
    """
    store, settings = current_store(prefix), job_settings()
    _shed_when_large(store)
    cat, revs = snapshot(store, index.params(settings))
    version = store.next_version()
    q = _queue(job)
    workers = _listening(job, q)
    parts = rank_parts(len(cat.ids), workers, settings.RANK_CHUNK)
    if len(parts) > 1:
        with store.blob_writer(rebuild_id, BLOB_TTL) as out:  # a part at a time
            similarity.write_catalog(cat, out)
        store.put_blob(rebuild_id + ":revs", json.dumps(revs).encode(), BLOB_TTL)
    store.rebuild_progress(rebuild_id, phase="ranking", version=str(version), catalog=len(cat.ids))
    here = parts[:1] if len(parts) <= max(1, workers) else []
    rank = [
        _enqueue(
            q,
            rank_chunk,
            prefix,
            version,
            start,
            stop,
            rebuild_id=rebuild_id,
            description=f"rebuild {rebuild_id}: rank from {start}",
        )
        for start, stop in parts[len(here) :]
    ]
    if rank:
        _enqueue(
            q,
            finish,
            prefix,
            version,
            rebuild_id=rebuild_id,
            depends_on=[job.id, *rank],
            description=f"rebuild {rebuild_id}: switch to version {version}",
        )
    if here:
        threads = rank_threads(workers)
        _rank_and_write(store, cat, revs, version, range(*here[0]), rebuild_id, threads)
    switched = None if rank else _switch(q, store, version, rebuild_id)
    return {"films": len(cat.ids), "rank_jobs": len(rank), "version": version, "switched": switched}


@lru_cache(maxsize=2)
def _load_snapshot(prefix: str, rebuild_id: str, connection_id: int):
    store = current_store(prefix)
    cat = similarity.catalog_from_bytes(store.blob_reader(rebuild_id))
    return cat, json.loads(store.get_blob(rebuild_id + ":revs"))


@timed_job("rebuild_rank")
def rank_chunk(prefix: str, version: int, start: int, stop: int, rebuild_id: str) -> int:
    """Rank rows start..stop of the snapshot and write their lists to the new version."""
    store = current_store(prefix)
    _shed_when_large(store)
    cat, revs = _load_snapshot(prefix, rebuild_id, store.connection_id())
    threads = rank_threads(_listening(get_current_job()))
    return _rank_and_write(store, cat, revs, version, range(start, stop), rebuild_id, threads)


def _shed_when_large(store: Store) -> None:
    """Give back the tagging models in this ranking job's work horse (workers/horse.py) when
    the catalog has RECS_RANK_CHUNK films or more: there its memory matters and the quarter
    second it takes does not; in a TMDB-size rebuild of 1-2 s it would be the other way."""
    if store.count_films() >= job_settings().RANK_CHUNK:
        shed_text_models()


def _listening(job, q: Queue | None = None) -> int:
    """Return how many workers listen on the job's queue (on every machine)."""
    return Worker.count(connection=job.connection, queue=q or _queue(job))


def rank_threads(workers: int) -> int:
    """Return how many threads a ranking job splits its rows over: RECS_RANK_THREADS, else the
    CPUs this worker may run on divided among the `workers` listening on its queue (on every
    machine: so never more threads than this machine's share of cores)."""
    settings = job_settings()
    if settings.RANK_THREADS > 0:
        return settings.RANK_THREADS
    return max(1, len(os.sched_getaffinity(0)) // max(1, workers))


def _rank_and_write(
    store: Store,
    cat: similarity.Catalog,
    revs: dict[str, int],
    version: int,
    rows: range,
    rebuild_id: str,
    threads: int,
) -> int:
    """Rank catalog rows over `threads` threads and write their lists to the new version, a
    chunk at a time."""
    at = now()
    numbered = {"dictionary": store.tag_numbers([])[1]}

    def number(tags):  # the numbers, and the dictionary the next headers name
        numbers, numbered["dictionary"] = store.tag_numbers(tags)
        return numbers

    # the lists come encoded from the kernel: no Python object per item at any size
    for batch in similarity.iter_related_packed(cat, rows, number, index.params(), threads=threads):
        dictionary = numbered["dictionary"]  # covers every tag of this batch
        store.write_encoded_lists(
            version,
            (
                (fid, listcodec.header(int(revs.get(fid, 0)), at, count, dictionary) + items)
                for fid, items, count in batch
            ),
        )
        store.rebuild_progress(rebuild_id, ranked=len(batch))
    return len(rows)


@timed_job("rebuild_switch")
def finish(prefix: str, version: int, rebuild_id: str) -> dict:
    """Switch readers to the new version, redo films changed meanwhile, drop the old lists."""
    return _switch(_queue(get_current_job()), current_store(prefix), version, rebuild_id)


def _switch(q: Queue, store: Store, version: int, rebuild_id: str) -> dict:
    old, touched = store.switch_version(rebuild_id, version)
    record_index_update(store, switched_version=version)
    for fid in touched:
        enqueue_refresh(store, q, fid)
    store.rebuild_progress(rebuild_id, phase="done", redone=len(touched))
    following = store.end_rebuild(rebuild_id, rebuild_ttl(job_settings()))
    if following:
        start_waiting_rebuild(q, following)
    dropped = store.drop_version(old) if old != version else 0
    return {
        "version": version,
        "previous": old,
        "redone": len(touched),
        "dropped": dropped,
        "next_rebuild": following,
    }


def rebuild_failed(job, connection, exc_type, exc_value, traceback):
    """Mark the rebuild failed (the old index keeps serving) and let a new one start."""
    if job.retries_left:
        return  # rq calls this before it requeues the job: the rebuild is still going
    # Chunk jobs carry the rebuild id last; the starting job is the rebuild itself.
    start = job.func_name.endswith(".rebuild")
    prefix, rebuild_id = job.args[0], job.id if start else job.args[-1]
    store = Store(connection, prefix)
    store.rebuild_progress(
        rebuild_id, phase="failed", error=f"{exc_type.__name__}: {exc_value}"[:500]
    )
    following = store.end_rebuild(rebuild_id, rebuild_ttl(job_settings()))
    if following:
        start_waiting_rebuild(_queue(job), following)
