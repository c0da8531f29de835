"""gunicorn workers answering gunicorn's own 414 and 431 with the API's JSON error body."""

import json

from gunicorn import util
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

# gunicorn refuses these before the app sees the request, with an HTML page of its own.
LIMIT_ERRORS = {
    LimitRequestLine: (414, "URI Too Long", "The request line is too long."),
    LimitRequestHeaders: (
        431,
        "Request Header Fields Too Large",
        "The request headers are too large or too many.",
    ),
}


def error_response(code: int, status: str, message: str) -> bytes:
    """Return a whole HTTP/1.1 answer with the JSON error body ({"code", "status", "message"})."""
    body = json.dumps({"code": code, "status": status, "message": message}).encode() + b"\n"
    head = (
        f"HTTP/1.1 {code} {status}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonLimitErrors:
    """Mix-in for a gunicorn worker: 414 and 431 as JSON, every other error as gunicorn has it."""

    def handle_error(self, req, client, addr, exc):
        for kind, (code, status, message) in LIMIT_ERRORS.items():
            if isinstance(exc, kind):
                self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
                try:
                    util.write_nonblock(client, error_response(code, status, message))
                except OSError:
                    self.log.debug("Failed to send error message.")
                return
        super().handle_error(req, client, addr, exc)


class JsonErrorSyncWorker(JsonLimitErrors, SyncWorker):
    """gunicorn's sync worker (one request at a time): behind a buffering proxy, as compose runs it."""


class JsonErrorThreadWorker(JsonLimitErrors, ThreadWorker):
    """gthread: a client that sends its request slowly holds one thread, not the whole worker
    (`recs serve`, which has no proxy in front)."""
