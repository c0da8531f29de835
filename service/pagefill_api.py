"""Plain-text film pages filled with reviews and related titles: POST /api/v1/pages/fill."""

import threading
import time
from dataclasses import dataclass

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from flask_smorest.error_handler import ErrorSchema
from marshmallow import Schema, ValidationError, fields, validate
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from service.common import page_cache, queue, store
from service.pagefill import MAX_CHARS, PageFormatError, parse_page, render_page, title_key
from service.queue import enqueue_refresh
from service.recommendations import PageCache, related_titles
from service.storage import Conflict, NotFound, Store

URL_PREFIX = "/api/v1"
blp = Blueprint("pagefill", __name__, description="Plain-text film pages, filled")

TEXT = {"text/plain; charset=utf-8": {"schema": {"type": "string"}}}
HEADERS = {
    name: {"schema": {"type": "string"}, "description": text}
    for name, text in (
        ("X-Film-Id", "The film the page was filled from"),
        ("X-Recs-Status", "fresh, stale (being updated) or pending (being computed) after `wait`"),
        ("X-Job-Id", "The job computing the list, while it is not fresh"),
        ("Location", "201: the film created; 202: the job to poll (GET), then send the page again"),
    )
}
EXAMPLE = "Love 911 – Lebe und liebe\n\nHandlung\nIm emotionalen Drama …\nKritiken\nEmpfehlungen\n"


class FillArgs(Schema):
    film_id = fields.String(
        validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,63}$"),
        metadata={"description": "Fill this film's page (else found by title)"},
    )
    wait = fields.Float(
        load_default=10.0,
        validate=validate.Range(0, 25),
        metadata={
            "description": (
                "Seconds to wait for a pending list: at most RECS_FILL_WAIT_MAX (10 s), and only while the "
                "server has a thread to spare; else 202 at once with the job to poll"
            )
        },
    )
    limit = fields.Integer(
        load_default=10,
        validate=validate.Range(1, 50),
        metadata={"description": "Related titles to list"},
    )


@dataclass(frozen=True)
class Filled:
    text: str
    film_id: str
    created: bool
    status: str  # the list's: fresh, stale or pending
    job_id: str | None


def find_film_id(s: Store, title: str) -> str | None:
    """Return the film whose title matches (case, accents and punctuation ignored), oldest first."""
    key = title_key(title)
    ids = s.film_ids()
    cards = s.get_cards(ids)
    matches = [i for i in ids if i in cards and title_key(cards[i]["title"]) == key]
    return key if key in matches else (matches[0] if matches else None)


def create_film(s: Store, q: Queue, title: str, plot: str, lang: str) -> tuple[str, str | None]:
    """Add a film with the page's plot as its synopsis; return its id and its refresh job."""
    from service.schemas import FilmSchema  # the API's own validation of a new film

    data = {"title": title, "synopsis": {lang: plot} if plot else {}}
    base = title_key(title)
    for n in range(1, 20):
        try:
            film = FilmSchema().load({**data, "id": base if n == 1 else f"{base[:60]}-{n}"})
        except ValidationError as error:
            raise PageFormatError("The film in the page is not valid.", error.messages) from error
        try:
            film, needed = s.create_film(film)
        except Conflict:
            continue
        return film["id"], enqueue_refresh(s, q, film["id"], needed)
    raise PageFormatError(f"Could not find a free id for '{title}'; pass film_id.")


def job_failed(q: Queue, job_id: str | None) -> bool:
    if not job_id:
        return False
    try:
        return Job.fetch(job_id, connection=q.connection, serializer=q.serializer).is_failed
    except NoSuchJobError:
        return False


def wait_for_list(
    s: Store,
    q: Queue,
    film_id: str,
    lang: str,
    timeout: float,
    poll: float = 0.2,
    pages: PageCache | None = None,
) -> dict:
    """Return the film's related titles once fresh, or as they are after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        data = related_titles(s, film_id, lang, pages=pages)
        if (
            data["status"] == "fresh"
            or time.monotonic() >= deadline
            or job_failed(q, data["job_id"])
        ):
            return data
        time.sleep(poll)


def fill(
    s: Store,
    q: Queue,
    text: str,
    film_id: str | None = None,
    wait: float = 0.0,
    limit: int = 10,
    create: bool = True,
    pages: PageCache | None = None,
) -> Filled:
    """Parse a page, find (or, with create, add) its film in store s (the primary: a new
    film's refresh is queued on q), and return the page filled; pages is the process's page
    cache, if any.

    Raises PageFormatError for text not in the layout, NotFound for an unknown film_id or
    (without create) a title no film has.
    """
    page = parse_page(text)
    created = False
    if film_id:
        s.get_film(film_id)
    else:
        film_id = find_film_id(s, page.title)
        if film_id is None:
            if not create:
                raise NotFound(page.title)
            film_id, _ = create_film(s, q, page.title, page.plot, page.lang)
            created = True
    data = wait_for_list(s, q, film_id, page.lang, wait, pages=pages)
    body = render_page(page, s.list_reviews(film_id), data["results"][:limit], data["status"])
    return Filled(body, film_id, created, data["status"], data["job_id"])


_slots_lock = threading.Lock()


def wait_slots() -> threading.Semaphore:
    """Return this process's slots for waiting fills (RECS_FILL_WAITERS)."""
    ext = current_app.extensions["recs"]
    with _slots_lock:
        if "fill_waiters" not in ext:
            ext["fill_waiters"] = threading.Semaphore(current_app.config["FILL_WAITERS"])
    return ext["fill_waiters"]


def allowed_wait(asked: float) -> tuple[float, threading.Semaphore | None]:
    """Return how long this request may wait and the slot it holds meanwhile (release it).

    A sync worker serves one request at a time: a waiting fill would hold it and everyone
    behind it (issue 15), so it never waits there. A threaded worker lets a few fills wait
    at once (RECS_FILL_WAITERS per process), each at most RECS_FILL_WAIT_MAX seconds.
    """
    wait = min(asked, current_app.config["FILL_WAIT_MAX"])
    if wait <= 0 or not request.environ.get("wsgi.multithread"):
        return 0.0, None
    slots = wait_slots()
    return (wait, slots) if slots.acquire(blocking=False) else (0.0, None)


@blp.route("/pages/fill")
class FillPage(MethodView):
    @blp.arguments(FillArgs, location="query")
    @blp.doc(
        requestBody={
            "required": True,
            "content": {
                "text/plain": {
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_CHARS},
                    "example": EXAMPLE,
                }
            },
        },
        responses={
            "200": {
                "description": "The page with Kritiken and Empfehlungen filled",
                "content": TEXT,
                "headers": HEADERS,
            },
            "201": {
                "description": "As 200, for a film the page created (see Location)",
                "content": TEXT,
                "headers": HEADERS,
            },
            "202": {
                "description": "The page as it is, while its list is computed (asked to `wait`, but "
                "the server could not wait): poll the job at Location, then send the "
                "page again",
                "content": TEXT,
                "headers": HEADERS,
            },
        },
    )
    @blp.alt_response(404, schema=ErrorSchema, description="No film with the given film_id")
    @blp.alt_response(415, schema=ErrorSchema, description="The body is not text/plain")
    @blp.alt_response(
        422, schema=ErrorSchema, description="The text is not a film page in the layout"
    )
    def post(self, args):
        """Fill a plain-text film page (title, Handlung, Kritiken, Empfehlungen) with reviews and related titles"""
        if request.mimetype != "text/plain":
            abort(415, message="Send the page as text/plain (UTF-8).")
        text = request.get_data(cache=False).decode("utf-8", errors="replace")
        wait, slot = allowed_wait(args["wait"])
        try:
            filled = fill(
                store(), queue(), text, args.get("film_id"), wait, args["limit"], pages=page_cache()
            )
        except PageFormatError as error:
            abort(422, message=error.message, errors=error.errors)
        except NotFound as error:  # the film_id given, or a film deleted while filling
            abort(404, message=f"No film with id '{error}'.")
        finally:
            if slot is not None:
                slot.release()
        headers = {"X-Film-Id": filled.film_id, "X-Recs-Status": filled.status}
        status = 201 if filled.created else 200
        if filled.job_id:
            headers["X-Job-Id"] = filled.job_id
        if filled.created:
            headers["Location"] = f"/api/v1/films/{filled.film_id}"
        elif filled.job_id and filled.status != "fresh" and args["wait"] > 0:
            status = 202  # asked to wait for the list: the job to poll instead
            headers["Location"] = f"/api/v1/jobs/{filled.job_id}"
        return Response(filled.text, status, headers, content_type="text/plain; charset=utf-8")
