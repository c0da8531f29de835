"""Encode and decode a stored related-title list: the one module that knows its bytes.

A list is a header and its items, little-endian, with no name spelled out in it:

    header  B format (FORMAT), I4 film revision, d computed_at, I4 + I4 the tag dictionary
            it was written against (its length and mark), H item count
    item    B how many leading bytes of the id are the previous item's (0 for the first),
            B how many follow, those bytes of the id (UTF-8), I3 score in millionths,
            B the reasons' length in bytes, then per reason H: its share in 1/10,000 (14
            bits) and how many bytes its tag's number takes, less one (2 bits), and that
            number (1 to 3 bytes)

Ids are front-coded (a list's ids share a prefix such as `tmdb-` more often than not), and
a tag number takes the bytes it needs. Tag numbers come from the store's append-only tag
dictionary (Store.tag_numbers, never reused); a reader checks its copy of the dictionary
against the length and mark in the header before it names a tag (Store.tag_names). Items are
best first. The rebuild's kernel (service/core/kernel_pack.items_packed) writes the same item
bytes as encode_items; the Lua scripts of service/storage/scripts.py walk items with
LUA_ITEMS, whose layout this module's docstring gives. A list in memory is {"rev",
"computed_at", "items": [RelatedItem, ...]}. Format 1 (ids whole, every tag number in 3
bytes) reads as no list: `recs rebuild` writes the lists anew (docs/OPERATIONS.md).
"""

import struct
from typing import NamedTuple

FORMAT = 2
HEADER = struct.Struct("<BIdIIH")
DICTIONARY = struct.Struct("<II")
DICTIONARY_AT = 13  # where the header holds it (after format, revision, computed_at)
_SCORE = struct.Struct("<HBB")  # I3 score as H + B, then the reasons' length
_SHARE = struct.Struct("<H")
_MAX_SHARE = 1 << 14  # a share's units must fit in 14 bits
AGREEMENT_REASON = "like:*"  # a reason, not a tag (RelatedItem)


class RelatedItem(NamedTuple):
    """One film in another film's related list: the one shape of a list item, from the
    kernel's output to the stored bytes (encode_items, decode_items) to the API's answer.

    reasons are (tag, share of the score) pairs, biggest share first; a tag, or one of the
    ranking's own reasons: `plot:*` (the plot embeddings) or AGREEMENT_REASON (the film is
    like the query's best matches, service/core/kernel_consensus.py). A list stores the score
    in millionths and a share in 1/10,000 (RelatedItem.stored rounds so).
    """

    id: str
    score: float
    reasons: tuple[tuple[str, float], ...] = ()

    @classmethod
    def stored(cls, fid: str, score: float, reasons) -> "RelatedItem":
        """Return the item at the precision a list keeps: what decoding its bytes gives."""
        return cls(
            fid,
            round(float(score), 6),
            tuple((tag, round(float(share), 4)) for tag, share in reasons),
        )


def is_list(blob: bytes | None) -> bool:
    """Whether blob is a list in this format (an older format reads as no list)."""
    return bool(blob) and blob[0] == FORMAT


def _shared(a: bytes, b: bytes) -> int:
    """Return how many leading bytes a and b share (at most 255)."""
    n, top = 0, min(len(a), len(b), 255)
    while n < top and a[n] == b[n]:
        n += 1
    return n


def _reasons(reasons, numbers: dict[str, int]) -> bytes:
    out = bytearray()
    for tag, share in reasons:
        number, units = numbers[tag], round(share * 1e4)
        if not 0 <= units < _MAX_SHARE or not 0 <= number < 1 << 24:
            raise ValueError(f"a reason does not fit the list format: {tag!r} {share!r}")
        size = 1 if number < 1 << 8 else 2 if number < 1 << 16 else 3
        out += _SHARE.pack(units | (size - 1) << 14) + number.to_bytes(size, "little")
    return bytes(out)


def encode_items(items: list[RelatedItem], numbers: dict[str, int]) -> bytes:
    """Return items' bytes, best first; numbers maps each reason's tag to its number."""
    out, prev = [], b""
    for fid, score, reasons in items:
        raw = fid.encode()
        shared = _shared(prev, raw)
        micro = round(score * 1e6)
        tail = _reasons(reasons, numbers)
        out += [
            bytes((shared, len(raw) - shared)),
            raw[shared:],
            _SCORE.pack(micro & 0xFFFF, micro >> 16, len(tail)),
            tail,
        ]
        prev = raw
    return b"".join(out)


def header(rev: int, computed_at: float, count: int, dictionary: tuple[int, int]) -> bytes:
    """Return a list's header; dictionary is the tag dictionary's (length, mark), which
    must cover every tag number of the items."""
    return HEADER.pack(FORMAT, rev, computed_at, *dictionary, count)


def encode(lst: dict, numbers: dict[str, int], dictionary: tuple[int, int]) -> bytes:
    """Return a list's bytes from its in-memory form."""
    items = lst["items"]
    return header(lst["rev"], lst["computed_at"], len(items), dictionary) + encode_items(
        items, numbers
    )


def read_header(blob: bytes) -> tuple[int, float, int]:
    """Return (revision, computed_at, item count) of a list."""
    _, rev, computed_at, _, _, count = HEADER.unpack_from(blob)
    return rev, computed_at, count


def dictionary(blob: bytes) -> tuple[int, int]:
    """Return the (length, mark) of the tag dictionary a list was written against."""
    return DICTIONARY.unpack_from(blob, DICTIONARY_AT)


def entries(blob: bytes, count: int | None = None) -> list[tuple[bytes, int]]:
    """Return each item's id (UTF-8) and where its score starts (the first `count` items
    only, if given)."""
    out = []
    pos, end, prev = HEADER.size, len(blob), b""
    while pos < end and (count is None or len(out) < count):
        shared, size = blob[pos], blob[pos + 1]
        prev = prev[:shared] + blob[pos + 2 : pos + 2 + size]
        pos += 2 + size
        out.append((prev, pos))
        pos += 4 + blob[pos + 3]
    return out


def item_ids(blob: bytes) -> list[str]:
    """Return the ids of a list's items, best first."""
    return [raw.decode() for raw, _ in entries(blob)]


def decode_items(blob: bytes, found, names) -> list[RelatedItem]:
    """Return the items of entries `found` (entries() gave them); names maps a tag number to
    its tag (a list or a dict). An IndexError or KeyError means names lacks one."""
    out = []
    for raw, pos in found:
        reasons, at, stop = [], pos + 4, pos + 4 + blob[pos + 3]
        while at < stop:  # byte by byte: about twice as fast as struct here
            high = blob[at + 1]
            number = blob[at + 2]
            if high >= 64:  # the number takes 2 or 3 bytes
                number |= blob[at + 3] << 8
                if high >= 128:
                    number |= blob[at + 4] << 16
            reasons.append((names[number], (blob[at] | (high & 63) << 8) / 1e4))
            at += 3 + (high >> 6)
        score = blob[pos] | blob[pos + 1] << 8 | blob[pos + 2] << 16
        out.append(_new_item(RelatedItem, (raw.decode(), score / 1e6, tuple(reasons))))
    return out


_new_item = tuple.__new__  # RelatedItem(...) without its __new__'s call: decoding is hot


def decode(blob: bytes, names) -> dict:
    """Return a list's in-memory form."""
    rev, computed_at, _ = read_header(blob)
    return {
        "rev": rev,
        "computed_at": computed_at,
        "items": decode_items(blob, entries(blob), names),
    }


# Lua helpers the scripts of service/storage/scripts.py start with: LIST_DICTIONARY (where
# the header's dictionary starts), is_list(blob), list_rev(blob), ids_of(blob) (the listed
# ids), item_at(bytes, pos, previous id) ({id, score in millionths, the item's bytes from its
# score on} and where the next item starts), items(blob) (every item so) and
# items_bytes(items) (items so, front-coded again in their order).
LUA_ITEMS = f"""
local LIST_FORMAT = {FORMAT}
local LIST_HEADER = {HEADER.size}
local LIST_DICTIONARY = {DICTIONARY_AT + 1}
local function is_list(blob)
  return blob and string.byte(blob, 1) == LIST_FORMAT
end
local function list_rev(blob)
  return (struct.unpack('<I4', blob, 2))
end
local byte, sub = string.byte, string.sub
local function ids_of(blob)
  local out, n = {{}}, 0
  local pos, size, prev = LIST_HEADER + 1, #blob, ''
  while pos <= size do
    local shared, len = byte(blob, pos, pos + 1)
    local stop = pos + 1 + len
    if shared == 0 then
      prev = sub(blob, pos + 2, stop)
    else
      prev = sub(prev, 1, shared) .. sub(blob, pos + 2, stop)
    end
    n = n + 1
    out[n] = prev
    pos = stop + 5 + byte(blob, stop + 4)
  end
  return out
end
local function item_at(blob, pos, prev)
  local shared, len = string.byte(blob, pos, pos + 1)
  local at = pos + 2 + len
  local lo1, lo2, hi, n = string.byte(blob, at, at + 3)
  local stop = at + 4 + n
  return {{string.sub(prev, 1, shared) .. string.sub(blob, pos + 2, at - 1),
          lo1 + lo2 * 256 + hi * 65536, string.sub(blob, at, stop - 1)}}, stop
end
local function items(blob)
  local out = {{}}
  local pos, size, prev = LIST_HEADER + 1, #blob, ''
  while pos <= size do
    out[#out + 1], pos = item_at(blob, pos, prev)
    prev = out[#out][1]
  end
  return out
end
local function items_bytes(list)
  local parts, prev = {{}}, ''
  for j, it in ipairs(list) do
    local id, shared = it[1], 0
    local top = math.min(#prev, #id, 255)
    while shared < top and string.byte(prev, shared + 1) == string.byte(id, shared + 1) do
      shared = shared + 1
    end
    parts[j] = string.char(shared, #id - shared) .. string.sub(id, shared + 1) .. it[3]
    prev = id
  end
  return table.concat(parts)
end
"""
