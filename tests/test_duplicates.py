"""Imports are idempotent: the same review or film imported again updates, never adds a copy."""

from pathlib import Path

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
BLOG = (SEEDS / "raw" / "love-911-review-blog.en.txt").read_text(encoding="utf-8")


def test_the_seed_blog_review_imported_twice_is_one_review(client, seeded):
    assert len(seeded.list_reviews("love-911")) == 1  # the seed carries the post already
    first = client.post("/api/v1/films/love-911/reviews/import", json={"content": BLOG})
    again = client.post("/api/v1/films/love-911/reviews/import", json={"content": BLOG})
    assert (first.status_code, again.status_code) == (200, 200), first.get_json()
    reviews = seeded.list_reviews("love-911")
    assert len(reviews) == 1 and first.get_json()["id"] == again.get_json()["id"] == reviews[0]["id"]
    page = client.get("/films/love-911").get_data(as_text=True)
    assert page.count("When Go Mi-soo misdiagnosed") == 1


def test_a_repeated_import_updates_in_place_and_changes_nothing_else(client, store):
    client.post("/api/v1/films", json={"id": "f", "title": "F"})
    body = "Ein  bewegender Film über eine Feuerwehrfrau, die wieder leben lernt."
    created = client.post("/api/v1/films/f/reviews/import",
                          json={"content": body, "source_url": "https://blog.example/f"})
    assert created.status_code == 201
    rev = store.get_film("f")["rev"]
    same = client.post("/api/v1/films/f/reviews/import",
                       json={"content": body, "source_url": "https://blog.example/f"})
    assert same.status_code == 200 and store.get_film("f")["rev"] == rev  # nothing written
    assert same.get_json()["job_id"] == created.get_json()["job_id"]
    # the same text re-saved (case, spacing, punctuation) and rated now: one review, updated
    resaved = client.post("/api/v1/films/f/reviews/import",
                          json={"content": body.upper().replace("  ", " ") + "!", "rating": 8})
    assert resaved.status_code == 200 and resaved.get_json()["rating"] == 8
    # the same URL with an edited text: the post was edited, not a new review
    edited = client.post("/api/v1/films/f/reviews/import",
                         json={"content": "Ganz neu geschrieben: eine starke Feuerwehrfrau.",
                               "source_url": "https://blog.example/f"})
    assert edited.status_code == 200
    reviews = store.list_reviews("f")
    assert len(reviews) == 1 and reviews[0]["body"].startswith("Ganz neu")
    assert store.get_film("f")["rev"] == rev + 2
    other = client.post("/api/v1/films/f/reviews/import",
                        json={"content": "Eine ganz andere Kritik zu diesem Film, viel zu lang."})
    assert other.status_code == 201 and len(store.list_reviews("f")) == 2


def test_bulk_import_skips_reviews_a_film_has(client, store):
    from service.importer import import_rows

    client.post("/api/v1/films", json={"id": "f", "title": "F"})
    client.post("/api/v1/films/f/reviews", json={"body": "Schön, traurig und wahr.",
                                                 "source_url": "https://blog.example/a"})
    rows = [(1, {"film_id": "f", "body": "schön  traurig und wahr"}),
            (2, {"film_id": "f", "body": "Anderer Text", "source_url": "https://blog.example/a"}),
            (3, {"film_id": "f", "body": "Ein neuer Text."})]
    report = import_rows(store, rows)
    assert (report.reviews, report.reviews_unchanged) == (1, 2)
    assert len(store.list_reviews("f")) == 2
