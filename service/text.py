"""Fold text for search, compare review bodies and make slugs for ids."""

import re
import unicodedata

_NON_SLUG = re.compile(r"[^a-z0-9]+")
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


def fold(text: str) -> str:
    """Return text lowercased and without accents, for case- and accent-insensitive search."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_NOT_WORD = re.compile(r"[\W_]+")


def match_key(text: str) -> str:
    """Return text reduced to its letters and digits: case, accents, spacing and punctuation
    dropped, so two imports of one review or title compare equal (Up, "UP!" and "Up" are one)."""
    return _NOT_WORD.sub("", fold(unicodedata.normalize("NFKC", text)))


def same_review(a: dict, b: dict) -> bool:
    """Return whether two reviews of a film are one: the same source URL or the same body."""
    if a.get("source_url") and a.get("source_url") == b.get("source_url"):
        return True
    return match_key(a.get("body") or "") == match_key(b.get("body") or "")


def slugify(text: str) -> str:
    """Return a film id made from a title ("Love 911 – Lebe und liebe" -> "love-911-lebe-und-liebe")."""
    slug = _NON_SLUG.sub("-", fold(text)).strip("-")[:64].strip("-")
    return slug or "film"
