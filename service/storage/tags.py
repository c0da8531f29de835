"""Tags, vectors, embeddings, the inverted index (postings) and the tag dictionary."""

import json

import orjson

from service import listcodec, postings
from service.listcodec import RelatedItem
from service.storage import documents
from service.storage.base import _posting_removal, now, transact
from service.storage.scripts import tag_mark

# Films whose tags one optimistic transaction saves (see save_tags_many).
TAGS_BATCH = 100
# Document frequencies are kept in this many hashes (`dfb:<n>`, by CRC-32 of the tag): a hash
# of up to 128 short fields is a listpack, about 20 bytes a tag where one large hash took
# about 70 (23,000 tags at TMDB size: about 22 a bucket).
DF_BUCKETS = 1024
# The tag dictionary's numbers likewise (`tagn:<n>`): the tags of lists' reasons, about 7,900
# at TMDB size, about 31 a bucket.
TAG_BUCKETS = 256
# A pseudo-tag among the document frequencies: how many films have curated keywords (a kw:
# tag), which sets the plot embedding's weight (service.core.catalog.embedding_weight). No
# tag starts with "@".
KEYWORD_FILMS = "@keyword-films"
# The field of a film's tags document that says it is counted in KEYWORD_FILMS: films saved
# before the count existed are counted by their next save (a full `recs rebuild` saves all)
COUNTED = "keywords_counted"


def df_bucket(tag: str) -> int:
    """Return the bucket of a tag's document frequency."""
    return postings.bucket(tag) % DF_BUCKETS  # the same CRC-32, computed once per tag


def tag_bucket(tag: str) -> int:
    """Return the bucket of a tag's number in the tag dictionary."""
    return postings.bucket(tag) % TAG_BUCKETS


def _has_keywords(vector: dict) -> bool:
    return any(tag.startswith("kw:") for tag in vector)


class TagIndex:
    """The tag index of a Store."""

    # -- tags, vectors and the inverted index ----------------------------------
    def get_vectors(self, ids: list[str]) -> list[dict | None]:
        """Return films' tag vectors, None where a film has none (no tags saved)."""
        return [vector for vector, _ in self.get_vectors_and_embeddings(ids)]

    def get_embeddings(self, ids: list[str]) -> list[bytes | None]:
        """Return films' plot embeddings (service/core/embedding.py), None where a film has none."""
        return [emb for _, emb in self.get_vectors_and_embeddings(ids)]

    def get_vectors_and_embeddings(self, ids: list[str]) -> list[tuple[dict | None, bytes | None]]:
        """Return films' (tag vector, plot embedding), None for what a film has not."""
        if not ids:
            return []
        raws = self.r.mget([self.keys.tags(i) for i in ids])
        out = []
        for raw in raws:
            if raw and documents.has_vector(raw):
                # orjson: a rebuild's snapshot reads every film's vector and meta
                out.append((orjson.loads(documents.vector_json(raw)), documents.embedding(raw)))
            else:
                out.append((None, None))
        # tags an older version saved have their vector and embedding apart
        older = [n for n, raw in enumerate(raws) if raw and not documents.has_vector(raw)]
        if older:
            vectors = self.r.mget([self.keys.vector(ids[n]) for n in older])
            # their embeddings (the `emb` hash) are WordLlama's: none until the film is embedded
            # again (service/storage/documents.py)
            for n, vec in zip(older, vectors):
                out[n] = (orjson.loads(documents.vector_json(vec)) if vec else None, None)
        return out

    def get_kept(self, ids: list[str]) -> dict[str, tuple[dict | None, bytes | None]]:
        """Return films' stored (`embedded` and `encoder` fields, plot embedding), (None, None)
        where a film has none: what a tag job keeps of a film whose text is unchanged
        (workers/jobs.py, service.core.embedding.kept_bytes)."""
        raws = self.r.mget([self.keys.tags(i) for i in ids]) if ids else []
        return {
            fid: (documents.kept(raw), documents.embedding(raw)) if raw else (None, None)
            for fid, raw in zip(ids, raws)
        }

    def get_meta(self, ids: list[str]) -> list[dict | None]:
        if not ids:
            return []
        return [
            documents.meta_of(raw) if raw else None for raw in self.r.hmget(self.keys.meta(), ids)
        ]

    def get_tags(self, fid: str) -> dict | None:
        raw = self.r.get(self.keys.tags(fid))
        if raw is None:
            return None
        return {**orjson.loads(documents.tags_json(raw)), **documents.kept(raw)}

    def _read_saved(self, pipe, ids: list[str]) -> list[tuple[dict, dict, bool]]:
        """Return each film's saved (tags document, vector, whether the vector is apart, as
        an older version saved it), ({}, {}, False) where none, on pipe."""
        raws = pipe.mget([self.keys.tags(fid) for fid in ids])
        older = [fid for fid, raw in zip(ids, raws) if raw and not documents.has_vector(raw)]
        vectors = pipe.mget([self.keys.vector(fid) for fid in older]) if older else []
        vectors = dict(zip(older, vectors))
        out = []
        for fid, raw in zip(ids, raws):
            vec = vectors.get(fid, raw)
            out.append(
                (
                    orjson.loads(documents.tags_json(raw)) if raw else {},
                    orjson.loads(documents.vector_json(vec)) if vec else {},
                    fid in vectors,
                )
            )
        return out

    def save_tags(
        self, fid: str, tags: dict, vector: dict[str, float], embedding: bytes | None = None
    ) -> bool:
        """Store a film's tags, vector and plot embedding and move it in the inverted index,
        atomically.

        Return False (storing nothing) when tags of a newer film revision are stored already.
        """
        return fid in self.save_tags_many({fid: (tags, vector, embedding)})

    def drop_tags(self, fid: str) -> dict:
        """Remove a deleted film from the inverted index; return its last vector."""

        def write(pipe):
            ((done, old, _),) = self._read_saved(pipe, [fid])
            filed, counted = done.get("rank"), done.get(COUNTED, False)
            pipe.multi()
            changes = {tag: [_posting_removal(fid, filed, 0)] for tag in old}  # meta is gone
            for tag in old:
                self._count_tag(pipe, tag, -1)
            if counted:
                self._count_tag(pipe, KEYWORD_FILMS, -1)
            self._change_postings(pipe, changes)
            pipe.delete(self.keys.vector(fid), self.keys.tags(fid), self.keys.pending(fid))
            pipe.hdel(self.keys.embeddings(), fid)
            return old

        return transact(self.r, write, self.keys.vector(fid), self.keys.tags(fid))[0]

    def save_tags_many(self, entries: dict[str, tuple]) -> set[str]:
        """Store many films' tags, vectors and plot embeddings (entries are (tags, vector,
        embedding bytes or None)) and move them in the inverted index, atomically per batch
        of TAGS_BATCH films.

        A posting list is ordered by the film's popularity prior (vote count, else
        popularity), as the similarity caps candidates to each tag's most popular films.
        A film whose stored tags come from a newer revision (a job that read the film later
        finished first) is left alone. Return the ids saved.
        """
        # One WATCH over a whole rebuild chunk (thousands of films) is aborted by any refresh
        # job saving one of them meanwhile and retried from scratch: under steady writes it
        # never got through (the soak's rebuild sat in "extracting" for minutes).
        saved = set()
        items = list(entries.items())
        for start in range(0, len(items), TAGS_BATCH):
            saved |= self._save_tags_batch(dict(items[start : start + TAGS_BATCH]))
        return saved

    def _save_tags_batch(self, entries: dict[str, tuple]) -> set[str]:
        ids = list(entries)
        tag_keys = [self.keys.tags(fid) for fid in ids]
        saved = set()

        def write(pipe):
            saved.clear()
            saved_now = self._read_saved(pipe, ids)
            metas = [
                documents.meta_of(raw) if raw else {} for raw in pipe.hmget(self.keys.meta(), ids)
            ]
            pipe.multi()
            changes: dict[str, list[bytes]] = {}
            for fid, (done, old, own_key), meta in zip(ids, saved_now, metas):
                tags, vector, embedding = entries[fid]
                if done.get("rev", 0) > tags.get("rev", 0):
                    continue
                saved.add(fid)
                rank = meta.get("vote_count")
                rank = rank if rank is not None else (meta.get("popularity") or 0) / 1000
                removal = _posting_removal(fid, done.get("rank"), rank)
                added = b"+" + postings.entry(fid, rank)
                for tag in old.keys() - vector.keys():
                    changes.setdefault(tag, []).append(removal)
                    self._count_tag(pipe, tag, -1)
                for tag in vector:
                    if tag not in old:
                        self._count_tag(pipe, tag, 1)
                    elif done.get("rank") == rank:
                        continue  # filed under this rank already
                    else:
                        changes.setdefault(tag, []).append(removal)
                    changes.setdefault(tag, []).append(added)
                counted, keywords = done.get(COUNTED, False), _has_keywords(vector)
                if counted != keywords:
                    self._count_tag(pipe, KEYWORD_FILMS, 1 if keywords else -1)
                # the rank it is filed under in the postings, to find its entries again
                pipe.set(
                    self.keys.tags(fid),
                    documents.pack_tags(
                        {**tags, "rank": rank, COUNTED: keywords}, vector, embedding
                    ),
                )
                if own_key:  # where an older version kept the vector and the embedding
                    pipe.delete(self.keys.vector(fid))
                    pipe.hdel(self.keys.embeddings(), fid)
            self._change_postings(pipe, changes)

        if ids:
            transact(self.r, write, *tag_keys)
        return saved

    def reviews_of(self, ids: list[str]) -> dict[str, list[dict]]:
        """Return every review of each film, with two round trips in all."""
        pipe = self.r.pipeline(transaction=False)
        for fid in ids:
            pipe.zrange(self.keys.reviews(fid), 0, -1)
        per_film = [[raw.decode() for raw in rids] for rids in pipe.execute()]
        flat = [rid for rids in per_film for rid in rids]
        bodies = (
            dict(zip(flat, self.r.mget([self.keys.review(rid) for rid in flat]))) if flat else {}
        )
        return {
            fid: [json.loads(bodies[rid]) for rid in rids if bodies.get(rid)]
            for fid, rids in zip(ids, per_film)
        }

    def _count_tag(self, pipe, tag: str, change: int) -> None:
        """Queue on pipe a change of how many films carry tag (its document frequency)."""
        pipe.hincrby(self.keys.df_bucket_prefix() + str(df_bucket(tag)), tag, change)

    def fold_older_hashes(self, batch: int = 1000) -> int:
        """Move an older version's single hashes of document frequencies and tag numbers into
        their buckets, batch fields per script call (a rebuild starts with this); return how
        many fields moved."""
        moved = 0
        for key, prefix, op, bucket in (
            (self.keys.df(), self.keys.df_bucket_prefix(), "HINCRBY", df_bucket),
            (self.keys.tag_numbers(), self.keys.tag_number_prefix(), "HSETNX", tag_bucket),
        ):
            cursor = 0
            while True:
                cursor, found = self.r.hscan(key, cursor, count=batch)
                if found:
                    args = [prefix, op]
                    for field in found:
                        args += [field, bucket(field.decode())]
                    self._fold_into_buckets(keys=[key], args=args)
                    moved += len(found)
                if cursor == 0:
                    break
        return moved

    def tag_ids(self) -> list[str]:
        """Return every tag id films carry (the document frequencies' tags), for readers that
        label the tags of lists ahead of time."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hkeys(self.keys.df())  # an older version's single hash, while it is there
        for n in range(DF_BUCKETS):
            pipe.hkeys(self.keys.df_bucket_prefix() + str(n))
        return sorted({tag.decode() for tags in pipe.execute() for tag in tags})

    def catalog_stats(self, tags) -> dict:
        """Return catalog-wide figures the similarity needs: film count, tag df, maxima, the
        number of films with curated keywords."""
        tags = sorted({*tags, KEYWORD_FILMS})
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(self.keys.films())
        pipe.zrevrange(self.keys.votes(), 0, 0, withscores=True)
        pipe.zrevrange(self.keys.popularity(), 0, 0, withscores=True)
        if tags:
            args = [self.keys.df_bucket_prefix()]
            for tag in tags:
                args += [tag, df_bucket(tag)]
            self._read_df(keys=[self.keys.df()], args=args, client=pipe)
        n, votes, popularity, *df = pipe.execute()
        df = dict(zip(tags, (int(x or 0) for x in (df[0] if df else []))))
        return {
            "n": n,
            "keyword_films": df.pop(KEYWORD_FILMS, 0),
            "df": df,
            "max_votes": votes[0][1] if votes else 0.0,
            "max_popularity": popularity[0][1] if popularity else 0.0,
        }

    def postings(self, tags: list[str], cap: int) -> list[list[str]]:
        """Return, per tag, up to `cap` films holding it, most popular first."""
        return [[raw.decode() for raw in ids] for ids in self._posting_ids(tags, cap)]

    def _posting_ids(self, tags: list[str], cap: int) -> list[list[bytes]]:
        """Return, per tag, the ids of up to `cap` films holding it (all when cap < 0)."""
        if not tags:
            return []
        args = [self.keys.posting_prefix(), self.keys.posting_bucket_prefix(), cap]
        for tag in tags:
            args += [tag, postings.bucket(tag)]
        return self._read_postings(args=args)

    def _change_postings(self, pipe, changes: dict[str, list[bytes]]) -> None:
        """Queue on pipe the changes to postings (tag: [b"+" or b"-" or b"*" + entry])."""
        args = [
            self.keys.posting_prefix(),
            self.keys.posting_bucket_prefix(),
            postings.MAX_CHUNK,
            postings.SMALL,
        ]
        for tag, ops in changes.items():
            args += [tag, postings.bucket(tag), len(ops), *ops]
        if changes:
            self._write_postings(args=args, client=pipe)

    # -- the tag dictionary: stored lists name a reason's tag by its number -----------
    def tag_numbers(self, tags) -> tuple[dict[str, int], tuple[int, int]]:
        """Return the numbers of tags, numbering new ones, and the tag dictionary's (length,
        mark) after, which covers them (a list's header names it)."""
        tags = list(dict.fromkeys(tags))
        numbers: dict[str, int] = {}
        keys = [self.keys.tag_numbers(), self.keys.tag_names(), self.keys.tag_mark()]
        for start in range(0, max(len(tags), 1), 5000):
            part = tags[start : start + 5000]
            args = [self.keys.tag_number_prefix()]
            for tag in part:
                args += [tag, tag_bucket(tag)]
            length, mark, *got = self._tag_numbers(keys=keys, args=args)
            numbers.update(zip(part, got))
        return numbers, (length, mark)

    def tag_names(self, length: int, mark: int) -> list[str]:
        """Return the tags by number (a list indexed by number), checked against a stored
        list's dictionary (length, mark): read further when the list is newer than this
        process's copy, and anew when the copy is not that dictionary (Redis lost entries
        and numbered others since, or was replaced)."""
        t = self._tags
        if length < len(t.marks) and t.marks[length] == mark:
            return t.names
        with t.lock:
            if length >= len(t.marks):
                self._read_tag_names()
            if not (length < len(t.marks) and t.marks[length] == mark):
                t.names, t.marks = [], [0]
                self._read_tag_names()
        return t.names

    def _read_tag_names(self) -> None:
        t = self._tags
        for raw in self.r.lrange(self.keys.tag_names(), len(t.names), -1):
            tag = raw.decode()
            t.names.append(tag)  # before its mark: a reader that sees the mark finds the name
            t.marks.append(tag_mark(t.marks[-1], len(t.names) - 1, tag))

    def _decode_items(self, blob: bytes, found: list[tuple[bytes, int]]) -> list[RelatedItem]:
        names = self.tag_names(*listcodec.dictionary(blob))
        return listcodec.decode_items(blob, found, names)

    def decode_list(self, blob: bytes) -> dict:
        """Return a stored list as {"rev", "computed_at", "items": [RelatedItem, ...]}."""
        rev, computed_at, _ = listcodec.read_header(blob)
        return {
            "rev": rev,
            "computed_at": computed_at,
            "items": self._decode_items(blob, listcodec.entries(blob)),
        }

    def list_page(self, blob: bytes | None, flat: list) -> list[tuple[RelatedItem, bytes]]:
        """Return the page read_list_parts sends as (list item, card JSON) pairs, decoding
        only the items on it."""
        if not blob or not flat:
            return []
        positions = flat[::2]
        found = listcodec.entries(blob, max(positions))
        items = self._decode_items(blob, [found[n - 1] for n in positions])
        return list(zip(items, flat[1::2]))

    def encode_list(self, rev: int, computed_at: float, items: list[RelatedItem]) -> bytes:
        numbers, dictionary = self.tag_numbers(tag for item in items for tag, _ in item.reasons)
        return listcodec.encode(
            {"rev": rev, "computed_at": computed_at, "items": items}, numbers, dictionary
        )

    def get_lists(self, version: int, ids: list[str]) -> list[dict | None]:
        if not ids:
            return []
        return [
            self.decode_list(raw) if listcodec.is_list(raw) else None
            for raw in self.r.mget([self.keys.related_list(str(version), i) for i in ids])
        ]

    def write_own_list(self, version: int, fid: str, rev: int, items: list[RelatedItem]) -> bool:
        blob = self.encode_list(rev, now(), items)
        return bool(
            self._write_list(keys=[self.keys.related_list(str(version), fid)], args=[blob, rev])
        )

    def write_encoded_lists(self, version: int, lists) -> None:
        """Write many finished lists given as (film id, list bytes): one MSET per 1000 lists,
        pipelined."""
        pipe = self.r.pipeline(transaction=False)
        batch = {}
        for fid, blob in lists:
            batch[self.keys.related_list(str(version), fid)] = blob
            if len(batch) >= 1000:
                pipe.mset(batch)
                batch = {}
        if batch:
            pipe.mset(batch)
        pipe.execute()

    def patch_lists(
        self,
        version: int,
        fid: str,
        items: dict[str, RelatedItem | None],
        k: int,
        rev: int | None = None,
    ) -> bool:
        """Put film `fid` into (item) or out of (None) each given film's list, atomically.

        With `rev` (the film revision the items come from), do nothing and return False when
        fid's own list is already computed from a newer revision.
        """
        if not items:
            return True
        numbers, dictionary = self.tag_numbers(
            tag for item in items.values() if item for tag, _ in item.reasons
        )
        keys = [self.keys.related_list(str(version), fid)] + [
            self.keys.related_list(str(version), other) for other in items
        ]
        args = [fid, k, "" if rev is None else rev, listcodec.DICTIONARY.pack(*dictionary)] + [
            listcodec.encode_items([item], numbers) if item else "" for item in items.values()
        ]
        return self._patch_lists(keys=keys, args=args) != -1
