"""The ranking kernel's output packed as list items (numba): the bytes workers/rebuild.py
stores, in service/listcodec.py's format."""

from numba import njit


@njit(cache=True)
def _put(buf, pos, src, lo, hi) -> int:
    for x in range(lo, hi):
        buf[pos] = src[x]
        pos += 1
    return pos


@njit(cache=True)
def items_packed(
    out_rows,
    out_micro,
    out_len,
    reason_tags,
    reason_units,
    reason_len,
    id_raw,
    raw_off,
    tag_number,
    buf,
    row_end,
) -> None:
    """Write each row's list items in the stored format (service/listcodec.py, encode_items).

    id_raw holds every id as UTF-8 at offsets raw_off; tag_number maps a tag column to its
    number in the tag dictionary. Row i's items end at buf[row_end[i]].
    """
    pos = 0
    for i in range(len(out_len)):
        prev = -1
        for a in range(out_len[i]):
            j = out_rows[i, a]
            lo, hi = raw_off[j], raw_off[j + 1]
            shared = 0
            if prev >= 0:  # front coding: the leading bytes the previous id has too
                p_lo = raw_off[prev]
                top = min(raw_off[prev + 1] - p_lo, hi - lo, 255)
                while shared < top and id_raw[p_lo + shared] == id_raw[lo + shared]:
                    shared += 1
            prev = j
            buf[pos] = shared
            buf[pos + 1] = hi - lo - shared
            pos = _put(buf, pos + 2, id_raw, lo + shared, hi)
            micro = out_micro[i, a]
            buf[pos] = micro & 255
            buf[pos + 1] = (micro >> 8) & 255
            buf[pos + 2] = micro >> 16
            size_at = pos + 3
            pos += 4
            start = pos
            for r in range(reason_len[i, a]):
                units = reason_units[i, a, r]
                number = tag_number[reason_tags[i, a, r]]
                width = 1 if number < 256 else (2 if number < 65536 else 3)
                word = units | ((width - 1) << 14)
                buf[pos] = word & 255
                buf[pos + 1] = word >> 8
                for b in range(width):
                    buf[pos + 2 + b] = (number >> (8 * b)) & 255
                pos += 2 + width
            buf[size_at] = pos - start
        row_end[i] = pos
