"""Build the Flask app: settings, the store, the queue, hooks and blueprints (the web floor's top)."""

from inspect import iscoroutinefunction

from flask import Flask
from flask.templating import Environment
from flask_smorest import Api
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.settings import Settings


class ItemFirstEnvironment(Environment):
    """Flask's Jinja environment, reading `x.name` of a dict as x["name"] first.

    Jinja tries the attribute first and the item only after an AttributeError: the film page
    reads ~150 dict fields a render (film, cards, reviews, labels), and those exceptions took
    ~100 of its ~350 us of templating. A dict's methods are still reached when it has no such key.
    """

    def getattr(self, obj, attribute):
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


class RecsFlask(Flask):
    """Flask, remembering which callables are coroutine functions.

    Flask asks inspect for each hook and view on every request (14 times per API request
    here); the answer never changes for a function, so it is looked up once.
    """

    jinja_environment = ItemFirstEnvironment

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._is_async: dict = {}

    def ensure_sync(self, func):
        # a method is keyed by its function: views get a new bound method per request
        key = getattr(func, "__func__", func)
        is_async = self._is_async.get(key)
        if is_async is None:
            is_async = self._is_async[key] = iscoroutinefunction(func)
        return self.async_to_sync(func) if is_async else func


class RecsApi(Api):
    """flask-smorest's Api whose error bodies always carry a message."""

    def handle_http_exception(self, error):
        payload, code, headers = super().handle_http_exception(error)
        if "message" not in payload:
            payload["message"] = (
                "Invalid input: see errors." if "errors" in payload else error.description
            )
        if getattr(error, "valid_methods", None):  # a 405 must say what is allowed (RFC 9110)
            headers = {**(headers or {}), "Allow": ", ".join(error.valid_methods)}
        return payload, code, headers


def redis_unavailable(error):
    """Answer 503 with a JSON body while Redis cannot be reached."""
    body = {
        "code": 503,
        "status": "Service Unavailable",
        "message": f"The data store is unreachable, try again shortly ({type(error).__name__}).",
    }
    return body, 503, {"Retry-After": "5"}


def create_app(overrides: dict | None = None, settings: Settings | None = None) -> Flask:
    """Build the Flask app from settings (by default the environment's) and overrides.

    The settings with the overrides applied are the app's config, and the queue's: the jobs it
    queues run with what this app was given.
    """
    from service import (
        apidocs,
        caching,
        drain,
        films,
        headers,
        health,
        imports,
        jobs,
        logs,
        metrics,
        pagecache,
        pagefill_api,
        pagefront,
        pages,
        recommendations,
        relatedfront,
        replication,
        reviews,
        security,
    )
    from service.jsonio import OrjsonProvider
    from service.queue import get_queue
    from service.redisconn import connect, connect_reader
    from service.storage import Store

    app = RecsFlask("service")  # the package: its name and root (templates) as before the move
    settings = (settings or Settings.from_env()).replace(**(overrides or {}))
    app.config.update(settings.as_dict())
    app.config.update(
        API_TITLE="filmrecs",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",  # 3.1: JSON Schema's propertyNames says which keys a map takes
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="v1/openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=apidocs.SWAGGER_UI_URL,
        JSON_SORT_KEYS=False,
    )
    app.config.update(overrides or {})
    app.json = OrjsonProvider(app)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    client = connect(app.config["REDIS_URL"], app.config["RECS_DATA_DIR"])
    reader = connect_reader(
        app.config["REDIS_URL"],
        app.config["RECS_REDIS_READ_URL"],
        app.config["RECS_READ_FROM_REPLICAS"],
    )
    app.extensions["recs"] = {
        "store": Store(client, app.config["RECS_PREFIX"]),
        "reader": None
        if reader is None
        else Store(reader, app.config["RECS_PREFIX"], replica=True),
        "queue": get_queue(client, app.config["QUEUE_NAME"], settings),
        "settings": settings,
        "pages": recommendations.PageCache(app.config["PAGE_CACHE"]),
        "html": pagecache.FilmPages(app.config["HTML_CACHE"], app.config["SHARED_PAGE_TTL"]),
    }

    pagefront.init_app(app)  # beneath ProxyFix (security), so it sees the client's address
    relatedfront.init_app(app)  # above pagefront: the API's reads skip its checks
    logs.init_app(app)  # first: every later hook and log line sees the request id
    metrics.init_app(app)
    replication.init_app(app)
    security.init_app(app, client)
    spec_plugin = security.SecuritySpecPlugin()
    app.extensions["recs_security"]["json_bodies"] = spec_plugin.json_bodies
    api = RecsApi(
        app,
        spec_kwargs={
            "extra_plugins": [spec_plugin, apidocs.OperationIdPlugin(), apidocs.ExactSchemaPlugin()]
        },
    )
    security.init_spec(api)
    apidocs.init_spec(api)
    app.register_error_handler(RedisConnectionError, redis_unavailable)
    app.register_error_handler(RedisTimeoutError, redis_unavailable)
    for module in (films, reviews, recommendations, jobs, health, pagefill_api, imports):
        api.register_blueprint(module.blp, url_prefix=module.URL_PREFIX)
    app.register_blueprint(pages.bp)
    app.extensions["recs_security"]["cheap_when"].update(pages.CHEAP_WHEN)
    app.register_blueprint(apidocs.bp)
    headers.init_app(app)
    drain.init_app(app)
    caching.init_app(app)  # last: its 304s are what the access log and the metrics see
    return app
