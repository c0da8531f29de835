"""Shared pieces of the REST blueprints: the store, the queue, paging, timestamps."""

import math

from flask import current_app, g, request
from marshmallow import ValidationError, fields

from service.labels import LANGS


def store():
    """Return the store for this request: a replica's for GET and HEAD when one is configured
    (RECS_REDIS_READ_URL, RECS_READ_FROM_REPLICAS), else the primary's."""
    recs = current_app.extensions["recs"]
    if recs.get("reader") is not None and request.method in ("GET", "HEAD"):
        return recs["reader"]
    return recs["store"]


def once_per_request(name: str, make):
    """Return what make() gives, called the first time this request asks for name (g.<name>):
    for answers that several hooks and the view need."""
    ctx_g = g._get_current_object()
    if name not in ctx_g:
        setattr(ctx_g, name, make())
    return getattr(ctx_g, name)


def primary_store():
    return current_app.extensions["recs"]["store"]


def queue():
    return current_app.extensions["recs"]["queue"]


def page_cache():
    """Return this process's cache of related-title pages (recommendations.PageCache)."""
    return current_app.extensions["recs"]["pages"]


def primary_language(tag: str) -> str:
    """Return the primary language of a BCP 47 tag, lower case: de-DE, de_AT, DE -> de."""
    return tag.replace("_", "-").partition("-")[0].lower()


class LangTag(fields.String):
    """A page language given as a BCP 47 tag (de, de-DE, en-GB), loaded as its primary language."""

    def _deserialize(self, value, attr, data, **kwargs):
        return primary_language(super()._deserialize(value, attr, data, **kwargs)[:35])


def _label_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ValidationError("Use de or en, or a tag of either such as de-DE.")


def lang_arg() -> LangTag:
    return LangTag(
        load_default="de",
        validate=_label_lang,
        metadata={
            "pattern": r"^([Dd][Ee]|[Ee][Nn])([-_][A-Za-z0-9]{1,8})*$",
            "description": "Label language: de or en, or a BCP 47 tag of either (de-DE, en-GB)",
        },
    )


def page_of(items: list, page: int, page_size: int, total: int | None = None) -> dict:
    """Slice a page out of items (or take items as the page when total is given)."""
    if total is None:
        total = len(items)
        items = items[(page - 1) * page_size : page * page_size]
    return {
        "results": items,
        "page": page,
        "total_pages": math.ceil(total / page_size) if total else 0,
        "total_results": total,
    }
