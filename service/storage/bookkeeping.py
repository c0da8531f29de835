"""Refresh bookkeeping (dirty films, pending jobs), uploads, shared pages, replication."""


class Bookkeeping:
    """What a Store keeps around the films: jobs, uploads, pages, replication."""

    # -- film pages a web process rendered, for the others (service/pagecache.py) ------
    def read_shared_page(self, fid: str, variant: str, version: int) -> tuple:
        """Return (index version, cards generation, the film's list blob of index version
        `version` or None, the shared page of this variant or None): one MGET. `version` is
        the caller's guess of the index version, so that the list usually comes along."""
        ver, gen, blob, page = self.r.mget(
            self.keys.version(),
            self.keys.cards_gen(),
            self.keys.related_list(str(version), fid),
            self.keys.page(variant, fid),
        )
        return int(ver or 0), gen or b"0", blob, page

    def put_shared_page(self, fid: str, variant: str, page: bytes, ttl: int) -> None:
        """Keep a rendered page for the other web processes for ttl seconds at most (a page
        outlives its use once a write bumps the cards generation)."""
        self.r.set(self.keys.page(variant, fid), page, ex=ttl)

    # -- refresh bookkeeping ------------------------------------------------
    def _mark_dirty(self, pipe, fid: str) -> int:
        """Queue on pipe (a MULTI) the mark that fid waits for a refresh; return the index of
        its reply among the transaction's (see base.newly_dirty)."""
        pipe.sadd(self.keys.dirty(), fid)
        return len(pipe.command_stack) - 1

    def set_pending_job(self, fid: str, job_id: str) -> None:
        self.r.set(self.keys.pending(fid), job_id, ex=86400)

    def pending_job(self, fid: str) -> str | None:
        raw = self.r.get(self.keys.pending(fid))
        return raw.decode() if raw else None

    def pending_jobs(self, ids: list[str]) -> list[str | None]:
        """Return the latest refresh job of each film (None if none), in one read."""
        if not ids:
            return []
        return [
            raw.decode() if raw else None
            for raw in self.r.mget([self.keys.pending(fid) for fid in ids])
        ]

    def claim_dirty(self, fid: str) -> None:
        """Mark a film as being refreshed: later writes queue a new job."""
        self.r.srem(self.keys.dirty(), fid)

    def dirty_ids(self) -> list[str]:
        return [raw.decode() for raw in self.r.smembers(self.keys.dirty())]

    def dirty_pending(self) -> dict[str, str]:
        """Return {film id: its pending refresh job id, or ""} for every dirty film."""
        ids = self.dirty_ids()
        jobs = self.r.mget([self.keys.pending(fid) for fid in ids]) if ids else []
        return {fid: (raw or b"").decode() for fid, raw in zip(ids, jobs)}

    def claim_reconcile(self, ttl: int) -> bool:
        """Take the reconciler's turn for ttl seconds (one worker at a time); False if taken."""
        return bool(self.r.set(self.keys.reconcile_lock(), "1", nx=True, ex=ttl))

    def orphans_seen(self, orphans: dict[str, str]) -> dict[str, str]:
        """Keep this pass's orphans {film id: pending job id}; return the previous pass's."""
        key = self.keys.reconcile_seen()
        pipe = self.r.pipeline()
        pipe.hgetall(key)
        pipe.delete(key)
        if orphans:
            pipe.hset(key, mapping=orphans)
            pipe.expire(key, 3600)
        seen = pipe.execute()[0]
        return {k.decode(): v.decode() for k, v in seen.items()}

    # -- replication -------------------------------------------------------------
    def wait_for_replicas(self, replicas: int, timeout_ms: int) -> int:
        """Return how many replicas hold every write made so far (waiting up to timeout_ms).

        WAIT counts the replicas that acknowledged the calling connection's own last write,
        and a pooled client may have written on another connection: a fence write and the
        WAIT go out together on one connection, and replication keeps order, so a replica
        holding the fence holds everything the primary had before it.
        """
        pipe = self.r.pipeline(transaction=False)
        pipe.incr(self.keys.replication_fence())
        pipe.execute_command("WAIT", replicas, timeout_ms)
        return int(pipe.execute()[-1])
