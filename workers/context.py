"""The worker running a job: its settings (make_worker hands them over, the jobs read them),
and whether this process is a work horse rq forked for one job."""

from config.settings import Settings

_settings: Settings | None = None
_work_horse = False


def use_settings(settings: Settings | None) -> None:
    """Make settings those of the jobs this process runs (and of the work horses it forks)."""
    global _settings
    _settings = settings


def job_settings() -> Settings:
    """Return the settings of the worker running this job.

    A worker that make_worker did not build (rq's own `rq worker`, say) has the environment's,
    as `recs worker` would read them.
    """
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def mark_work_horse() -> None:
    """Say that this process is a work horse: it runs one job and ends (RecsWorker calls it)."""
    global _work_horse
    _work_horse = True


def in_work_horse() -> bool:
    """Whether this process is a work horse (not a worker that runs jobs in itself)."""
    return _work_horse
