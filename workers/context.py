"""The settings of the worker running a job: make_worker hands them over, the jobs read them."""

from config.settings import Settings

_settings: Settings | None = None


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
