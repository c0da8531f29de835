"""Response headers for browsers: a Content-Security-Policy on pages, no framing, no sniffing,
and redirects that never name the Host header the client sent."""

from urllib.parse import urlsplit, urlunsplit

from flask import request

# Scripts and styles only from this origin (the pages and Swagger UI load theirs as files);
# inline style attributes stay allowed (the film page's score bars, Swagger UI's widgets), and
# Swagger UI draws its icons as data: images. Nothing may frame a page.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def relative_location(location: str) -> str:
    """Return an absolute URL on this request's own host as a path (a Host header the client
    chose must not pick where a redirect goes); other URLs unchanged."""
    parts = urlsplit(location)
    if parts.scheme in ("http", "https") and parts.netloc == request.host:
        return urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
    return location


def add_headers(response):
    """after_request: nosniff everywhere; CSP and no framing on HTML; relative redirects."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    if 300 <= response.status_code < 400 and "Location" in response.headers:
        response.headers["Location"] = relative_location(response.headers["Location"])
    return response


def init_app(app) -> None:
    app.after_request(add_headers)
