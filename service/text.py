"""Fold text for search and make slugs for ids."""

import re
import unicodedata

_NON_SLUG = re.compile(r"[^a-z0-9]+")
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


def fold(text: str) -> str:
    """Return text lowercased and without accents, for case- and accent-insensitive search."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def slugify(text: str) -> str:
    """Return a film id made from a title ("Love 911 – Lebe und liebe" -> "love-911-lebe-und-liebe")."""
    slug = _NON_SLUG.sub("-", fold(text)).strip("-")[:64].strip("-")
    return slug or "film"
