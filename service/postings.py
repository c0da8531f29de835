"""Encode posting entries and keep postings in Redis strings: the one module that knows them.

A posting lists the films holding a tag in the order of a sorted set scored by the film's
prior (rank ascending, then id bytes ascending); readers take it from the end, best first,
as ZREVRANGE did. Strings keep it compact whatever the server's listpack settings:

    entry        B id length, B rank key length, the rank key without its trailing zero
                 bytes, the id; the rank key is 8 bytes whose byte order is the ranks' order
    postb:<n>    the postings of at most SMALL films, of the tags whose bucket is n (of
                 BUCKETS): per tag B tag length, the tag, H entries' length, the entries
    post:<tag>   a larger posting: b"e" + its entries, while it has at most MAX_CHUNK of
                 them; else b"d" + I4 next chunk number + per chunk (in order) I4 number,
                 B key length and its first entry's key, with the entries in
                 post:<tag>:<number>

An entry's key is its rank key (8 bytes) and its id, so comparing keys byte by byte orders
entries. An older posting (a sorted set) still reads, and the first write converts it.
"""

import struct
import zlib

MAX_CHUNK = 512
SMALL = 16
BUCKETS = 4096
_DOUBLE = struct.Struct(">d")
_BITS = struct.Struct(">Q")


def rank_key(rank: float) -> bytes:
    """Return 8 bytes whose byte order is the order of ranks (as a sorted set's scores)."""
    bits = _BITS.unpack(_DOUBLE.pack(float(rank) + 0.0))[0]  # + 0.0: no -0.0
    return _BITS.pack(bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | 1 << 63)


def entry(fid: str, rank: float) -> bytes:
    """Return a film's entry in a posting."""
    raw, key = fid.encode(), rank_key(rank).rstrip(b"\0")
    return bytes((len(raw), len(key))) + key + raw


def bucket(tag: str) -> int:
    """Return the bucket that holds a tag's posting while it is small."""
    return zlib.crc32(tag.encode()) % BUCKETS


# Shared by both scripts: ARGV[1] is the prefix of posting keys ("<prefix>post:"), ARGV[2]
# that of buckets ("<prefix>postb:").
_LUA_COMMON = """
local P, B = ARGV[1], ARGV[2]
local function entries_of(blob, from, to)
  local out, pos = {}, from
  to = to or #blob
  while pos <= to do
    local stop = pos + 1 + string.byte(blob, pos + 1) + string.byte(blob, pos)
    out[#out + 1] = string.sub(blob, pos, stop)
    pos = stop + 1
  end
  return out
end
local function id_of(e)
  return string.sub(e, 3 + string.byte(e, 2))
end
local function chunks_of(blob)
  local out, pos = {}, 6
  while pos <= #blob do
    local n, len = struct.unpack('<I4B', blob, pos)
    out[#out + 1] = {n = n, first = string.sub(blob, pos + 5, pos + 4 + len)}
    pos = pos + 5 + len
  end
  return out
end
local function in_bucket(blob, tag)  -- where tag's record starts, its entries start and end
  local pos = 1
  while pos <= #blob do
    local len = string.byte(blob, pos)
    local size = struct.unpack('<H', blob, pos + 1 + len)
    if string.sub(blob, pos + 1, pos + len) == tag then
      return pos, pos + 3 + len, pos + 2 + len + size
    end
    pos = pos + 3 + len + size
  end
end
"""

# Return per tag the ids of its posting, best first, at most ARGV[3] (all if < 0): ARGV[4..]
# are pairs of a tag and its bucket.
READ = (
    _LUA_COMMON
    + """
local cap = tonumber(ARGV[3])
local function take(ids, list)  -- add list's ids from its end; whether ids is full
  for i = #list, 1, -1 do
    if cap >= 0 and #ids >= cap then return true end
    ids[#ids + 1] = id_of(list[i])
  end
  return cap >= 0 and #ids >= cap
end
local out = {}
for t = 4, #ARGV, 2 do
  local key = P .. ARGV[t]
  local blob = redis.pcall('GET', key)
  local ids = {}
  if type(blob) == 'table' then  -- an older posting, a sorted set
    ids = redis.call('ZREVRANGE', key, 0, cap < 0 and -1 or cap - 1)
  elseif not blob then
    local small = redis.call('GET', B .. ARGV[t + 1]) or ''
    local _, from, to = in_bucket(small, ARGV[t])
    if from then take(ids, entries_of(small, from, to)) end
  elseif string.sub(blob, 1, 1) == 'e' then
    take(ids, entries_of(blob, 2))
  else
    local chunks = chunks_of(blob)
    for i = #chunks, 1, -1 do
      if take(ids, entries_of(redis.call('GET', key .. ':' .. chunks[i].n), 1)) then break end
    end
  end
  out[#out + 1] = ids
end
return out
"""
)

# Apply changes to postings: ARGV[3] MAX_CHUNK, ARGV[4] SMALL, then per tag: the tag, its
# bucket, a count c and c changes, each "+" or "-" and an entry (add it, remove it), or "?"
# and an entry (remove it, else the film's entry whatever its rank, by a scan: for tags
# saved before ranks were kept, whose film's rank may have changed since).
WRITE = (
    _LUA_COMMON
    + """
local MAX, SMALL = tonumber(ARGV[3]), tonumber(ARGV[4])
local function before(a, b)  -- byte order, whatever collation the server has
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function key_of(e)  -- the rank key (8 bytes) and the id
  local len = string.byte(e, 2)
  return string.sub(e, 3, 2 + len) .. string.rep('\\0', 8 - len) .. string.sub(e, 3 + len)
end
local function entry_of(id, score)  -- postings.entry
  local bytes = {string.byte(struct.pack('>d', tonumber(score) + 0.0), 1, 8)}
  if bytes[1] >= 128 then
    for i = 1, 8 do bytes[i] = 255 - bytes[i] end
  else
    bytes[1] = bytes[1] + 128
  end
  local len = 8
  while len > 0 and bytes[len] == 0 do len = len - 1 end
  return string.char(#id, len) .. string.char(unpack(bytes, 1, len)) .. id
end
local function load(key, tag, bkey)
  local blob = redis.pcall('GET', key)
  if type(blob) == 'table' then  -- an older posting, a sorted set: convert it
    local flat, entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES'), {}
    for i = 1, #flat, 2 do entries[#entries + 1] = entry_of(flat[i], flat[i + 1]) end
    redis.call('DEL', key)
    return {next = 1, chunks = {{n = 0, entries = entries, dirty = true}}}
  end
  if not blob then
    local small = redis.call('GET', bkey) or ''
    local _, from, to = in_bucket(small, tag)
    local entries = from and entries_of(small, from, to) or {}
    return {next = 1, small = from ~= nil, chunks = {{n = 0, entries = entries}}}
  end
  if string.sub(blob, 1, 1) == 'e' then
    return {next = 1, own = true, chunks = {{n = 0, entries = entries_of(blob, 2)}}}
  end
  return {next = struct.unpack('<I4', blob, 2), own = true, chunks = chunks_of(blob)}
end
local function entries(key, chunk)
  if not chunk.entries then
    chunk.entries = entries_of(redis.call('GET', key .. ':' .. chunk.n), 1)
  end
  return chunk.entries
end
local function locate(chunks, k)  -- the last chunk whose first key is not after k, else 1
  local lo, hi = 1, #chunks
  while lo < hi do
    local mid = math.floor((lo + hi + 1) / 2)
    if before(k, chunks[mid].first) then hi = mid - 1 else lo = mid end
  end
  return chunks[lo]
end
local function lower(list, k)  -- the first position whose key is not before k
  local lo, hi = 1, #list + 1
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if before(key_of(list[mid]), k) then lo = mid + 1 else hi = mid end
  end
  return lo
end
local function purge(key, p, id)  -- remove a film's entry whatever its rank: a scan
  for _, chunk in ipairs(p.chunks) do
    local list = entries(key, chunk)
    for i = #list, 1, -1 do
      if id_of(list[i]) == id then table.remove(list, i); chunk.dirty = true end
    end
  end
end
local function change(key, p, op, e)
  local k = key_of(e)
  local chunk = locate(p.chunks, k)
  local list = entries(key, chunk)
  local at = lower(list, k)
  local found = list[at] and key_of(list[at]) == k
  if op == '+' and not found then
    table.insert(list, at, e)
    chunk.dirty = true
  elseif op ~= '+' and found then
    table.remove(list, at)
    chunk.dirty = true
  elseif op == '?' then
    purge(key, p, id_of(e))
  end
end
local function put_small(bkey, tag, entries)  -- tag's record in its bucket, or none if {}
  local blob = redis.call('GET', bkey) or ''
  local at, _, to = in_bucket(blob, tag)
  local record = ''
  if #entries > 0 then
    local bytes = table.concat(entries)
    record = string.char(#tag) .. tag .. struct.pack('<H', #bytes) .. bytes
  end
  if at then
    blob = string.sub(blob, 1, at - 1) .. record .. string.sub(blob, to + 1)
  else
    blob = blob .. record
  end
  if #blob > 0 then redis.call('SET', bkey, blob) else redis.call('DEL', bkey) end
end
local function save(key, tag, bkey, p)
  local chunks = {}
  for _, chunk in ipairs(p.chunks) do
    local list = chunk.entries
    if not chunk.dirty then
      chunks[#chunks + 1] = chunk
    elseif #list == 0 then
      if chunk.n > 0 then redis.call('DEL', key .. ':' .. chunk.n) end
    elseif #list <= MAX then
      chunks[#chunks + 1] = chunk
    else  -- split into halves of MAX / 2 entries
      local half = MAX / 2
      for from = 1, #list, half do
        local piece = {}
        for i = from, math.min(from + half - 1, #list) do piece[#piece + 1] = list[i] end
        chunks[#chunks + 1] = {n = from == 1 and chunk.n or 0, entries = piece, dirty = true}
      end
    end
  end
  local only = #chunks <= 1 and (chunks[1] or {n = 0, entries = {}, dirty = true})
  if only and only.entries and #only.entries <= SMALL and #tag < 256 then
    if only.dirty or p.own then
      put_small(bkey, tag, only.entries)
      if p.own then redis.call('DEL', key) end
      if only.n > 0 then redis.call('DEL', key .. ':' .. only.n) end
    end
    return
  end
  if p.small then put_small(bkey, tag, {}) end
  if only and only.entries and #only.entries <= MAX then
    if only.dirty or only.n > 0 or p.small then
      redis.call('SET', key, 'e' .. table.concat(only.entries))
      if only.n > 0 then redis.call('DEL', key .. ':' .. only.n) end
    end
    return
  end
  local dir = {}
  for _, chunk in ipairs(chunks) do
    if chunk.n == 0 then
      chunk.n, p.next = p.next, p.next + 1
    end
    if chunk.dirty then
      redis.call('SET', key .. ':' .. chunk.n, table.concat(chunk.entries))
      chunk.first = key_of(chunk.entries[1])
    end
    dir[#dir + 1] = struct.pack('<I4B', chunk.n, #chunk.first) .. chunk.first
  end
  redis.call('SET', key, 'd' .. struct.pack('<I4', p.next) .. table.concat(dir))
end
local i = 5
while i <= #ARGV do
  local tag, count = ARGV[i], tonumber(ARGV[i + 2])
  local key, bkey = P .. tag, B .. ARGV[i + 1]
  local p = load(key, tag, bkey)
  for j = i + 3, i + 2 + count do
    change(key, p, string.sub(ARGV[j], 1, 1), string.sub(ARGV[j], 2))
  end
  save(key, tag, bkey, p)
  i = i + 3 + count
end
return 1
"""
)
