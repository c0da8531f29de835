"""Merge what was stored twice: one film under two ids, and one review twice in a film."""

from dataclasses import dataclass, field

from service.identity import Identities, fill_missing
from service.storage import NotFound, Store
from service.text import same_review


@dataclass
class MergeReport:
    films: list[tuple[str, str]] = field(default_factory=list)  # (kept, merged into it and deleted)
    reviews_moved: int = 0
    reviews_removed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.films or self.reviews_moved or self.reviews_removed)


def duplicate_groups(films: list[dict]) -> list[list[dict]]:
    """Return the groups of records of one film (identity.py's rule), oldest first in each;
    films is oldest first, so each group keeps the film that was there first."""
    known, groups = Identities([]), {}
    for film in films:
        match = known.find(film)
        if match is None:
            known.add(film)
            groups[film["id"]] = [film]
        else:
            groups[match["id"]].append(film)
    return [group for group in groups.values() if len(group) > 1]


def repeated_reviews(reviews: list[dict]) -> list[dict]:
    """Return the reviews that repeat an earlier one of the list (same source URL or body)."""
    kept, repeats = [], []
    for review in reviews:
        (repeats if any(same_review(review, k) for k in kept) else kept).append(review)
    return repeats


def merge_duplicates(store: Store, dry_run: bool = False) -> MergeReport:
    """Merge every group of films into its oldest (gaps filled, reviews moved, the others
    deleted), then drop repeated reviews of every film. Each step is one transaction, so a
    run cut short is finished by the next."""
    report = MergeReport()
    for keep, *others in duplicate_groups(list(store.iter_films())):
        for other in others:
            report.films.append((keep["id"], other["id"]))
            if dry_run:
                continue
            for review in store.list_reviews(other["id"]):
                store.move_review(review["id"], keep["id"])
                report.reviews_moved += 1
            changes = fill_missing(store.get_film(keep["id"]), other)
            if changes:
                store.update_film(keep["id"], changes)
            try:
                store.delete_film(other["id"])
            except NotFound:  # deleted meanwhile
                pass
    for film_id in store.film_ids():
        for review in repeated_reviews(store.list_reviews(film_id)):
            report.reviews_removed += 1
            if not dry_run:
                store.delete_review(review["id"])
    return report
