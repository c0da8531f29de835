"""The web's fast paths: each gives what the general path gives, with less work per request.

Each stands in for a general path that stays the contract (a schema, webargs, Flask-Limiter's
hooks); tests compare the two, and tests/test_fastpaths.py fails when one stops being taken.
"""

from collections.abc import Callable
from functools import wraps

import orjson
from flask import request
from marshmallow import Schema, fields, missing

from service.common import LangTag
from service.labels import LANGS
from service.schemas import Timestamp


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


# -- Flask-Limiter's hooks only where a limit applies -----------------------------------------
def skip_limiter_when_unlimited(app, limiter, is_unlimited: Callable[[], bool]) -> bool:
    """Run Flask-Limiter's request hooks only for requests a limit applies to; return whether
    its hooks were found (and wrapped).

    Flask-Limiter resolves and filters its limits on every request, its after_request
    hook looks up the limit state again and its teardown builds a fresh per-request
    context only to clear it: tens of microseconds per request on reads no limit covers
    (single-film reads, related titles, health). Its public API has no way to leave its hooks
    out for a request (request_filter and exempt_when still run them), so its three hooks are
    found on the app and wrapped in place (the order of hooks stays as registered); the limits'
    own exempt_when checks stay authoritative.
    """
    before = app.before_request_funcs.setdefault(None, [])
    after = app.after_request_funcs.setdefault(None, [])
    teardown = app.teardown_request_funcs.setdefault(None, [])
    checks = [i for i, f in enumerate(before) if getattr(f, "__self__", None) is limiter]
    headers = [i for i, f in enumerate(after) if getattr(f, "args", None) == (limiter,)]
    releases = [i for i, f in enumerate(teardown) if getattr(f, "__self__", None) is limiter]
    if len(checks) != 1 or len(headers) != 1 or len(releases) != 1:
        return False  # Flask-Limiter changed its hooks: leave them
    check, inject, release = before[checks[0]], after[headers[0]], teardown[releases[0]]

    def check_limits():
        if not is_unlimited():
            return check()

    def inject_headers(response):
        return response if is_unlimited() else inject(response)

    def release_context(exc=None):
        if not is_unlimited():
            release(exc)

    before[checks[0]], after[headers[0]] = check_limits, inject_headers
    teardown[releases[0]] = release_context
    return True
