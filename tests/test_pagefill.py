"""The seed's plain-text page format: parsing, rendering, `recs fill-page` and POST /api/v1/pages/fill."""

import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.pagefill import FilmPage, PageFormatError, parse_page, render_page, title_key
from tests.conftest import API_KEY
from tests.helpers import fetch, free_port, start_gunicorn

SEED_PAGE = Path(__file__).resolve().parent.parent / "seeds" / "raw" / "love-911-film-page.de.txt"
RECS = Path(sys.executable).with_name("recs")
REVIEW = {
    "author": "jediprincess",
    "title": "Recap",
    "body": "Gut.\n\nSehr gut.\n",
    "rating": 7.5,
    "published_at": "2013-02-01T10:00:00+00:00",
    "created_at": 1700000000.0,
}
RELATED = [
    {
        "id": "a",
        "title": "Backdraft",
        "year": 1991,
        "score": 0.4,
        "reasons": [
            {"tag": "firefighter", "label": "Feuerwehr"},
            {"tag": "kw:grief", "label": "grief"},
            {"tag": "grief", "label": "Trauer"},
        ],
    },
    {"id": "b", "title": "Ohne Jahr", "year": None, "score": 0.2, "reasons": []},
]


# -- parsing ------------------------------------------------------------------


def test_parse_the_seed_page():
    text = SEED_PAGE.read_text(encoding="utf-8")
    page = parse_page(text)
    assert page.title == "Love 911 – Lebe und liebe" and page.lang == "de"
    assert page.plot.startswith("Im emotionalen Drama") and page.plot.endswith("Geistes ringen.")
    assert text.startswith(page.head) and page.head.endswith("\nKritiken\n")
    assert page.recs_heading == "Empfehlungen"


def test_parse_english_headings_with_colons_crlf_and_bom():
    page = parse_page(
        "\ufeff\r\n  Heat  \r\n\r\nPlot:\r\nA thief.\r\nSecond line.\r\nREVIEWS\r\nold review\r\n"
        "Recommendations\r\nold list\r\n"
    )
    assert (page.title, page.lang, page.plot) == ("Heat", "en", "A thief.\nSecond line.")
    assert page.recs_heading == "Recommendations"


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("", {"title"}),
        ("Titel\nHandlung\nText\n", {"reviews", "recs"}),
        ("Titel\nHandlung\nText\nEmpfehlungen\nKritiken\n", {"recs"}),  # out of order
        ("Titel\nText ohne Überschriften\n", {"plot", "reviews", "recs"}),
        ("Handlung\nText\nKritiken\nEmpfehlungen\n", {"title"}),  # no title line
    ],
)
def test_text_not_in_the_layout_is_refused(text, missing):
    with pytest.raises(PageFormatError) as caught:
        parse_page(text)
    assert set(caught.value.errors) == missing


def test_too_long_parts_are_refused():
    with pytest.raises(PageFormatError) as caught:
        parse_page("T" * 301 + "\nHandlung\n" + "x" * 20_001 + "\nKritiken\nEmpfehlungen\n")
    assert set(caught.value.errors) == {"title", "plot"}
    with pytest.raises(PageFormatError):
        parse_page("T\nHandlung\n" + "x" * 200_001)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Love 911 – Lebe und liebe", "LOVE 911 - lebe und Liebe"),
        ("Le Fabuleux Destin d'Amélie Poulain", "le fabuleux destin d amelie poulain"),
    ],
)
def test_titles_match_ignoring_case_accents_and_punctuation(a, b):
    assert title_key(a) == title_key(b)


# -- rendering ----------------------------------------------------------------


def test_render_fills_both_sections_and_keeps_the_rest():
    text = SEED_PAGE.read_text(encoding="utf-8")
    out = render_page(parse_page(text), [REVIEW], RELATED, "fresh")
    head, _, rest = out.partition("\nKritiken\n")
    assert text.startswith(head + "\nKritiken\n")
    reviews, _, recs = rest.partition("\nEmpfehlungen\n")
    assert reviews.startswith("„Recap“ von jediprincess · 7,5/10 · 01.02.2013\nGut.\n\nSehr gut.\n")
    assert recs.splitlines() == ["- Backdraft (1991) – Feuerwehr, Trauer", "- Ohne Jahr"]
    again = parse_page(out)
    assert (again.title, again.plot) == (parse_page(text).title, parse_page(text).plot)


def test_render_english_and_empty_and_pending():
    page = FilmPage(
        title="X", plot="", lang="en", head="X\nPlot\nReviews\n", recs_heading="Recommendations"
    )
    review = {"body": "Fine.", "created_at": 1700000000.0}
    assert render_page(page, [review], [], "fresh") == (
        "X\nPlot\nReviews\nAnonymous · added here 2023-11-14\nFine.\n\nRecommendations\nNo recommendations yet.\n"
    )
    pending = render_page(page, [], [], "pending")
    assert pending.endswith(
        "Reviews\nNo reviews yet.\nRecommendations\nRecommendations are being computed.\n"
    )
    stale = render_page(page, [], RELATED[:1], "stale")
    assert stale.endswith(
        "Recommendations are being updated.\n- Backdraft (1991) – Feuerwehr, Trauer, grief\n"
    )


# -- REST -----------------------------------------------------------------------


def fill(client, text, **query):
    return client.post(
        "/api/v1/pages/fill",
        query_string=query,
        data=text.encode("utf-8"),
        content_type="text/plain; charset=utf-8",
    )


def test_rest_fills_the_seed_page(client, seeded):
    resp = fill(client, SEED_PAGE.read_text(encoding="utf-8"))
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    assert resp.headers["X-Film-Id"] == "love-911" and resp.headers["X-Recs-Status"] == "fresh"
    text = resp.get_data(as_text=True)
    reviews, _, recs = text.partition("\nKritiken\n")[2].partition("\nEmpfehlungen\n")
    assert "„Love 911 Quick KMovie Recap“ von jediprincess" in reviews
    lines = recs.splitlines()
    assert len(lines) == 10 and all(line.startswith("- ") for line in lines)
    assert any(" – " in line and "(" in line for line in lines), "title (year) – reasons"


def test_rest_creates_an_unknown_film_then_fills_it(client, seeded, run_jobs):
    page = "Brennende Herzen\n\nHandlung\nEin verwitweter Feuerwehrmann trauert und verliebt sich in eine Ärztin.\nKritiken\nEmpfehlungen\n"
    resp = fill(client, page, wait=0)
    assert resp.status_code == 201 and resp.headers["Location"] == "/api/v1/films/brennende-herzen"
    assert resp.headers["X-Recs-Status"] == "pending" and resp.headers["X-Job-Id"]
    assert resp.get_data(as_text=True).endswith(
        "Kritiken\nNoch keine Kritiken.\nEmpfehlungen\nDie Empfehlungen werden gerade berechnet.\n"
    )
    film = client.get("/api/v1/films/brennende-herzen").json
    assert film["synopsis"] == {
        "de": "Ein verwitweter Feuerwehrmann trauert und verliebt sich in eine Ärztin."
    }
    run_jobs()
    again = fill(client, page.replace("Brennende Herzen", "BRENNENDE  herzen"), limit=3)
    assert again.status_code == 200 and again.headers["X-Film-Id"] == "brennende-herzen"
    recs = again.get_data(as_text=True).partition("\nEmpfehlungen\n")[2].splitlines()
    assert len(recs) == 3 and all(line.startswith("- ") for line in recs)


def test_rest_english_page_by_film_id(client, seeded):
    resp = fill(client, "Whatever\nPlot\n\nReviews\nRecommendations\n", film_id="love-911")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "“Love 911 Quick KMovie Recap” by jediprincess" in text
    assert fill(client, "X\nPlot\nReviews\nRecommendations\n", film_id="nope").status_code == 404


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("Nur ein Titel\n", "text/plain", 422),
        ('{"title": "x"}', "application/json", 415),
    ],
)
def test_rest_refuses_what_is_not_a_page(client, body, content_type, status):
    resp = client.post("/api/v1/pages/fill", data=body, content_type=content_type)
    assert resp.status_code == status and resp.is_json and resp.json["message"]
    if status == 422:
        assert set(resp.json["errors"]) == {"plot", "reviews", "recs"}


def test_rest_respects_the_body_limit_and_the_key(client, anon_client, app):
    big = "T\nHandlung\n" + "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    assert fill(client, big).status_code == 413
    assert fill(anon_client, "T\nHandlung\nx\nKritiken\nEmpfehlungen\n").status_code == 401


def test_openapi_documents_the_route(client):
    op = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/pages/fill"]["post"]
    assert "text/plain" in op["requestBody"]["content"]
    assert "text/plain; charset=utf-8" in op["responses"]["200"]["content"]
    assert {"201", "404", "415", "422"} <= set(op["responses"])


# -- the command --------------------------------------------------------------


def test_cli_fills_the_seed_page(seeded, runner):
    result = runner("fill-page", str(SEED_PAGE), "--limit", "5")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Love 911 – Lebe und liebe\n\nHandlung\nIm emotionalen Drama")
    assert "von jediprincess" in out and len(out.partition("\nEmpfehlungen\n")[2].splitlines()) == 5


def test_cli_refuses_a_bad_page(runner, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("Titel\nHandlung\nText\n", encoding="utf-8")
    result = runner("fill-page", str(bad))
    assert (
        result.exit_code == 1 and "reviews: Missing the heading Kritiken / Reviews" in result.output
    )


def test_cli_creates_a_film_and_waits_for_a_real_worker(app, seeded, runner, tmp_path):
    page = tmp_path / "page.txt"
    page.write_text(
        "Der Arzt und die Feuerwehrfrau\n\nHandlung\nEine trauernde Feuerwehrfrau und ein "
        "Herzchirurg im Krankenhaus.\nKritiken\nEmpfehlungen\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "REDIS_URL": app.config["REDIS_URL"],
        "RECS_PREFIX": app.config["RECS_PREFIX"],
        "RECS_QUEUE": app.config["QUEUE_NAME"],
        "RECS_API_KEYS": "unused-here",
    }
    worker = subprocess.Popen(
        [str(RECS), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        refused = runner("fill-page", str(page))
        result = runner("fill-page", str(page), "--create", "--timeout", "30")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "No film is titled 'Der Arzt und die Feuerwehrfrau'. Pass --create" in refused.stderr
    assert result.exit_code == 0, result.output
    assert "Created film 'der-arzt-und-die-feuerwehrfrau'." in result.stderr
    recs = result.stdout.partition("\nEmpfehlungen\n")[2].splitlines()
    assert len(recs) == 10 and all(line.startswith("- ") for line in recs), result.stdout


def main_cli():
    from service.cli import main

    return main


def test_cli_prints_its_version():
    from importlib.metadata import version

    result = CliRunner().invoke(main_cli(), ["--version"])
    assert result.exit_code == 0 and result.output == f"recs, version {version('filmrecs')}\n"


# -- waiting fills (issue 15 item 6) ----------------------------------------------

PAGE = "Wartend\nHandlung\nEin Film, dessen Liste noch berechnet wird.\nKritiken\nEmpfehlungen\n"


def test_a_fill_on_a_sync_worker_answers_202_with_the_job_at_once(client):
    """One request at a time (wsgi.multithread false): waiting would hold the worker."""
    client.post("/api/v1/films", json={"id": "wartend", "title": "Wartend"})  # no worker runs
    started = time.monotonic()
    resp = fill(client, PAGE, film_id="wartend", wait=25)
    assert time.monotonic() - started < 2
    assert resp.status_code == 202 and resp.headers["X-Recs-Status"] == "pending"
    assert resp.headers["Location"] == f"/api/v1/jobs/{resp.headers['X-Job-Id']}"
    assert client.get(resp.headers["Location"]).json["state"] == "queued"
    assert fill(client, PAGE, film_id="wartend", wait=0).status_code == 200  # asked not to wait


def test_threaded_fills_wait_in_bounded_slots(make_app):
    app = make_app(FILL_WAITERS=1, FILL_WAIT_MAX=1.5)
    web = app.test_client()
    web.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {API_KEY}"
    web.post("/api/v1/films", json={"id": "wartend", "title": "Wartend"})
    answers = {}

    def one(n):
        started = time.monotonic()
        resp = web.post(
            "/api/v1/pages/fill?film_id=wartend&wait=25",
            data=PAGE.encode(),
            content_type="text/plain",
            environ_overrides={"wsgi.multithread": True},
        )
        answers[n] = (resp.status_code, time.monotonic() - started)

    first = threading.Thread(target=one, args=(1,))
    first.start()
    time.sleep(0.3)  # the first holds the process's only slot
    one(2)
    first.join()
    assert answers[2][0] == 202 and answers[2][1] < 1, answers
    assert answers[1][0] == 202 and 1.4 < answers[1][1] < 3, answers  # waited, bounded by 1.5 s


@pytest.mark.parametrize(
    ("worker_class", "workers"),
    [
        ("config.gunicorn_worker.JsonErrorSyncWorker", 2),  # compose (behind nginx)
        ("config.gunicorn_worker.JsonErrorThreadWorker", 1),  # recs serve
    ],
)
def test_two_waiting_fills_do_not_hold_up_other_requests(make_app, worker_class, workers):
    """Two fills asking to wait 25 s with no rq worker running: every other request is still
    answered within 2 s (before: both web workers were held for 25 s)."""
    app = make_app()  # only for its key prefix and queue (cleaned up afterwards)
    port = free_port()
    env = {
        "REDIS_URL": app.config["REDIS_URL"],
        "RECS_PREFIX": app.config["RECS_PREFIX"],
        "RECS_QUEUE": app.config["QUEUE_NAME"],
        "RECS_API_KEYS": API_KEY,
        "GUNICORN_WORKER_CLASS": worker_class,
        "GUNICORN_WORKERS": str(workers),
        "RECS_FILL_WAITERS": "1",
        "RECS_FILL_WAIT_MAX": "4",
    }
    proc = start_gunicorn(env, port)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {API_KEY}"}
    fills = {}

    def post(url, data, content_type):
        req = urllib.request.Request(
            url, data=data, method="POST", headers={**auth, "Content-Type": content_type}
        )
        with urllib.request.urlopen(req, timeout=40) as resp:
            return resp.status

    def waiting_fill(n):
        started = time.monotonic()
        status = post(
            f"{base}/api/v1/pages/fill?film_id=wartend&wait=25",
            PAGE.encode(),
            "text/plain; charset=utf-8",
        )
        fills[n] = (status, round(time.monotonic() - started, 2))

    try:
        assert (
            post(
                base + "/api/v1/films", b'{"id": "wartend", "title": "Wartend"}', "application/json"
            )
            == 201
        )
        threads = [threading.Thread(target=waiting_fill, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        times = []
        for n in range(10):
            started = time.monotonic()
            ok = fetch(base + ("/healthz" if n % 2 else "/api/v1/films/wartend")) is not None
            times.append(time.monotonic() - started if ok else float("inf"))
        for thread in threads:
            thread.join(40)
    finally:
        proc.terminate()
        proc.wait(30)
    print(f"{worker_class.rpartition('.')[2]}: others max {max(times):.3f} s, fills {fills}")
    assert max(times) < 2, times
    assert sorted(status for status, _ in fills.values()) == [202, 202]
    assert all(took < 6 for _, took in fills.values()), fills  # bounded by RECS_FILL_WAIT_MAX
