"""Health: is the process up, and can it serve (Redis reachable, a worker seen)."""

import time

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields
from redis.exceptions import RedisError
from rq import Worker

from service.common import queue

URL_PREFIX = ""
blp = Blueprint("health", __name__, description="Liveness and readiness")


class HealthSchema(Schema):
    status = fields.String(metadata={"example": "ok"})


class ReadySchema(Schema):
    status = fields.String(metadata={"example": "ready"})
    workers = fields.Integer(metadata={"description": "Workers seen recently", "example": 2})
    queued = fields.Integer(metadata={"description": "Jobs waiting in the queue", "example": 0})


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """The process is up"""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self):
        """Redis answers and a worker on our queue sent a heartbeat recently"""
        q = queue()
        try:
            q.connection.ping()
            workers = Worker.all(queue=q)
        except RedisError as exc:
            abort(503, message=f"Redis is unreachable: {exc}")
        limit = current_app.config["WORKER_SEEN_SECONDS"]
        seen = [
            w
            for w in workers
            if w.last_heartbeat and time.time() - w.last_heartbeat.timestamp() < limit
        ]
        if not seen:
            abort(503, message=f"No worker on queue '{q.name}' seen in the last {limit} s.")
        return {"status": "ready", "workers": len(seen), "queued": q.count}
