"""The Store: films, reviews, tags and related-title lists under one key prefix.

Each concern is a module of this package (films, reviews, bookkeeping, tags, lists, metrics,
rebuilds) whose class the Store combines; they share the client (self.r), the key names
(self.keys, service/storage/keys.py) and the scripts (service/storage/scripts.py).
"""

import redis

from service import postings
from service.storage.base import _TAG_NAMES, _TagNames
from service.storage.bookkeeping import Bookkeeping
from service.storage.bulk import TagLoader
from service.storage.films import Films
from service.storage.keys import Keys
from service.storage.lists import Lists
from service.storage.metrics import JobMetrics
from service.storage.rebuilds import Rebuilds
from service.storage.reviews import Reviews
from service.storage.scripts import (
    _END_REBUILD,
    _FOLD_INTO_BUCKETS,
    _KEEP_TOP,
    _PATCH_LISTS,
    _READ_DF,
    _READ_FILM_AND_REVIEWS,
    _READ_LIST,
    _REQUEST_REBUILD,
    _TAG_NUMBERS,
    _WRITE_LIST,
    _ReadOnlyScript,
)
from service.storage.tags import TagIndex


class Store(Films, Reviews, Bookkeeping, TagIndex, Lists, JobMetrics, Rebuilds):
    """Films, reviews, tags and related-title lists under one key prefix.

    replica=True: a store on a read replica, for the read paths only (read-only scripts).
    """

    def __init__(self, client: redis.Redis, prefix: str, replica: bool = False):
        self.r = client
        self.p = prefix
        self.keys = Keys(prefix)
        self.replica = replica
        if replica:
            self._read_list = _ReadOnlyScript(client, _READ_LIST)
            self._read_film_and_reviews = _ReadOnlyScript(client, _READ_FILM_AND_REVIEWS)
            self._read_postings = _ReadOnlyScript(client, postings.READ)
        else:
            self._read_list = client.register_script(_READ_LIST)
            self._read_film_and_reviews = client.register_script(_READ_FILM_AND_REVIEWS)
            self._read_postings = client.register_script(postings.READ)
        self._write_postings = client.register_script(postings.WRITE)
        self._write_list = client.register_script(_WRITE_LIST)
        self._patch_lists = client.register_script(_PATCH_LISTS)
        self._request_rebuild = client.register_script(_REQUEST_REBUILD)
        self._end_rebuild = client.register_script(_END_REBUILD)
        self._tag_numbers = client.register_script(_TAG_NUMBERS)
        self._keep_top = client.register_script(_KEEP_TOP)
        self._read_df = client.register_script(_READ_DF)
        self._fold_into_buckets = client.register_script(_FOLD_INTO_BUCKETS)
        where = client.connection_pool.connection_kwargs
        self._tags = _TAG_NAMES.setdefault(
            (prefix, where.get("host"), where.get("port"), where.get("path"), where.get("db")),
            _TagNames(),
        )

    def close(self) -> None:
        """Close the client's connections."""
        self.r.close()

    def tag_loader(self) -> TagLoader:
        """Return a loader of tags for films not tagged yet (benches filling a prefix)."""
        return TagLoader(self)

    def connection_id(self) -> int:
        """Return an id of the client's connection pool: the same server for caches keyed by it."""
        return id(self.r.connection_pool)
