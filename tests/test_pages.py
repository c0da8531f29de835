"""The film page and the catalog: sections filled, German by default, escaped, paged, accessible."""

import re

import pytest


def section(html, anchor):
    return re.search(rf'<section id="{anchor}"[^>]*>(.*?)</section>', html, re.DOTALL).group(1)


def heading(html, level):
    return [
        re.sub(r"<[^>]+>", "", h).strip()
        for h in re.findall(rf"<h{level}[^>]*>(.*?)</h{level}>", html, re.DOTALL)
    ]


def test_love_911_page_has_three_filled_sections(client, seeded):
    html = client.get("/films/love-911").get_data(as_text=True)
    assert '<html lang="de">' in html
    assert heading(html, 1) == ["Love 911 – Lebe und liebe"]
    assert heading(html, 2) == ["Handlung", "Empfehlungen", "Kritiken"]
    assert "Feuerwehrmann" in section(html, "handlung")
    reviews = section(html, "kritiken")
    assert "von jediprincess" in reviews and '<article class="review" lang="en"' in reviews
    # the seed review has no publication date: the date shown says it is when it was added
    assert re.search(
        r'hier hinzugefügt am <time datetime="\d{4}-\d\d-\d\d">\d\d\.\d\d\.\d{4}</time>', reviews
    )
    assert "veröffentlicht" not in reviews
    recs = section(html, "empfehlungen")
    assert recs.count('class="card"') >= 5 and 'class="chip"' in recs
    assert re.search(r'<h3><a href="/films/[a-z0-9-]+\?lang=de">', recs)
    assert re.search(r"Ähnlichkeit: [1-5] von 5", recs), "the score bar has a text alternative"
    assert "Ähnlichkeit: 5 von 5" in recs, "scores are shown next to the best match"
    assert 'id="recs-status"' not in html and "<script>" not in html


def test_english_labels_and_reason_chips(client, seeded):
    html = client.get("/films/love-911?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert heading(html, 2) == ["Plot", "Recommendations", "Reviews"]
    assert re.search(r"Similarity: [1-5] of 5", html)
    de = client.get("/films/love-911").get_data(as_text=True)
    chips = lambda page: re.findall(r'<li class="chip">([^<]+)</li>', page)  # noqa: E731
    assert chips(html) and chips(de) and chips(html) != chips(de), (
        "reason labels follow the language"
    )
    assert "Feuerwehr" in chips(de) and "firefighter" not in chips(de), (
        "no English keyword chips in German"
    )


def test_accept_language_picks_english(client, seeded):
    html = client.get("/films/love-911", headers={"Accept-Language": "en-GB,en;q=0.8"}).get_data(
        as_text=True
    )
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
    client.post(
        "/api/v1/films/x/reviews", json={"body": "<script>alert(1)</script>", "rating": 7.5}
    )
    html = client.get("/films/x").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;X&lt;/b&gt;" in html
    assert "Bewertung: 7,5 von 10" in html


def test_pending_list_says_so_and_polls(client, run_jobs):
    client.post(
        "/api/v1/films", json={"id": "neu", "title": "Neu", "synopsis": {"de": "Ein Arzt."}}
    )
    html = client.get("/films/neu").get_data(as_text=True)
    note = re.search(
        r'<p class="notice" id="recs-status" role="status" data-film="neu"[^>]*>([^<]*)', html
    )
    assert note and "Die Empfehlungen werden gerade berechnet." in note.group(1)
    assert (
        '<script src="/static/recs-status.js" defer></script>' in html
    )  # a file: the CSP allows no inline script
    with client.get("/static/recs-status.js") as js:
        text = js.get_data(as_text=True)
    assert "/recommendations?limit=1" in text and "location.reload()" in text
    run_jobs()
    html = client.get("/films/neu").get_data(as_text=True)
    assert 'id="recs-status"' not in html and "<script" not in html


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
    client.post(
        "/api/v1/films", json={"id": "amelie", "title": "Le Fabuleux Destin d'Amélie Poulain"}
    )
    client.post("/api/v1/films", json={"id": "other", "title": "Other"})
    html = client.get("/?q=AMELIE").get_data(as_text=True)
    assert 'href="/films/amelie?lang=de"' in html and "/films/other" not in html


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ("genre=Western", "/films/unforgiven?", "/films/love-911?"),
        ("genre=Romance&q=love", "/films/love-911?", "/films/unforgiven?"),
        ("tag=firefighter", "/films/love-911?", "/films/unforgiven?"),
    ],
)
def test_catalog_filters(client, seeded, query, present, absent):
    html = client.get(f"/?{query}").get_data(as_text=True)
    assert present in html and absent not in html


def test_catalog_pages(client):
    for n in range(30):
        client.post("/api/v1/films", json={"id": f"f{n:02d}", "title": f"Film {n:02d}"})
    first = client.get("/?lang=en").get_data(as_text=True)
    assert (
        "30 films" in first
        and "Page 1 of 2" in first
        and "/films/f23?" in first
        and "/films/f24?" not in first
    )
    assert 'rel="next" href="/?page=2&amp;lang=en"' in first
    second = client.get("/?page=2&lang=en").get_data(as_text=True)
    assert "/films/f24?" in second and "/films/f29?" in second and 'rel="prev"' in second
    filtered = client.get("/?q=film&page=2").get_data(as_text=True)
    assert "Seite 2 von 2" in filtered and 'href="/?q=film&amp;page=1&amp;lang=de"' in filtered


def test_long_plot_folds_and_long_reviews_show_an_excerpt(client, seeded):
    html = client.get("/films/love-911").get_data(as_text=True)
    plot = section(html, "handlung")
    assert '<p class="plot folded">' in plot and "<summary>" in plot and ">mehr<" in plot
    assert "Feuerwehrmann" in plot, "the whole plot stays in the page (folded by CSS)"
    review = section(html, "kritiken")
    assert "This was an engrossing love movie" not in review and " …</p>" in review
    link = re.search(r'<a href="(/reviews/r[0-9a-f]+\?lang=de)">Ganze Kritik lesen</a>', review)
    whole = client.get(link.group(1))
    assert whole.status_code == 200 and whole.headers["Content-Language"] == "de"
    text = whole.get_data(as_text=True)
    assert "This was an engrossing love movie" in text and 'href="/films/love-911?lang=de"' in text
    assert "Ganze Kritik lesen" not in text
    assert client.get("/reviews/rnope").status_code == 404
    client.post("/api/v1/films", json={"id": "kurz", "title": "Kurz", "synopsis": {"de": "Kurz."}})
    client.post("/api/v1/films/kurz/reviews", json={"body": "Kurz und gut."})
    short = client.get("/films/kurz").get_data(as_text=True)
    assert "folded" not in short and "<details" not in short and "Ganze Kritik" not in short


def test_review_dates_say_what_they_are(client):
    client.post("/api/v1/films", json={"id": "x", "title": "X"})
    client.post(
        "/api/v1/films/x/reviews", json={"body": "Alt.", "published_at": "2013-01-20T00:00:00"}
    )
    client.post("/api/v1/films/x/reviews", json={"body": "Neu."})
    html = client.get("/films/x").get_data(as_text=True)
    assert 'veröffentlicht am <time datetime="2013-01-20">20.01.2013</time>' in html
    assert re.search(r"hier hinzugefügt am <time", html)
    english = client.get("/films/x?lang=en").get_data(as_text=True)
    assert (
        'published <time datetime="2013-01-20">2013-01-20</time>' in english
        and "added here <time" in english
    )


def test_dropdowns_sort_as_german_readers_look_and_every_genre_is_german(client):
    html = client.get("/").get_data(as_text=True)

    def options(name):
        select = re.search(rf'<select id="{name}".*?</select>', html, re.DOTALL).group(0)
        return re.findall(r'<option value="[^"]*"[^>]*>([^<]*)</option>', select)

    tags = options("tag")[1:]
    assert (
        tags.index("Ärzte") < tags.index("Asien") < tags.index("Überleben") < tags.index("Zombies")
    )
    assert tags.index("Überleben") < tags.index("Übernatürliches") < tags.index("Verrat")
    genres = options("genre")[1:]
    assert "Ausländischer Film" in genres and "TV-Film" in genres and "Foreign" not in genres
    assert genres == sorted(genres, key=lambda g: g.casefold().replace("ä", "a"))
    client.post("/api/v1/films", json={"id": "f", "title": "F", "genres": ["Foreign", "TV Movie"]})
    page = client.get("/films/f").get_data(as_text=True)
    assert "Ausländischer Film, TV-Film" in page


def test_templates_read_dict_fields_first_and_still_reach_dict_methods(app):
    render = app.jinja_env.from_string
    assert (
        render(
            "{{ d.title }}|{{ d.items }}|{{ d.missing }}|{{ e.items() | list | length }}"
        ).render(d={"title": "Love 911", "items": "as stored"}, e={"a": 1, "b": 2})
        == "Love 911|as stored||2"
    )
    assert render("{{ s.upper() }}{{ n.real }}").render(s="kino", n=3) == "KINO3"
