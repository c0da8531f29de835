"""Films: create, list, read, change and delete them."""

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from service import caching
from service.common import page_of, queue, store
from service.fastpaths import dump_plain
from service.queue import enqueue_refresh
from service.schemas import FilmPatchSchema, FilmSchema, PageArgs, Text, paged
from service.storage import Conflict, NotFound, Store
from service.text import slugify

URL_PREFIX = "/api/v1"
blp = Blueprint("films", __name__, description="Films and their metadata")


class FilmQueryArgs(PageArgs):
    q = fields.String(validate=validate.Length(1, 200), metadata={"description": "Title search"})
    genre = fields.String(validate=[validate.Length(1, 60), Text])
    tag = fields.String(validate=[validate.Length(1, 100), Text])
    year_from = fields.Integer(validate=validate.Range(1870, 2100))
    year_to = fields.Integer(validate=validate.Range(1870, 2100))


class DeletedSchema(Schema):
    id = fields.String()
    deleted = fields.Boolean()
    job_id = fields.String()


FilmPage = paged(FilmSchema, "FilmPage")
FILM_SCHEMA = FilmSchema()


# The OpenAPI example of a film (the seed's Love 911, shortened).
FILM_EXAMPLE = {
    "id": "love-911",
    "title": "Love 911 – Lebe und liebe",
    "original_title": "러브 911",
    "year": 2012,
    "original_language": "ko",
    "countries": ["KR"],
    "genres": ["Romance", "Comedy", "Drama"],
    "keywords": ["firefighter", "doctor", "widower", "grief", "romantic comedy"],
    "synopsis": {"de": "Der verwitwete Feuerwehrmann Kang-il trifft die Ärztin Mi-soo ..."},
    "cast": [{"name": "Go Soo", "role": "Kang-il"}, {"name": "Han Hyo-joo", "role": "Mi-soo"}],
    "external_ids": {"tmdb": "139997"},
    "created_at": "2026-05-01T10:00:00+00:00",
    "updated_at": "2026-05-01T10:00:00+00:00",
    "rev": 2,
    "job_id": None,
}


def get_film_or_404(film_id: str) -> dict:
    """Return the film with its latest refresh job (job_id), or answer 404."""
    try:
        return store().get_film_and_job(film_id)
    except NotFound:
        abort(404, message=f"No film with id '{film_id}'.")


def with_jobs(s: Store, films: list[dict]) -> list[dict]:
    """Return films with their latest refresh jobs (job_id), as a single film's GET has them."""
    jobs = s.pending_jobs([f["id"] for f in films])
    return [{**film, "job_id": job} for film, job in zip(films, jobs)]


def create_with_free_id(s: Store, data: dict) -> tuple[dict, bool]:
    """Create a film under an id made from its title: the slug, then slug-year, then slug-2, ..."""
    base = slugify(data["title"])
    tries = [base] + ([f"{base}-{data['year']}"] if data.get("year") else [])
    for candidate in tries + [f"{base}-{n}" for n in range(2, 50)]:
        try:
            return s.create_film({**data, "id": candidate[:64]})
        except Conflict:
            continue
    raise Conflict(base)


def refresh(film_id: str, needed: bool) -> str | None:
    return enqueue_refresh(store(), queue(), film_id, needed)


@blp.route("/films")
class Films(MethodView):
    @blp.arguments(FilmQueryArgs, location="query")
    @blp.response(200, FilmPage)
    def get(self, args):
        """List films, filtered by title, genre, tag and year"""
        s, page, size = store(), args["page"], args["page_size"]
        filtered = any(args.get(k) for k in ("q", "genre", "tag", "year_from", "year_to"))
        if not filtered:
            total = s.count_films()
            ids = s.film_ids((page - 1) * size, page * size - 1)
            return page_of(with_jobs(s, [f for f in s.get_films(ids) if f]), page, size, total)
        ids = s.filter_film_ids(args.get("genre"), args.get("tag"))
        if args.get("q"):
            ids = s.search_titles(ids, args["q"])
        if args.get("year_from") or args.get("year_to"):
            lo, hi = args.get("year_from") or 0, args.get("year_to") or 9999
            cards = s.get_cards(ids)
            ids = [i for i in ids if i in cards and lo <= (cards[i].get("year") or -1) <= hi]
        result = page_of(ids, page, size)
        result["results"] = with_jobs(s, [f for f in s.get_films(result["results"]) if f])
        return result

    @blp.arguments(FilmSchema)
    @blp.response(201, FilmSchema)
    @blp.alt_response(409, description="A film with that id exists")
    def post(self, data):
        """Add a film; its tags and related titles are computed by a queued job"""
        try:
            s = store()
            film, needed = create_with_free_id(s, data) if "id" not in data else s.create_film(data)
        except Conflict as exc:
            abort(409, message=f"A film with id '{exc}' exists already.")
        film["job_id"] = refresh(film["id"], needed)
        return film, 201, {"Location": f"/api/v1/films/{film['id']}"}


@blp.route("/films/<id:film_id>")
class FilmById(MethodView):
    @blp.response(200, FilmSchema, example=FILM_EXAMPLE)
    def get(self, film_id):
        """Get one film"""
        film = get_film_or_404(film_id)
        caching.describe(f"film-{film['rev']}", film.get("updated_at"))
        return current_app.json.response(dump_plain(FILM_SCHEMA, film))

    # Partial by top-level name only: a PATCHed cast list still needs each member's name.
    @blp.arguments(FilmPatchSchema(partial=tuple(FilmPatchSchema._declared_fields)))
    @blp.response(200, FilmSchema)
    def patch(self, changes, film_id):
        """Change some of a film's fields"""
        try:
            film, needed = store().update_film(film_id, changes)
        except NotFound:
            abort(404, message=f"No film with id '{film_id}'.")
        film["job_id"] = refresh(film_id, needed)
        return film

    @blp.response(200, DeletedSchema)
    def delete(self, film_id):
        """Delete a film with its reviews, and take it out of every list"""
        try:
            store().delete_film(film_id)
        except NotFound:
            abort(404, message=f"No film with id '{film_id}'.")
        return {"id": film_id, "deleted": True, "job_id": refresh(film_id, True)}
