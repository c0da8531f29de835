"""Jobs: the state of queued work, so a front end can wait for fresh lists; retry failed work."""

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.queue import Queue

from service.common import page_of, queue, store
from service.schemas import PageArgs, Timestamp, paged

URL_PREFIX = "/api/v1"
blp = Blueprint("jobs", __name__, description="Queued work (tag extraction, lists, rebuilds)")


class JobSchema(Schema):
    id = fields.String()
    kind = fields.String()
    state = fields.String(
        metadata={"description": "queued, started, deferred, finished, failed, ..."}
    )
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
        "id": job.id,
        "kind": job.id.split("-", 1)[0],
        "state": str(getattr(state, "value", state)),
        "description": job.description,
        "enqueued_at": _ts(job.enqueued_at),
        "started_at": _ts(job.started_at),
        "ended_at": _ts(job.ended_at),
        "progress": job.meta.get("progress", {}),
        "result": job.return_value() if state == "finished" else None,
        "error": error,
    }


STATES = ("queued", "started", "deferred", "scheduled", "finished", "failed")


class JobListArgs(PageArgs):
    state = fields.String(
        load_default="failed",
        validate=validate.OneOf(STATES),
        metadata={"description": "Which jobs to list (newest first, except queued)"},
    )


def job_ids_in(q: Queue, state: str, start: int, stop: int) -> tuple[list[str], int]:
    """Return the ids of jobs in one state (rows start..stop-1) and how many there are."""
    if state == "queued":
        return q.get_job_ids(start, stop - start), q.count
    registry = {
        "started": q.started_job_registry,
        "deferred": q.deferred_job_registry,
        "scheduled": q.scheduled_job_registry,
        "finished": q.finished_job_registry,
        "failed": q.failed_job_registry,
    }[state]
    total = registry.get_job_count(cleanup=True)  # cleanup moves abandoned jobs on
    return registry.get_job_ids(start, stop - 1, desc=True, cleanup=False), total


def fetch_job(job_id: str) -> Job:
    """Return a job of our queue, or answer 404."""
    q = queue()
    try:
        job = Job.fetch(job_id, connection=q.connection, serializer=q.serializer)
    except NoSuchJobError:
        job = None
    if job is None or job.origin != q.name:
        abort(404, message=f"No job with id '{job_id}' (finished jobs are kept for an hour).")
    return job


@blp.route("/jobs")
class Jobs(MethodView):
    @blp.arguments(JobListArgs, location="query")
    @blp.response(200, paged(JobSchema, "JobPage"))
    def get(self, args):
        """Jobs in one state (failed by default), paged"""
        q, size = queue(), args["page_size"]
        start = (args["page"] - 1) * size
        ids, total = job_ids_in(q, args["state"], start, start + size)
        jobs = [
            j for j in Job.fetch_many(ids, connection=q.connection, serializer=q.serializer) if j
        ]
        return page_of([describe_job(j) for j in jobs], args["page"], size, total)


@blp.route("/jobs/<job_id:job_id>/retry")
class JobRetry(MethodView):
    @blp.response(202, JobSchema)
    @blp.alt_response(404, description="No such job")
    @blp.alt_response(409, description="The job has not failed")
    def post(self, job_id):
        """Queue a failed job again (e.g. after fixing the data it choked on)"""
        job = fetch_job(job_id)
        if not job.is_failed:
            abort(409, message=f"Job '{job_id}' is {describe_job(job)['state']}, not failed.")
        try:
            job.requeue()
        except InvalidJobOperation:
            abort(409, message=f"Job '{job_id}' is no longer in the failed registry.")
        return describe_job(job)


@blp.route("/jobs/<job_id:job_id>")
class JobById(MethodView):
    @blp.response(200, JobSchema)
    def get(self, job_id):
        """The state of a queued job, with progress and the error if it failed"""
        job = fetch_job(job_id)
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
