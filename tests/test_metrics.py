"""/metrics: requests by route, queue depth, job durations and failures, index version and age;
JSON logs with request ids."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.logs import request_id_from
from service.queue import enqueue_rebuild
from tests.helpers import json_log_lines


def scrape(client) -> dict[tuple, float]:
    """Return {(sample name, sorted labels): value} from /metrics."""
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def rule_of(app, path: str) -> str:
    return app.url_map.bind("localhost").match(path, return_rule=True)[0].rule


def test_requests_counted_by_url_rule_and_status(app, client):
    route = rule_of(app, "/api/v1/films/nope")
    assert "<" in route  # the rule, not the raw path: one series for every film id
    labels = {"method": "GET", "route": route, "status": "404"}
    before = scrape(client)
    client.get("/api/v1/films/nope")
    client.get("/api/v1/films/other")
    after = scrape(client)
    assert (
        value(after, "recs_http_requests_total", **labels)
        - value(before, "recs_http_requests_total", **labels)
        == 2
    )
    assert (
        value(after, "recs_http_request_duration_seconds_count", **labels)
        - value(before, "recs_http_request_duration_seconds_count", **labels)
        == 2
    )
    assert not any("/films/nope" in dict(k[1]).get("route", "") for k in after)


def test_job_durations_failures_and_queue_depth(app, client, run_jobs):
    queue = app.extensions["recs"]["queue"]
    resp = client.post(
        "/api/v1/films", json={"id": "metrics-film", "title": "Metrics Film", "genres": ["Drama"]}
    )
    assert resp.status_code == 201
    assert value(scrape(client), "recs_queue_jobs", queue=queue.name, registry="queued") == 1
    # A refresh that raises inside the job (a film id that is not a string).
    failing = queue.enqueue(
        "workers.jobs.refresh_film", app.config["RECS_PREFIX"], 12345, failure_ttl=300
    )
    try:
        run_jobs()
        samples = scrape(client)
        assert value(samples, "recs_job_duration_seconds_count", kind="refresh") == 2
        assert value(samples, "recs_job_duration_seconds_bucket", kind="refresh", le="+Inf") == 2
        assert value(samples, "recs_job_duration_seconds_sum", kind="refresh") > 0
        assert value(samples, "recs_job_failures_total", kind="refresh") == 1
        assert value(samples, "recs_queue_jobs", queue=queue.name, registry="failed") == 1
        assert value(samples, "recs_queue_jobs", queue=queue.name, registry="queued") == 0
        assert value(samples, "recs_index_updated_age_seconds") >= 0
        assert ("recs_index_updated_age_seconds", ()) in samples
    finally:
        failing.delete()


def test_index_version_and_age_after_rebuild(app, client, store, run_jobs):
    for fid in ("a-film", "b-film"):
        client.post("/api/v1/films", json={"id": fid, "title": fid, "genres": ["Drama"]})
    run_jobs()
    assert ("recs_index_age_seconds", ()) not in scrape(client)  # no rebuild switched in yet
    enqueue_rebuild(store, app.extensions["recs"]["queue"])
    run_jobs(RANK_CHUNK=1)  # the snapshot job ranks one, a job the other
    samples = scrape(client)
    assert value(samples, "recs_index_version") == store.index_version() >= 1
    assert 0 <= value(samples, "recs_index_age_seconds") < 60
    for kind in (
        "rebuild_start",
        "rebuild_extract",
        "rebuild_snapshot",
        "rebuild_rank",
        "rebuild_switch",
    ):
        assert value(samples, "recs_job_duration_seconds_count", kind=kind) >= 1, kind


@pytest.mark.parametrize(
    "given, kept",
    [
        ("abc-123", True),
        ("0f8a.b:c_d", True),
        ("", False),
        ("has space", False),
        ("x" * 129, False),
        ("evil\r\nheader", False),
    ],
)
def test_request_id_from_header(given, kept):
    rid = request_id_from(given)
    assert (rid == given) is kept
    assert rid


def test_request_id_header_and_json_access_log(client):
    with json_log_lines("recs.access") as lines:
        given = client.get("/api/v1/films/nope", headers={"X-Request-ID": "req-42"})
        made = client.get("/healthz", headers={"X-Request-ID": "bad id!"})
    assert given.headers["X-Request-ID"] == "req-42"
    assert made.headers["X-Request-ID"] not in ("", "bad id!")
    assert len(lines) == 2
    first, second = lines
    assert first["request_id"] == "req-42"
    assert first["route"].startswith("/api/v1/films/<") and first["path"] == "/api/v1/films/nope"
    assert (first["method"], first["status"], first["level"]) == ("GET", 404, "info")
    assert first["duration_ms"] >= 0
    assert second["request_id"] == made.headers["X-Request-ID"]


def test_job_log_lines_carry_the_job_id(app, client, run_jobs):
    with json_log_lines("recs.jobs") as lines:
        job_id = client.post(
            "/api/v1/films", json={"title": "Logged Film", "genres": ["Drama"]}
        ).get_json()["job_id"]
        run_jobs()
    assert [(x["message"], x["job_id"], x["kind"]) for x in lines] == [
        ("job started", job_id, "refresh"),
        ("job finished", job_id, "refresh"),
    ]
