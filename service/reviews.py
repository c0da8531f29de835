"""Reviews of a film: add, list, read, change and delete them."""

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from service.common import IsoDateTime, PageArgs, Timestamp, page_of, paged, store
from service.films import LangCode, Text, get_film_or_404, refresh, text
from service.storage import NotFound

URL_PREFIX = "/api/v1"
blp = Blueprint("reviews", __name__, description="Reviews (Kritiken) of films")


class ReviewSchema(Schema):
    id = fields.String(dump_only=True)
    film_id = fields.String(dump_only=True)
    author = text(200, allow_none=True)
    language = fields.String(allow_none=True, validate=LangCode,
                             metadata={"description": "Detected from the body when omitted"})
    title = text(300, allow_none=True)
    body = fields.String(required=True, validate=[validate.Length(1, 50000), Text])
    rating = fields.Float(allow_none=True, validate=validate.Range(0, 10))
    source_url = fields.Url(allow_none=True, validate=validate.Length(max=2000))
    published_at = IsoDateTime(allow_none=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)
    job_id = fields.String(dump_only=True)


class ReviewPatchSchema(ReviewSchema):
    pass


class ReviewDeletedSchema(Schema):
    id = fields.String()
    film_id = fields.String()
    job_id = fields.String()


ReviewPage = paged(ReviewSchema, "ReviewPage")


def not_found(review_id):
    abort(404, message=f"No review with id '{review_id}'.")


@blp.route("/films/<string:film_id>/reviews")
class FilmReviews(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ReviewPage)
    def get(self, args, film_id):
        """List a film's reviews, oldest first"""
        get_film_or_404(film_id)
        return page_of(store().list_reviews(film_id), args["page"], args["page_size"])

    @blp.arguments(ReviewSchema)
    @blp.response(201, ReviewSchema)
    def post(self, data, film_id):
        """Add a review; the film's tags and list are refreshed by a queued job"""
        try:
            review, needed = store().create_review(film_id, data)
        except NotFound:
            abort(404, message=f"No film with id '{film_id}'.")
        review["job_id"] = refresh(film_id, needed)
        return review, 201, {"Location": f"/api/v1/reviews/{review['id']}"}


@blp.route("/reviews/<string:review_id>")
class ReviewById(MethodView):
    @blp.response(200, ReviewSchema)
    def get(self, review_id):
        """Get one review"""
        try:
            return store().get_review(review_id)
        except NotFound:
            not_found(review_id)

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
