"""Full rebuilds: the rebuild slot, progress, snapshots and index versions."""

import uuid

from service.core.borrow import Borrower
from service.core.buffers import PartsReader, PartsWriter
from service.core.plotspace import PlotSpace
from service.storage.base import NotFound

BLOB_PART = 64 * 2**20  # bytes per part of a stored blob
# per process, key prefix and model: the model last read, with its version (tag jobs read the
# version, a few bytes, and the blob only when it changed)
_MODELS: dict[tuple[str, str], tuple[bytes, object]] = {}


class Rebuilds:
    """The rebuilds and index versions of a Store."""

    # -- the models a full rebuild learns: the borrower of keywords (service/core/borrow.py),
    # the plot space (service/core/plotspace.py) ------------------------------------------
    def save_borrower(self, blob: bytes | None) -> None:
        """Store the catalog's borrower, or remove it (a catalog without curated keywords)."""
        self._save_model(self.keys.borrower(), self.keys.borrower_version(), blob)

    def borrower(self) -> Borrower | None:
        """Return the catalog's borrower, None when there is none (read once per version)."""
        return self._model(self.keys.borrower(), self.keys.borrower_version(), Borrower)

    def save_plot_space(self, blob: bytes | None) -> None:
        """Store the catalog's plot space, or remove it (a catalog too small to learn one)."""
        self._save_model(self.keys.plot_space(), self.keys.plot_space_version(), blob)

    def plot_space(self) -> PlotSpace | None:
        """Return the catalog's plot space, None when there is none (read once per version)."""
        return self._model(self.keys.plot_space(), self.keys.plot_space_version(), PlotSpace)

    def _save_model(self, key: str, version_key: str, blob: bytes | None) -> None:
        pipe = self.r.pipeline()
        if blob is None:
            pipe.delete(key, version_key)
        else:
            pipe.set(key, blob)
            pipe.set(version_key, uuid.uuid4().hex)
        pipe.execute()

    def _model(self, key: str, version_key: str, kind):
        """Return the model stored at key as kind.from_bytes reads it, from this process's
        cache while its version is the stored one."""
        version = self.r.get(version_key)
        cached = _MODELS.get((self.p, key))
        if version is None or (cached and cached[0] == version):
            return cached[1] if version is not None else None
        version, blob = self.r.mget(version_key, key)
        if version is None or blob is None:
            return None
        _MODELS[(self.p, key)] = (version, kind.from_bytes(blob))
        return _MODELS[(self.p, key)][1]

    # -- full rebuilds ---------------------------------------------------------
    def next_version(self) -> int:
        return int(self.r.incr(self.keys.version_next()))

    def active_rebuild(self) -> str | None:
        raw = self.r.get(self.keys.rebuild_active())
        return raw.decode() if raw else None

    def request_rebuild(self, rebuild_id: str, ttl: int) -> tuple[str, str | None]:
        """Claim the rebuild slot for rebuild_id, or make it the one to run next.

        Return (the rebuild that will do this request's work, the one running now or None):
        (rebuild_id, None) when it may start at once; (rebuild_id, running) when it waits for
        `running`; (other, running) when another request already waits: it covers this one.
        """
        runs, running = self._request_rebuild(
            keys=[self.keys.rebuild_active(), self.keys.rebuild_next()], args=[rebuild_id, ttl]
        )
        return runs.decode(), running.decode() if running else None

    def begin_rebuild(self, rebuild_id: str, total: int, ttl: int) -> bool:
        """Mark a rebuild as running; False if another one is.

        A retried start (its worker was killed) keeps the progress counted so far.
        """
        if not self.r.set(self.keys.rebuild_active(), rebuild_id, ex=ttl, nx=True):
            if self.active_rebuild() != rebuild_id:
                return False
        key = self.keys.rebuild(rebuild_id)
        if self.r.hget(key, "phase") in (b"extracting", b"ranking"):
            return True
        pipe = self.r.pipeline()
        pipe.delete(self.keys.rebuild_touched())
        pipe.hdel(key, "after")
        pipe.hset(key, mapping={"total": total, "extracted": 0, "ranked": 0, "phase": "extracting"})
        pipe.expire(key, 7 * 86400)
        pipe.execute()
        return True

    def end_rebuild(self, rebuild_id: str, ttl: int) -> str | None:
        """Free the rebuild slot (rebuild_id finished or failed); hand it to the rebuild
        waiting next, if any, and return that one's id (its job must then be queued)."""
        nxt = self._end_rebuild(
            keys=[self.keys.rebuild_active(), self.keys.rebuild_next()], args=[rebuild_id, ttl]
        )
        return nxt.decode() if nxt else None

    def rebuild_progress(self, rebuild_id: str, **changes) -> dict:
        """Add counts (ints) or set fields (str) of a rebuild's progress; return it."""
        key = self.keys.rebuild(rebuild_id)
        pipe = self.r.pipeline()
        for name, value in changes.items():
            if isinstance(value, int):
                pipe.hincrby(key, name, value)
            else:
                pipe.hset(key, name, value)
        pipe.hgetall(key)
        raw = pipe.execute()[-1]
        return {
            k.decode(): (int(v) if v.lstrip(b"-").isdigit() else v.decode()) for k, v in raw.items()
        }

    def touch_during_rebuild(self, fid: str) -> None:
        """Remember a film refreshed during a rebuild: it is refreshed again after the switch."""
        if self.r.exists(self.keys.rebuild_active()):
            self.r.sadd(self.keys.rebuild_touched(), fid)

    def put_blob(self, name: str, data: bytes, ttl: int) -> None:
        """Store a rebuild's blob as a list of parts of at most BLOB_PART bytes: a string
        holds at most 512 MB (a million films' snapshot is more), and a part's command buffer
        in the server is a part's size, not the whole."""
        with self.blob_writer(name, ttl) as out:
            out.write(data)

    def blob_writer(self, name: str, ttl: int) -> PartsWriter:
        """Return a stream that stores what is written to it as put_blob does, a part at a
        time as each fills (the snapshot is written through it: a million films' is about
        1 GB, never held whole). Close it to store the last part; the parts written so far
        expire after ttl seconds whatever happens."""
        key = self.keys.blob(name)
        self.r.delete(key)

        def emit(part: bytes) -> None:
            pipe = self.r.pipeline(transaction=False)
            pipe.rpush(key, part)
            pipe.expire(key, ttl)
            pipe.execute()

        return PartsWriter(emit, BLOB_PART)

    def get_blob(self, name: str) -> bytearray:
        """Return a blob put_blob stored, read a part at a time (a bytearray: no copy of it
        as bytes)."""
        key = self.keys.blob(name)
        parts = self.r.llen(key)
        if not parts:
            raise NotFound(name)
        out = bytearray()
        for n in range(parts):
            out += self.r.lindex(key, n)
        return out

    def blob_reader(self, name: str) -> PartsReader:
        """Return a seekable file over a blob put_blob stored that holds one part at a time:
        a ranking job loads a million films' snapshot (about 1 GB) without a copy of it
        beside the arrays it reads out of it. Every part but the last is as long as the
        first; the part read last is kept, so reading on from it costs nothing."""
        key = self.keys.blob(name)
        parts = self.r.llen(key)
        if not parts:
            raise NotFound(name)
        held = {}

        def part(n: int) -> bytes:
            if n not in held:
                got = self.r.lindex(key, n)
                if got is None:  # dropped meanwhile (the rebuild switched or expired)
                    raise NotFound(name)
                held.clear()
                held[n] = got
            return held[n]

        size = len(part(0))
        return PartsReader(part, size, size * (parts - 1) + len(part(parts - 1)))

    def switch_version(self, rebuild_id: str, version: int) -> tuple[int, list[str]]:
        """Make version current; return the old one and the films touched meanwhile."""
        pipe = self.r.pipeline()
        pipe.getset(self.keys.version(), version)
        pipe.smembers(self.keys.rebuild_touched())
        # the snapshot and its revisions (workers/rebuild.py), kept a day otherwise
        pipe.delete(
            self.keys.rebuild_touched(),
            self.keys.blob(rebuild_id),
            self.keys.blob(rebuild_id + ":revs"),
        )
        old, touched, _ = pipe.execute()
        return int(old or 0), [raw.decode() for raw in touched]

    def drop_version(self, version: int) -> int:
        """Delete every list of an old index version, in batches."""
        dropped = 0
        batch = []
        for key in self.r.scan_iter(
            match=self.keys.related_lists_pattern(str(version)), count=1000
        ):
            batch.append(key)
            if len(batch) >= 1000:
                dropped += self.r.unlink(*batch)
                batch = []
        if batch:
            dropped += self.r.unlink(*batch)
        return dropped

    def drop_list(self, version: int, fid: str) -> None:
        self.r.delete(self.keys.related_list(str(version), fid))
