"""Jobs: the state of queued work, so a front end can wait for fresh lists."""

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields
from rq.exceptions import NoSuchJobError
from rq.job import Job

from service.common import Timestamp, queue, store

URL_PREFIX = "/api/v1"
blp = Blueprint("jobs", __name__, description="Queued work (tag extraction, lists, rebuilds)")


class JobSchema(Schema):
    id = fields.String()
    kind = fields.String()
    state = fields.String(metadata={"description": "queued, started, deferred, finished, failed, ..."})
    description = fields.String()
    enqueued_at = Timestamp(allow_none=True)
    started_at = Timestamp(allow_none=True)
    ended_at = Timestamp(allow_none=True)
    progress = fields.Dict()
    result = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True)


def _ts(dt):
    return dt.timestamp() if dt else None


def describe_job(job: Job) -> dict:
    state = job.get_status(refresh=False)
    error = None
    if state == "failed":
        result = job.latest_result()
        text = (result.exc_string if result else None) or ""
        error = text.strip().splitlines()[-1] if text.strip() else "failed"
    return {
        "id": job.id, "kind": job.id.split("-", 1)[0], "state": str(getattr(state, "value", state)),
        "description": job.description, "enqueued_at": _ts(job.enqueued_at),
        "started_at": _ts(job.started_at), "ended_at": _ts(job.ended_at),
        "progress": job.meta.get("progress", {}),
        "result": job.return_value() if state == "finished" else None, "error": error,
    }


@blp.route("/jobs/<job_id:job_id>")
class JobById(MethodView):
    @blp.response(200, JobSchema)
    def get(self, job_id):
        """The state of a queued job, with progress and the error if it failed"""
        q = queue()
        try:
            job = Job.fetch(job_id, connection=q.connection, serializer=q.serializer)
        except NoSuchJobError:
            abort(404, message=f"No job with id '{job_id}' (finished jobs are kept for an hour).")
        described = describe_job(job)
        if described["kind"] == "rebuild":
            described.update(rebuild_state(job_id, described))
        if described["kind"] == "import" and (described["result"] or {}).get("rebuild_job"):
            rebuild = store().rebuild_progress(described["result"]["rebuild_job"])
            described["progress"] = {**described["progress"], "rebuild": rebuild}
        return described


def rebuild_state(job_id: str, described: dict) -> dict:
    """A rebuild is many jobs: report its phase and counts, and its state as a whole."""
    progress = store().rebuild_progress(job_id)
    phase = progress.get("phase")
    state = {"done": "finished", "failed": "failed"}.get(phase, described["state"])
    if phase in ("extracting", "ranking"):
        state = "started"
    error = progress.get("error") if phase == "failed" else described["error"]
    return {"progress": progress, "state": state, "error": error}
