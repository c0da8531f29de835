"""Bulk imports: `recs import jsonl|tmdb` and POST /api/v1/imports, on a real Redis and rq worker."""

import csv
import json

import pytest

GOOD_AND_BAD = [
    '{"id": "alpha", "title": "Alpha", "genres": ["Drama"], "reviews": [{"body": "Grand."}]}',
    '{"id": "broken", "title": ',
    '{"id": "beta", "title": "Beta", "year": "soon"}',
    '{"film_id": "nope", "body": "A review of no film."}',
    "",
    '{"film_id": "alpha", "body": "A second review.", "language": "en"}',
    "[1, 2]",
    '{"title": "Gamma Ray", "keywords": ["ray"]}',
]
SKIPPED = {2: "invalid JSON", 3: "year", 4: "no film with id 'nope'", 7: "not a JSON object"}


@pytest.fixture
def recs(runner):
    """Run `recs ...` against the test app's Redis, prefix and queue; return the result."""

    def run(*args):
        result = runner(*args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    return run


def queued_ids(app) -> list[str]:
    return app.extensions["recs"]["queue"].get_job_ids()


def auth(app) -> dict:
    keys = app.config.get("RECS_API_KEYS") or []
    keys = keys.split(",") if isinstance(keys, str) else keys
    return {"Authorization": f"Bearer {keys[0]}"} if keys else {}


def test_jsonl_reports_bad_rows_and_stores_good_ones(recs, store, tmp_path):
    path = tmp_path / "films.jsonl"
    path.write_text("\n".join(GOOD_AND_BAD) + "\n", encoding="utf-8")
    recs("import", "jsonl", str(path), "--report", str(tmp_path / "report.json"))
    report = json.loads((tmp_path / "report.json").read_text())
    assert [s["line"] for s in report["skipped"]] == sorted(SKIPPED)
    for skipped in report["skipped"]:
        assert SKIPPED[skipped["line"]] in skipped["reason"]
    assert (report["created"], report["reviews"]) == (2, 2)
    assert sorted(store.film_ids()) == ["alpha", "gamma-ray"]
    assert sorted(r["body"] for r in store.list_reviews("alpha")) == ["A second review.", "Grand."]


def test_importing_twice_updates_and_never_duplicates(recs, app, store, tmp_path):
    path = tmp_path / "films.jsonl"
    path.write_text("\n".join(GOOD_AND_BAD), encoding="utf-8")
    recs("import", "jsonl", str(path))
    rev = store.get_film("alpha")["rev"]
    again = recs("import", "jsonl", str(path), "--report", str(tmp_path / "again.json"))
    report = json.loads((tmp_path / "again.json").read_text())
    assert {
        k: report[k] for k in ("created", "updated", "unchanged", "reviews", "reviews_unchanged")
    } == {"created": 0, "updated": 0, "unchanged": 2, "reviews": 0, "reviews_unchanged": 2}
    assert report["rebuild_job"] is None and "Nothing changed" in again.output
    assert store.count_films() == 2 and len(store.list_reviews("alpha")) == 2
    assert store.get_film("alpha")["rev"] == rev
    assert len(queued_ids(app)) == 1  # only the first run's rebuild

    path.write_text(
        '{"id": "alpha", "title": "Alpha (restored)", "genres": ["Drama"]}\n', encoding="utf-8"
    )
    out = recs("import", "jsonl", str(path)).output
    assert "0 created, 1 updated" in out
    assert store.get_film("alpha")["title"] == "Alpha (restored)"
    assert store.get_film("alpha")["genres"] == ["Drama"] and store.count_films() == 2


def write_tmdb_csv(path):
    header = [
        "budget",
        "genres",
        "homepage",
        "id",
        "keywords",
        "original_language",
        "original_title",
        "overview",
        "popularity",
        "release_date",
        "revenue",
        "runtime",
        "tagline",
        "title",
        "vote_average",
        "vote_count",
    ]

    def row(tmdb_id, title, overview, genres=("Drama",), keywords=("grief",)):
        return {
            "budget": "0",
            "genres": json.dumps([{"id": 1, "name": g} for g in genres]),
            "homepage": "",
            "id": tmdb_id,
            "keywords": json.dumps([{"id": 2, "name": k} for k in keywords]),
            "original_language": "en",
            "original_title": title,
            "overview": overview,
            "popularity": "12.5",
            "release_date": "2001-05-04",
            "revenue": "0",
            "runtime": "101",
            "tagline": "Hold on, let go.",
            "title": title,
            "vote_average": "6.8",
            "vote_count": "420",
        }

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()  # line 1
        writer.writerow(row("101", "Ashes, Embers", "A widow, a fire,\nand a long\nsummer."))  # 2-4
        writer.writerow(row("oops", "Bad Id", "Never stored."))  # line 5
        writer.writerow(
            row("102", "Second Alarm", 'He said "no",\nthen yes.', keywords=("fire",))
        )  # 6-7
        writer.writerow(row("103", "Third", "Plain.", genres=("Comedy", "Drama")))  # line 8


def test_tmdb_csv_imports_with_tmdb_ids(recs, app, store, tmp_path):
    path = tmp_path / "movies.csv"
    write_tmdb_csv(path)
    recs("import", "tmdb", str(path), "--report", str(tmp_path / "report.json"))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["created"] == 3 and [s["line"] for s in report["skipped"]] == [5]
    assert sorted(store.film_ids()) == ["tmdb-101", "tmdb-102", "tmdb-103"]
    film = store.get_film("tmdb-101")
    assert film["synopsis"]["en"] == "A widow, a fire,\nand a long\nsummer."
    assert (film["year"], film["keywords"], film["external_ids"]) == (
        2001,
        ["grief"],
        {"tmdb": "101"},
    )
    assert store.get_film("tmdb-102")["synopsis"]["en"] == 'He said "no",\nthen yes.'


def test_import_queues_one_rebuild_and_no_refresh_jobs(recs, app, store, run_jobs, tmp_path):
    path = tmp_path / "movies.csv"
    write_tmdb_csv(path)
    recs("import", "tmdb", str(path))
    jobs = queued_ids(app)
    assert len(jobs) == 1 and jobs[0].startswith("rebuild-"), jobs
    assert store.dirty_ids() == []
    run_jobs()
    assert store.rebuild_progress(jobs[0])["phase"] == "done"
    _, lst, _, _ = store.read_list("tmdb-101")
    assert lst is not None and lst["rev"] == store.get_film("tmdb-101")["rev"]
    assert "tmdb-103" in [item[0] for item in lst["items"]]  # shares the genre


def test_rest_import_runs_as_a_job(app, client, store, run_jobs):
    body = "\n".join(GOOD_AND_BAD).encode()
    resp = client.post(
        "/api/v1/imports", data=body, headers=auth(app), content_type="application/x-ndjson"
    )
    assert resp.status_code == 202, resp.json
    job_id = resp.json["job_id"]
    assert resp.headers["Location"] == resp.json["status_url"] == f"/api/v1/jobs/{job_id}"
    assert client.get(f"/api/v1/jobs/{job_id}").json["state"] == "queued"
    assert store.count_films() == 0
    run_jobs()
    job = client.get(f"/api/v1/jobs/{job_id}").json
    assert (job["kind"], job["state"]) == ("import", "finished"), job
    assert job["progress"]["done"] == job["progress"]["rows"] == 7
    assert job["progress"]["rebuild"]["phase"] == "done"
    assert [s["line"] for s in job["result"]["skipped"]] == sorted(SKIPPED)
    assert sorted(store.film_ids()) == ["alpha", "gamma-ray"]
    assert client.get("/api/v1/films/gamma-ray").status_code == 200
    with pytest.raises(LookupError):
        store.get_upload(job_id)  # dropped once imported


def test_a_line_python_cannot_read_is_skipped_and_the_rest_imported(app, client, store, run_jobs):
    """A line nested 100,000 deep, or with a 5,000-digit integer, failed the whole job before."""
    lines = [
        '{"id": "first", "title": "First"}',
        "[" * 100_000 + "]" * 100_000,
        '{"id": "big", "title": "Big", "vote_count": ' + "9" * 5000 + "}",
        '{"id": "deep", "title": "Deep", "synopsis": {"de": '
        + "[" * 100_000
        + "]" * 100_000
        + "}}",
        '{"film_id": "first", "body": "Still here.", "rating": 7}',
        '{"id": "last", "title": "Last"}',
    ]
    resp = client.post(
        "/api/v1/imports",
        data="\n".join(lines).encode(),
        headers=auth(app),
        content_type="application/x-ndjson",
    )
    assert resp.status_code == 202, resp.json
    run_jobs()
    job = client.get(resp.json["status_url"]).json
    assert (job["state"], job["error"]) == ("finished", None), job
    assert job["result"]["skipped"] == [
        {"line": 2, "reason": "invalid JSON: nested too deeply"},
        {"line": 3, "reason": "invalid JSON: an integer of more than 4,300 digits"},
        {"line": 4, "reason": "invalid JSON: nested too deeply"},
    ]
    assert (job["result"]["created"], job["result"]["reviews"]) == (2, 1)
    assert sorted(store.film_ids()) == ["first", "last"]
    assert [r["body"] for r in store.list_reviews("first")] == ["Still here."]


@pytest.mark.parametrize(
    "content_type, body, status",
    [
        ("application/json", b'{"title": "X"}\n', 415),
        ("text/plain", b'{"title": "X"}\n', 415),
        ("application/jsonl", b"", 422),
        ("application/x-ndjson", b"\n  \n", 422),
        ("application/x-ndjson", b"\xff\xfe\x00", 422),
    ],
)
def test_rest_import_refuses_bad_bodies(app, client, content_type, body, status):
    resp = client.post("/api/v1/imports", data=body, headers=auth(app), content_type=content_type)
    assert resp.status_code == status and resp.is_json
    assert resp.json["code"] == status and resp.json["message"]
    assert app.extensions["recs"]["queue"].get_job_ids() == []


def test_rest_import_answers_413_beyond_the_body_limit(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    body = ('{"title": "%s"}\n' % ("x" * 200)) * 6
    resp = client.post(
        "/api/v1/imports", data=body, headers=auth(app), content_type="application/x-ndjson"
    )
    assert resp.status_code == 413 and resp.is_json and resp.json["message"]
    assert app.extensions["recs"]["queue"].get_job_ids() == []


def test_bulk_writes_match_single_film_writes(store):
    from service.importer import import_rows

    film = {
        "title": "Same",
        "original_title": "Pareil",
        "year": 1999,
        "genres": ["Drama", "War"],
        "popularity": 3.5,
        "vote_count": 70,
        "vote_average": 6.5,
        "original_language": "fr",
    }
    store.create_film({**film, "id": "one"})
    import_rows(store, [(1, {**film, "id": "two"})])
    assert store.get_cards(["one"])["one"] == store.get_cards(["two"])["two"]
    assert store.get_meta(["one"]) == store.get_meta(["two"])
    assert store.search_titles(["one", "two"], "pareil") == ["one", "two"]
    for key in ("votes", "popularity"):
        assert store.r.zscore(store.keys.join(key), "one") == store.r.zscore(
            store.keys.join(key), "two"
        )
    assert store.filter_film_ids("war", None) == ["one", "two"]
    # One batch: genres change twice for "two"; the last row wins, as if written one by one.
    report = import_rows(
        store,
        [
            (1, {**film, "id": "two", "genres": ["Drama", "Crime"]}),
            (2, {**film, "id": "two", "genres": ["Crime"]}),
        ],
    )
    assert (report.updated, store.get_film("two")["rev"]) == (2, 3)
    assert store.filter_film_ids("war", None) == ["one"] == store.filter_film_ids("drama", None)
    assert store.filter_film_ids("crime", None) == ["two"]


def test_catalog_maxima_follow_writes_and_deletes(store, monkeypatch):
    """The vote count and popularity maxima a refresh reads stay exact while the sorted sets
    keep only the top films: through raises, drops, deletes, and bulk writes."""
    import random

    from service import storage
    from service.importer import import_rows

    monkeypatch.setattr(storage.films, "TOP_KEEP", 2)  # where the film writes read it
    rng = random.Random(3)
    films = {}
    for step in range(120):
        fid = f"f{rng.randrange(30)}"
        if fid in films and rng.random() < 0.2:
            store.delete_film(fid)
            del films[fid]
        else:
            values = {
                "vote_count": rng.choice([None, 0, 5, 5, 80, rng.randrange(1000)]),
                "popularity": rng.choice([None, 0.0, 1.5, rng.random() * 100]),
            }
            if step % 3 == 0:
                import_rows(store, [(1, {"id": fid, "title": fid, **values})])
            elif fid in films:
                store.update_film(fid, values)
            else:
                store.create_film({"id": fid, "title": fid, **values})
            films[fid] = values
        stats = store.catalog_stats([])
        for field, top in (("vote_count", "max_votes"), ("popularity", "max_popularity")):
            assert stats[top] == max([v[field] or 0 for v in films.values()], default=0.0)
    assert store.r.zcard(store.keys.join("votes")) <= 2 * 2 + 5  # ties at the floor stay
