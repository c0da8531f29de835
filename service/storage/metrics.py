"""Job and index metrics kept in Redis (service/jobstats.py reads and writes them)."""


class JobMetrics:
    """The job counters and index marks of a Store."""

    # -- job and index metrics (service/jobstats.py) ------------------------------
    def count_job(self, kind: str, seconds: float, bucket: float, failed: bool) -> None:
        """Add one finished job of kind to the job counters (one round trip)."""
        pipe = self.r.pipeline(transaction=False)
        key = self.keys.metrics_jobs()
        pipe.hincrby(key, f"{kind}:count", 1)
        pipe.hincrbyfloat(key, f"{kind}:sum", seconds)
        pipe.hincrby(key, f"{kind}:le:{bucket}", 1)
        if failed:
            pipe.hincrby(key, f"{kind}:failed", 1)
        pipe.execute()

    def job_counters(self) -> dict[str, bytes]:
        """Return the job counters: "<kind>:count|sum|failed|le:<bound>" -> value."""
        return {
            field.decode(): value
            for field, value in self.r.hgetall(self.keys.metrics_jobs()).items()
        }

    def note_index_update(self, fields: dict) -> None:
        """Set the index marks (updated_at, and switched_at/_version after a rebuild)."""
        self.r.hset(self.keys.metrics_index(), mapping=fields)

    def index_marks(self) -> dict[str, str]:
        """Return the index marks note_index_update set."""
        return {
            k.decode(): v.decode() for k, v in self.r.hgetall(self.keys.metrics_index()).items()
        }
