"""Own every Redis key of filmrecs and the atomic multi-key writes around them."""

import hashlib
import json
import threading
import time
import uuid
import zlib

import orjson
import redis
from redis.exceptions import NoScriptError

from service import listcodec, postings
from service.text import fold, match_key

# Read a film's list, its card, its pending refresh job and the cards of one page of the
# list in one round trip. The list key depends on the index version, so it is built inside
# the script (fine on a single primary, which is what rq supports anyway). The listed ids are
# read out of the packed list (service/listcodec.py), which the script never decodes further.
# Listed films without a card (deleted meanwhile) and the ids in ARGV[5..] are left out; of
# the rest, the ones at (0-based) ARGV[3] <= n < ARGV[4] (no end when negative) are returned
# as (position in the list, card) pairs, with how many were kept in all.
# KEYS[3] counts the writes to the cards hash (the cards' generation), returned last: a
# reader that keeps what it made of the list can check it later (Store.read_list_unchanged).
# A list in an older format reads as none (a rebuild after an upgrade writes them anew).
_READ_LIST = listcodec.LUA_ITEMS + """
local ver = redis.call('GET', KEYS[1]) or '0'
local gen = redis.call('GET', KEYS[3]) or '0'
local card = redis.call('HGET', KEYS[2], ARGV[2])
if not card then return {false, false, ver, {}, false, 0, gen} end
local pending = redis.call('GET', ARGV[1] .. 'pending:' .. ARGV[2])
local blob = redis.call('GET', ARGV[1] .. 'idx:' .. ver .. ':rel:' .. ARGV[2])
if not is_list(blob) then return {card, false, ver, {}, pending, 0, gen} end
local ids = ids_of(blob)
if #ids == 0 then return {card, blob, ver, {}, pending, 0, gen} end
local cards = redis.call('HMGET', KEYS[2], unpack(ids))
local skip = {}
for i = 5, #ARGV do skip[ARGV[i]] = true end
local start, stop = tonumber(ARGV[3]), tonumber(ARGV[4])
local page, kept = {}, 0
for i, id in ipairs(ids) do
  if cards[i] and not skip[id] then
    if kept >= start and (stop < 0 or kept < stop) then
      page[#page + 1] = i
      page[#page + 1] = cards[i]
    end
    kept = kept + 1
  end
end
return {card, blob, ver, page, pending, kept, gen}
"""

# Read a film and its reviews (oldest first) in one round trip, for the film page: KEYS[1] the
# film, KEYS[2] its reviews' ids, ARGV[1] the prefix of review keys. Gone reviews come back nil.
_READ_FILM_AND_REVIEWS = """
local film = redis.call('GET', KEYS[1])
if not film then return {false} end
local out = {film}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  out[#out + 1] = redis.call('GET', ARGV[1] .. id)
end
return out
"""

# Insert (or drop) film ARGV[1] in each listed film's list, keeping the best ARGV[2].
# KEYS[1] is film ARGV[1]'s own list: when ARGV[3] (a revision) is given and that list was
# computed from a newer one, a newer refresh has patched already and nothing is done.
# KEYS[i > 1] are the lists' keys; ARGV[3 + i] is the new item for KEYS[i] (its bytes), or
# '' to drop it; ARGV[4] the tag dictionary's length and mark (listcodec.DICTIONARY) as the
# new items were encoded. Items move as they are: the script reads only ids and scores.
_PATCH_LISTS = listcodec.LUA_ITEMS + """
local x = ARGV[1]
local k = tonumber(ARGV[2])
local rev = tonumber(ARGV[3])
if rev then
  local own = redis.call('GET', KEYS[1])
  if is_list(own) and list_rev(own) > rev then return -1 end
end
for i = 2, #KEYS do
  local key = KEYS[i]
  local blob = redis.call('GET', key)
  if is_list(blob) then
    local kept = {}
    for _, it in ipairs(items(blob)) do
      if it[1] ~= x then kept[#kept + 1] = it end
    end
    if ARGV[3 + i] ~= '' then
      kept[#kept + 1] = item_at(ARGV[3 + i], 1)
      table.sort(kept, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
      while #kept > k do table.remove(kept) end
    end
    -- the header now names the dictionary the new item was written against (ARGV[4]),
    -- which covers the older items' tags too
    local parts = {string.sub(blob, 1, LIST_DICTIONARY - 1), ARGV[4], struct.pack('<H', #kept)}
    for j, it in ipairs(kept) do parts[j + 3] = it[3] end
    redis.call('SET', key, table.concat(parts))
  end
end
return #KEYS
"""

# Write a film's own list (KEYS[1]) unless a newer revision of it is already stored.
_WRITE_LIST = listcodec.LUA_ITEMS + """
local old = redis.call('GET', KEYS[1])
if is_list(old) and list_rev(old) > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

# Return the tag dictionary's length and mark, then the numbers of tags ARGV, numbering new
# ones in order: KEYS[1] maps a tag to its number, KEYS[2] lists the tags by number, KEYS[3]
# holds the mark, a sum of SHA-1 prefixes of "number:tag" (Store.tag_mark). Numbers are never
# reused; a reader that cached names checks its copy against a list's length and mark.
_TAG_NUMBERS = """
local size = redis.call('LLEN', KEYS[2])
local mark = tonumber(redis.call('GET', KEYS[3]) or '0')
local out = {0, 0}
for i, tag in ipairs(ARGV) do
  local n = redis.call('HGET', KEYS[1], tag)
  if not n then
    n = size
    redis.call('RPUSH', KEYS[2], tag)
    redis.call('HSET', KEYS[1], tag, n)
    mark = (mark + tonumber(string.sub(redis.sha1hex(n .. ':' .. tag), 1, 8), 16)) % 4294967296
    redis.call('SET', KEYS[3], string.format('%d', mark))
    size = size + 1
  end
  out[i + 2] = tonumber(n)
end
out[1], out[2] = size, mark
return out
"""


# Keep in sorted set KEYS[1] every film whose prior ARGV[1] ("vote_count" or "popularity" in
# the meta hash KEYS[3]) is at least a floor (KEYS[2]; none at first), and about 2 * ARGV[2]
# of them at most: its top is the catalog's highest value, all a refresh reads of it
# (catalog_stats), in a few dozen members instead of one per film. ARGV[3..] are pairs of a
# film and its value, '' for a film that is gone. Should every film above the floor leave,
# the set is filled again from the meta hash (which the same transaction wrote first).
_KEEP_TOP = """
local field, keep = ARGV[1], tonumber(ARGV[2])
local floor = tonumber(redis.call('GET', KEYS[2]) or '')
for i = 3, #ARGV, 2 do
  redis.call('ZREM', KEYS[1], ARGV[i])
  local value = tonumber(ARGV[i + 1])
  if value and (not floor or value >= floor) then redis.call('ZADD', KEYS[1], value, ARGV[i]) end
end
if floor and redis.call('ZCARD', KEYS[1]) == 0 then
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do
    local value = cjson.decode(all[i + 1])[field]
    if type(value) ~= 'number' then value = 0 end
    redis.call('ZADD', KEYS[1], value, all[i])
  end
  redis.call('DEL', KEYS[2])
end
if redis.call('ZCARD', KEYS[1]) > 2 * keep then
  local kth = redis.call('ZREVRANGE', KEYS[1], keep - 1, keep - 1, 'WITHSCORES')[2]
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. kth)
  redis.call('SET', KEYS[2], kth)
end
return 1
"""


def tag_mark(mark: int, number: int, tag: str) -> int:
    """Return the tag dictionary's mark after tag joined it as number (see _TAG_NUMBERS)."""
    digest = hashlib.sha1(f"{number}:{tag}".encode()).hexdigest()
    return (mark + int(digest[:8], 16)) % 2**32


# Claim the rebuild slot (KEYS[1]) for ARGV[1], else make ARGV[1] the rebuild that runs next
# (KEYS[2]) unless one waits already; return {the rebuild that will run, the running one}.
_REQUEST_REBUILD = """
if redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then return {ARGV[1], false} end
local running = redis.call('GET', KEYS[1])
local waiting = redis.call('GET', KEYS[2])
if waiting then return {waiting, running} end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return {ARGV[1], running}
"""

# Free the slot held by ARGV[1]; hand it to the rebuild waiting next and return its id.
_END_REBUILD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local waiting = redis.call('GET', KEYS[2])
redis.call('DEL', KEYS[2])
if not waiting then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('SET', KEYS[1], waiting, 'EX', ARGV[2])
return waiting
"""


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _loads(raw):
    return None if raw is None else json.loads(raw)


def _pack(value) -> bytes:
    """Return a document as zlib-compressed JSON: film records, tags with their evidence and
    tag vectors, which are read one film at a time (or once per rebuild)."""
    return zlib.compress(_dumps(value).encode())


def _unpacked(raw: bytes) -> bytes:
    """Return the JSON of a document _pack wrote (or of one stored as plain JSON before)."""
    return raw if raw[:1] == b"{" else zlib.decompress(raw)


def _unpack(raw):
    return None if raw is None else _loads(_unpacked(raw))


def _posting_removal(fid: str, filed: float | None, rank: float) -> bytes:
    """Return the change that takes a film out of a posting: its entry under the rank it was
    filed under, or, for tags saved before ranks were kept, under its rank now, else by id."""
    return b"-" + postings.entry(fid, filed) if filed is not None else b"?" + postings.entry(fid, rank)


class _TagNames:
    """One process's copy of a tag dictionary: the tags by number, and the dictionary's mark
    at each length (marks[n] covers the first n tags)."""

    def __init__(self):
        self.names: list[str] = []
        self.marks: list[int] = [0]
        self.lock = threading.Lock()


_TAG_NAMES: dict[tuple, _TagNames] = {}


# How long a deleted film's last revision is kept: a film created again under its id within
# this time continues from it (see docs/OPERATIONS.md, "Revisions").
TOMBSTONE_TTL = 30 * 86400
# How many films of highest vote count (and popularity) _KEEP_TOP keeps at least.
TOP_KEEP = 32
# Films whose tags one optimistic transaction saves (see save_tags_many).
TAGS_BATCH = 100


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


class _ReadOnlyScript:
    """A read-only script run with EVALSHA_RO / EVAL_RO (Redis 7), which a replica takes;
    a replica's script cache is its own, so the first call there sends the source."""

    def __init__(self, client: redis.Redis, source: str):
        self.client, self.source = client, source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys=(), args=()):
        try:
            return self.client.evalsha_ro(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return self.client.eval_ro(self.source, len(keys), *keys, *args)


class Store:
    """Films, reviews, tags and related-title lists under one key prefix.

    replica=True: a store on a read replica, for the read paths only (read-only scripts).
    """

    def __init__(self, client: redis.Redis, prefix: str, replica: bool = False):
        self.r = client
        self.p = prefix
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
        where = client.connection_pool.connection_kwargs
        self._tags = _TAG_NAMES.setdefault(
            (prefix, where.get("host"), where.get("port"), where.get("path"), where.get("db")),
            _TagNames())

    def close(self) -> None:
        """Close the client's connections."""
        self.r.close()

    def connection_id(self) -> int:
        """Return an id of the client's connection pool: the same server for caches keyed by it."""
        return id(self.r.connection_pool)

    # -- key names -------------------------------------------------------
    def k(self, *parts: str) -> str:
        return self.p + ":".join(parts)

    def list_key(self, version: int | str, film_id: str) -> str:
        return self.k("idx", str(version), "rel", film_id)

    # -- films -----------------------------------------------------------
    def _write_card(self, pipe, film: dict) -> None:
        """Write a film's card (title, year, revision) and bump the cards generation with it,
        which tells readers' kept pages that a card changed (read_list_unchanged)."""
        card = {"title": film["title"], "year": film.get("year"), "rev": film["rev"]}
        pipe.hset(self.k("cards"), film["id"], _dumps(card))
        pipe.incr(self.k("cards", "gen"))

    def _film_writes(self, pipe, film: dict, old: dict | None, dirty: bool = True) -> None:
        fid = film["id"]
        pipe.set(self.k("film", fid), _pack(film))
        self._write_card(pipe, film)
        pipe.hset(self.k("titles"), fid, fold(film["title"]) + " " + fold(film.get("original_title") or ""))
        meta = {key: film.get(key) for key in ("year", "original_language", "popularity",
                                               "vote_count", "vote_average")}
        pipe.hset(self.k("meta"), fid, _dumps(meta))
        if isinstance(pipe, _Merged):
            pipe.priors[fid] = film  # one call for the batch (upsert_films)
        else:
            self._write_priors(pipe, {fid: film})
        old_genres = {fold(g) for g in (old or {}).get("genres", [])}
        new_genres = {fold(g) for g in film.get("genres", [])}
        for g in old_genres - new_genres:
            pipe.srem(self.k("genre", g), fid)
        for g in new_genres:
            pipe.sadd(self.k("genre", g), fid)
        if dirty:
            pipe.sadd(self.k("dirty"), fid)

    def _write_priors(self, pipe, films: dict[str, dict | None]) -> None:
        """Queue on pipe the films' vote counts and popularity (None: the film is gone) for
        the catalog's maxima (_KEEP_TOP), after their meta."""
        for key, field in (("votes", "vote_count"), ("popularity", "popularity")):
            args = [field, TOP_KEEP]
            for fid, film in films.items():
                args += [fid, "" if film is None else film.get(field) or 0]
            self._keep_top(keys=[self.k(key), self.k(key, "floor"), self.k("meta")], args=args,
                           client=pipe)

    def create_film(self, film: dict) -> tuple[dict, bool]:
        """Store a new film; return it and whether it needs a refresh job."""
        fid = film["id"]
        ts = now()
        film = {**film, "created_at": ts, "updated_at": ts}

        def write(pipe):
            if pipe.exists(self.k("film", fid)):
                raise Conflict(fid)
            # A film deleted under this id continues its revisions: jobs that read the old
            # film must never win over the new one (their writes are revision-guarded).
            film["rev"] = int(pipe.get(self.k("tomb", fid)) or 0) + 1
            pipe.multi()
            pipe.delete(self.k("tomb", fid))
            pipe.zadd(self.k("films"), {fid: ts})
            self._film_writes(pipe, film, None)

        results = self.r.transaction(write, self.k("film", fid), self.k("tomb", fid))
        return film, bool(results[-1])

    def update_film(self, fid: str, changes: dict) -> tuple[dict, bool]:
        """Apply changes to a film atomically; return it and whether it needs a refresh job."""
        holder = {}

        def write(pipe):
            old = _unpack(pipe.get(self.k("film", fid)))
            if old is None:
                raise NotFound(fid)
            film = {**old, **changes, "updated_at": now(), "rev": old["rev"] + 1}
            holder["film"] = film
            pipe.multi()
            self._film_writes(pipe, film, old)

        results = self.r.transaction(write, self.k("film", fid))
        return holder["film"], bool(results[-1])

    def get_film(self, fid: str) -> dict:
        film = _unpack(self.r.get(self.k("film", fid)))
        if film is None:
            raise NotFound(fid)
        return film

    def get_film_and_job(self, fid: str) -> dict:
        """Return a film with "job_id", its latest refresh job (None if none), in one read."""
        raw, job = self.r.mget([self.k("film", fid), self.k("pending", fid)])
        if raw is None:
            raise NotFound(fid)
        return {**_unpack(raw), "job_id": job.decode() if job else None}

    def get_films(self, ids: list[str]) -> list[dict | None]:
        if not ids:
            return []
        return [_unpack(raw) for raw in self.r.mget([self.k("film", i) for i in ids])]

    def iter_films(self, chunk: int = 1000):
        """Yield every film, oldest first, reading chunk films at a time."""
        ids = self.film_ids()
        for start in range(0, len(ids), chunk):
            yield from (f for f in self.get_films(ids[start:start + chunk]) if f)

    def film_exists(self, fid: str) -> bool:
        return bool(self.r.exists(self.k("film", fid)))

    def delete_film(self, fid: str) -> None:
        """Remove a film, its reviews and its card; its list is cleaned up by a job."""

        def write(pipe):
            old = _unpack(pipe.get(self.k("film", fid)))
            if old is None:
                raise NotFound(fid)
            review_ids = [r.decode() for r in pipe.zrange(self.k("reviews", fid), 0, -1)]
            pipe.multi()
            pipe.delete(self.k("film", fid), self.k("reviews", fid))
            pipe.delete(*[self.k("review", rid) for rid in review_ids] or [self.k("review", "-")])
            pipe.zrem(self.k("films"), fid)
            pipe.hdel(self.k("cards"), fid)
            pipe.incr(self.k("cards", "gen"))  # as _write_card does
            pipe.hdel(self.k("titles"), fid)
            pipe.hdel(self.k("meta"), fid)
            self._write_priors(pipe, {fid: None})
            for g in {fold(g) for g in old.get("genres", [])}:
                pipe.srem(self.k("genre", g), fid)
            pipe.set(self.k("tomb", fid), old["rev"], ex=TOMBSTONE_TTL)
            pipe.sadd(self.k("dirty"), fid)

        self.r.transaction(write, self.k("film", fid), self.k("reviews", fid))

    def count_films(self) -> int:
        return self.r.zcard(self.k("films"))

    def film_ids(self, start: int = 0, stop: int = -1) -> list[str]:
        return [raw.decode() for raw in self.r.zrange(self.k("films"), start, stop)]

    def filter_film_ids(self, genre: str | None, tag: str | None) -> list[str]:
        """Return ids (in creation order) matching every given filter."""
        sets = []
        if genre:
            sets.append({raw.decode() for raw in self.r.smembers(self.k("genre", fold(genre)))})
        if tag:
            sets.append({raw.decode() for raw in self._posting_ids([tag], -1)[0]})
        ids = self.film_ids()
        for s in sets:
            ids = [i for i in ids if i in s]
        return ids

    def search_titles(self, ids: list[str], query: str) -> list[str]:
        needle = fold(query)
        titles = self.r.hmget(self.k("titles"), ids) if ids else []
        return [i for i, t in zip(ids, titles) if t is not None and needle in t.decode()]

    def card_rev(self, fid: str) -> int | None:
        """Return the revision on a film's card, or None when it has none."""
        raw = self.r.hget(self.k("cards"), fid)
        return orjson.loads(raw)["rev"] if raw else None

    def get_cards(self, ids: list[str]) -> dict[str, dict]:
        if not ids:
            return {}
        return {i: orjson.loads(c) for i, c in zip(ids, self.r.hmget(self.k("cards"), ids)) if c}

    # -- reviews ---------------------------------------------------------
    def _touch_film(self, pipe, film: dict, dirty: bool = True) -> None:
        """Record a change to a film's reviews: a new revision (and Last-Modified) for the film."""
        film = {**film, "rev": film["rev"] + 1, "updated_at": now()}
        pipe.set(self.k("film", film["id"]), _pack(film))
        self._write_card(pipe, film)
        if dirty:
            pipe.sadd(self.k("dirty"), film["id"])

    def create_review(self, fid: str, review: dict) -> tuple[dict, bool]:
        rid = "r" + uuid.uuid4().hex[:12]
        review = {**review, "id": rid, "film_id": fid, "created_at": now()}
        review["updated_at"] = review["created_at"]

        def write(pipe):
            film = _unpack(pipe.get(self.k("film", fid)))
            if film is None:
                raise NotFound(fid)
            pipe.multi()
            pipe.set(self.k("review", rid), _dumps(review))
            pipe.zadd(self.k("reviews", fid), {rid: review["created_at"]})
            self._touch_film(pipe, film)

        results = self.r.transaction(write, self.k("film", fid))
        return review, bool(results[-1])

    def import_review(self, fid: str, review: dict) -> tuple[dict, bool, bool]:
        """Add a review, or update the film's review it repeats (same source URL or body).

        Return the stored review, whether the film needs a refresh job, and whether it is new;
        an import that changes nothing writes nothing, and its review's job_id is the film's
        latest refresh job.
        """
        holder = {}

        def write(pipe):
            film = _unpack(pipe.get(self.k("film", fid)))
            if film is None:
                raise NotFound(fid)
            ids = [raw.decode() for raw in pipe.zrange(self.k("reviews", fid), 0, -1)]
            existing = [json.loads(raw) for raw in pipe.mget([self.k("review", i) for i in ids])
                        if raw] if ids else []
            old = _KnownReviews(existing).find(review)
            ts = now()
            if old is None:
                new = {**review, "id": "r" + uuid.uuid4().hex[:12], "film_id": fid,
                       "created_at": ts, "updated_at": ts}
            elif {**old, **review} == old:
                holder.update(review=old, created=False, changed=False,
                              job=(pipe.get(self.k("pending", fid)) or b"").decode() or None)
                return
            else:
                new = {**old, **review, "updated_at": ts}
            holder.update(review=new, created=old is None, changed=True)
            pipe.multi()
            pipe.set(self.k("review", new["id"]), _dumps(new))
            if old is None:
                pipe.zadd(self.k("reviews", fid), {new["id"]: ts})
            self._touch_film(pipe, film)

        results = self.r.transaction(write, self.k("film", fid), self.k("reviews", fid))
        if not holder["changed"]:
            return {**holder["review"], "job_id": holder["job"]}, False, False
        return holder["review"], bool(results[-1]), holder["created"]

    def get_review(self, rid: str) -> dict:
        review = _loads(self.r.get(self.k("review", rid)))
        if review is None:
            raise NotFound(rid)
        return review

    def update_review(self, rid: str, changes: dict) -> tuple[dict, bool]:
        holder = {}

        def write(pipe):
            old = _loads(pipe.get(self.k("review", rid)))
            if old is None:
                raise NotFound(rid)
            pipe.watch(self.k("film", old["film_id"]))  # the film is rewritten: no lost update
            film = _unpack(pipe.get(self.k("film", old["film_id"])))
            if film is None:
                raise NotFound(rid)
            review = {**old, **changes, "updated_at": now()}
            holder["review"] = review
            pipe.multi()
            pipe.set(self.k("review", rid), _dumps(review))
            self._touch_film(pipe, film)

        results = self.r.transaction(write, self.k("review", rid))
        return holder["review"], bool(results[-1])

    def delete_review(self, rid: str) -> tuple[str, bool]:
        holder = {}

        def write(pipe):
            old = _loads(pipe.get(self.k("review", rid)))
            if old is None:
                raise NotFound(rid)
            fid = holder["film_id"] = old["film_id"]
            pipe.watch(self.k("film", fid))  # the film is rewritten: no lost update
            film = _unpack(pipe.get(self.k("film", fid)))
            pipe.multi()
            pipe.delete(self.k("review", rid))
            pipe.zrem(self.k("reviews", fid), rid)
            if film is not None:
                self._touch_film(pipe, film)

        results = self.r.transaction(write, self.k("review", rid))
        return holder["film_id"], bool(results[-1]) if len(results) > 3 else False

    def move_review(self, rid: str, fid: str) -> None:
        """Move a review to another film (merging duplicates); both films get a new revision."""

        def write(pipe):
            review = _loads(pipe.get(self.k("review", rid)))
            if review is None:
                raise NotFound(rid)
            src = review["film_id"]
            pipe.watch(self.k("film", src), self.k("film", fid))
            films = [_unpack(raw) for raw in pipe.mget([self.k("film", src), self.k("film", fid)])]
            if films[1] is None:
                raise NotFound(fid)
            pipe.multi()
            pipe.set(self.k("review", rid), _dumps({**review, "film_id": fid}))
            pipe.zrem(self.k("reviews", src), rid)
            pipe.zadd(self.k("reviews", fid), {rid: review["created_at"]})
            for film in films:
                if film is not None:
                    self._touch_film(pipe, film)

        self.r.transaction(write, self.k("review", rid))

    def review_ids(self, fid: str) -> list[str]:
        return [raw.decode() for raw in self.r.zrange(self.k("reviews", fid), 0, -1)]

    def get_film_and_reviews(self, fid: str) -> tuple[dict, list[dict]]:
        """Return a film and its reviews, oldest first, in one round trip."""
        film, *reviews = self._read_film_and_reviews(
            keys=[self.k("film", fid), self.k("reviews", fid)], args=[self.k("review", "")])
        if not film:
            raise NotFound(fid)
        return _unpack(film), [json.loads(raw) for raw in reviews if raw]

    def list_reviews(self, fid: str) -> list[dict]:
        ids = self.review_ids(fid)
        if not ids:
            return []
        raws = self.r.mget([self.k("review", rid) for rid in ids])
        return [json.loads(raw) for raw in raws if raw is not None]

    # -- bulk imports (a full rebuild follows, so nothing is marked dirty) -------
    def load_new_films(self, films: list[dict], batch: int = 500) -> int:
        """Write films that are not stored yet in pipelined batches, without reading first:
        the keys of create_film, not dirty (a rebuild follows). For benches filling an empty
        prefix fast; return how many were written."""
        pipe = self.r.pipeline(transaction=False)
        for n, film in enumerate(films, 1):
            ts = now()
            film = {**film, "created_at": ts, "updated_at": ts, "rev": 1}
            pipe.zadd(self.k("films"), {film["id"]: ts + n * 1e-6})
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
        keys = [self.k("film", fid) for fid in ids]
        tombs = [self.k("tomb", fid) for fid in ids]
        holder = {}

        def write(pipe):
            current = dict(zip(ids, map(_unpack, pipe.mget(keys))))
            last_rev = dict(zip(ids, (int(raw or 0) for raw in pipe.mget(tombs))))
            outcomes, writes, ts = [], [], now()
            for data in films:
                old = current[data["id"]]
                if old is None:
                    film = {**data, "created_at": ts, "updated_at": ts, "rev": last_rev[data["id"]] + 1}
                    outcome = "created"
                else:
                    changes = {key: value for key, value in data.items() if old.get(key) != value}
                    film, outcome = {**old, **changes, "updated_at": ts, "rev": old["rev"] + 1}, "updated"
                    if not changes:
                        outcomes.append("unchanged")
                        continue
                outcomes.append(outcome)
                writes.append((film, old))
                current[data["id"]] = film
            merged = _Merged()
            for n, (film, old) in enumerate(writes):
                if old is None:  # keep file order among films created in one batch
                    merged.zadd(self.k("films"), {film["id"]: ts + n * 1e-6})
                self._film_writes(merged, film, old, dirty=False)
            pipe.multi()
            merged.send(pipe)
            if merged.priors:
                self._write_priors(pipe, merged.priors)
            created = [tomb for tomb, fid in zip(tombs, ids) if last_rev[fid]]
            if created:
                pipe.delete(*created)
            holder["outcomes"] = outcomes

        if films:
            self.r.transaction(write, *keys, *tombs)
        return holder.get("outcomes", [])

    def add_reviews(self, batch: dict[str, list[dict]]) -> dict[str, tuple[int, int] | None]:
        """Add reviews to films in one transaction; a review a film has already (the same
        source URL or body, see text.same_review) is updated in place instead.

        Return (added, updated) per film, None for a film that does not exist.
        """
        ids = list(batch)
        keys = [self.k("film", fid) for fid in ids] + [self.k("reviews", fid) for fid in ids]
        holder = {}

        def write(pipe):
            films = dict(zip(ids, map(_unpack, pipe.mget(keys[:len(ids)]))))
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
                        new = {**review, "id": rid, "film_id": fid, "created_at": at, "updated_at": at}
                        pipe.zadd(self.k("reviews", fid), {rid: at})
                        added += 1
                    elif {**old, **review} != old:
                        new = {**old, **review, "updated_at": ts}
                        updated += 1
                    else:
                        continue
                    pipe.set(self.k("review", new["id"]), _dumps(new))
                    known.add(new)
                if added or updated:
                    self._touch_film(pipe, films[fid], dirty=False)
                counts[fid] = (added, updated)
            holder["counts"] = counts

        if ids:
            self.r.transaction(write, *keys)
        return holder.get("counts", {})

    def put_upload(self, upload_id: str, data: bytes, ttl: int) -> None:
        self.r.set(self.k("upload", upload_id), data, ex=ttl)

    def get_upload(self, upload_id: str) -> bytes:
        data = self.r.get(self.k("upload", upload_id))
        if data is None:
            raise NotFound(upload_id)
        return data

    def drop_upload(self, upload_id: str) -> None:
        self.r.delete(self.k("upload", upload_id))

    # -- film pages a web process rendered, for the others (service/pagecache.py) ------
    def read_shared_page(self, fid: str, variant: str, version: int) -> tuple:
        """Return (index version, cards generation, the film's list blob of index version
        `version` or None, the shared page of this variant or None): one MGET. `version` is
        the caller's guess of the index version, so that the list usually comes along."""
        ver, gen, blob, page = self.r.mget(self.k("ver"), self.k("cards", "gen"),
                                           self.list_key(version, fid),
                                           self.k("page", variant, fid))
        return int(ver or 0), gen or b"0", blob, page

    def put_shared_page(self, fid: str, variant: str, page: bytes, ttl: int) -> None:
        """Keep a rendered page for the other web processes for ttl seconds at most (a page
        outlives its use once a write bumps the cards generation)."""
        self.r.set(self.k("page", variant, fid), page, ex=ttl)

    # -- refresh bookkeeping ------------------------------------------------
    def set_pending_job(self, fid: str, job_id: str) -> None:
        self.r.set(self.k("pending", fid), job_id, ex=86400)

    def pending_job(self, fid: str) -> str | None:
        raw = self.r.get(self.k("pending", fid))
        return raw.decode() if raw else None

    def pending_jobs(self, ids: list[str]) -> list[str | None]:
        """Return the latest refresh job of each film (None if none), in one read."""
        if not ids:
            return []
        return [raw.decode() if raw else None
                for raw in self.r.mget([self.k("pending", fid) for fid in ids])]

    def claim_dirty(self, fid: str) -> None:
        """Mark a film as being refreshed: later writes queue a new job."""
        self.r.srem(self.k("dirty"), fid)

    def dirty_ids(self) -> list[str]:
        return [raw.decode() for raw in self.r.smembers(self.k("dirty"))]

    def dirty_pending(self) -> dict[str, str]:
        """Return {film id: its pending refresh job id, or ""} for every dirty film."""
        ids = self.dirty_ids()
        jobs = self.r.mget([self.k("pending", fid) for fid in ids]) if ids else []
        return {fid: (raw or b"").decode() for fid, raw in zip(ids, jobs)}

    def claim_reconcile(self, ttl: int) -> bool:
        """Take the reconciler's turn for ttl seconds (one worker at a time); False if taken."""
        return bool(self.r.set(self.k("reconcile", "lock"), "1", nx=True, ex=ttl))

    def orphans_seen(self, orphans: dict[str, str]) -> dict[str, str]:
        """Keep this pass's orphans {film id: pending job id}; return the previous pass's."""
        key = self.k("reconcile", "seen")
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
        pipe.incr(self.k("replication", "fence"))
        pipe.execute_command("WAIT", replicas, timeout_ms)
        return int(pipe.execute()[-1])

    # -- tags, vectors and the inverted index ----------------------------------
    def get_vectors(self, ids: list[str]) -> list[dict | None]:
        if not ids:
            return []
        # orjson: a rebuild's snapshot reads every film's vector and meta
        return [orjson.loads(_unpacked(raw)) if raw else None
                for raw in self.r.mget([self.k("vec", i) for i in ids])]

    def get_embeddings(self, ids: list[str]) -> list[bytes | None]:
        """Return films' plot embeddings (workers/embedding.py), None where a film has none."""
        return self.r.hmget(self.k("emb"), ids) if ids else []

    def get_meta(self, ids: list[str]) -> list[dict | None]:
        if not ids:
            return []
        return [orjson.loads(raw) if raw else None for raw in self.r.hmget(self.k("meta"), ids)]

    def get_tags(self, fid: str) -> dict | None:
        return _unpack(self.r.get(self.k("tags", fid)))

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
        holder = {}

        def write(pipe):
            old = holder["vec"] = _unpack(pipe.get(self.k("vec", fid))) or {}
            filed = (_unpack(pipe.get(self.k("tags", fid))) or {}).get("rank")
            pipe.multi()
            changes = {tag: [_posting_removal(fid, filed, 0)] for tag in old}  # meta is gone
            for tag in old:
                pipe.hincrby(self.k("df"), tag, -1)
            self._change_postings(pipe, changes)
            pipe.delete(self.k("vec", fid), self.k("tags", fid), self.k("pending", fid))
            pipe.hdel(self.k("emb"), fid)

        self.r.transaction(write, self.k("vec", fid), self.k("tags", fid))
        return holder["vec"]

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
            saved |= self._save_tags_batch(dict(items[start:start + TAGS_BATCH]))
        return saved

    def _save_tags_batch(self, entries: dict[str, tuple]) -> set[str]:
        ids = list(entries)
        keys = [self.k("vec", fid) for fid in ids]
        tag_keys = [self.k("tags", fid) for fid in ids]
        saved = set()

        def write(pipe):
            saved.clear()
            olds = [_unpack(raw) or {} for raw in pipe.mget(keys)]
            stored = [_unpack(raw) or {} for raw in pipe.mget(tag_keys)]
            metas = [_loads(raw) or {} for raw in pipe.hmget(self.k("meta"), ids)]
            pipe.multi()
            changes: dict[str, list[bytes]] = {}
            for fid, old, meta, done in zip(ids, olds, metas, stored):
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
                    pipe.hincrby(self.k("df"), tag, -1)
                for tag in vector:
                    if tag not in old:
                        pipe.hincrby(self.k("df"), tag, 1)
                    elif done.get("rank") == rank:
                        continue  # filed under this rank already
                    else:
                        changes.setdefault(tag, []).append(removal)
                    changes.setdefault(tag, []).append(added)
                pipe.set(self.k("vec", fid), _pack(vector))
                # the rank it is filed under in the postings, to find its entries again
                pipe.set(self.k("tags", fid), _pack({**tags, "rank": rank}))
                if embedding:
                    pipe.hset(self.k("emb"), fid, embedding)
                else:
                    pipe.hdel(self.k("emb"), fid)
            self._change_postings(pipe, changes)

        if ids:
            self.r.transaction(write, *keys, *tag_keys)
        return saved

    def reviews_of(self, ids: list[str]) -> dict[str, list[dict]]:
        """Return every review of each film, with two round trips in all."""
        pipe = self.r.pipeline(transaction=False)
        for fid in ids:
            pipe.zrange(self.k("reviews", fid), 0, -1)
        per_film = [[raw.decode() for raw in rids] for rids in pipe.execute()]
        flat = [rid for rids in per_film for rid in rids]
        bodies = dict(zip(flat, self.r.mget([self.k("review", rid) for rid in flat]))) if flat else {}
        return {fid: [json.loads(bodies[rid]) for rid in rids if bodies.get(rid)]
                for fid, rids in zip(ids, per_film)}

    def catalog_stats(self, tags) -> dict:
        """Return catalog-wide figures the similarity needs: film count, tag df, maxima."""
        tags = sorted(tags)
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(self.k("films"))
        pipe.zrevrange(self.k("votes"), 0, 0, withscores=True)
        pipe.zrevrange(self.k("popularity"), 0, 0, withscores=True)
        if tags:
            pipe.hmget(self.k("df"), tags)
        n, votes, popularity, *df = pipe.execute()
        return {"n": n, "df": dict(zip(tags, (int(x or 0) for x in (df[0] if df else [])))),
                "max_votes": votes[0][1] if votes else 0.0,
                "max_popularity": popularity[0][1] if popularity else 0.0}

    def postings(self, tags: list[str], cap: int) -> list[list[str]]:
        """Return, per tag, up to `cap` films holding it, most popular first."""
        return [[raw.decode() for raw in ids] for ids in self._posting_ids(tags, cap)]

    def _posting_ids(self, tags: list[str], cap: int) -> list[list[bytes]]:
        """Return, per tag, the ids of up to `cap` films holding it (all when cap < 0)."""
        if not tags:
            return []
        args = [self.k("post", ""), self.k("postb", ""), cap]
        for tag in tags:
            args += [tag, postings.bucket(tag)]
        return self._read_postings(args=args)

    def _change_postings(self, pipe, changes: dict[str, list[bytes]]) -> None:
        """Queue on pipe the changes to postings (tag: [b"+" or b"-" or b"*" + entry])."""
        args = [self.k("post", ""), self.k("postb", ""), postings.MAX_CHUNK, postings.SMALL]
        for tag, ops in changes.items():
            args += [tag, postings.bucket(tag), len(ops), *ops]
        if changes:
            self._write_postings(args=args, client=pipe)

    # -- related-title lists -------------------------------------------------
    def index_version(self) -> int:
        return int(self.r.get(self.k("ver")) or 0)

    def read_list_parts(self, fid: str, start: int = 0, stop: int | None = None,
                        exclude=()) -> tuple:
        """Return (film card, list blob or None, index version, page, kept, pending refresh
        job id or None, cards generation) as Redis sends them, in one round trip.

        Of the listed films that still have a card and are not in exclude, `kept` is how many
        there are and `page` is a flat [position in the list (1-based), card JSON, ...] of
        items start..stop.
        """
        card, blob, ver, flat, pending, kept, gen = self._read_list(
            keys=[self.k("ver"), self.k("cards"), self.k("cards", "gen")],
            args=[self.p, fid, start, -1 if stop is None else stop, *exclude])
        if card is None:
            raise NotFound(fid)
        return card, blob, int(ver), flat, kept, pending.decode() if pending else None, gen

    def read_list_unchanged(self, fid: str, version: int, gen: bytes) -> tuple | None:
        """Return (list blob, pending refresh job id or None) of version `version` when that is
        still the index version and no card was written since cards generation `gen`, else
        None: one MGET, for a reader that kept what it made of a read_list_parts answer.

        Every card write bumps the generation in its transaction, so an unchanged generation
        means every card (the film's own, its listed films', which exist) is as it was.
        """
        ver, now_gen, pending, blob = self.r.mget(
            self.k("ver"), self.k("cards", "gen"), self.k("pending", fid),
            self.list_key(version, fid))
        if blob is None or int(ver or 0) != version or (now_gen or b"0") != gen:
            return None
        return blob, pending.decode() if pending else None

    def read_list_raw(self, fid: str, start: int = 0, stop: int | None = None,
                      exclude=()) -> tuple[dict, dict | None, int, list[tuple[list, bytes]], int,
                                           str | None]:
        """Return (film card, list or None, index version, page, kept, pending refresh job id
        or None), in one round trip.

        Of the listed films that still have a card and are not in exclude, `kept` is how many
        there are and `page` holds items start..stop as (list item, its card as JSON bytes);
        cards are left undecoded so a reader decodes only what it shows.
        """
        card, blob, ver, flat, kept, pending, _ = self.read_list_parts(fid, start, stop, exclude)
        lst = self.decode_list(blob) if blob else None
        return orjson.loads(card), lst, ver, self.list_page(blob, flat), kept, pending

    def read_list(self, fid: str) -> tuple[dict, dict | None, int, dict[str, dict]]:
        """Return (film card, list or None, index version, cards of listed films)."""
        card, lst, ver, page, _, _ = self.read_list_raw(fid)
        return card, lst, ver, {item[0]: json.loads(raw) for item, raw in page}

    def tag_ids(self) -> list[str]:
        """Return every tag id films carry (the fields of the document-frequency hash), for
        readers that label the tags of lists ahead of time."""
        return [tag.decode() for tag in self.r.hkeys(self.k("df"))]

    # -- the tag dictionary: stored lists name a reason's tag by its number -----------
    def tag_numbers(self, tags) -> tuple[dict[str, int], tuple[int, int]]:
        """Return the numbers of tags, numbering new ones, and the tag dictionary's (length,
        mark) after, which covers them (a list's header names it)."""
        tags = list(dict.fromkeys(tags))
        numbers: dict[str, int] = {}
        keys = [self.k("tag", "numbers"), self.k("tag", "names"), self.k("tag", "mark")]
        for start in range(0, max(len(tags), 1), 5000):
            part = tags[start:start + 5000]
            length, mark, *got = self._tag_numbers(keys=keys, args=part)
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
        for raw in self.r.lrange(self.k("tag", "names"), len(t.names), -1):
            tag = raw.decode()
            t.names.append(tag)  # before its mark: a reader that sees the mark finds the name
            t.marks.append(tag_mark(t.marks[-1], len(t.names) - 1, tag))

    def _decode_items(self, blob: bytes, positions: list[int]) -> list[list]:
        names = self.tag_names(*listcodec.dictionary(blob))
        return listcodec.decode_items(blob, positions, names)

    def decode_list(self, blob: bytes) -> dict:
        """Return a stored list as {"rev", "computed_at", "items": [[id, score, [[tag,
        share], ...]], ...]}."""
        rev, computed_at, _ = listcodec.read_header(blob)
        return {"rev": rev, "computed_at": computed_at,
                "items": self._decode_items(blob, listcodec.offsets(blob))}

    def list_page(self, blob: bytes | None, flat: list) -> list[tuple[list, bytes]]:
        """Return the page read_list_parts sends as (list item, card JSON) pairs, decoding
        only the items on it."""
        if not blob or not flat:
            return []
        positions = flat[::2]
        offsets = listcodec.offsets(blob, max(positions))
        items = self._decode_items(blob, [offsets[n - 1] for n in positions])
        return list(zip(items, flat[1::2]))

    def encode_list(self, rev: int, computed_at: float, items: list) -> bytes:
        numbers, dictionary = self.tag_numbers(tag for item in items for tag, _ in item[2])
        return listcodec.encode({"rev": rev, "computed_at": computed_at, "items": items},
                                numbers, dictionary)

    def get_lists(self, version: int, ids: list[str]) -> list[dict | None]:
        if not ids:
            return []
        return [self.decode_list(raw) if listcodec.is_list(raw) else None
                for raw in self.r.mget([self.list_key(version, i) for i in ids])]

    def write_own_list(self, version: int, fid: str, rev: int, items: list) -> bool:
        blob = self.encode_list(rev, now(), items)
        return bool(self._write_list(keys=[self.list_key(version, fid)], args=[blob, rev]))

    def write_encoded_lists(self, version: int, lists) -> None:
        """Write many finished lists given as (film id, list bytes): one MSET per 1000 lists,
        pipelined."""
        pipe = self.r.pipeline(transaction=False)
        batch = {}
        for fid, blob in lists:
            batch[self.list_key(version, fid)] = blob
            if len(batch) >= 1000:
                pipe.mset(batch)
                batch = {}
        if batch:
            pipe.mset(batch)
        pipe.execute()

    def patch_lists(self, version: int, fid: str, items: dict[str, list | None], k: int,
                    rev: int | None = None) -> bool:
        """Put film `fid` into (item) or out of (None) each given film's list, atomically.

        With `rev` (the film revision the items come from), do nothing and return False when
        fid's own list is already computed from a newer revision.
        """
        if not items:
            return True
        numbers, dictionary = self.tag_numbers(
            tag for item in items.values() if item for tag, _ in item[2])
        keys = [self.list_key(version, fid)] + [self.list_key(version, other) for other in items]
        args = [fid, k, "" if rev is None else rev, listcodec.DICTIONARY.pack(*dictionary)] + [
            listcodec.encode_item(item, numbers) if item else "" for item in items.values()]
        return self._patch_lists(keys=keys, args=args) != -1

    # -- job and index metrics (service/jobstats.py) ------------------------------
    def count_job(self, kind: str, seconds: float, bucket: float, failed: bool) -> None:
        """Add one finished job of kind to the job counters (one round trip)."""
        pipe = self.r.pipeline(transaction=False)
        key = self.k("metrics", "jobs")
        pipe.hincrby(key, f"{kind}:count", 1)
        pipe.hincrbyfloat(key, f"{kind}:sum", seconds)
        pipe.hincrby(key, f"{kind}:le:{bucket}", 1)
        if failed:
            pipe.hincrby(key, f"{kind}:failed", 1)
        pipe.execute()

    def job_counters(self) -> dict[str, bytes]:
        """Return the job counters: "<kind>:count|sum|failed|le:<bound>" -> value."""
        return {field.decode(): value for field, value in self.r.hgetall(self.k("metrics", "jobs")).items()}

    def note_index_update(self, fields: dict) -> None:
        """Set the index marks (updated_at, and switched_at/_version after a rebuild)."""
        self.r.hset(self.k("metrics", "index"), mapping=fields)

    def index_marks(self) -> dict[str, str]:
        """Return the index marks note_index_update set."""
        return {k.decode(): v.decode() for k, v in self.r.hgetall(self.k("metrics", "index")).items()}

    # -- full rebuilds ---------------------------------------------------------
    def next_version(self) -> int:
        return int(self.r.incr(self.k("ver", "next")))

    def active_rebuild(self) -> str | None:
        raw = self.r.get(self.k("rebuild", "active"))
        return raw.decode() if raw else None

    def request_rebuild(self, rebuild_id: str, ttl: int) -> tuple[str, str | None]:
        """Claim the rebuild slot for rebuild_id, or make it the one to run next.

        Return (the rebuild that will do this request's work, the one running now or None):
        (rebuild_id, None) when it may start at once; (rebuild_id, running) when it waits for
        `running`; (other, running) when another request already waits: it covers this one.
        """
        runs, running = self._request_rebuild(
            keys=[self.k("rebuild", "active"), self.k("rebuild", "next")], args=[rebuild_id, ttl])
        return runs.decode(), running.decode() if running else None

    def begin_rebuild(self, rebuild_id: str, total: int, ttl: int) -> bool:
        """Mark a rebuild as running; False if another one is.

        A retried start (its worker was killed) keeps the progress counted so far.
        """
        if not self.r.set(self.k("rebuild", "active"), rebuild_id, ex=ttl, nx=True):
            if self.active_rebuild() != rebuild_id:
                return False
        key = self.k("rebuild", rebuild_id)
        if self.r.hget(key, "phase") in (b"extracting", b"ranking"):
            return True
        pipe = self.r.pipeline()
        pipe.delete(self.k("rebuild", "touched"))
        pipe.hdel(key, "after")
        pipe.hset(key, mapping={"total": total, "extracted": 0, "ranked": 0, "phase": "extracting"})
        pipe.expire(key, 7 * 86400)
        pipe.execute()
        return True

    def end_rebuild(self, rebuild_id: str, ttl: int) -> str | None:
        """Free the rebuild slot (rebuild_id finished or failed); hand it to the rebuild
        waiting next, if any, and return that one's id (its job must then be queued)."""
        nxt = self._end_rebuild(keys=[self.k("rebuild", "active"), self.k("rebuild", "next")],
                                args=[rebuild_id, ttl])
        return nxt.decode() if nxt else None

    def rebuild_progress(self, rebuild_id: str, **changes) -> dict:
        """Add counts (ints) or set fields (str) of a rebuild's progress; return it."""
        key = self.k("rebuild", rebuild_id)
        pipe = self.r.pipeline()
        for name, value in changes.items():
            if isinstance(value, int):
                pipe.hincrby(key, name, value)
            else:
                pipe.hset(key, name, value)
        pipe.hgetall(key)
        raw = pipe.execute()[-1]
        return {k.decode(): (int(v) if v.lstrip(b"-").isdigit() else v.decode())
                for k, v in raw.items()}

    def touch_during_rebuild(self, fid: str) -> None:
        """Remember a film refreshed during a rebuild: it is refreshed again after the switch."""
        if self.r.exists(self.k("rebuild", "active")):
            self.r.sadd(self.k("rebuild", "touched"), fid)

    def put_blob(self, name: str, data: bytes, ttl: int) -> None:
        self.r.set(self.k("blob", name), data, ex=ttl)

    def get_blob(self, name: str) -> bytes:
        data = self.r.get(self.k("blob", name))
        if data is None:
            raise NotFound(name)
        return data

    def switch_version(self, rebuild_id: str, version: int) -> tuple[int, list[str]]:
        """Make version current; return the old one and the films touched meanwhile."""
        pipe = self.r.pipeline()
        pipe.getset(self.k("ver"), version)
        pipe.smembers(self.k("rebuild", "touched"))
        pipe.delete(self.k("rebuild", "touched"), self.k("blob", rebuild_id))
        old, touched, _ = pipe.execute()
        return int(old or 0), [raw.decode() for raw in touched]

    def drop_version(self, version: int) -> int:
        """Delete every list of an old index version, in batches."""
        dropped = 0
        batch = []
        for key in self.r.scan_iter(match=self.k("idx", str(version), "rel", "*"), count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                dropped += self.r.unlink(*batch)
                batch = []
        if batch:
            dropped += self.r.unlink(*batch)
        return dropped

    def drop_list(self, version: int, fid: str) -> None:
        self.r.delete(self.list_key(version, fid))
