"""Build the preset dictionaries of the stored documents, and print what they save.

Usage: .venv/bin/python bench/zdicts.py [--write] [--tmdb]

The dictionaries (service/storage/documents.py) are the seed catalog's own documents: each
seed film's record, tags and vector as the store writes them (the seeds' reviews included),
concatenated in id order, the last 32 KB kept. They come from files of this repository only,
not from the films they are measured on. --write puts them in config/zdict/ (a dictionary
in use is never rewritten: give a changed one a new name and first byte). --tmdb prints the
mean stored size of the TMDB 5000 films' documents with zlib alone and with the dictionaries
(their tags extracted here, a few minutes).
"""

import argparse
import json
import statistics
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.storage import documents  # noqa: E402
from workers.jobs import tag_film  # noqa: E402

FIELDS_AT = 1765000000.123  # a timestamp's shape, for created_at and updated_at


def stored_docs(films: list[dict], reviews: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Return each film's record, tags document and vector, as the store writes them."""
    out = {"film": [], "tags": [], "vector": []}
    for n, film in enumerate(films):
        film = {**film, "created_at": FIELDS_AT + n, "updated_at": FIELDS_AT + n, "rev": 1}
        doc, vector, _ = tag_film(film, reviews.get(film["id"], []))
        out["film"].append(film)
        out["tags"].append({**doc, "rank": film.get("vote_count") or 0})
        out["vector"].append(vector)
    return out


def seed_docs() -> dict[str, list[dict]]:
    films = [json.loads(line) for line in open(ROOT / "seeds" / "films.jsonl")]
    reviews: dict[str, list[dict]] = {}
    for line in open(ROOT / "seeds" / "reviews.jsonl"):
        review = json.loads(line)
        reviews.setdefault(review["film_id"], []).append(review)
    films.sort(key=lambda f: f["id"])
    return stored_docs(films, reviews)


def build(docs: dict[str, list[dict]]) -> dict[str, bytes]:
    return {
        f"{kind}-1.bin": b"".join(documents._dumps(d) for d in docs[kind])[-documents._WINDOW :]
        for kind in ("film", "tags", "vector")
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="write config/zdict/*-1.bin")
    ap.add_argument("--tmdb", action="store_true", help="measure on the TMDB 5000 films")
    a = ap.parse_args()
    built = build(seed_docs())
    for name, data in built.items():
        path = documents._DICTIONARIES / name
        same = path.exists() and path.read_bytes() == data
        print(f"{name}: {len(data)} bytes, {'as stored' if same else 'differs from the file'}")
        if a.write and not same:
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
    if a.tmdb:
        from bench import _common as c

        docs = stored_docs(c.tmdb_films(), {})
        old = {kind: [len(zlib.compress(documents._dumps(d))) for d in docs[kind]] for kind in docs}
        film = [len(documents.pack_film(d)) for d in docs["film"]]
        both = [len(documents.pack_tags(t, v)) for t, v in zip(docs["tags"], docs["vector"])]
        print(f"TMDB films, mean bytes: film record {statistics.mean(old['film']):.0f} -> ", end="")
        print(
            f"{statistics.mean(film):.0f}; tags + vector {statistics.mean(old['tags']):.0f} + ",
            end="",
        )
        print(f"{statistics.mean(old['vector']):.0f} -> {statistics.mean(both):.0f} (one key)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
