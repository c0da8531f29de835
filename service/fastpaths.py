"""The web's fast paths: each gives what the general path gives, with less work per request.

Each stands in for a general path that stays the contract (a schema, webargs, the limits'
exempt_when); tests compare the two, and tests/test_fastpaths.py fails when one stops being taken.
"""

from collections.abc import Callable
from functools import wraps

import orjson
from flask import request
from marshmallow import Schema, fields, missing

from service.common import LangTag
from service.labels import LANGS
from service.schemas import Timestamp
from service.security import is_unlimited

# environ: the related-titles answer Flask gave, for service/relatedfront.py to replay
KEPT_ANSWER = "recs.kept_answer"


# -- dumps without marshmallow's per-field machinery ------------------------------------------
def dump_plain(schema: Schema, obj: dict) -> dict:
    """Return schema.dump(obj) for a dict obj, calling each field's serializer directly.

    For the read hot paths: the same output (fields in declared order, absent keys with their
    dump default or left out), without marshmallow's per-field lookups. Only for schemas
    without hooks or data keys (tests compare both dumps).
    """
    out = {}
    for name, field in schema.dump_fields.items():
        if name in obj:
            out[name] = field._serialize(obj[name], name, obj)
        elif field.dump_default is not missing:
            default = field.dump_default
            out[name] = field._serialize(default() if callable(default) else default, name, obj)
    return out


_TIMESTAMP = Timestamp()


def dump_rec_page(data: dict) -> dict:
    """Return RecPage().dump(data) for what Recommendations.get builds, without marshmallow.

    The hot path of the service: the schema stays the documented contract (and the tests
    compare both dumps), this only skips the per-field machinery.
    """
    return {
        "page": data["page"],
        "total_pages": data["total_pages"],
        "total_results": data["total_results"],
        "film_id": data["film_id"],
        "status": data["status"],
        "computed_at": _TIMESTAMP._serialize(data["computed_at"], None, None),
        "index_version": data["index_version"],
        "job_id": data["job_id"],
        # related_page's results are dumped already; labelled_reasons gives the dumped form
        "results": orjson.Fragment(data["results"])
        if isinstance(data["results"], bytes)
        else [
            {
                "id": r["id"],
                "title": r["title"],
                "year": r["year"],
                "score": float(r["score"]),
                "reasons": r["reasons"],
            }
            for r in data["results"]
        ],
    }


def offer_answer(data: dict) -> None:
    """Offer related_page's answer to the front (service/relatedfront.py) when it is fresh
    and no limit counted the request: only such an answer is served again beneath Flask."""
    if data["status"] == "fresh" and is_unlimited():
        request.environ[KEPT_ANSWER] = data


# -- query arguments parsed by hand -----------------------------------------------------------
def plain_query(schema: type[Schema]) -> Callable:
    """Return plain(query): schema().load(query) for plain valid queries (one value per name,
    small decimal numbers in range, a known lang as it is, a short string), else None.

    The limits are read from the schema, so that it stays their one source; a field of a kind
    this does not know is refused here, at import, not answered differently at run time.
    Anything plain() does not take (an unknown name, a bad or unusual value) goes through
    webargs and the schema, which give the same values and the same 422 errors.
    """
    ints, strings, langs, defaults = {}, {}, set(), {}
    for name, field in schema._declared_fields.items():
        if field.load_default is not missing:
            defaults[name] = field.load_default
        if isinstance(field, fields.Integer):
            ints[name] = (field.validators[0].min, field.validators[0].max)
        elif isinstance(field, LangTag):
            langs.add(name)
        elif type(field) is fields.String and len(field.validators) == 1:
            strings[name] = field.validators[0].max
        else:
            raise TypeError(f"plain_query does not know {schema.__name__}.{name}")
    known_langs = frozenset(LANGS)

    def plain(query) -> dict | None:
        args = dict(defaults)
        for name, values in query.lists():
            if len(values) != 1:
                return None
            value = values[0]
            if name in ints:
                low, high = ints[name]
                if not (
                    len(value) <= 9
                    and value.isascii()
                    and value.isdigit()
                    and low <= int(value) <= high
                ):
                    return None
                args[name] = int(value)
            elif name in langs and value in known_langs:
                args[name] = value
            elif name in strings and len(value) <= strings[name]:
                args[name] = value
            else:
                return None
        return args

    return plain


def query_args(blp, schema: Schema, plain: Callable):
    """blp.arguments(schema, location="query") (documented and used as it is) with a fast
    path: query args that plain(request.args) accepts skip webargs."""

    def decorator(func):
        parsed = blp.arguments(schema, location="query")(func)

        @wraps(parsed)  # carries the OpenAPI doc (_apidoc) over
        def wrapper(*args, **kwargs):
            fast = plain(request.args)
            if fast is None:
                return parsed(*args, **kwargs)
            return func(*args, fast, **kwargs)

        return wrapper

    return decorator


# -- Flask-Limiter only where a limit applies -------------------------------------------------
def limit_only_where_applies(limiter, is_unlimited: Callable[[], bool]) -> None:
    """Have Flask-Limiter skip the requests that is_unlimited() says no limit applies to.

    Through its public request_filter: such a request is exempt before any limit is resolved,
    so Flask-Limiter neither resolves the limits (their exempt_when checks) nor counts it nor
    looks up X-RateLimit-* for it: single-film reads, related titles, health and a current kept
    film page. Its hooks still run (Flask-Limiter 4 has no way to leave them out), at a few
    microseconds each. The limits' own exempt_when checks stay authoritative.
    """
    limiter.request_filter(is_unlimited)
