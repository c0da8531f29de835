"""Encode and decode a stored related-title list: the one module that knows its bytes.

A list is a header and its items, little-endian, with no name spelled out in it:

    header  B format (FORMAT), I4 film revision, d computed_at, I4 + I4 the tag dictionary
            it was written against (its length and mark), H item count
    item    B id length, the id (UTF-8), I3 score in millionths, B reason count,
            per reason H share in 1/10,000, H + B tag number (low 16 bits, high 8 bits)

Tag numbers come from the store's append-only tag dictionary (Store.tag_numbers, never
reused); a reader checks its copy of the dictionary against the length and mark in the
header before it names a tag (Store.tag_names). Items are best first. The rebuild's kernel
(service/core/kernel_pack.items_packed) writes the same item bytes as encode_item; the Lua
scripts of service/storage/scripts.py walk items with LUA_ITEMS, whose layout numbers are
this module's. A list in memory is {"rev", "computed_at", "items": [RelatedItem, ...]}.
"""

import struct
from typing import NamedTuple

FORMAT = 1
HEADER = struct.Struct("<BIdIIH")
DICTIONARY = struct.Struct("<II")
DICTIONARY_AT = 13  # where the header holds it (after format, revision, computed_at)
_SCORE_AND_COUNT = struct.Struct("<HBB")  # I3 score as H + B, then the reason count
_REASON = struct.Struct("<HHB")
_REASONS = [struct.Struct("<" + "HHB" * n) for n in range(256)]
# an item is its id's length (B), the id, then _SCORE_AND_COUNT, then its reasons
_ITEM_FIXED = 1 + _SCORE_AND_COUNT.size


class RelatedItem(NamedTuple):
    """One film in another film's related list: the one shape of a list item, from the
    kernel's output to the stored bytes (encode_item, decode_items) to the API's answer.

    reasons are (tag, share of the score) pairs, biggest share first. A list stores the score
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


def encode_item(item: RelatedItem, numbers: dict[str, int]) -> bytes:
    """Return one item's bytes; numbers maps each reason's tag to its number."""
    fid, score, reasons = item
    raw = fid.encode()
    micro = round(score * 1e6)
    out = [
        bytes((len(raw),)),
        raw,
        _SCORE_AND_COUNT.pack(micro & 0xFFFF, micro >> 16, len(reasons)),
    ]
    flat = []
    for tag, share in reasons:
        number = numbers[tag]
        flat += (round(share * 1e4), number & 0xFFFF, number >> 16)
    out.append(_REASONS[len(reasons)].pack(*flat))
    return b"".join(out)


def header(rev: int, computed_at: float, count: int, dictionary: tuple[int, int]) -> bytes:
    """Return a list's header; dictionary is the tag dictionary's (length, mark), which
    must cover every tag number of the items."""
    return HEADER.pack(FORMAT, rev, computed_at, *dictionary, count)


def encode(lst: dict, numbers: dict[str, int], dictionary: tuple[int, int]) -> bytes:
    """Return a list's bytes from its in-memory form."""
    items = lst["items"]
    return header(lst["rev"], lst["computed_at"], len(items), dictionary) + b"".join(
        encode_item(item, numbers) for item in items
    )


def read_header(blob: bytes) -> tuple[int, float, int]:
    """Return (revision, computed_at, item count) of a list."""
    _, rev, computed_at, _, _, count = HEADER.unpack_from(blob)
    return rev, computed_at, count


def dictionary(blob: bytes) -> tuple[int, int]:
    """Return the (length, mark) of the tag dictionary a list was written against."""
    return DICTIONARY.unpack_from(blob, DICTIONARY_AT)


def offsets(blob: bytes, count: int | None = None) -> list[int]:
    """Return where each item of a list starts (the first `count` items only, if given)."""
    out = []
    pos, end = HEADER.size, len(blob)
    while pos < end and (count is None or len(out) < count):
        out.append(pos)
        pos += blob[pos] + _SCORE_AND_COUNT.size
        pos += 1 + blob[pos] * _REASON.size
    return out


def item_ids(blob: bytes) -> list[str]:
    """Return the ids of a list's items, best first."""
    return [blob[pos + 1 : pos + 1 + blob[pos]].decode() for pos in offsets(blob)]


def decode_items(blob: bytes, positions, names) -> list[RelatedItem]:
    """Return the items at positions; names maps a tag number to its tag (a list or a dict).
    An IndexError or KeyError means names lacks one."""
    out = []
    for pos in positions:
        end = pos + 1 + blob[pos]
        low, high, count = _SCORE_AND_COUNT.unpack_from(blob, end)
        first = end + _SCORE_AND_COUNT.size
        reasons = _REASON.iter_unpack(blob[first : first + _REASON.size * count])
        out.append(
            _new_item(
                RelatedItem,
                (
                    blob[pos + 1 : end].decode(),
                    (low | high << 16) / 1e6,
                    tuple([(names[lo | hi << 16], units / 1e4) for units, lo, hi in reasons]),
                ),
            )
        )
    return out


_new_item = tuple.__new__  # RelatedItem(...) without its __new__'s call: decoding is hot


def decode(blob: bytes, names) -> dict:
    """Return a list's in-memory form."""
    rev, computed_at, _ = read_header(blob)
    return {
        "rev": rev,
        "computed_at": computed_at,
        "items": decode_items(blob, offsets(blob), names),
    }


# Lua helpers the scripts of service/storage/scripts.py start with: LIST_DICTIONARY (where the
# header's dictionary starts), is_list(blob), list_rev(blob),
# ids_of(blob) (the listed ids), item_at(bytes, pos) ({id, score in millionths, the item's
# bytes} and where the next item starts) and items(blob) (every item so).
LUA_ITEMS = f"""
local LIST_FORMAT = {FORMAT}
local LIST_HEADER = {HEADER.size}
local LIST_DICTIONARY = {DICTIONARY_AT + 1}
local ITEM_FIXED = {_ITEM_FIXED}
local SCORE_AND_COUNT = {_SCORE_AND_COUNT.size}
local REASON = {_REASON.size}
local function is_list(blob)
  return blob and string.byte(blob, 1) == LIST_FORMAT
end
local function list_rev(blob)
  return (struct.unpack('<I4', blob, 2))
end
local function ids_of(blob)
  local out = {{}}
  local pos, size = LIST_HEADER + 1, #blob
  while pos <= size do
    local len = string.byte(blob, pos)
    out[#out + 1] = string.sub(blob, pos + 1, pos + len)
    pos = pos + len + ITEM_FIXED + string.byte(blob, pos + len + SCORE_AND_COUNT) * REASON
  end
  return out
end
local function item_at(blob, pos)
  local len = string.byte(blob, pos)
  local lo1, lo2, hi, n = string.byte(blob, pos + len + 1, pos + len + SCORE_AND_COUNT)
  local stop = pos + len + SCORE_AND_COUNT + n * REASON
  return {{string.sub(blob, pos + 1, pos + len), lo1 + lo2 * 256 + hi * 65536,
          string.sub(blob, pos, stop)}}, stop + 1
end
local function items(blob)
  local out = {{}}
  local pos, size = LIST_HEADER + 1, #blob
  while pos <= size do
    out[#out + 1], pos = item_at(blob, pos)
  end
  return out
end
"""
