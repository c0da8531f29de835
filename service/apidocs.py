"""The interactive API docs: Swagger UI from a pinned package (no CDN), and operation ids."""

from pathlib import Path

import flask_swagger_ui
from apispec import BasePlugin
from flask import Blueprint

from service.caching import CACHEABLE

# Swagger UI's files as flask-swagger-ui ships them (its version is pinned in pyproject.toml):
# /api/docs works with no outside host, and nothing loads code from a CDN.
SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
SWAGGER_UI_URL = "/api/docs/static/"

bp = Blueprint(
    "apidocs",
    __name__,
    static_folder=str(SWAGGER_UI_DIST),
    static_url_path=SWAGGER_UI_URL.rstrip("/"),
)

# One stable name per operation, as client generators turn them into method names.
OPERATION_IDS = {
    ("films.Films", "get"): "listFilms",
    ("films.Films", "post"): "createFilm",
    ("films.FilmById", "get"): "getFilm",
    ("films.FilmById", "patch"): "updateFilm",
    ("films.FilmById", "delete"): "deleteFilm",
    ("reviews.FilmReviews", "get"): "listFilmReviews",
    ("reviews.FilmReviews", "post"): "createReview",
    ("reviews.ReviewImport", "post"): "importReview",
    ("reviews.ReviewById", "get"): "getReview",
    ("reviews.ReviewById", "patch"): "updateReview",
    ("reviews.ReviewById", "delete"): "deleteReview",
    ("recommendations.Recommendations", "get"): "listRecommendations",
    ("recommendations.Tags", "get"): "getFilmTags",
    ("jobs.Jobs", "get"): "listJobs",
    ("jobs.JobById", "get"): "getJob",
    ("jobs.JobRetry", "post"): "retryJob",
    ("health.Health", "get"): "getHealth",
    ("health.Ready", "get"): "getReadiness",
    ("pagefill.FillPage", "post"): "fillPage",
    ("imports.Imports", "post"): "importJsonl",
}


def operation_id(endpoint: str, method: str) -> str:
    """Return the operation's id: the table's name, else method + view name (a new route)."""
    return OPERATION_IDS.get((endpoint, method)) or method + endpoint.rpartition(".")[2]


NOT_MODIFIED = {
    "description": "Not Modified: the copy named by If-None-Match (or dated by "
    "If-Modified-Since) is current; no body"
}


class ExactSchemaPlugin(BasePlugin):
    """Say in the spec what the schemas check beyond their fields (issue 15: schemathesis found
    the spec accepting what the app refuses): a schema's OPENAPI_EXTRA keywords (e.g.
    minProperties), and the keys a Dict field takes (propertyNames, from its key field)."""

    def init_spec(self, spec):
        self.spec = spec

    def schema_helper(self, name, definition, **kwargs):
        schema = kwargs.get("schema")
        return dict(getattr(schema, "OPENAPI_EXTRA", {})) if schema is not None else None


def dict_keys2property(self, field, **kwargs) -> dict:
    """apispec attribute function: a Dict field's keys as propertyNames (OpenAPI 3.1)."""
    from marshmallow import fields

    if not isinstance(field, fields.Dict) or field.key_field is None:
        return {}
    names = {
        k: v
        for k, v in self.field2property(field.key_field).items()
        if k in ("pattern", "enum", "minLength", "maxLength")
    }
    return {"propertyNames": names} if names else {}


def init_spec(api) -> None:
    """Add dict_keys2property to the marshmallow converter (before the blueprints register)."""
    api.ma_plugin.converter.add_attribute_function(dict_keys2property)


class OperationIdPlugin(BasePlugin):
    """Give every operation of the spec an operationId, and the cacheable reads their 304."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        rule = kwargs.get("rule")
        if rule is None:
            return
        for method, op in (operations or {}).items():
            op.setdefault("operationId", operation_id(rule.endpoint, method))
            if method == "get" and rule.endpoint in CACHEABLE:
                op.setdefault("responses", {}).setdefault("304", NOT_MODIFIED)
