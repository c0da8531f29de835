"""Read the TMDB 5000 movies CSV into film dicts in the API's schema."""

import csv
import json
from collections.abc import Iterator
from pathlib import Path


class TmdbRowError(ValueError):
    """A CSV row that cannot be turned into a film; carries its line number."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line


def _names(raw: str) -> list[str]:
    return [item["name"] for item in json.loads(raw or "[]")]


def _float(raw: str) -> float | None:
    return float(raw) if raw not in ("", None) else None


def parse_row(row: dict) -> dict:
    """Return the film dict for one CSV row (raise ValueError/KeyError if malformed)."""
    tmdb_id = int(row["id"])
    release = (row.get("release_date") or "").strip()
    vote_count = _float(row.get("vote_count", ""))
    film = {
        "id": f"tmdb-{tmdb_id}",
        "title": row["title"],
        "original_title": row.get("original_title") or row["title"],
        "year": int(release[:4]) if release else None,
        "original_language": row.get("original_language") or None,
        "genres": _names(row.get("genres", "")),
        "keywords": _names(row.get("keywords", "")),
        "tagline": row.get("tagline") or "",
        "popularity": _float(row.get("popularity", "")),
        "vote_average": _float(row.get("vote_average", "")),
        "vote_count": int(vote_count) if vote_count is not None else None,
        "external_ids": {"tmdb": str(tmdb_id)},
    }
    overview = (row.get("overview") or "").strip()
    if overview:
        film["synopsis"] = {"en": overview}
    return film


def read_tmdb(path: str | Path, strict: bool = True) -> Iterator[tuple[int, dict | TmdbRowError]]:
    """Yield (line number, film) per CSV row; a bad row raises, or is yielded as TmdbRowError.

    The line number is the physical line where the record starts (header is line 1).
    With strict=False a malformed row yields (line, TmdbRowError) so the caller can report it.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:  # reads the header
            return
        start = reader.line_num + 1
        for row in reader:
            line = start
            start = reader.line_num + 1
            try:
                if None in row or any(v is None for v in row.values()):
                    raise ValueError("wrong number of fields")
                film = parse_row(row)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                err = TmdbRowError(line, f"{type(exc).__name__}: {exc}")
                if strict:
                    raise err from exc
                yield line, err
                continue
            yield line, film
