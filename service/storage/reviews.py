"""Reviews of films: one transaction per write, with the film's revision and dirty mark."""

import json
import uuid

from service.storage.base import (
    NotFound,
    _dumps,
    _KnownReviews,
    _loads,
    _pack,
    _unpack,
    newly_dirty,
    now,
    transact,
)


class Reviews:
    """The reviews of a Store."""

    # -- reviews ---------------------------------------------------------
    def _touch_film(self, pipe, film: dict, dirty: bool = True) -> int | None:
        """Record a change to a film's reviews: a new revision (and Last-Modified) for the film;
        with dirty, mark it for a refresh and return where that mark's reply will be."""
        film = {**film, "rev": film["rev"] + 1, "updated_at": now()}
        pipe.set(self.keys.film(film["id"]), _pack(film))
        self._write_card(pipe, film)
        return self._mark_dirty(pipe, film["id"]) if dirty else None

    def create_review(self, fid: str, review: dict) -> tuple[dict, bool]:
        rid = "r" + uuid.uuid4().hex[:12]
        review = {**review, "id": rid, "film_id": fid, "created_at": now()}
        review["updated_at"] = review["created_at"]

        def write(pipe):
            film = _unpack(pipe.get(self.keys.film(fid)))
            if film is None:
                raise NotFound(fid)
            pipe.multi()
            pipe.set(self.keys.review(rid), _dumps(review))
            pipe.zadd(self.keys.reviews(fid), {rid: review["created_at"]})
            return self._touch_film(pipe, film)

        dirty_at, replies = transact(self.r, write, self.keys.film(fid))
        return review, newly_dirty(replies, dirty_at)

    def import_review(self, fid: str, review: dict) -> tuple[dict, bool, bool]:
        """Add a review, or update the film's review it repeats (same source URL or body).

        Return the stored review, whether the film needs a refresh job, and whether it is new;
        an import that changes nothing writes nothing, and its review's job_id is the film's
        latest refresh job.
        """

        def write(pipe):
            film = _unpack(pipe.get(self.keys.film(fid)))
            if film is None:
                raise NotFound(fid)
            ids = [raw.decode() for raw in pipe.zrange(self.keys.reviews(fid), 0, -1)]
            existing = (
                [json.loads(raw) for raw in pipe.mget([self.keys.review(i) for i in ids]) if raw]
                if ids
                else []
            )
            old = _KnownReviews(existing).find(review)
            ts = now()
            if old is None:
                new = {
                    **review,
                    "id": "r" + uuid.uuid4().hex[:12],
                    "film_id": fid,
                    "created_at": ts,
                    "updated_at": ts,
                }
            elif {**old, **review} == old:  # nothing to write: the review with the film's job
                job = (pipe.get(self.keys.pending(fid)) or b"").decode() or None
                return {**old, "job_id": job}, False, None
            else:
                new = {**old, **review, "updated_at": ts}
            pipe.multi()
            pipe.set(self.keys.review(new["id"]), _dumps(new))
            if old is None:
                pipe.zadd(self.keys.reviews(fid), {new["id"]: ts})
            return new, old is None, self._touch_film(pipe, film)

        (stored, created, dirty_at), replies = transact(
            self.r, write, self.keys.film(fid), self.keys.reviews(fid)
        )
        return stored, newly_dirty(replies, dirty_at), created

    def get_review(self, rid: str) -> dict:
        review = _loads(self.r.get(self.keys.review(rid)))
        if review is None:
            raise NotFound(rid)
        return review

    def update_review(self, rid: str, changes: dict) -> tuple[dict, bool]:
        def write(pipe):
            old = _loads(pipe.get(self.keys.review(rid)))
            if old is None:
                raise NotFound(rid)
            pipe.watch(self.keys.film(old["film_id"]))  # the film is rewritten: no lost update
            film = _unpack(pipe.get(self.keys.film(old["film_id"])))
            if film is None:
                raise NotFound(rid)
            review = {**old, **changes, "updated_at": now()}
            pipe.multi()
            pipe.set(self.keys.review(rid), _dumps(review))
            return review, self._touch_film(pipe, film)

        (review, dirty_at), replies = transact(self.r, write, self.keys.review(rid))
        return review, newly_dirty(replies, dirty_at)

    def delete_review(self, rid: str) -> tuple[str, bool]:
        def write(pipe):
            old = _loads(pipe.get(self.keys.review(rid)))
            if old is None:
                raise NotFound(rid)
            fid = old["film_id"]
            pipe.watch(self.keys.film(fid))  # the film is rewritten: no lost update
            film = _unpack(pipe.get(self.keys.film(fid)))
            pipe.multi()
            pipe.delete(self.keys.review(rid))
            pipe.zrem(self.keys.reviews(fid), rid)
            return fid, None if film is None else self._touch_film(pipe, film)

        (fid, dirty_at), replies = transact(self.r, write, self.keys.review(rid))
        return fid, newly_dirty(replies, dirty_at)

    def move_review(self, rid: str, fid: str) -> None:
        """Move a review to another film (merging duplicates); both films get a new revision."""

        def write(pipe):
            review = _loads(pipe.get(self.keys.review(rid)))
            if review is None:
                raise NotFound(rid)
            src = review["film_id"]
            pipe.watch(self.keys.film(src), self.keys.film(fid))
            films = [_unpack(raw) for raw in pipe.mget([self.keys.film(src), self.keys.film(fid)])]
            if films[1] is None:
                raise NotFound(fid)
            pipe.multi()
            pipe.set(self.keys.review(rid), _dumps({**review, "film_id": fid}))
            pipe.zrem(self.keys.reviews(src), rid)
            pipe.zadd(self.keys.reviews(fid), {rid: review["created_at"]})
            for film in films:
                if film is not None:
                    self._touch_film(pipe, film)

        transact(self.r, write, self.keys.review(rid))

    def review_ids(self, fid: str) -> list[str]:
        return [raw.decode() for raw in self.r.zrange(self.keys.reviews(fid), 0, -1)]

    def get_film_and_reviews(self, fid: str) -> tuple[dict, list[dict]]:
        """Return a film and its reviews, oldest first, in one round trip."""
        film, *reviews = self._read_film_and_reviews(
            keys=[self.keys.film(fid), self.keys.reviews(fid)], args=[self.keys.review_prefix()]
        )
        if not film:
            raise NotFound(fid)
        return _unpack(film), [json.loads(raw) for raw in reviews if raw]

    def list_reviews(self, fid: str) -> list[dict]:
        ids = self.review_ids(fid)
        if not ids:
            return []
        raws = self.r.mget([self.keys.review(rid) for rid in ids])
        return [json.loads(raw) for raw in raws if raw is not None]
