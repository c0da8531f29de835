"""Load films and reviews in bulk: validate each row with the API's schemas, upsert in batches, report."""

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import ValidationError

from service.identity import Identities, fill_missing
from service.schemas import FilmSchema, ReviewSchema
from service.storage import NotFound, Store
from service.text import slugify

BATCH = 500  # films (or reviews) per transaction


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    reviews: int = 0
    reviews_unchanged: int = 0
    reviews_updated: int = 0  # a review the film had (same source URL or body), changed
    matched: int = 0  # records of a film stored under another id (external id, title + year)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.reviews or self.reviews_updated)

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "reviews": self.reviews,
            "reviews_updated": self.reviews_updated,
            "reviews_unchanged": self.reviews_unchanged,
            "matched": self.matched,
            "skipped": [{"line": line, "reason": reason} for line, reason in self.skipped],
        }


def read_jsonl(lines: Iterable[str]) -> Iterator[tuple[int, dict | str]]:
    """Yield (line number, object), or (line number, error text) for a line that is not an object."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.rstrip("\r\n"))  # error columns on this line, not the next
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON: {exc.msg} at column {exc.colno}"
            continue
        except RecursionError:  # one such line failed the whole import job before
            yield number, "invalid JSON: nested too deeply"
            continue
        except ValueError:  # int(str) refuses more than sys.get_int_max_str_digits() digits
            yield (
                number,
                f"invalid JSON: an integer of more than {sys.get_int_max_str_digits():,} digits",
            )
            continue
        yield number, row if isinstance(row, dict) else "not a JSON object"


def read_tmdb_rows(path: str | Path) -> Iterator[tuple[int, dict | str]]:
    """Yield (line number, film) per TMDB CSV record, or (line number, reason) for a malformed one."""
    from service.core.tmdb import read_tmdb

    for line, film in read_tmdb(path, strict=False):
        yield line, film if isinstance(film, dict) else str(film).split(": ", 1)[-1]


def count_rows(path: str | Path, kind: str) -> int:
    """Return the number of records in a JSONL or CSV file (for a progress bar)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        if kind == "tmdb":
            return max(0, sum(1 for _ in csv.reader(f)) - 1)
        return sum(1 for line in f if line.strip())


def _reason(exc: ValidationError) -> str:
    return json.dumps(exc.messages, ensure_ascii=False, sort_keys=True)[:500]


class _Batch:
    """Validated films and reviews waiting for their transaction."""

    def __init__(self, store: Store, report: ImportReport):
        self.store, self.report = store, report
        self.identities: Identities | None = None  # read on the first record with external ids
        self.films: list[dict] = []
        self.reviews: dict[str, list[tuple[int, dict]]] = {}

    def __len__(self) -> int:
        return len(self.films) + sum(map(len, self.reviews.values()))

    def has_film(self, film_id) -> bool:
        return isinstance(film_id, str) and (
            any(f["id"] == film_id for f in self.films) or self.store.film_exists(film_id)
        )

    def add_film(self, film: dict) -> str:
        """Queue a film record; return the id it is stored under.

        A record with external ids (a TMDB row) that another stored film matches, by external
        id and then by title + year (service/identity.py), fills that film's gaps instead of
        adding a second copy of it.
        """
        if film.get("external_ids"):
            if self.identities is None:
                self.identities = Identities(self.store.iter_films())
            match = self.identities.find(film)
            if match is not None:
                self.report.matched += 1
                changes = fill_missing(match, film)
                match.update(changes)
                film = {"id": match["id"], "title": match["title"], **changes}
            else:
                self.identities.add(film)
        self.films.append(film)
        return film["id"]

    def add_review(self, number: int, film_id: str, review: dict) -> None:
        self.reviews.setdefault(film_id, []).append((number, review))

    def flush(self) -> None:
        """Write the films, then the reviews (films first: reviews may belong to them)."""
        report = self.report
        for outcome in self.store.upsert_films(self.films):
            setattr(report, outcome, getattr(report, outcome) + 1)
        counts = self.store.add_reviews(
            {fid: [r for _, r in rows] for fid, rows in self.reviews.items()}
        )
        for fid, rows in self.reviews.items():
            if counts[fid] is None:
                report.skipped.extend((number, f"no film with id {fid!r}") for number, _ in rows)
            else:
                added, updated = counts[fid]
                report.reviews += added
                report.reviews_updated += updated
                report.reviews_unchanged += len(rows) - added - updated
        self.films, self.reviews = [], {}


def import_rows(
    store: Store, rows: Iterable[tuple[int, dict | str]], progress=None, batch_size: int = BATCH
) -> ImportReport:
    """Import films (optionally with "reviews": [...]) or reviews (with "film_id")."""
    report = ImportReport()
    batch = _Batch(store, report)
    film_schema, review_schema, reviews_schema = (
        FilmSchema(),
        ReviewSchema(),
        ReviewSchema(many=True),
    )
    for number, row in rows:
        if progress is not None:
            progress.update(1)
        if isinstance(row, str):
            report.skipped.append((number, row))
            continue
        try:
            if "film_id" in row:
                film_id = row.pop("film_id")
                review = review_schema.load(row)
                if not batch.has_film(film_id):
                    raise NotFound(f"no film with id {film_id!r}")
                batch.add_review(number, film_id, review)
            else:
                try:
                    reviews = reviews_schema.load(row.pop("reviews", None) or [])
                except ValidationError as exc:
                    raise ValidationError({"reviews": exc.messages}) from exc
                film = film_schema.load(row)
                film.setdefault("id", slugify(film["title"]))
                film_id = batch.add_film(film)
                for review in reviews:
                    batch.add_review(number, film_id, review)
        except ValidationError as exc:
            report.skipped.append((number, _reason(exc)))
        except NotFound as exc:
            report.skipped.append((number, str(exc)))
        if len(batch) >= batch_size:
            batch.flush()
    batch.flush()
    report.skipped.sort()
    return report


def queue_rebuild(store: Store, queue, report: ImportReport) -> str | None:
    """Queue one full rebuild if the import changed anything; return its job id."""
    from service.queue import enqueue_rebuild

    return enqueue_rebuild(store, queue) if report.changed else None
