"""Load films and reviews in bulk: validate each row with the API's schemas, upsert, report."""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from marshmallow import ValidationError

from service.films import FilmSchema
from service.reviews import ReviewSchema
from service.storage import NotFound, Store
from service.text import slugify


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    reviews: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "reviews": self.reviews,
                "skipped": [{"line": line, "reason": reason} for line, reason in self.skipped]}


def read_jsonl(lines: Iterable[str]) -> Iterator[tuple[int, dict | str]]:
    """Yield (line number, object), or (line number, error text) for a line that is not an object."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON: {exc.msg} at column {exc.colno}"
            continue
        yield number, row if isinstance(row, dict) else "not a JSON object"


def _reason(exc: ValidationError) -> str:
    return json.dumps(exc.messages, ensure_ascii=False, sort_keys=True)[:500]


def upsert_film(store: Store, data: dict) -> str:
    """Create the film or apply what changed; return created, updated or unchanged."""
    data.setdefault("id", slugify(data["title"]))
    try:
        old = store.get_film(data["id"])
    except NotFound:
        store.create_film(data)
        return "created"
    changes = {key: value for key, value in data.items() if old.get(key) != value}
    if not changes:
        return "unchanged"
    store.update_film(data["id"], changes)
    return "updated"


def add_review(store: Store, film_id: str, data: dict) -> bool:
    """Add a review unless the film already has one with the same body."""
    if any(r["body"] == data["body"] for r in store.list_reviews(film_id)):
        return False
    store.create_review(film_id, data)
    return True


def import_rows(store: Store, rows: Iterable[tuple[int, dict | str]], progress=None) -> ImportReport:
    """Import films (optionally with "reviews": [...]) or reviews (with "film_id")."""
    report = ImportReport()
    film_schema, review_schema = FilmSchema(), ReviewSchema()
    for number, row in rows:
        if progress is not None:
            progress.update(1)
        if isinstance(row, str):
            report.skipped.append((number, row))
            continue
        try:
            if "film_id" in row:
                film_id = row.pop("film_id")
                if not isinstance(film_id, str) or not store.film_exists(film_id):
                    raise NotFound(f"no film with id {film_id!r}")
                report.reviews += add_review(store, film_id, review_schema.load(row))
                continue
            reviews = [review_schema.load(r) for r in row.pop("reviews", None) or []]
            film = film_schema.load(row)
            outcome = upsert_film(store, film)
            setattr(report, outcome, getattr(report, outcome) + 1)
            report.reviews += sum(add_review(store, film["id"], r) for r in reviews)
        except ValidationError as exc:
            report.skipped.append((number, _reason(exc)))
        except (NotFound, TypeError, AttributeError) as exc:
            report.skipped.append((number, str(exc)))
    return report
