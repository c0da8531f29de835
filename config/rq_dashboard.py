"""rq-dashboard settings for our queue: `rq-dashboard --json -c config.rq_dashboard`.

Our jobs are JSON-serialized. rq-dashboard 0.9.0's `--json` covers queues and jobs, but it
lists workers with rq's default (pickle) serializer, so its Workers page answers 500 while
a worker runs one of our jobs. Loading this module makes that listing use JSON as well.
"""

import rq_dashboard.web as _web
from rq import Worker
from rq.serializers import JSONSerializer


class JsonWorker(Worker):
    """rq's Worker whose `all()` reads the workers' current jobs as JSON."""

    @classmethod
    def all(cls, *args, serializer=JSONSerializer, **kwargs):
        return super().all(*args, serializer=serializer, **kwargs)


_web.Worker = JsonWorker

# Refresh the pages every 5 s (rq-dashboard's default is 2.5 s).
RQ_DASHBOARD_POLL_INTERVAL = 5000
