"""Read and drop the body of a refused request (bounded) before answering, so that a client that
writes its whole body before reading (Python's urllib) reads the 413 (or 401, 429) instead of a
broken pipe: a server closing on an unread body resets the connection."""

import time

from flask import current_app, request

CHUNK = 64 * 1024


def drain(stream, limit: int, seconds: float) -> int:
    """Read and drop up to limit bytes from stream for at most seconds; return the bytes read."""
    deadline = time.monotonic() + seconds
    read = 0
    while read < limit and time.monotonic() < deadline:
        chunk = stream.read(min(CHUNK, limit - read))
        if not chunk:
            break
        read += len(chunk)
    return read


def drain_refused_body(response):
    """after_request: on an error answer, drain what is left of a body of at most DRAIN_MAX_BYTES
    (a larger one is not read: the connection closes on it, as before)."""
    length = request.content_length
    if (
        response.status_code < 400
        or length == 0
        or (length is None and "chunked" not in request.headers.get("Transfer-Encoding", ""))
    ):
        return response
    limit = current_app.config["DRAIN_MAX_BYTES"]
    if length is not None and length > limit:
        return response
    stream = request.environ.get("wsgi.input")
    if stream is not None:
        try:  # the server's reader stops at the end of the body (Content-Length or chunked)
            drain(stream, limit if length is None else length, current_app.config["DRAIN_SECONDS"])
        except (OSError, ValueError):
            pass
    return response


def init_app(app) -> None:
    app.after_request(drain_refused_body)
