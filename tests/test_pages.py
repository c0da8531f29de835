"""The film page and the catalog: sections filled, German by default, escaped, paged, accessible."""

import re

import pytest


def section(html, anchor):
    return re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.DOTALL).group(1)


def heading(html, level):
    return [re.sub(r"<[^>]+>", "", h).strip()
            for h in re.findall(rf"<h{level}[^>]*>(.*?)</h{level}>", html, re.DOTALL)]


def test_love_911_page_has_three_filled_sections(client, seeded):
    html = client.get("/films/love-911").get_data(as_text=True)
    assert '<html lang="de">' in html
    assert heading(html, 1) == ["Love 911 – Lebe und liebe"]
    assert heading(html, 2) == ["Handlung", "Kritiken", "Empfehlungen"]
    assert "Feuerwehrmann" in section(html, "handlung")
    reviews = section(html, "kritiken")
    assert "von jediprincess" in reviews and '<article class="review" lang="en"' in reviews
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\d">\d\d\.\d\d\.\d{4}</time>', reviews)
    recs = section(html, "empfehlungen")
    assert recs.count('class="card"') >= 5 and 'class="chip"' in recs
    assert re.search(r'<h3><a href="/films/[a-z0-9-]+\?lang=de">', recs)
    assert re.search(r"Ähnlichkeit: [1-5] von 5", recs), "the score bar has a text alternative"
    assert "Ähnlichkeit: 5 von 5" in recs, "scores are shown next to the best match"
    assert 'id="recs-status"' not in html and "<script>" not in html


def test_english_labels_and_reason_chips(client, seeded):
    html = client.get("/films/love-911?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert heading(html, 2) == ["Plot", "Reviews", "Recommendations"]
    assert re.search(r"Similarity: [1-5] of 5", html)
    de = client.get("/films/love-911").get_data(as_text=True)
    chips = lambda page: re.findall(r'<li class="chip">([^<]+)</li>', page)  # noqa: E731
    assert chips(html) and chips(de) and chips(html) != chips(de), "reason labels follow the language"
    assert "Feuerwehr" in chips(de) and "firefighter" not in chips(de), "no English keyword chips in German"


def test_accept_language_picks_english(client, seeded):
    html = client.get("/films/love-911", headers={"Accept-Language": "en-GB,en;q=0.8"}).get_data(as_text=True)
    assert heading(html, 2)[0] == "Plot"


def test_page_has_landmarks_and_a_skip_link(client, seeded):
    html = client.get("/films/love-911").get_data(as_text=True)
    assert '<a class="skip" href="#main">' in html and '<main id="main"' in html
    assert '<nav aria-label="Hauptnavigation">' in html and "<header" in html and "<footer" in html
    assert 'href="/films/love-911?lang=en"' in html, "a link to the same page in English"
    with client.get("/static/site.css") as css:
        assert css.status_code == 200 and b":focus-visible" in css.data and b"url(" not in css.data


def test_stored_text_is_escaped(client):
    client.post("/api/v1/films", json={"id": "x", "title": "<b>X</b>"})
    client.post("/api/v1/films/x/reviews", json={"body": "<script>alert(1)</script>", "rating": 7.5})
    html = client.get("/films/x").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;X&lt;/b&gt;" in html
    assert "Bewertung: 7,5 von 10" in html


def test_pending_list_says_so_and_polls(client, run_jobs):
    client.post("/api/v1/films", json={"id": "neu", "title": "Neu", "synopsis": {"de": "Ein Arzt."}})
    html = client.get("/films/neu").get_data(as_text=True)
    note = re.search(r'<p class="notice" id="recs-status" role="status" data-film="neu">([^<]*)', html)
    assert note and "Die Empfehlungen werden gerade berechnet." in note.group(1)
    assert "/recommendations?limit=1" in html and "location.reload()" in html
    run_jobs()
    html = client.get("/films/neu").get_data(as_text=True)
    assert 'id="recs-status"' not in html and "<script>" not in html


def test_unknown_film_is_an_html_404_and_the_api_stays_json(client):
    resp = client.get("/films/no-such-film?lang=en")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "Film not found" in resp.get_data(as_text=True)
    api = client.get("/api/v1/films/no-such-film")
    assert api.status_code == 404 and api.is_json and api.json["code"] == 404


def test_catalog_search(client, seeded):
    html = client.get("/?q=love").get_data(as_text=True)
    assert 'href="/films/love-911?lang=de"' in html and "Heat" not in html
    assert '<form class="filters"' in html and '<label for="q">Titel</label>' in html


def test_catalog_search_ignores_accents_and_case(client):
    client.post("/api/v1/films", json={"id": "amelie", "title": "Le Fabuleux Destin d'Amélie Poulain"})
    client.post("/api/v1/films", json={"id": "other", "title": "Other"})
    html = client.get("/?q=AMELIE").get_data(as_text=True)
    assert 'href="/films/amelie?lang=de"' in html and "/films/other" not in html


@pytest.mark.parametrize(("query", "present", "absent"), [
    ("genre=Western", "/films/unforgiven?", "/films/love-911?"),
    ("genre=Romance&q=love", "/films/love-911?", "/films/unforgiven?"),
    ("tag=firefighter", "/films/love-911?", "/films/unforgiven?"),
])
def test_catalog_filters(client, seeded, query, present, absent):
    html = client.get(f"/?{query}").get_data(as_text=True)
    assert present in html and absent not in html


def test_catalog_pages(client):
    for n in range(30):
        client.post("/api/v1/films", json={"id": f"f{n:02d}", "title": f"Film {n:02d}"})
    first = client.get("/?lang=en").get_data(as_text=True)
    assert "30 films" in first and "Page 1 of 2" in first and "/films/f23?" in first and "/films/f24?" not in first
    assert 'rel="next" href="/?page=2&amp;lang=en"' in first
    second = client.get("/?page=2&lang=en").get_data(as_text=True)
    assert "/films/f24?" in second and "/films/f29?" in second and 'rel="prev"' in second
    filtered = client.get("/?q=film&page=2").get_data(as_text=True)
    assert "Seite 2 von 2" in filtered and 'href="/?q=film&amp;page=1&amp;lang=de"' in filtered
