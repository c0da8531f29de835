"""Excerpts stored by reference (pure).

A tag's excerpts quote sentences of the film's own synopses and reviews (service/core/tagging.py),
which the film record and the reviews hold already. The stored tags document keeps where each
quote stands instead of its text: `{"source", "words", "at": [text, start, end, cut, crc]}`,
`text` naming the film's text (`s:<language>` for a synopsis, `r:<review id>` for a review),
`[start, end)` the quote's characters in it, `cut` whether "…" stands before it (1), after it
(2) or both (3), and `crc` the CRC-32 of the quoted characters. At TMDB size that is about a
fifth of a film's tags key (docs/BENCHMARKS.md, "Redis memory per film").

Reading puts the text back from the film's texts as they are now. A quote whose characters
changed since (the film was edited and its tags are not extracted again yet) is left out,
never shown wrong; an excerpt stored with its text (one not found word for word, or stored by
an older version) reads as it is.
"""

import zlib

ELLIPSIS = "…"
BEFORE, AFTER = 1, 2


def _texts(film: dict, reviews: list[dict] | None) -> dict[str, str]:
    """Return the film's quotable texts by name: its synopses, and its reviews that have ids."""
    texts = {f"s:{lang}": text for lang, text in (film.get("synopsis") or {}).items() if text}
    for review in reviews or []:
        if review.get("id") and review.get("body"):
            texts[f"r:{review['id']}"] = review["body"]
    return texts


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _quote(texts: dict[str, str], ref: list) -> str | None:
    """Return the excerpt a reference names, None when that text no longer holds it."""
    name, start, end, cut, crc = ref
    text = texts.get(name)
    if text is None:
        return None
    quoted = text[start:end]
    if _crc(quoted) != crc:
        return None
    return (ELLIPSIS if cut & BEFORE else "") + quoted + (ELLIPSIS if cut & AFTER else "")


def _reference(texts: dict[str, str], source: str, quote: str) -> list | None:
    """Return where a quote stands in the film's texts of its source, None when nowhere."""
    cut = (BEFORE if quote.startswith(ELLIPSIS) else 0) | (AFTER if quote.endswith(ELLIPSIS) else 0)
    core = quote[1 if cut & BEFORE else 0 : len(quote) - (1 if cut & AFTER else 0)]
    prefix = "s:" if source == "synopsis" else "r:"
    for name, text in texts.items():
        start = text.find(core) if core and name.startswith(prefix) else -1
        if start >= 0:
            ref = [name, start, start + len(core), cut, _crc(core)]
            if _quote(texts, ref) == quote:
                return ref
    return None


def by_reference(tags: dict, film: dict, reviews: list[dict] | None = None) -> dict:
    """Return {tag: info} with each excerpt found word for word in the film's texts stored as
    a reference ("at") instead of its "text"."""
    texts = _texts(film, reviews)

    def stored(entry: dict) -> dict:
        ref = _reference(texts, entry.get("source", ""), entry.get("text", ""))
        if ref is None:
            return entry
        return {k: v for k, v in entry.items() if k != "text"} | {"at": ref}

    return _each_excerpt(tags, stored)


def needs_reviews(tags: dict) -> bool:
    """Whether some excerpt quotes a review by reference (reading it needs the reviews)."""
    return any(
        str(entry["at"][0]).startswith("r:")
        for info in tags.values()
        for entry in info.get("excerpts") or []
        if "at" in entry
    )


def resolved(tags: dict, film: dict, reviews: list[dict] | None = None) -> dict:
    """Return {tag: info} with each referenced excerpt's text put back; one whose quote the
    film's texts no longer hold is left out."""
    texts = _texts(film, reviews)

    def read(entry: dict) -> dict | None:
        if "at" not in entry:
            return entry
        text = _quote(texts, entry["at"])
        if text is None:
            return None
        return {k: v for k, v in entry.items() if k != "at"} | {"text": text}

    return _each_excerpt(tags, read)


def _each_excerpt(tags: dict, change) -> dict:
    """Return {tag: info} with each excerpt replaced by change(excerpt), left out where that
    is None."""
    out = {}
    for tag, info in tags.items():
        if "excerpts" not in info:
            out[tag] = info
            continue
        changed = (change(entry) for entry in info["excerpts"] or [])
        out[tag] = {**info, "excerpts": [entry for entry in changed if entry is not None]}
    return out
