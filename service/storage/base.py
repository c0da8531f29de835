"""What the storage modules share: the document format, errors, bulk-write helpers."""

import json
import threading
import time

from service import postings
from service.storage import documents
from service.text import match_key


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _loads(raw):
    return None if raw is None else json.loads(raw)


def _pack(film: dict) -> bytes:
    """Return a film record's stored bytes (service/storage/documents.py)."""
    return documents.pack_film(film)


def _unpack(raw):
    """Return the film record of stored bytes (None for None)."""
    return None if raw is None else _loads(documents.film_json(raw))


def _posting_removal(fid: str, filed: float | None, rank: float) -> bytes:
    """Return the change that takes a film out of a posting: its entry under the rank it was
    filed under, or, for tags saved before ranks were kept, under its rank now, else by id."""
    return (
        b"-" + postings.entry(fid, filed) if filed is not None else b"?" + postings.entry(fid, rank)
    )


class _TagNames:
    """One process's copy of a tag dictionary: the tags by number, and the dictionary's mark
    at each length (marks[n] covers the first n tags)."""

    def __init__(self):
        self.names: list[str] = []
        self.marks: list[int] = [0]
        self.lock = threading.Lock()


_TAG_NAMES: dict[tuple, _TagNames] = {}


def transact(client, write, *watch):
    """Run write(pipe) as one MULTI/EXEC, watching watch (and what write watches itself), and
    again from the start when a watched key changed; return (what the last write returned,
    the replies of the commands it queued)."""
    value = []

    def attempt(pipe):
        value[:] = [write(pipe)]

    replies = client.transaction(attempt, *watch)
    return value[0], replies


def newly_dirty(replies: list, at: int | None) -> bool:
    """Return whether the dirty mark queued at reply index `at` (None: none was) marked its film
    anew: then its refresh job is to be queued (else a pending one covers the write)."""
    return at is not None and bool(replies[at])


def now() -> float:
    return round(time.time(), 3)


class NotFound(LookupError):
    """The film or review does not exist."""


class Conflict(ValueError):
    """A film with that id exists already."""


class _Merged:
    """Stand in for a pipeline in bulk writes: merge set/hset/zadd/sadd/srem calls per key.

    The last write of a field or member wins, as it would in order; send() then issues
    a few large commands instead of one command per field.
    """

    def __init__(self):
        self.strings, self.hashes, self.zsets, self.sets, self.counters = {}, {}, {}, {}, {}
        self.priors = {}  # film id: film, for Store.write_priors

    def set(self, key, value):
        self.strings[key] = value

    def hset(self, key, field, value):
        self.hashes.setdefault(key, {})[field] = value

    def zadd(self, key, mapping):
        self.zsets.setdefault(key, {}).update(mapping)

    def sadd(self, key, *members):
        self.sets.setdefault(key, {}).update(dict.fromkeys(members, True))

    def srem(self, key, *members):
        self.sets.setdefault(key, {}).update(dict.fromkeys(members, False))

    def incr(self, key):
        self.counters[key] = self.counters.get(key, 0) + 1

    def send(self, pipe) -> None:
        if self.strings:
            pipe.mset(self.strings)
        for key, mapping in self.hashes.items():
            pipe.hset(key, mapping=mapping)
        for key, mapping in self.zsets.items():
            pipe.zadd(key, mapping)
        for key, members in self.sets.items():
            added = [m for m, present in members.items() if present]
            removed = [m for m, present in members.items() if not present]
            if added:
                pipe.sadd(key, *added)
            if removed:
                pipe.srem(key, *removed)
        for key, amount in self.counters.items():
            pipe.incrby(key, amount)


class _KnownReviews:
    """A film's reviews by source URL and by body key, to find the one a new review repeats
    (text.same_review's rule, without comparing every pair)."""

    def __init__(self, reviews: list[dict]):
        self.by_url, self.by_body = {}, {}
        for review in reviews:
            self.add(review)

    def add(self, review: dict) -> None:
        if review.get("source_url"):
            self.by_url[review["source_url"]] = review
        self.by_body[match_key(review.get("body") or "")] = review

    def find(self, review: dict) -> dict | None:
        url = review.get("source_url")
        found = self.by_url.get(url) if url else None
        return found or self.by_body.get(match_key(review.get("body") or ""))
