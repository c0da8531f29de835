"""Films over REST: create, read, list, change, delete, and errors with one JSON shape."""

import pytest

FIREFIGHTER = {
    "title": "Feuer und Flamme",
    "year": 2019,
    "genres": ["Romance", "Drama"],
    "keywords": ["firefighter"],
    "synopsis": {"de": "Eine Feuerwehrfrau verliebt sich."},
}


def test_create_makes_slug_and_queues_job(client):
    resp = client.post("/api/v1/films", json={"title": "Love 911 – Lebe und liebe", "year": 2012})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["id"] == "love-911-lebe-und-liebe"
    assert body["job_id"].startswith("refresh-love-911-lebe-und-liebe")
    assert resp.headers["Location"] == "/api/v1/films/love-911-lebe-und-liebe"
    assert client.get("/api/v1/films/love-911-lebe-und-liebe").get_json()["year"] == 2012


def test_ids_made_from_titles_do_not_collide(client):
    ids = [
        client.post("/api/v1/films", json={"title": "Ghost", "year": 1990}).get_json()["id"]
        for _ in range(3)
    ]
    assert ids == ["ghost", "ghost-1990", "ghost-2"]


def test_duplicate_id_is_409(client):
    assert client.post("/api/v1/films", json={"id": "x1", "title": "A"}).status_code == 201
    resp = client.post("/api/v1/films", json={"id": "x1", "title": "B"})
    assert resp.status_code == 409
    assert resp.get_json()["message"]
    assert client.get("/api/v1/films/x1").get_json()["title"] == "A"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"year": 2000}, "title"),
        ({"title": "A", "year": "soon"}, "year"),
        ({"title": "A", "id": "Bad Id!"}, "id"),
        ({"title": "A", "id": "a:b*"}, "id"),
        ({"title": "A", "genres": "Drama"}, "genres"),
        ({"title": "A", "unknown": 1}, "unknown"),
        ({"title": "A\x00"}, "title"),
        ({"title": "A", "synopsis": {"german": "x"}}, "synopsis"),
        ({"title": "A", "pinned_tags": ["grief"], "blocked_tags": ["grief"]}, "blocked_tags"),
    ],
)
def test_invalid_fields_are_422_with_messages(client, store, body, field):
    resp = client.post("/api/v1/films", json=body)
    assert resp.status_code == 422
    assert field in resp.get_json()["errors"]["json"]
    assert store.count_films() == 0


def test_malformed_json_is_400_json(client, store):
    resp = client.post("/api/v1/films", data="{not json", content_type="application/json")
    assert resp.status_code == 400
    assert resp.is_json and resp.get_json()["message"]
    assert store.count_films() == 0


def test_oversized_body_is_413_json(client, store):
    resp = client.post("/api/v1/films", json={"title": "A", "synopsis": {"de": "x" * 2_000_000}})
    assert resp.status_code == 413
    assert resp.is_json
    assert store.count_films() == 0


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/films/nope"),
        ("patch", "/api/v1/films/nope"),
        ("delete", "/api/v1/films/nope"),
        ("get", "/api/v1/films/nope/reviews"),
        ("post", "/api/v1/films/nope/reviews"),
        ("get", "/api/v1/films/nope/tags"),
        ("get", "/api/v1/films/nope/recommendations"),
        ("get", "/api/v1/reviews/nope"),
        ("get", "/api/v1/jobs/nope"),
        ("get", "/films/nope"),
    ],
)
def test_unknown_ids_are_404(client, method, path):
    body = {"body": "x"} if path.endswith("reviews") else {"title": "x"}
    kwargs = {"json": body} if method in ("patch", "post") else {}
    resp = getattr(client, method)(path, **kwargs)
    assert resp.status_code == 404


def test_patch_changes_fields_and_bumps_rev(client):
    client.post("/api/v1/films", json={"id": "f", "title": "Old"})
    resp = client.patch("/api/v1/films/f", json={"title": "New", "year": 2001})
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["title"], body["year"], body["rev"]) == ("New", 2001, 2)
    assert client.patch("/api/v1/films/f", json={"id": "g"}).status_code == 422


def test_writes_coalesce_into_one_pending_job(client):
    first = client.post("/api/v1/films", json={"id": "f", "title": "A"}).get_json()["job_id"]
    second = client.patch("/api/v1/films/f", json={"year": 1999}).get_json()["job_id"]
    third = client.post("/api/v1/films/f/reviews", json={"body": "Gut."}).get_json()["job_id"]
    assert first == second == third


def test_list_is_paged_and_filtered(client):
    for i, (title, year, genre) in enumerate(
        [("Café Müller", 1990, "Drama"), ("Cafe Society", 2016, "Comedy"), ("Heat", 1995, "Crime")]
    ):
        client.post(
            "/api/v1/films", json={"id": f"f{i}", "title": title, "year": year, "genres": [genre]}
        )
    body = client.get("/api/v1/films?page_size=2").get_json()
    assert (body["total_results"], body["total_pages"], len(body["results"])) == (3, 2, 2)
    assert [f["id"] for f in client.get("/api/v1/films?q=CAFE").get_json()["results"]] == [
        "f0",
        "f1",
    ]
    assert [f["id"] for f in client.get("/api/v1/films?genre=drama").get_json()["results"]] == [
        "f0"
    ]
    body = client.get("/api/v1/films?year_from=1991&year_to=2000").get_json()
    assert [f["id"] for f in body["results"]] == ["f2"]
    assert client.get("/api/v1/films?page_size=101").status_code == 422


def test_delete_removes_film_and_reviews(client, store):
    client.post("/api/v1/films", json={"id": "f", "title": "A"})
    rid = client.post("/api/v1/films/f/reviews", json={"body": "Schön."}).get_json()["id"]
    resp = client.delete("/api/v1/films/f")
    assert resp.status_code == 200 and resp.get_json()["deleted"] is True
    assert client.get("/api/v1/films/f").status_code == 404
    assert client.get(f"/api/v1/reviews/{rid}").status_code == 404
    assert store.count_films() == 0


def test_reviews_crud(client):
    client.post("/api/v1/films", json={"id": "f", "title": "A"})
    resp = client.post(
        "/api/v1/films/f/reviews",
        json={
            "author": "kim",
            "language": "en",
            "rating": 8,
            "body": "A fine film.",
            "published_at": "2024-01-02T00:00:00",
        },
    )
    assert resp.status_code == 201
    rid = resp.get_json()["id"]
    assert (
        client.post("/api/v1/films/f/reviews", json={"body": "x", "rating": 11}).status_code == 422
    )
    assert client.patch(f"/api/v1/reviews/{rid}", json={"rating": 9}).get_json()["rating"] == 9
    listing = client.get("/api/v1/films/f/reviews").get_json()
    assert listing["total_results"] == 1 and listing["results"][0]["author"] == "kim"
    assert client.delete(f"/api/v1/reviews/{rid}").status_code == 200
    assert client.get("/api/v1/films/f/reviews").get_json()["total_results"] == 0
    assert client.get("/api/v1/films/f").get_json()["rev"] == 4


def test_openapi_and_health(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/films/{film_id}/recommendations" in spec["paths"]
    assert client.get("/healthz").get_json() == {"status": "ok"}
    resp = client.get("/readyz")  # no worker on this test's queue
    assert resp.status_code == 503 and "worker" in resp.get_json()["message"]


def test_review_import_from_saved_blog_text(client):
    from pathlib import Path

    raw = (
        Path(__file__).resolve().parent.parent / "seeds/raw/love-911-review-blog.en.txt"
    ).read_text()
    client.post("/api/v1/films", json={"id": "love-911", "title": "Love 911"})
    resp = client.post("/api/v1/films/love-911/reviews/import", json={"content": raw, "rating": 8})
    assert resp.status_code == 201, resp.get_json()
    review = resp.get_json()
    assert (review["author"], review["language"], review["rating"]) == ("jediprincess", "en", 8)
    assert review["title"] == "Love 911 Quick KMovie Recap"
    assert review["body"].startswith("When Go Mi-soo misdiagnosed a patient")
    assert review["body"].endswith("-jediprincess")
    for boilerplate in ("Leave a Reply", "WordPress.com", "Akismet", "Log Out", "korean_movie-2"):
        assert boilerplate not in review["body"]
    assert review["job_id"]


def test_review_import_from_html_drops_navigation_and_comments(client):
    client.post("/api/v1/films", json={"id": "f", "title": "F"})
    prose = " ".join(
        [
            "Der Film erzählt von einer Feuerwehrfrau, die nach dem Tod ihres Mannes"
            " wieder lernen muss, was es heißt zu leben, und das ist sehr bewegend."
        ]
        * 3
    )
    page = (
        f"<html><head><title>Kritik: F</title></head><body><nav><a href='/'>Start</a> <a href='/a'>Archiv</a></nav>"
        f"<article><h1>Kritik: F</h1><p>{prose}</p><p>{prose}</p></article>"
        "<div id='comments' class='comments-area'><h3>Schreibe einen Kommentar</h3>"
        "<form><p>Du kommentierst mit deinem WordPress.com-Konto.</p></form></div></body></html>"
    )
    review = client.post("/api/v1/films/f/reviews/import", json={"content": page}).get_json()
    assert review["language"] == "de" and review["title"] == "Kritik: F"
    assert "Feuerwehrfrau" in review["body"]
    assert "Archiv" not in review["body"] and "WordPress" not in review["body"]


def test_review_import_with_nothing_to_keep_is_422(client, store):
    client.post("/api/v1/films", json={"id": "f", "title": "F"})
    resp = client.post(
        "/api/v1/films/f/reviews/import", json={"content": "Leave a Reply\n\nLog Out"}
    )
    assert resp.status_code == 422 and resp.get_json()["message"]
    assert store.list_reviews("f") == []
    assert (
        client.post("/api/v1/films/nope/reviews/import", json={"content": "x"}).status_code == 404
    )


@pytest.mark.parametrize("action", ["patch", "delete"])
def test_review_write_racing_a_film_change_loses_nothing(client, store, monkeypatch, action):
    client.post("/api/v1/films", json={"id": "f", "title": "Old"})
    rid = client.post("/api/v1/films/f/reviews", json={"body": "Gut."}).get_json()["id"]
    real_get_film, raced = store.get_film, []
    original_loads = __import__("service.storage.base", fromlist=["_loads"])._loads

    def loads_then_race(raw):  # a film PATCH lands between the review write's read and its MULTI
        value = original_loads(raw)
        if isinstance(value, dict) and value.get("id") == "f" and not raced:
            raced.append(True)
            store.update_film("f", {"title": "New"})
        return value

    monkeypatch.setattr("service.storage.base._loads", loads_then_race)  # under _unpack
    if action == "patch":
        assert client.patch(f"/api/v1/reviews/{rid}", json={"rating": 5}).status_code == 200
    else:
        assert client.delete(f"/api/v1/reviews/{rid}").status_code == 200
    monkeypatch.undo()
    film = real_get_film("f")
    assert raced and film["title"] == "New" and film["rev"] == 4
