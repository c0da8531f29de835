"""Reviews of a film: add, list, read, change and delete them."""

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, ValidationError, fields, validate

from service import caching
from service.common import page_of, store
from service.films import get_film_or_404, refresh
from service.review_import import extract_review
from service.schemas import (
    IsoDateTime,
    LangCode,
    PageArgs,
    ReviewPatchSchema,
    ReviewSchema,
    paged,
    text,
    web_url,
)
from service.storage import NotFound

URL_PREFIX = "/api/v1"
blp = Blueprint("reviews", __name__, description="Reviews (Kritiken) of films")


class ReviewDeletedSchema(Schema):
    id = fields.String()
    film_id = fields.String()
    job_id = fields.String()


class ReviewImportSchema(Schema):
    content = fields.String(
        required=True,
        validate=validate.Length(1, 1_000_000),
        metadata={"description": "The saved blog post, HTML or plain text"},
    )
    format = fields.String(load_default="auto", validate=validate.OneOf(["auto", "html", "text"]))
    author = text(200, allow_none=True, metadata={"description": "Overrides the author found"})
    language = fields.String(allow_none=True, validate=LangCode)
    title = text(300, allow_none=True)
    rating = fields.Float(allow_none=True, validate=validate.Range(0, 10))
    source_url = web_url()
    published_at = IsoDateTime(allow_none=True)


ReviewPage = paged(ReviewSchema, "ReviewPage")


def add_review(film_id: str, data: dict):
    """Store a validated review and queue the film's refresh; return the 201 response."""
    try:
        review, needed = store().create_review(film_id, data)
    except NotFound:
        abort(404, message=f"No film with id '{film_id}'.")
    review["job_id"] = refresh(film_id, needed)
    return review, 201, {"Location": f"/api/v1/reviews/{review['id']}"}


# The OpenAPI example of a review (the seed's English blog review, shortened).
REVIEW_EXAMPLE = {
    "id": "r1a2b3c4d5e6f",
    "film_id": "love-911",
    "author": "jediprincess",
    "language": "en",
    "title": "Love 911 Quick KMovie Recap",
    "body": "When Go Mi-soo misdiagnosed a patient, her doctor's license went in danger ...",
    "rating": 7.5,
    "source_url": None,
    "published_at": "2013-01-20T00:00:00",
    "created_at": "2026-05-01T10:00:00+00:00",
    "updated_at": "2026-05-01T10:00:00+00:00",
    "job_id": "refresh-love-911-3f2a9c1b",
}


def not_found(review_id):
    abort(404, message=f"No review with id '{review_id}'.")


@blp.route("/films/<id:film_id>/reviews")
class FilmReviews(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ReviewPage)
    def get(self, args, film_id):
        """List a film's reviews, oldest first"""
        film = get_film_or_404(film_id)  # read first: its rev covers the reviews read after it
        caching.describe(f"reviews-{film['rev']}", film.get("updated_at"))
        reviews = [{**r, "job_id": film["job_id"]} for r in store().list_reviews(film_id)]
        return page_of(reviews, args["page"], args["page_size"])

    @blp.arguments(ReviewSchema)
    @blp.response(201, ReviewSchema)
    def post(self, data, film_id):
        """Add a review; the film's tags and list are refreshed by a queued job"""
        return add_review(film_id, data)


@blp.route("/films/<id:film_id>/reviews/import")
class ReviewImport(MethodView):
    @blp.arguments(ReviewImportSchema)
    @blp.response(201, ReviewSchema)
    @blp.alt_response(
        200,
        schema=ReviewSchema,
        description="The film has this review already (same source_url or body): updated",
    )
    def post(self, data, film_id):
        """Add a review from a saved blog post, without its navigation, comment form and widgets

        Importing a review the film has already (the same source_url, or the same body with
        case, spacing and punctuation ignored) updates it: 200 instead of 201, never a copy.
        """
        get_film_or_404(film_id)
        found = extract_review(data.pop("content"), data.pop("format"))
        if not found["body"]:
            abort(422, message="No review text found in the content.")
        review = {key: value for key, value in found.items() if value}
        review.update({key: value for key, value in data.items() if value is not None})
        try:
            review = ReviewSchema().load(review)
        except ValidationError as exc:
            abort(422, message="The review found is not valid.", errors={"json": exc.messages})
        try:
            review, needed, created = store().import_review(film_id, review)
        except NotFound:
            abort(404, message=f"No film with id '{film_id}'.")
        if "job_id" not in review:  # an import that changed nothing queues nothing
            review["job_id"] = refresh(film_id, needed)
        return review, 201 if created else 200, {"Location": f"/api/v1/reviews/{review['id']}"}


@blp.route("/reviews/<id:review_id>")
class ReviewById(MethodView):
    @blp.response(200, ReviewSchema, example=REVIEW_EXAMPLE)
    def get(self, review_id):
        """Get one review"""
        try:
            review = store().get_review(review_id)
        except NotFound:
            not_found(review_id)
        caching.describe(last_modified=review.get("updated_at"))
        return {**review, "job_id": store().pending_job(review["film_id"])}

    @blp.arguments(ReviewPatchSchema(partial=True))
    @blp.response(200, ReviewSchema)
    def patch(self, changes, review_id):
        """Change some of a review's fields"""
        try:
            review, needed = store().update_review(review_id, changes)
        except NotFound:
            not_found(review_id)
        review["job_id"] = refresh(review["film_id"], needed)
        return review

    @blp.response(200, ReviewDeletedSchema)
    def delete(self, review_id):
        """Delete a review"""
        try:
            film_id, needed = store().delete_review(review_id)
        except NotFound:
            not_found(review_id)
        return {"id": review_id, "film_id": film_id, "job_id": refresh(film_id, needed)}
