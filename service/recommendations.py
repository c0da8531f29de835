"""Related titles of a film, with scores and reasons, and the film's tags."""

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from service.common import PageSchema, Timestamp, page_of, store
from service.storage import NotFound
from workers.vocab import load_vocabulary

URL_PREFIX = "/api/v1"
blp = Blueprint("recommendations", __name__, description="Related titles and tags")


class RecArgs(Schema):
    limit = fields.Integer(validate=validate.Range(1, 100),
                           metadata={"description": "Items per page (alias of page_size)"})
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100))
    page_size = fields.Integer(validate=validate.Range(1, 100))
    exclude = fields.String(validate=validate.Length(max=2000),
                            metadata={"description": "Comma-separated film ids to leave out"})
    lang = fields.String(load_default="de", validate=validate.OneOf(["de", "en"]))


class TagArgs(Schema):
    lang = fields.String(load_default="de", validate=validate.OneOf(["de", "en"]))


class ReasonSchema(Schema):
    tag = fields.String()
    label = fields.String()
    share = fields.Float(metadata={"description": "Share of the score this tag contributed"})


class RelatedSchema(Schema):
    id = fields.String()
    title = fields.String()
    year = fields.Integer(allow_none=True)
    score = fields.Float()
    reasons = fields.List(fields.Nested(ReasonSchema))


class RecPage(PageSchema):
    film_id = fields.String()
    status = fields.String(metadata={"description": "fresh, stale (a refresh is queued) or pending (none yet)"})
    computed_at = Timestamp(allow_none=True)
    index_version = fields.Integer()
    job_id = fields.String(allow_none=True)
    results = fields.List(fields.Nested(RelatedSchema))


class TagSchema(Schema):
    tag = fields.String()
    label = fields.String()
    kind = fields.String(allow_none=True)
    weight = fields.Float()
    sources = fields.List(fields.String())
    evidence = fields.List(fields.String())


class TagsResponse(Schema):
    film_id = fields.String()
    status = fields.String()
    pinned_tags = fields.List(fields.String())
    blocked_tags = fields.List(fields.String())
    tags = fields.List(fields.Nested(TagSchema))


# The OpenAPI example of a related-titles answer.
RECS_EXAMPLE = {
    "film_id": "love-911", "status": "fresh", "computed_at": "2026-05-01T10:00:02+00:00",
    "index_version": 3, "job_id": None, "page": 1, "total_pages": 3, "total_results": 50,
    "results": [
        {"id": "ladder-49", "title": "Ladder 49", "year": 2004, "score": 0.61,
         "reasons": [{"tag": "firefighter", "label": "Feuerwehr", "share": 0.52},
                     {"tag": "grief", "label": "Trauer", "share": 0.21}]},
    ],
}


def related_titles(film_id: str, lang: str = "de", exclude: frozenset = frozenset()) -> dict:
    """Return a film's whole related list with titles and labelled reasons, best first."""
    try:
        card, lst, version, cards = store().read_list(film_id)
    except NotFound:
        abort(404, message=f"No film with id '{film_id}'.")
    vocab = load_vocabulary()
    results = [
        {"id": fid, "title": cards[fid]["title"], "year": cards[fid].get("year"), "score": score,
         "reasons": [{"tag": t, "label": vocab.label(t, lang), "share": share} for t, share in reasons]}
        for fid, score, reasons in (item[:3] for item in (lst or {}).get("items", []))
        if fid in cards and fid not in exclude
    ]
    if lst is None:
        status = "pending"
    else:
        status = "stale" if lst["rev"] < card["rev"] else "fresh"
    return {"film_id": film_id, "status": status, "index_version": version,
            "computed_at": lst["computed_at"] if lst else None,
            "job_id": store().pending_job(film_id) if status != "fresh" else None,
            "results": results}


@blp.route("/films/<id:film_id>/recommendations")
class Recommendations(MethodView):
    @blp.arguments(RecArgs, location="query")
    @blp.response(200, RecPage, example=RECS_EXAMPLE)
    def get(self, args, film_id):
        """Related titles, best first, each with its score and the shared tags behind it"""
        exclude = frozenset(x.strip() for x in args.get("exclude", "").split(",") if x.strip())
        data = related_titles(film_id, args["lang"], exclude)
        size = args.get("limit") or args.get("page_size") or 20
        return {**data, **page_of(data["results"], args["page"], size)}


@blp.route("/films/<id:film_id>/tags")
class Tags(MethodView):
    @blp.arguments(TagArgs, location="query")
    @blp.response(200, TagsResponse)
    def get(self, args, film_id):
        """The film's tags with weights, where each came from and the words behind it"""
        s = store()
        try:
            film = s.get_film(film_id)
        except NotFound:
            abort(404, message=f"No film with id '{film_id}'.")
        stored = s.get_tags(film_id)
        vocab = load_vocabulary()
        tags = [
            {"tag": t, "label": vocab.label(t, args["lang"]),
             "kind": vocab.tags[t].kind if t in vocab.tags else "keyword", **info}
            for t, info in sorted((stored or {}).get("tags", {}).items(),
                                  key=lambda kv: (-kv[1]["weight"], kv[0]))
        ]
        status = "pending" if stored is None else ("fresh" if stored["rev"] >= film["rev"] else "stale")
        return {"film_id": film_id, "status": status, "tags": tags,
                "pinned_tags": film.get("pinned_tags", []), "blocked_tags": film.get("blocked_tags", [])}
