"""Films: their records, cards, search and filter indexes, and bulk imports."""

import uuid

import orjson

from service.storage import documents
from service.storage.base import (
    Conflict,
    NotFound,
    _dumps,
    _KnownReviews,
    _Merged,
    _pack,
    _unpack,
    newly_dirty,
    now,
    transact,
)
from service.text import fold

# How long a deleted film's last revision is kept: a film created again under its id within
# this time continues from it (see docs/OPERATIONS.md, "Revisions").
TOMBSTONE_TTL = 30 * 86400
# How many films of highest vote count (and popularity) _KEEP_TOP keeps at least.
TOP_KEEP = 32


class Films:
    """The films of a Store (see service/storage/store.py)."""

    # -- films -----------------------------------------------------------
    def _write_card(self, pipe, film: dict) -> None:
        """Write a film's card (title, year, revision) and bump the cards generation with it,
        which tells readers' kept pages that a card changed (read_list_unchanged)."""
        card = {"title": film["title"], "year": film.get("year"), "rev": film["rev"]}
        pipe.hset(self.keys.cards(), film["id"], _dumps(card))
        pipe.incr(self.keys.cards_gen())

    def _film_writes(self, pipe, film: dict, old: dict | None, dirty: bool = True) -> int | None:
        """Queue a film's record, card, search, filter and prior writes on pipe; with dirty,
        mark it for a refresh and return where that mark's reply will be."""
        fid = film["id"]
        pipe.set(self.keys.film(fid), _pack(film))
        self._write_card(pipe, film)
        pipe.hset(
            self.keys.titles(),
            fid,
            fold(film["title"]) + " " + fold(film.get("original_title") or ""),
        )
        pipe.hset(self.keys.meta(), fid, documents.pack_meta(film))
        if isinstance(pipe, _Merged):
            pipe.priors[fid] = film  # one call for the batch (upsert_films)
        else:
            self._write_priors(pipe, {fid: film})
        old_genres = {fold(g) for g in (old or {}).get("genres", [])}
        new_genres = {fold(g) for g in film.get("genres", [])}
        for g in old_genres - new_genres:
            pipe.srem(self.keys.genre(g), fid)
        for g in new_genres:
            pipe.sadd(self.keys.genre(g), fid)
        return self._mark_dirty(pipe, fid) if dirty else None

    def _write_priors(self, pipe, films: dict[str, dict | None]) -> None:
        """Queue on pipe the films' vote counts and popularity (None: the film is gone) for
        the catalog's maxima (_KEEP_TOP), after their meta."""
        keys = self.keys
        for top, floor, field in (
            (keys.votes(), keys.votes_floor(), "vote_count"),
            (keys.popularity(), keys.popularity_floor(), "popularity"),
        ):
            args = [field, TOP_KEEP]
            for fid, film in films.items():
                args += [fid, "" if film is None else film.get(field) or 0]
            self._keep_top(keys=[top, floor, keys.meta()], args=args, client=pipe)

    def create_film(self, film: dict) -> tuple[dict, bool]:
        """Store a new film; return it and whether it needs a refresh job."""
        fid = film["id"]
        ts = now()
        film = {**film, "created_at": ts, "updated_at": ts}

        def write(pipe):
            if pipe.exists(self.keys.film(fid)):
                raise Conflict(fid)
            # A film deleted under this id continues its revisions: jobs that read the old
            # film must never win over the new one (their writes are revision-guarded).
            film["rev"] = int(pipe.get(self.keys.tomb(fid)) or 0) + 1
            pipe.multi()
            pipe.delete(self.keys.tomb(fid))
            pipe.zadd(self.keys.films(), {fid: ts})
            return self._film_writes(pipe, film, None)

        dirty_at, replies = transact(self.r, write, self.keys.film(fid), self.keys.tomb(fid))
        return film, newly_dirty(replies, dirty_at)

    def update_film(self, fid: str, changes: dict) -> tuple[dict, bool]:
        """Apply changes to a film atomically; return it and whether it needs a refresh job."""

        def write(pipe):
            old = _unpack(pipe.get(self.keys.film(fid)))
            if old is None:
                raise NotFound(fid)
            film = {**old, **changes, "updated_at": now(), "rev": old["rev"] + 1}
            pipe.multi()
            return film, self._film_writes(pipe, film, old)

        (film, dirty_at), replies = transact(self.r, write, self.keys.film(fid))
        return film, newly_dirty(replies, dirty_at)

    def get_film(self, fid: str) -> dict:
        film = _unpack(self.r.get(self.keys.film(fid)))
        if film is None:
            raise NotFound(fid)
        return film

    def get_film_and_job(self, fid: str) -> dict:
        """Return a film with "job_id", its latest refresh job (None if none), in one read."""
        raw, job = self.r.mget([self.keys.film(fid), self.keys.pending(fid)])
        if raw is None:
            raise NotFound(fid)
        return {**_unpack(raw), "job_id": job.decode() if job else None}

    def get_films(self, ids: list[str]) -> list[dict | None]:
        if not ids:
            return []
        return [_unpack(raw) for raw in self.r.mget([self.keys.film(i) for i in ids])]

    def iter_films(self, chunk: int = 1000):
        """Yield every film, oldest first, reading chunk films at a time."""
        ids = self.film_ids()
        for start in range(0, len(ids), chunk):
            yield from (f for f in self.get_films(ids[start : start + chunk]) if f)

    def film_exists(self, fid: str) -> bool:
        return bool(self.r.exists(self.keys.film(fid)))

    def delete_film(self, fid: str) -> None:
        """Remove a film, its reviews and its card; its list is cleaned up by a job."""

        def write(pipe):
            old = _unpack(pipe.get(self.keys.film(fid)))
            if old is None:
                raise NotFound(fid)
            review_ids = [r.decode() for r in pipe.zrange(self.keys.reviews(fid), 0, -1)]
            pipe.multi()
            pipe.delete(self.keys.film(fid), self.keys.reviews(fid))
            pipe.delete(*[self.keys.review(rid) for rid in review_ids] or [self.keys.review_none()])
            pipe.zrem(self.keys.films(), fid)
            pipe.hdel(self.keys.cards(), fid)
            pipe.incr(self.keys.cards_gen())  # as _write_card does
            pipe.hdel(self.keys.titles(), fid)
            pipe.hdel(self.keys.meta(), fid)
            self._write_priors(pipe, {fid: None})
            for g in {fold(g) for g in old.get("genres", [])}:
                pipe.srem(self.keys.genre(g), fid)
            pipe.set(self.keys.tomb(fid), old["rev"], ex=TOMBSTONE_TTL)
            self._mark_dirty(pipe, fid)  # its refresh takes it out of the lists

        transact(self.r, write, self.keys.film(fid), self.keys.reviews(fid))

    def count_films(self) -> int:
        return self.r.zcard(self.keys.films())

    def film_ids(self, start: int = 0, stop: int = -1) -> list[str]:
        return [raw.decode() for raw in self.r.zrange(self.keys.films(), start, stop)]

    def filter_film_ids(self, genre: str | None, tag: str | None) -> list[str]:
        """Return ids (in creation order) matching every given filter."""
        sets = []
        if genre:
            sets.append({raw.decode() for raw in self.r.smembers(self.keys.genre(fold(genre)))})
        if tag:
            sets.append({raw.decode() for raw in self._posting_ids([tag], -1)[0]})
        ids = self.film_ids()
        for s in sets:
            ids = [i for i in ids if i in s]
        return ids

    def search_titles(self, ids: list[str], query: str) -> list[str]:
        needle = fold(query)
        titles = self.r.hmget(self.keys.titles(), ids) if ids else []
        return [i for i, t in zip(ids, titles) if t is not None and needle in t.decode()]

    def card_rev(self, fid: str) -> int | None:
        """Return the revision on a film's card, or None when it has none."""
        raw = self.r.hget(self.keys.cards(), fid)
        return orjson.loads(raw)["rev"] if raw else None

    def get_cards(self, ids: list[str]) -> dict[str, dict]:
        if not ids:
            return {}
        return {i: orjson.loads(c) for i, c in zip(ids, self.r.hmget(self.keys.cards(), ids)) if c}

    # -- bulk imports (a full rebuild follows, so nothing is marked dirty) -------
    def load_new_films(self, films: list[dict], batch: int = 500) -> int:
        """Write films that are not stored yet in pipelined batches, without reading first:
        the keys of create_film, not dirty (a rebuild follows). For benches filling an empty
        prefix fast; return how many were written."""
        pipe = self.r.pipeline(transaction=False)
        for n, film in enumerate(films, 1):
            ts = now()
            film = {**film, "created_at": ts, "updated_at": ts, "rev": 1}
            pipe.zadd(self.keys.films(), {film["id"]: ts + n * 1e-6})
            # not dirty, as upsert_films: dirty films without a job make the workers'
            # reconciler queue a refresh for each, which then competes with the rebuild
            self._film_writes(pipe, film, None, dirty=False)
            if n % batch == 0:
                pipe.execute()
        pipe.execute()
        return len(films)

    def upsert_films(self, films: list[dict]) -> list[str]:
        """Create or update films in one transaction; return created, updated or unchanged per film."""
        ids = list(dict.fromkeys(f["id"] for f in films))
        keys = [self.keys.film(fid) for fid in ids]
        tombs = [self.keys.tomb(fid) for fid in ids]

        def write(pipe):
            current = dict(zip(ids, map(_unpack, pipe.mget(keys))))
            last_rev = dict(zip(ids, (int(raw or 0) for raw in pipe.mget(tombs))))
            outcomes, writes, ts = [], [], now()
            for data in films:
                old = current[data["id"]]
                if old is None:
                    film = {
                        **data,
                        "created_at": ts,
                        "updated_at": ts,
                        "rev": last_rev[data["id"]] + 1,
                    }
                    outcome = "created"
                else:
                    changes = {key: value for key, value in data.items() if old.get(key) != value}
                    film, outcome = (
                        {**old, **changes, "updated_at": ts, "rev": old["rev"] + 1},
                        "updated",
                    )
                    if not changes:
                        outcomes.append("unchanged")
                        continue
                outcomes.append(outcome)
                writes.append((film, old))
                current[data["id"]] = film
            merged = _Merged()
            for n, (film, old) in enumerate(writes):
                if old is None:  # keep file order among films created in one batch
                    merged.zadd(self.keys.films(), {film["id"]: ts + n * 1e-6})
                self._film_writes(merged, film, old, dirty=False)
            pipe.multi()
            merged.send(pipe)
            if merged.priors:
                self._write_priors(pipe, merged.priors)
            created = [tomb for tomb, fid in zip(tombs, ids) if last_rev[fid]]
            if created:
                pipe.delete(*created)
            return outcomes

        return transact(self.r, write, *keys, *tombs)[0] if films else []

    def add_reviews(self, batch: dict[str, list[dict]]) -> dict[str, tuple[int, int] | None]:
        """Add reviews to films in one transaction; a review a film has already (the same
        source URL or body, see text.same_review) is updated in place instead.

        Return (added, updated) per film, None for a film that does not exist.
        """
        ids = list(batch)
        keys = [self.keys.film(fid) for fid in ids] + [self.keys.reviews(fid) for fid in ids]

        def write(pipe):
            films = dict(zip(ids, map(_unpack, pipe.mget(keys[: len(ids)]))))
            existing = self.reviews_of(ids)
            counts, ts = {}, now()
            pipe.multi()
            for fid, reviews in batch.items():
                if films[fid] is None:
                    counts[fid] = None
                    continue
                known = _KnownReviews(existing[fid])
                added = updated = 0
                for review in reviews:
                    old = known.find(review)
                    if old is None:
                        rid, at = "r" + uuid.uuid4().hex[:12], ts + added * 1e-6
                        new = {
                            **review,
                            "id": rid,
                            "film_id": fid,
                            "created_at": at,
                            "updated_at": at,
                        }
                        pipe.zadd(self.keys.reviews(fid), {rid: at})
                        added += 1
                    elif {**old, **review} != old:
                        new = {**old, **review, "updated_at": ts}
                        updated += 1
                    else:
                        continue
                    pipe.set(self.keys.review(new["id"]), _dumps(new))
                    known.add(new)
                if added or updated:
                    self._touch_film(pipe, films[fid], dirty=False)
                counts[fid] = (added, updated)
            return counts

        return transact(self.r, write, *keys)[0] if ids else {}

    def put_upload(self, upload_id: str, data: bytes, ttl: int) -> None:
        self.r.set(self.keys.upload(upload_id), data, ex=ttl)

    def get_upload(self, upload_id: str) -> bytes:
        data = self.r.get(self.keys.upload(upload_id))
        if data is None:
            raise NotFound(upload_id)
        return data

    def drop_upload(self, upload_id: str) -> None:
        self.r.delete(self.keys.upload(upload_id))
