"""Which stored film a film record is: by id, then external ids, then normalised title + year."""

from collections.abc import Iterable

from service.text import match_key

EXTERNAL = ("tmdb", "imdb", "wikidata")


def identity_keys(film: dict) -> list[str]:
    """Return the keys two records of one film share: each external id, then each title
    (title, original title; case, accents and punctuation ignored) with the year."""
    keys = [f"{kind}:{value}" for kind, value in sorted((film.get("external_ids") or {}).items())]
    if film.get("year"):
        for title in (film.get("title"), film.get("original_title")):
            key = match_key(title or "")
            if key:
                keys.append(f"title:{key}:{film['year']}")
    return keys


def conflicting(a: dict, b: dict) -> bool:
    """Return whether two records name different external ids of one kind (two films)."""
    ea, eb = a.get("external_ids") or {}, b.get("external_ids") or {}
    return any(ea.get(kind) and eb.get(kind) and ea[kind] != eb[kind] for kind in EXTERNAL)


def fill_missing(stored: dict, record: dict) -> dict:
    """Return the changes that give a stored film what a record of it knows and it lacks:
    empty fields are filled, and the languages of synopsis and kinds of external_ids it lacks
    added; what the film has stays (an editor's title, plot or genres win over an import's)."""
    changes = {}
    for key, value in record.items():
        if key == "id" or value in (None, "", [], {}):
            continue
        have = stored.get(key)
        if isinstance(value, dict) and isinstance(have, dict):
            merged = {**value, **have}
            if merged != have:
                changes[key] = merged
        elif have in (None, "", [], {}):
            changes[key] = value
    return changes


class Identities:
    """The films of a store by identity key, to match imported records against (read once)."""

    def __init__(self, films: Iterable[dict]):
        self.by_key: dict[str, dict] = {}
        for film in films:
            self.add(film)

    def add(self, film: dict) -> None:
        for key in identity_keys(film):
            self.by_key.setdefault(key, film)

    def find(self, record: dict) -> dict | None:
        """Return the stored film this record is (a different id), or None."""
        for key in identity_keys(record):
            film = self.by_key.get(key)
            if (
                film is not None
                and film["id"] != record.get("id")
                and not conflicting(film, record)
            ):
                return film
        return None
