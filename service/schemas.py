"""The schemas the API and the importer share: a film, a review, paging and timestamps.

Plain marshmallow, no Flask: the import job validates rows with the API's own schemas.
"""

from datetime import UTC, datetime

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from service.text import SLUG_PATTERN

MAX_PAGE_SIZE = 100  # results per page at most, on every list the API answers


class Timestamp(fields.Field):
    """A stored epoch-seconds float, shown as ISO 8601 in UTC."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return datetime.fromtimestamp(value, tz=UTC).isoformat(timespec="seconds")


class IsoDateTime(fields.DateTime):
    """A date-time that is validated on load and stored as its ISO 8601 text."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).isoformat()

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class PageSchema(Schema):
    page = fields.Integer()
    total_pages = fields.Integer()
    total_results = fields.Integer()


def paged(item_schema: type[Schema], name: str, **extra) -> type[Schema]:
    """Return a list-response schema: results of item_schema plus the paging fields."""
    attrs = {"results": fields.List(fields.Nested(item_schema)), **extra}
    return type(name, (PageSchema,), attrs)


Slug = validate.Regexp(
    SLUG_PATTERN, error="Use 1-64 characters a-z, 0-9 and '-', starting with a letter or digit."
)
LangCode = validate.Regexp(r"^[a-z]{2,3}$", error="Use an ISO 639 language code such as 'de'.")
Text = validate.Regexp(r"^[^\x00]*$", error="Text may not contain NUL characters.")


def text(max_len: int, **kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(max=max_len), Text], **kwargs)


# A web address, checked by the very pattern the spec shows (marshmallow's Url took forms no
# pattern says, and the spec took "0"): http(s), a host with a top-level domain, a port, then
# printable ASCII (percent-encode the rest).
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
WEB_URL = rf"^https?://{LABEL}(?:\.{LABEL})*\.[A-Za-z]{{2,63}}(?::[0-9]{{1,5}})?(?:[/?#][!-~]*)?$"


def one_line(value: str) -> None:
    """A Regexp's '$' also matches before a final newline: refuse that newline too."""
    if "\n" in value:
        raise ValidationError("Use an http(s) URL such as https://example.com/review.")


def web_url(**kwargs) -> fields.String:
    return fields.String(
        allow_none=True,
        validate=[
            validate.Length(1, 2000),
            one_line,
            validate.Regexp(
                WEB_URL, error="Use an http(s) URL such as https://example.com/review."
            ),
        ],
        metadata={"description": "An http(s) URL"},
        **kwargs,
    )


class WholeNumber(fields.Integer):
    """An integer in JSON: 1965 or 1965.0 (JSON Schema's "integer" is any number without a
    fraction, so the spec allows both), never "1965" or 1965.5."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._validated(value)


class CastSchema(Schema):
    name = fields.String(required=True, validate=[validate.Length(1, 200), Text])
    role = text(200, allow_none=True)


class FilmSchema(Schema):
    id = fields.String(
        validate=Slug, metadata={"description": "Slug; made from the title when omitted."}
    )
    title = fields.String(required=True, validate=[validate.Length(1, 300), Text])
    original_title = text(300, allow_none=True, dump_default=None)
    year = WholeNumber(allow_none=True, dump_default=None, validate=validate.Range(1870, 2100))
    original_language = fields.String(allow_none=True, validate=LangCode, dump_default=None)
    countries = fields.List(
        fields.String(validate=validate.Regexp(r"^[A-Z]{2}$")),
        validate=validate.Length(max=50),
        dump_default=list,
    )
    genres = fields.List(
        fields.String(validate=[validate.Length(1, 60), Text]),
        validate=validate.Length(max=20),
        dump_default=list,
    )
    keywords = fields.List(
        fields.String(validate=[validate.Length(1, 100), Text]),
        validate=validate.Length(max=300),
        dump_default=list,
    )
    synopsis = fields.Dict(
        keys=fields.String(validate=LangCode),
        values=fields.String(validate=[validate.Length(max=20000), Text]),
        dump_default=dict,
        metadata={"description": "Language code -> plot text"},
    )
    tagline = text(500, allow_none=True, dump_default=None)
    cast = fields.List(
        fields.Nested(CastSchema), validate=validate.Length(max=200), dump_default=list
    )
    external_ids = fields.Dict(
        keys=fields.String(validate=validate.OneOf(["tmdb", "imdb", "wikidata"])),
        values=fields.String(validate=[validate.Length(1, 64), Text]),
        dump_default=dict,
    )
    popularity = fields.Float(
        allow_none=True, dump_default=None, validate=validate.Range(min=0, max=1e9)
    )
    vote_average = fields.Float(allow_none=True, dump_default=None, validate=validate.Range(0, 10))
    vote_count = WholeNumber(
        allow_none=True, dump_default=None, validate=validate.Range(min=0, max=10**9)
    )
    pinned_tags = fields.List(
        fields.String(validate=validate.Length(1, 100)),
        validate=validate.Length(max=50),
        dump_default=list,
    )
    blocked_tags = fields.List(
        fields.String(validate=validate.Length(1, 100)),
        validate=validate.Length(max=50),
        dump_default=list,
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)
    rev = fields.Integer(
        dump_only=True,
        metadata={"description": "Bumped on every change to the film or its reviews"},
    )
    job_id = fields.String(
        dump_only=True,
        allow_none=True,
        dump_default=None,
        metadata={
            "description": "The latest job queued to refresh the film's tags and lists (GET /jobs/{id})"
        },
    )

    @validates_schema
    def check_tags(self, data, **kwargs):
        overlap = set(data.get("pinned_tags", [])) & set(data.get("blocked_tags", []))
        if overlap:
            raise ValidationError(
                f"Tags both pinned and blocked: {sorted(overlap)}", "blocked_tags"
            )


class FilmPatchSchema(FilmSchema):
    OPENAPI_EXTRA = {"minProperties": 1}

    class Meta:
        exclude = ("id",)

    @validates_schema
    def check_not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Send at least one field to change.")


class ReviewSchema(Schema):
    id = fields.String(dump_only=True)
    film_id = fields.String(dump_only=True)
    author = text(200, allow_none=True, dump_default=None)
    language = fields.String(
        allow_none=True,
        validate=LangCode,
        dump_default=None,
        metadata={"description": "Detected from the body when omitted"},
    )
    title = text(300, allow_none=True, dump_default=None)
    body = fields.String(required=True, validate=[validate.Length(1, 50000), Text])
    rating = fields.Float(allow_none=True, validate=validate.Range(0, 10), dump_default=None)
    source_url = web_url(dump_default=None)
    published_at = IsoDateTime(allow_none=True, dump_default=None)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)
    job_id = fields.String(
        dump_only=True,
        allow_none=True,
        dump_default=None,
        metadata={"description": "The latest job queued to refresh the film's tags and lists"},
    )


class ReviewPatchSchema(ReviewSchema):
    OPENAPI_EXTRA = {"minProperties": 1}

    @validates_schema
    def check_not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Send at least one field to change.")
