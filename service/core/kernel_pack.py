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
    """Write each row's list items in the stored format (service/listcodec.py, encode_item).

    id_raw holds every id as UTF-8 at offsets raw_off; tag_number maps a tag column to its
    number in the tag dictionary. Row i's items end at buf[row_end[i]].
    """
    pos = 0
    for i in range(len(out_len)):
        for a in range(out_len[i]):
            j = out_rows[i, a]
            buf[pos] = raw_off[j + 1] - raw_off[j]
            pos = _put(buf, pos + 1, id_raw, raw_off[j], raw_off[j + 1])
            micro = out_micro[i, a]
            n = reason_len[i, a]
            buf[pos] = micro & 255
            buf[pos + 1] = (micro >> 8) & 255
            buf[pos + 2] = micro >> 16
            buf[pos + 3] = n
            pos += 4
            for r in range(n):
                units = reason_units[i, a, r]
                number = tag_number[reason_tags[i, a, r]]
                buf[pos] = units & 255
                buf[pos + 1] = units >> 8
                buf[pos + 2] = number & 255
                buf[pos + 3] = (number >> 8) & 255
                buf[pos + 4] = number >> 16
                pos += 5
        row_end[i] = pos
