"""Encode posting entries and keep postings in Redis strings: the one module that knows them.

A posting lists the films holding a tag in the order of a sorted set scored by the film's
prior (rank ascending, then id bytes ascending); readers take it from the end, best first,
as ZREVRANGE did. Strings keep it compact whatever the server's listpack settings:

    entry      B id length, 8 bytes rank key (big-endian, ordered as the rank), the id
    post:<tag> b"e" + its entries, while it has at most MAX_CHUNK of them; else
               b"d" + I4 next chunk number + per chunk (in order) I4 number, B key length
               and its first entry's key (rank key + id), with the entries in
               post:<tag>:<number>

A key is an entry without its length byte, so comparing keys byte by byte orders entries.
An older posting (a sorted set) still reads, and the first write converts it.
"""

import struct

MAX_CHUNK = 512
_DOUBLE = struct.Struct(">d")
_BITS = struct.Struct(">Q")


def rank_key(rank: float) -> bytes:
    """Return 8 bytes whose byte order is the order of ranks (as a sorted set's scores)."""
    bits = _BITS.unpack(_DOUBLE.pack(float(rank) + 0.0))[0]  # + 0.0: no -0.0
    return _BITS.pack(bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | 1 << 63)


def entry(fid: str, rank: float) -> bytes:
    """Return a film's entry in a posting."""
    raw = fid.encode()
    return bytes((len(raw),)) + rank_key(rank) + raw


# Shared by both scripts: ARGV[1] is the prefix of posting keys ("<prefix>post:").
_LUA_COMMON = """
local P = ARGV[1]
local function entries_of(blob, from)
  local out, pos, size = {}, from, #blob
  while pos <= size do
    local stop = pos + 8 + string.byte(blob, pos)
    out[#out + 1] = string.sub(blob, pos, stop)
    pos = stop + 1
  end
  return out
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
"""

# Return per tag ARGV[3..] the ids of its posting, best first, at most ARGV[2] (all if < 0).
READ = _LUA_COMMON + """
local cap = tonumber(ARGV[2])
local function take(ids, list)  -- add list's ids from its end; whether ids is full
  for i = #list, 1, -1 do
    if cap >= 0 and #ids >= cap then return true end
    ids[#ids + 1] = string.sub(list[i], 10)
  end
  return cap >= 0 and #ids >= cap
end
local out = {}
for t = 3, #ARGV do
  local key = P .. ARGV[t]
  local blob = redis.pcall('GET', key)
  local ids = {}
  if type(blob) == 'table' then  -- an older posting, a sorted set
    ids = redis.call('ZREVRANGE', key, 0, cap < 0 and -1 or cap - 1)
  elseif blob then
    if string.sub(blob, 1, 1) == 'e' then
      take(ids, entries_of(blob, 2))
    else
      local chunks = chunks_of(blob)
      for i = #chunks, 1, -1 do
        if take(ids, entries_of(redis.call('GET', key .. ':' .. chunks[i].n), 1)) then break end
      end
    end
  end
  out[#out + 1] = ids
end
return out
"""

# Apply changes to postings: ARGV[2] MAX_CHUNK, then per tag: the tag, a count c and c
# changes, each "+" or "-" and an entry (add it, remove it), or "?" and an entry (remove it,
# else the film's entry whatever its rank, by a scan: for tags saved before ranks were kept,
# whose film's rank may have changed since).
WRITE = _LUA_COMMON + """
local MAX = tonumber(ARGV[2])
local function before(a, b)  -- byte order, whatever collation the server has
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function rank_key(score)  -- postings.rank_key
  local bytes = {string.byte(struct.pack('>d', tonumber(score) + 0.0), 1, 8)}
  if bytes[1] >= 128 then
    for i = 1, 8 do bytes[i] = 255 - bytes[i] end
  else
    bytes[1] = bytes[1] + 128
  end
  return string.char(unpack(bytes))
end
local function load(key)
  local blob = redis.pcall('GET', key)
  if type(blob) == 'table' then  -- an older posting, a sorted set: convert it
    local flat, entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES'), {}
    for i = 1, #flat, 2 do
      entries[#entries + 1] = string.char(#flat[i]) .. rank_key(flat[i + 1]) .. flat[i]
    end
    redis.call('DEL', key)
    return {next = 1, chunks = {{n = 0, entries = entries, dirty = true}}}
  end
  if not blob then return {next = 1, chunks = {{n = 0, entries = {}, dirty = true}}} end
  if string.sub(blob, 1, 1) == 'e' then
    return {next = 1, chunks = {{n = 0, entries = entries_of(blob, 2)}}}
  end
  return {next = struct.unpack('<I4', blob, 2), chunks = chunks_of(blob)}
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
    if before(string.sub(list[mid], 2), k) then lo = mid + 1 else hi = mid end
  end
  return lo
end
local function purge(key, p, id)  -- remove a film's entry whatever its rank: a scan
  for _, chunk in ipairs(p.chunks) do
    local list = entries(key, chunk)
    for i = #list, 1, -1 do
      if string.sub(list[i], 10) == id then table.remove(list, i); chunk.dirty = true end
    end
  end
end
local function change(key, p, op, e)
  local k = string.sub(e, 2)
  local chunk = locate(p.chunks, k)
  local list = entries(key, chunk)
  local at = lower(list, k)
  local found = list[at] and string.sub(list[at], 2) == k
  if op == '+' and not found then
    table.insert(list, at, e)
    chunk.dirty = true
  elseif op ~= '+' and found then
    table.remove(list, at)
    chunk.dirty = true
  elseif op == '?' then
    purge(key, p, string.sub(e, 10))
  end
end
local function save(key, p)
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
  if #chunks == 0 then
    redis.call('DEL', key)
  elseif #chunks == 1 and chunks[1].entries and #chunks[1].entries <= MAX then
    local only = chunks[1]
    if only.dirty or only.n > 0 then
      redis.call('SET', key, 'e' .. table.concat(only.entries))
      if only.n > 0 then redis.call('DEL', key .. ':' .. only.n) end
    end
  else
    local dir = {}
    for _, chunk in ipairs(chunks) do
      if chunk.n == 0 then
        chunk.n, p.next = p.next, p.next + 1
      end
      if chunk.dirty then
        redis.call('SET', key .. ':' .. chunk.n, table.concat(chunk.entries))
        chunk.first = string.sub(chunk.entries[1], 2)
      end
      dir[#dir + 1] = struct.pack('<I4B', chunk.n, #chunk.first) .. chunk.first
    end
    redis.call('SET', key, 'd' .. struct.pack('<I4', p.next) .. table.concat(dir))
  end
end
local i = 3
while i <= #ARGV do
  local key, count = P .. ARGV[i], tonumber(ARGV[i + 1])
  local p = load(key)
  for j = i + 2, i + 1 + count do
    change(key, p, string.sub(ARGV[j], 1, 1), string.sub(ARGV[j], 2))
  end
  save(key, p)
  i = i + 2 + count
end
return 1
"""
