"""The seed's plain-text page format: parsing, rendering, `recs fill-page` and POST /api/v1/pages/fill."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.pagefill import FilmPage, PageFormatError, parse_page, render_page, title_key

SEED_PAGE = Path(__file__).resolve().parent.parent / "seeds" / "raw" / "love-911-film-page.de.txt"
RECS = Path(sys.executable).with_name("recs")
REVIEW = {"author": "jediprincess", "title": "Recap", "body": "Gut.\n\nSehr gut.\n", "rating": 7.5,
          "published_at": "2013-02-01T10:00:00+00:00", "created_at": 1700000000.0}
RELATED = [{"id": "a", "title": "Backdraft", "year": 1991, "score": 0.4,
            "reasons": [{"tag": "firefighter", "label": "Feuerwehr"}, {"tag": "kw:grief", "label": "grief"},
                        {"tag": "grief", "label": "Trauer"}]},
           {"id": "b", "title": "Ohne Jahr", "year": None, "score": 0.2, "reasons": []}]


# -- parsing ------------------------------------------------------------------

def test_parse_the_seed_page():
    text = SEED_PAGE.read_text(encoding="utf-8")
    page = parse_page(text)
    assert page.title == "Love 911 – Lebe und liebe" and page.lang == "de"
    assert page.plot.startswith("Im emotionalen Drama") and page.plot.endswith("Geistes ringen.")
    assert text.startswith(page.head) and page.head.endswith("\nKritiken\n")
    assert page.recs_heading == "Empfehlungen"


def test_parse_english_headings_with_colons_crlf_and_bom():
    page = parse_page("\ufeff\r\n  Heat  \r\n\r\nPlot:\r\nA thief.\r\nSecond line.\r\nREVIEWS\r\nold review\r\n"
                      "Recommendations\r\nold list\r\n")
    assert (page.title, page.lang, page.plot) == ("Heat", "en", "A thief.\nSecond line.")
    assert page.recs_heading == "Recommendations"


@pytest.mark.parametrize(("text", "missing"), [
    ("", {"title"}),
    ("Titel\nHandlung\nText\n", {"reviews", "recs"}),
    ("Titel\nHandlung\nText\nEmpfehlungen\nKritiken\n", {"recs"}),  # out of order
    ("Titel\nText ohne Überschriften\n", {"plot", "reviews", "recs"}),
    ("Handlung\nText\nKritiken\nEmpfehlungen\n", {"title"}),  # no title line
])
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


@pytest.mark.parametrize(("a", "b"), [
    ("Love 911 – Lebe und liebe", "LOVE 911 - lebe und Liebe"),
    ("Le Fabuleux Destin d'Amélie Poulain", "le fabuleux destin d amelie poulain"),
])
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
    page = FilmPage(title="X", plot="", lang="en", head="X\nPlot\nReviews\n", recs_heading="Recommendations")
    review = {"body": "Fine.", "created_at": 1700000000.0}
    assert render_page(page, [review], [], "fresh") == (
        "X\nPlot\nReviews\nAnonymous · added here 2023-11-14\nFine.\n\nRecommendations\nNo recommendations yet.\n")
    pending = render_page(page, [], [], "pending")
    assert pending.endswith("Reviews\nNo reviews yet.\nRecommendations\nRecommendations are being computed.\n")
    stale = render_page(page, [], RELATED[:1], "stale")
    assert stale.endswith("Recommendations are being updated.\n- Backdraft (1991) – Feuerwehr, Trauer, grief\n")


# -- REST -----------------------------------------------------------------------

def fill(client, text, **query):
    return client.post("/api/v1/pages/fill", query_string=query, data=text.encode("utf-8"),
                       content_type="text/plain; charset=utf-8")


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
        "Kritiken\nNoch keine Kritiken.\nEmpfehlungen\nDie Empfehlungen werden gerade berechnet.\n")
    film = client.get("/api/v1/films/brennende-herzen").json
    assert film["synopsis"] == {"de": "Ein verwitweter Feuerwehrmann trauert und verliebt sich in eine Ärztin."}
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


@pytest.mark.parametrize(("body", "content_type", "status"), [
    ("Nur ein Titel\n", "text/plain", 422),
    ('{"title": "x"}', "application/json", 415),
])
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

@pytest.fixture
def cli_settings(app, monkeypatch):
    """Point `recs` at the test app's Redis, prefix and queue."""
    from config import settings

    for name in ("REDIS_URL", "RECS_PREFIX", "QUEUE_NAME"):
        monkeypatch.setattr(settings, name, app.config[name])
    return app.config


def test_cli_fills_the_seed_page(seeded, cli_settings):
    result = CliRunner().invoke(main_cli(), ["fill-page", str(SEED_PAGE), "--limit", "5"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Love 911 – Lebe und liebe\n\nHandlung\nIm emotionalen Drama")
    assert "von jediprincess" in out and len(out.partition("\nEmpfehlungen\n")[2].splitlines()) == 5


def test_cli_refuses_a_bad_page(cli_settings, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("Titel\nHandlung\nText\n", encoding="utf-8")
    result = CliRunner().invoke(main_cli(), ["fill-page", str(bad)])
    assert result.exit_code == 1 and "reviews: Missing the heading Kritiken / Reviews" in result.output


def test_cli_creates_a_film_and_waits_for_a_real_worker(seeded, cli_settings, tmp_path):
    page = tmp_path / "page.txt"
    page.write_text("Der Arzt und die Feuerwehrfrau\n\nHandlung\nEine trauernde Feuerwehrfrau und ein "
                    "Herzchirurg im Krankenhaus.\nKritiken\nEmpfehlungen\n", encoding="utf-8")
    env = {**os.environ, "REDIS_URL": cli_settings["REDIS_URL"], "RECS_PREFIX": cli_settings["RECS_PREFIX"],
           "RECS_QUEUE": cli_settings["QUEUE_NAME"], "RECS_API_KEYS": "unused-here"}
    worker = subprocess.Popen([str(RECS), "worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        refused = CliRunner().invoke(main_cli(), ["fill-page", str(page)])
        result = CliRunner().invoke(main_cli(), ["fill-page", str(page), "--create", "--timeout", "30"])
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
