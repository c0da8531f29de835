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
    now,
)


class Reviews:
    """The reviews of a Store."""

    # -- reviews ---------------------------------------------------------
    def _touch_film(self, pipe, film: dict, dirty: bool = True) -> None:
        """Record a change to a film's reviews: a new revision (and Last-Modified) for the film."""
        film = {**film, "rev": film["rev"] + 1, "updated_at": now()}
        pipe.set(self.keys.film(film["id"]), _pack(film))
        self._write_card(pipe, film)
        if dirty:
            pipe.sadd(self.keys.dirty(), film["id"])

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
            self._touch_film(pipe, film)

        results = self.r.transaction(write, self.keys.film(fid))
        return review, bool(results[-1])

    def import_review(self, fid: str, review: dict) -> tuple[dict, bool, bool]:
        """Add a review, or update the film's review it repeats (same source URL or body).

        Return the stored review, whether the film needs a refresh job, and whether it is new;
        an import that changes nothing writes nothing, and its review's job_id is the film's
        latest refresh job.
        """
        holder = {}

        def write(pipe):
            film = _unpack(pipe.get(self.keys.film(fid)))
            if film is None:
                raise NotFound(fid)
            ids = [raw.decode() for raw in pipe.zrange(self.keys.reviews(fid), 0, -1)]
            existing = [json.loads(raw) for raw in pipe.mget([self.keys.review(i) for i in ids])
                        if raw] if ids else []
            old = _KnownReviews(existing).find(review)
            ts = now()
            if old is None:
                new = {**review, "id": "r" + uuid.uuid4().hex[:12], "film_id": fid,
                       "created_at": ts, "updated_at": ts}
            elif {**old, **review} == old:
                holder.update(review=old, created=False, changed=False,
                              job=(pipe.get(self.keys.pending(fid)) or b"").decode() or None)
                return
            else:
                new = {**old, **review, "updated_at": ts}
            holder.update(review=new, created=old is None, changed=True)
            pipe.multi()
            pipe.set(self.keys.review(new["id"]), _dumps(new))
            if old is None:
                pipe.zadd(self.keys.reviews(fid), {new["id"]: ts})
            self._touch_film(pipe, film)

        results = self.r.transaction(write, self.keys.film(fid), self.keys.reviews(fid))
        if not holder["changed"]:
            return {**holder["review"], "job_id": holder["job"]}, False, False
        return holder["review"], bool(results[-1]), holder["created"]

    def get_review(self, rid: str) -> dict:
        review = _loads(self.r.get(self.keys.review(rid)))
        if review is None:
            raise NotFound(rid)
        return review

    def update_review(self, rid: str, changes: dict) -> tuple[dict, bool]:
        holder = {}

        def write(pipe):
            old = _loads(pipe.get(self.keys.review(rid)))
            if old is None:
                raise NotFound(rid)
            pipe.watch(self.keys.film(old["film_id"]))  # the film is rewritten: no lost update
            film = _unpack(pipe.get(self.keys.film(old["film_id"])))
            if film is None:
                raise NotFound(rid)
            review = {**old, **changes, "updated_at": now()}
            holder["review"] = review
            pipe.multi()
            pipe.set(self.keys.review(rid), _dumps(review))
            self._touch_film(pipe, film)

        results = self.r.transaction(write, self.keys.review(rid))
        return holder["review"], bool(results[-1])

    def delete_review(self, rid: str) -> tuple[str, bool]:
        holder = {}

        def write(pipe):
            old = _loads(pipe.get(self.keys.review(rid)))
            if old is None:
                raise NotFound(rid)
            fid = holder["film_id"] = old["film_id"]
            pipe.watch(self.keys.film(fid))  # the film is rewritten: no lost update
            film = _unpack(pipe.get(self.keys.film(fid)))
            pipe.multi()
            pipe.delete(self.keys.review(rid))
            pipe.zrem(self.keys.reviews(fid), rid)
            if film is not None:
                self._touch_film(pipe, film)

        results = self.r.transaction(write, self.keys.review(rid))
        return holder["film_id"], bool(results[-1]) if len(results) > 3 else False

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

        self.r.transaction(write, self.keys.review(rid))

    def review_ids(self, fid: str) -> list[str]:
        return [raw.decode() for raw in self.r.zrange(self.keys.reviews(fid), 0, -1)]

    def get_film_and_reviews(self, fid: str) -> tuple[dict, list[dict]]:
        """Return a film and its reviews, oldest first, in one round trip."""
        film, *reviews = self._read_film_and_reviews(
            keys=[self.keys.film(fid), self.keys.reviews(fid)], args=[self.keys.review_prefix()])
        if not film:
            raise NotFound(fid)
        return _unpack(film), [json.loads(raw) for raw in reviews if raw]

    def list_reviews(self, fid: str) -> list[dict]:
        ids = self.review_ids(fid)
        if not ids:
            return []
        raws = self.r.mget([self.keys.review(rid) for rid in ids])
        return [json.loads(raw) for raw in raws if raw is not None]
