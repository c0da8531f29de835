"""The Lua scripts of the store, and the Python mirror of the tag dictionary's mark."""

import hashlib

import redis
from redis.exceptions import NoScriptError

from service import listcodec
from service.storage import documents

# Read film ARGV[2]'s list, its card, its pending refresh job (KEYS[4]) and the cards of one
# page of the list in one round trip. The list key depends on the index version (KEYS[1]), so
# the script joins it: ARGV[1] .. version .. ARGV[3] (Keys.related_list_around; fine on a
# single primary, which is what rq supports anyway). The listed ids are read out of the packed
# list (service/listcodec.py), which the script never decodes further. Listed films without a
# card (deleted meanwhile) and the ids in ARGV[6..] are left out; of the rest, the ones at
# (0-based) ARGV[4] <= n < ARGV[5] (no end when negative) are returned as (position in the
# list, card) pairs, with how many were kept in all.
# KEYS[3] counts the writes to the cards hash (the cards' generation), returned last: a
# reader that keeps what it made of the list can check it later (Store.read_list_unchanged).
# A list in an older format reads as none (a rebuild after an upgrade writes them anew).
_READ_LIST = (
    listcodec.LUA_ITEMS
    + """
local ver = redis.call('GET', KEYS[1]) or '0'
local gen = redis.call('GET', KEYS[3]) or '0'
local card = redis.call('HGET', KEYS[2], ARGV[2])
if not card then return {false, false, ver, {}, false, 0, gen} end
local pending = redis.call('GET', KEYS[4])
local blob = redis.call('GET', ARGV[1] .. ver .. ARGV[3])
if not is_list(blob) then return {card, false, ver, {}, pending, 0, gen} end
local ids = ids_of(blob)
if #ids == 0 then return {card, blob, ver, {}, pending, 0, gen} end
local cards = redis.call('HMGET', KEYS[2], unpack(ids))
local skip = {}
for i = 6, #ARGV do skip[ARGV[i]] = true end
local start, stop = tonumber(ARGV[4]), tonumber(ARGV[5])
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
)

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
# new items were encoded. The script reads only ids and scores; an item's bytes from its score
# on move as they are, and the ids are front-coded again in their new order.
_PATCH_LISTS = (
    listcodec.LUA_ITEMS
    + """
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
      kept[#kept + 1] = item_at(ARGV[3 + i], 1, '')
      table.sort(kept, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
      while #kept > k do table.remove(kept) end
    end
    -- the header now names the dictionary the new item was written against (ARGV[4]),
    -- which covers the older items' tags too
    redis.call('SET', key, string.sub(blob, 1, LIST_DICTIONARY - 1) .. ARGV[4]
      .. struct.pack('<H', #kept) .. items_bytes(kept))
  end
end
return #KEYS
"""
)

# Write a film's own list (KEYS[1]) unless a newer revision of it is already stored.
_WRITE_LIST = (
    listcodec.LUA_ITEMS
    + """
local old = redis.call('GET', KEYS[1])
if is_list(old) and list_rev(old) > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
)

# Return the tag dictionary's length and mark, then the numbers of tags ARGV[2], ARGV[4], ...,
# numbering new ones in order: the hash ARGV[1] .. ARGV[i + 1] (the tag's bucket) maps a tag
# to its number (as did KEYS[1], an older version's single hash, read while it is there),
# KEYS[2] lists the tags by number, KEYS[3] holds the mark, a sum of SHA-1 prefixes of "number:tag" (Store.tag_mark). Numbers are never
# reused; a reader that cached names checks its copy against a list's length and mark.
_TAG_NUMBERS = """
local size = redis.call('LLEN', KEYS[2])
local mark = tonumber(redis.call('GET', KEYS[3]) or '0')
local legacy = redis.call('EXISTS', KEYS[1]) == 1
local out = {0, 0}
for i = 2, #ARGV, 2 do
  local tag, bucket = ARGV[i], ARGV[1] .. ARGV[i + 1]
  local n = redis.call('HGET', bucket, tag)
  if not n and legacy then n = redis.call('HGET', KEYS[1], tag) end
  if not n then
    n = size
    redis.call('RPUSH', KEYS[2], tag)
    redis.call('HSET', bucket, tag, n)
    mark = (mark + tonumber(string.sub(redis.sha1hex(n .. ':' .. tag), 1, 8), 16)) % 4294967296
    redis.call('SET', KEYS[3], string.format('%d', mark))
    size = size + 1
  end
  out[#out + 1] = tonumber(n)
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
_KEEP_TOP = (
    "local META = {"
    + ", ".join(f"{key} = {n}" for n, key in enumerate(documents.META_FIELDS, 1))
    + "}"
    + """
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
    local meta = cjson.decode(all[i + 1])
    local value = meta[field]
    if value == nil then value = meta[META[field]] end  -- an array (a JSON object before)
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
)


# Return the document frequency of tags ARGV[2], ARGV[4], ... : the count in its bucket (the
# key ARGV[1] .. ARGV[i + 1]) plus, while an older version's single hash KEYS[1] is there,
# the count in it (a bucket's count then started from 0 and holds the changes since).
_READ_DF = """
local legacy = redis.call('EXISTS', KEYS[1]) == 1
local out = {}
for i = 2, #ARGV, 2 do
  local n = tonumber(redis.call('HGET', ARGV[1] .. ARGV[i + 1], ARGV[i]) or '0')
  if legacy then n = n + tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0') end
  out[#out + 1] = n
end
return out
"""

# Move the fields ARGV[3], ARGV[5], ... of an older version's single hash KEYS[1] into their
# buckets (ARGV[1] .. ARGV[i + 1]) with ARGV[2] (HINCRBY for counts, HSETNX for numbers),
# each atomically: the readers read both meanwhile.
_FOLD_INTO_BUCKETS = """
for i = 3, #ARGV, 2 do
  local n = redis.call('HGET', KEYS[1], ARGV[i])
  if n then
    redis.call(ARGV[2], ARGV[1] .. ARGV[i + 1], ARGV[i], n)
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
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
