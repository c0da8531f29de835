"""Imports: upload films and reviews as JSONL; a queued job imports them and rebuilds once."""

import uuid

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields
from rq import Queue

from service.common import queue, store
from service.storage import Store

URL_PREFIX = "/api/v1"
blp = Blueprint("imports", __name__, description="Bulk imports of films and reviews (JSONL)")

JSONL_TYPES = ("application/x-ndjson", "application/jsonl")
UPLOAD_TTL = 86400  # an upload the job never reached is dropped after a day
BODY_DOC = {
    "required": True,
    "description": (
        'One JSON object per line: a film in the API\'s schema (optionally with "reviews": [...]), '
        'or a review with "film_id". Bad lines are skipped and reported with their numbers.'
    ),
    "content": {t: {"schema": {"type": "string"}} for t in JSONL_TYPES},
}


class ImportAcceptedSchema(Schema):
    job_id = fields.String()
    status_url = fields.String(metadata={"description": "Poll for progress and the report"})
    lines = fields.Integer(metadata={"description": "Non-empty lines received"})


def enqueue_import(s: Store, q: Queue, body: bytes) -> str:
    """Keep the body in store s for the job (with a TTL) and queue the job on q; return its id."""
    job_id = f"import-{uuid.uuid4().hex[:12]}"
    s.put_upload(job_id, body, UPLOAD_TTL)
    q.enqueue(
        "workers.imports.import_upload",
        s.p,
        job_id,
        job_id=job_id,
        result_ttl=86400,
        failure_ttl=7 * 86400,
        description=f"import {len(body)} bytes",
    )
    return job_id


@blp.route("/imports")
class Imports(MethodView):
    @blp.doc(requestBody=BODY_DOC)
    @blp.response(202, ImportAcceptedSchema)
    @blp.alt_response(415, description="Not a JSONL content type")
    @blp.alt_response(422, description="Empty body, or not UTF-8")
    def post(self):
        """Import films and reviews from a JSONL body; answers with the job that runs the import"""
        if request.mimetype not in JSONL_TYPES:
            abort(
                415,
                message=f"Send the body as {' or '.join(JSONL_TYPES)} (one JSON object a line).",
            )
        body = request.get_data(cache=False)  # 413 beyond MAX_CONTENT_LENGTH
        try:
            lines = sum(1 for line in body.decode("utf-8-sig").split("\n") if line.strip())
        except UnicodeDecodeError:
            abort(422, message="The body is not UTF-8 text.")
        if not lines:
            abort(422, message="The body is empty: send one JSON object per line.")
        job_id = enqueue_import(store(), queue(), body)
        url = f"/api/v1/jobs/{job_id}"
        return {"job_id": job_id, "status_url": url, "lines": lines}, 202, {"Location": url}
