"""Structured JSON logs: one object per line, with the request id or the rq job id.

Flask is imported only by the web's hooks: the workers log through here without it.
"""

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

import orjson

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a caller's id only when it is short and plain, so it is safe in logs and headers.
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# LogRecord attributes that are not extra fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Terminal colour codes, which rq writes into its messages (green(queue name), blue("Job OK")).
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# rq's housekeeping lines, logged at INFO every few seconds or per job: DEBUG detail here.
_RQ_CHATTER = (
    "Worker %s: cleaning registries",
    "Worker %s: subscribing to channel",
    "Worker %s: unsubscribing from channel",
    "Worker %s: job %s result is kept",
    "Worker %s: job %s result discarded",
)

access_log = logging.getLogger("recs.access")


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message, ids and extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _ANSI.sub("", record.getMessage()),
        }
        entry.update(context_ids())
        for key in record.__dict__.keys() - _STANDARD:  # the extras, in one set difference
            entry[key] = record.__dict__[key]
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return dumps_line(entry)


# Dates and dataclasses are written as str() gives them, as json.dumps(default=str) did.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
)


def dumps_line(entry: dict) -> str:
    """Return entry as one line of compact JSON (json.dumps for what orjson refuses: lone
    surrogates, huge ints)."""
    try:
        return orjson.dumps(entry, default=str, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(entry, ensure_ascii=False, default=str, separators=(",", ":"))


def context_ids() -> dict:
    """Return the current request id or rq job id, whichever applies."""
    flask = sys.modules.get("flask")  # not loaded in a worker: then no request is being served
    if flask is not None and flask.has_request_context():
        rid = flask.g.get("request_id")
        return {"request_id": rid} if rid else {}
    from rq import get_current_job

    job = get_current_job()
    return {"job_id": job.id} if job is not None else {}


class QuietRq(logging.Filter):
    """Keep rq's housekeeping lines (registry cleaning every few seconds, channel and result
    notes) out of the log unless the root logger is at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not record.name.startswith("rq."):
            return True
        chatter = isinstance(record.msg, str) and record.msg.startswith(_RQ_CHATTER)
        return not chatter or logging.getLogger().isEnabledFor(logging.DEBUG)


def configure_logging(level: str | int = "INFO") -> None:
    """Send every log line (root logger, rq's and gunicorn's loggers) to stderr as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(QuietRq())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_recs_json", False)]:
        root.removeHandler(old)
    handler._recs_json = True
    root.addHandler(handler)
    root.setLevel(level)
    # rq and gunicorn add plain-text handlers of their own unless theirs propagate here.
    for name in ("rq.worker", "rq.job", "rq.queue", "gunicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True


def request_id_from(header: str | None) -> str:
    """Return the caller's request id when it is sane, else a new one."""
    if header and _SANE_ID.match(header):
        return header
    return uuid.uuid4().hex


def init_app(app) -> None:
    """Give each request an id (echoed in X-Request-ID) and log one JSON access line."""
    from flask import g, request

    @app.before_request
    def start_request():
        ctx_g = g._get_current_object()  # one context lookup per hook, not one per attribute
        ctx_g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        ctx_g.request_started = time.perf_counter()

    @app.after_request
    def finish_request(response):
        ctx_g, req = g._get_current_object(), request._get_current_object()
        rid = getattr(ctx_g, "request_id", None) or request_id_from(None)
        response.headers[REQUEST_ID_HEADER] = rid
        if access_log.isEnabledFor(logging.INFO):
            started = getattr(ctx_g, "request_started", None)
            log_access(
                req.method,
                req.path,
                response.status_code,
                route_of(req),
                time.perf_counter() - started if started else 0.0,
                req.remote_addr,
            )
        return response


def log_access(
    method: str,
    path: str,
    status: int,
    route: str,
    seconds: float,
    remote,
    request_id: str | None = None,
) -> None:
    """Emit the access line. The record is made directly: Logger.info would also walk the
    stack for the caller's file and line (findCaller), which the JSON line never shows.
    request_id: for a line logged outside a Flask request (service/pagefront.py)."""
    extra = {
        "method": method,
        "path": path,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "remote": remote,
    }
    if request_id is not None:
        extra["request_id"] = request_id
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        "(access)",
        0,
        "%s %s %s",
        (method, path, status),
        None,
        extra=extra,
    )
    access_log.handle(record)


def route_of(req=None) -> str:
    """Return the matched url rule (low-cardinality), or a marker when none matched."""
    if req is None:
        from flask import request as req
    rule = req.url_rule
    return rule.rule if rule is not None else "<unmatched>"
