"""Bulk loads into an empty prefix: tags and postings written whole, not film by film."""

import struct
from array import array

import numpy as np

from service import postings
from service.storage import documents
from service.storage.tags import COUNTED, KEYWORD_FILMS, _has_keywords, df_bucket


class TagLoader:
    """Store the tags of films not tagged yet (a bench filling an empty prefix), as
    Store.save_tags_many would, with the postings built once at the end.

    save_tags_many files each film into its tags' postings with a script that rewrites
    the chunks it touches: about 5 ms of the server's time a film at 100k films, and more as
    postings grow. Here each posting is sorted and written once by finish(): the same
    entries in the same order, read the same (tests/test_postings.py).
    """

    def __init__(self, store):
        self.store = store
        self.films: list[str] = []
        self.keys: list[bytes] = []  # per film, its entries' sort key: rank key and id
        self.entries: list[bytes] = []  # per film, its posting entry
        self.holders: dict[str, array] = {}  # tag -> the films holding it (numbers)
        self.keyword_films = 0

    def add(self, entries: dict[str, tuple]) -> None:
        """Store films' (tags document, vector, embedding) and note their posting entries."""
        store, ids = self.store, list(entries)
        metas = [
            documents.meta_of(raw) if raw else {} for raw in store.r.hmget(store.keys.meta(), ids)
        ]
        pipe = store.r.pipeline(transaction=False)
        counts: dict[str, int] = {}
        for fid, meta in zip(ids, metas):
            tags, vector, embedding = entries[fid]
            rank = meta.get("vote_count")
            rank = rank if rank is not None else (meta.get("popularity") or 0) / 1000
            number = len(self.films)
            self.films.append(fid)
            self.keys.append(postings.rank_key(rank) + fid.encode())
            self.entries.append(postings.entry(fid, rank))
            for tag in vector:
                self.holders.setdefault(tag, array("i")).append(number)
                counts[tag] = counts.get(tag, 0) + 1
            keywords = _has_keywords(vector)
            self.keyword_films += keywords
            doc = {**tags, "rank": rank, COUNTED: keywords}
            pipe.set(store.keys.tags(fid), documents.pack_tags(doc, vector, embedding))
        for tag, count in counts.items():
            pipe.hincrby(store.keys.df_bucket_prefix() + str(df_bucket(tag)), tag, count)
        pipe.execute()

    def finish(self) -> int:
        """Write every posting and the count of films with keywords; return the tags."""
        store = self.store
        order = sorted(range(len(self.films)), key=self.keys.__getitem__)
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order))
        order = np.array(order, dtype=np.int64)
        buckets: dict[int, list[bytes]] = {}
        pipe = store.r.pipeline(transaction=False)
        for n, (tag, holders) in enumerate(self.holders.items(), 1):
            films = order[np.sort(position[np.frombuffer(holders, dtype=np.int32)])].tolist()
            raw, key = tag.encode(), store.keys.posting_prefix() + tag
            if len(films) <= postings.SMALL and len(raw) < 256:
                entries = b"".join(self.entries[f] for f in films)
                record = bytes((len(raw),)) + raw + struct.pack("<H", len(entries)) + entries
                buckets.setdefault(postings.bucket(tag), []).append(record)
            elif len(films) <= postings.MAX_CHUNK:
                pipe.set(key, b"e" + b"".join(self.entries[f] for f in films))
            else:  # chunks of half the most a chunk holds, as a split leaves them
                half, chunks = postings.MAX_CHUNK // 2, []
                for number, start in enumerate(range(0, len(films), half), 1):
                    part = films[start : start + half]
                    pipe.set(f"{key}:{number}", b"".join(self.entries[f] for f in part))
                    first = self.keys[part[0]]
                    chunks.append(struct.pack("<IB", number, len(first)) + first)
                pipe.set(key, b"d" + struct.pack("<I", len(chunks) + 1) + b"".join(chunks))
            if n % 1000 == 0:
                pipe.execute()
        for bucket, records in buckets.items():
            pipe.set(store.keys.posting_bucket_prefix() + str(bucket), b"".join(records))
        if self.keyword_films:
            store._count_tag(pipe, KEYWORD_FILMS, self.keyword_films)
        pipe.execute()
        return len(self.holders)
