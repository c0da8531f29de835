"""Issue 15 item 8: browser headers (CSP, no framing, nosniff) and redirects that ignore Host."""

import re

import pytest

from service.headers import CSP


def inline_scripts(html: str) -> list[str]:
    return [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag]


@pytest.mark.parametrize(
    "path", ["/", "/films/love-911", "/films/love-911?lang=en", "/films/no-such", "/api/docs"]
)
def test_html_pages_send_csp_no_framing_and_nosniff(anon_client, seeded, path):
    resp = anon_client.get(path)
    assert resp.mimetype == "text/html"
    assert resp.headers["Content-Security-Policy"] == CSP
    assert "frame-ancestors 'none'" in CSP and "script-src 'self';" in CSP
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    # the policy allows no inline script: every script is a file from this origin
    assert inline_scripts(resp.get_data(as_text=True)) == []


def test_pending_film_page_loads_its_script_as_a_file(client, anon_client):
    client.post("/api/v1/films", json={"id": "wartend", "title": "Wartend"})
    html = anon_client.get("/films/wartend").get_data(as_text=True)
    assert 'src="/static/recs-status.js"' in html and inline_scripts(html) == []
    with anon_client.get("/static/recs-status.js") as js:
        assert js.status_code == 200 and js.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in js.headers


def test_json_answers_send_nosniff(anon_client):
    resp = anon_client.get("/api/v1/films/no-such")
    assert resp.status_code == 404 and resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in resp.headers


@pytest.mark.parametrize("path", ["/api/v1//films", "/films//love-911"])
def test_slash_redirect_does_not_use_the_host_header(anon_client, path):
    resp = anon_client.get(path, headers={"Host": "evil.example"})
    assert resp.status_code == 308
    assert resp.headers["Location"] == path.replace("//", "/")


def test_slash_redirect_ignores_a_forwarded_host_too(make_app):
    web = make_app(RECS_TRUSTED_PROXIES=1).test_client()
    resp = web.get(
        "/api/v1//films?limit=2",
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )
    assert resp.status_code == 308 and resp.headers["Location"] == "/api/v1/films?limit=2"
