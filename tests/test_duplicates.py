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
    assert (
        len(reviews) == 1 and first.get_json()["id"] == again.get_json()["id"] == reviews[0]["id"]
    )
    page = client.get("/films/love-911").get_data(as_text=True)
    assert page.count("When Go Mi-soo misdiagnosed") == 1


def test_a_repeated_import_updates_in_place_and_changes_nothing_else(client, store):
    client.post("/api/v1/films", json={"id": "f", "title": "F"})
    body = "Ein  bewegender Film über eine Feuerwehrfrau, die wieder leben lernt."
    created = client.post(
        "/api/v1/films/f/reviews/import",
        json={"content": body, "source_url": "https://blog.example/f"},
    )
    assert created.status_code == 201
    rev = store.get_film("f")["rev"]
    same = client.post(
        "/api/v1/films/f/reviews/import",
        json={"content": body, "source_url": "https://blog.example/f"},
    )
    assert same.status_code == 200 and store.get_film("f")["rev"] == rev  # nothing written
    assert same.get_json()["job_id"] == created.get_json()["job_id"]
    # the same text re-saved (case, spacing, punctuation) and rated now: one review, updated
    resaved = client.post(
        "/api/v1/films/f/reviews/import",
        json={"content": body.upper().replace("  ", " ") + "!", "rating": 8},
    )
    assert resaved.status_code == 200 and resaved.get_json()["rating"] == 8
    # the same URL with an edited text: the post was edited, not a new review
    edited = client.post(
        "/api/v1/films/f/reviews/import",
        json={
            "content": "Ganz neu geschrieben: eine starke Feuerwehrfrau.",
            "source_url": "https://blog.example/f",
        },
    )
    assert edited.status_code == 200
    reviews = store.list_reviews("f")
    assert len(reviews) == 1 and reviews[0]["body"].startswith("Ganz neu")
    assert store.get_film("f")["rev"] == rev + 2
    other = client.post(
        "/api/v1/films/f/reviews/import",
        json={"content": "Eine ganz andere Kritik zu diesem Film, viel zu lang."},
    )
    assert other.status_code == 201 and len(store.list_reviews("f")) == 2


def test_bulk_import_updates_reviews_a_film_has(client, store):
    from service.importer import import_rows

    client.post("/api/v1/films", json={"id": "f", "title": "F"})
    client.post(
        "/api/v1/films/f/reviews",
        json={"body": "Schön, traurig und wahr.", "source_url": "https://blog.example/a"},
    )
    rows = [
        (
            1,
            {
                "film_id": "f",
                "body": "schön  traurig und wahr",
                "source_url": "https://blog.example/a",
            },
        ),
        (
            2,
            {
                "film_id": "f",
                "body": "Der Text, überarbeitet.",
                "source_url": "https://blog.example/a",
            },
        ),
        (3, {"film_id": "f", "body": "Ein neuer Text."}),
        (4, {"film_id": "f", "body": "EIN NEUER TEXT"}),
    ]
    report = import_rows(store, rows)
    assert (report.reviews, report.reviews_updated, report.reviews_unchanged) == (1, 3, 0)
    reviews = store.list_reviews("f")
    assert [r["body"] for r in reviews] == ["Der Text, überarbeitet.", "EIN NEUER TEXT"]
    again = import_rows(
        store,
        [
            (
                1,
                {
                    "film_id": "f",
                    "body": "Der Text, überarbeitet.",
                    "source_url": "https://blog.example/a",
                },
            )
        ],
    )
    assert (again.reviews, again.reviews_updated, again.reviews_unchanged) == (0, 0, 1)


def test_tmdb_import_fills_the_seed_films_instead_of_copying_them(seeded, tmdb_csv):
    from service.dedupe import duplicate_groups
    from service.importer import import_rows, read_tmdb_rows

    before = seeded.get_film("silver-linings-playbook")
    report = import_rows(seeded, read_tmdb_rows(tmdb_csv))
    assert report.matched >= 23, report.as_dict()
    assert not seeded.film_exists("tmdb-82693") and not seeded.film_exists("tmdb-14160")
    assert duplicate_groups(list(seeded.iter_films())) == []
    film = seeded.get_film("silver-linings-playbook")
    assert film["title"] == before["title"] and film["genres"] == before["genres"]
    assert film["synopsis"]["de"] == before["synopsis"]["de"]
    assert film["external_ids"]["tmdb"] == "82693" and film["popularity"] > 0  # a gap filled
    again = import_rows(seeded, read_tmdb_rows(tmdb_csv))
    assert (again.created, again.updated) == (0, 0)


def test_merge_duplicates_merges_films_and_repeated_reviews(client, store, runner):
    client.post(
        "/api/v1/films",
        json={
            "id": "up",
            "title": "Up",
            "year": 2009,
            "synopsis": {"de": "Carl fliegt mit seinem Haus davon."},
        },
    )
    client.post(
        "/api/v1/films",
        json={
            "id": "tmdb-14160",
            "title": "UP!",
            "year": 2009,
            "external_ids": {"tmdb": "14160"},
            "popularity": 92.2,
            "synopsis": {"en": "Carl flies his house away."},
        },
    )
    client.post("/api/v1/films", json={"id": "up-1990", "title": "Up", "year": 1990})
    for film_id, body in (("up", "Rührend."), ("tmdb-14160", "rührend"), ("tmdb-14160", "Bunt.")):
        client.post(f"/api/v1/films/{film_id}/reviews", json={"body": body})
    dry = runner("merge-duplicates", "--dry-run")
    assert "would merge tmdb-14160 into up" in dry.output and store.film_exists("tmdb-14160")
    result = runner("merge-duplicates")
    assert result.exit_code == 0, result.output
    assert "1 films merged, 2 reviews moved, 1 repeated reviews removed" in result.output
    assert not store.film_exists("tmdb-14160") and store.film_exists("up-1990")
    film = store.get_film("up")
    assert film["title"] == "Up" and film["external_ids"] == {"tmdb": "14160"}
    assert film["popularity"] == 92.2
    assert film["synopsis"] == {
        "de": "Carl fliegt mit seinem Haus davon.",
        "en": "Carl flies his house away.",
    }
    assert sorted(r["body"] for r in store.list_reviews("up")) == ["Bunt.", "Rührend."]
    again = runner("merge-duplicates")
    assert "0 films merged, 0 reviews moved, 0 repeated reviews removed" in again.output
