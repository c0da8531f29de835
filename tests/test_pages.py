"""The film page: Handlung, Kritiken and Empfehlungen filled, German by default, escaped."""

import re


def section(html, anchor):
    return re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.DOTALL).group(1)


def test_love_911_page_has_three_filled_sections(client, seeded):
    html = client.get("/films/love-911").get_data(as_text=True)
    assert "<h1>Love 911 – Lebe und liebe</h1>" in html
    assert "Feuerwehrmann" in section(html, "handlung")
    assert "jediprincess" in section(html, "kritiken")
    recs = section(html, "empfehlungen")
    assert "<h2>Empfehlungen</h2>" in recs and recs.count("<li>") >= 5
    assert 'class="chip"' in recs and 'href="/films/' in recs


def test_english_labels(client, seeded):
    html = client.get("/films/love-911?lang=en").get_data(as_text=True)
    assert "<h2>Plot</h2>" in html and "<h2>Reviews</h2>" in html and "<h2>Recommendations</h2>" in html


def test_stored_text_is_escaped(client):
    client.post("/api/v1/films", json={"id": "x", "title": "<b>X</b>"})
    client.post("/api/v1/films/x/reviews", json={"body": "<script>alert(1)</script>"})
    html = client.get("/films/x").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;X&lt;/b&gt;" in html
    assert "Die Empfehlungen werden gerade berechnet." in html


def test_catalog_search(client, seeded):
    html = client.get("/?q=love").get_data(as_text=True)
    assert 'href="/films/love-911?lang=de"' in html and "Heat" not in html
