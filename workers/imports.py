"""rq job: import an uploaded JSONL body, then queue one rebuild."""

import time

from rq import get_current_job

from service.importer import import_rows, queue_rebuild, read_jsonl
from service.jobstats import timed_job
from service.queue import get_queue
from workers.context import job_settings
from workers.jobs import current_store


class JobProgress:
    """Count imported rows into the job's meta (what GET /jobs/{id} shows), at most twice a second."""

    def __init__(self, job, rows: int):
        self.job, self.rows, self.done, self.saved = job, rows, 0, 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        if time.monotonic() - self.saved >= 0.5:
            self.save("importing")

    def save(self, phase: str) -> None:
        self.job.meta["progress"] = {"phase": phase, "rows": self.rows, "done": self.done}
        self.job.save_meta()
        self.saved = time.monotonic()


@timed_job("import")
def import_upload(prefix: str, upload_id: str) -> dict:
    """Import the uploaded body upload_id; return the report and the rebuild's job id."""
    job = get_current_job()
    store = current_store(prefix)
    lines = store.get_upload(upload_id).decode("utf-8-sig").split("\n")
    progress = JobProgress(job, sum(1 for line in lines if line.strip()))
    progress.save("importing")
    report = import_rows(store, read_jsonl(lines), progress)
    rebuild_id = queue_rebuild(store, get_queue(job.connection, job.origin, job_settings()), report)
    progress.save("done")
    store.drop_upload(upload_id)
    return {**report.as_dict(), "rebuild_job": rebuild_id}
