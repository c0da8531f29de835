"""Security: API keys on writes, CORS allow-list, rate limits, safe ids, JSON-only jobs."""

import hmac
import json
import time

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from service import security
from tests.conftest import API_KEY

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def write_routes(app):
    """Every (method, path) that writes under /api/v1, with 'x' for each path argument."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.build({arg: "x" for arg in rule.arguments}, append_unknown=False)[1]
        for method in sorted(rule.methods & set(WRITE_METHODS)):
            yield method, path


def test_every_write_route_needs_a_key(app, anon_client, store):
    routes = list(write_routes(app))
    assert ("POST", "/api/v1/films") in routes and ("DELETE", "/api/v1/reviews/x") in routes
    for method, path in routes:
        resp = anon_client.open(path, method=method, json={"title": "A", "body": "B"})
        assert resp.status_code == 401, (method, path)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        body = resp.get_json()
        assert (body["code"], body["status"]) == (401, "Unauthorized") and "Bearer" in body[
            "message"
        ]
    assert store.count_films() == 0


@pytest.mark.parametrize(
    "header",
    [
        "Bearer wrong",
        f"Basic {API_KEY}",
        f"Bearer {API_KEY}x",
        "Bearer",
        f"bearer  {API_KEY[:-1]}",
        "Bearer ключ",
    ],
)
def test_wrong_key_is_401(anon_client, store, header):
    resp = anon_client.post("/api/v1/films", json={"title": "A"}, headers={"Authorization": header})
    assert resp.status_code == 401 and resp.is_json and resp.get_json()["message"]
    assert store.count_films() == 0


def test_reads_are_public(client, anon_client):
    assert client.post("/api/v1/films", json={"id": "f", "title": "A"}).status_code == 201
    for path in (
        "/api/v1/films",
        "/api/v1/films/f",
        "/api/v1/films/f/reviews",
        "/api/v1/films/f/tags",
        "/api/v1/films/f/recommendations",
        "/films/f",
        "/",
    ):
        assert anon_client.get(path).status_code == 200, path


def test_any_listed_key_works_so_keys_rotate(make_app):
    app = make_app(RECS_API_KEYS="old-key-123, new-key-456")  # the environment's comma form
    web = app.test_client()
    for n, key in enumerate(("old-key-123", "new-key-456")):
        resp = web.post(
            "/api/v1/films", json={"title": f"F{n}"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert resp.status_code == 201
    rotated = make_app(RECS_API_KEYS=["new-key-456"]).test_client()
    assert (
        rotated.post(
            "/api/v1/films", json={"title": "G"}, headers={"Authorization": "Bearer old-key-123"}
        ).status_code
        == 401
    )


def test_keys_are_compared_in_constant_time_against_every_key(monkeypatch):
    calls, real = [], hmac.compare_digest

    def compare(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", compare)
    assert security.key_is_valid("k1", ("k1", "k2", "k3"))
    assert len(calls) == 3  # no early exit on the first match
    assert not security.key_is_valid("k4", ("k1", "k2", "k3"))


def test_app_refuses_to_start_without_a_key(make_app):
    with pytest.raises(RuntimeError, match="RECS_API_KEYS"):
        make_app(TESTING=False, RECS_API_KEYS=[])
    open_app = make_app(TESTING=False, RECS_API_KEYS="", RECS_ALLOW_NO_KEYS=True)
    assert open_app.test_client().post("/api/v1/films", json={"title": "Dev"}).status_code == 201


def test_cors_only_for_allowed_origins(make_app):
    web = make_app(CORS_ORIGINS=["https://www.example.de"]).test_client()
    resp = web.get("/api/v1/films", headers={"Origin": "https://www.example.de"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://www.example.de"
    resp = web.get("/api/v1/films", headers={"Origin": "https://evil.example"})
    assert not any(h.lower().startswith("access-control-") for h in resp.headers.keys())
    preflight = web.options(
        "/api/v1/films",
        headers={
            "Origin": "https://www.example.de",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    no_cors = (
        make_app().test_client().get("/api/v1/films", headers={"Origin": "https://www.example.de"})
    )
    assert "Access-Control-Allow-Origin" not in no_cors.headers


def assert_429(resp):
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    body = resp.get_json()
    assert (body["code"], body["status"]) == (429, "Too Many Requests") and body["message"]


def test_writes_are_limited_per_key(make_app):
    web = make_app(RECS_API_KEYS=["key-a", "key-b"], RECS_RATE_WRITES="2/minute").test_client()
    a, b = {"Authorization": "Bearer key-a"}, {"Authorization": "Bearer key-b"}
    assert [
        web.post("/api/v1/films", json={"title": f"A{i}"}, headers=a).status_code for i in range(2)
    ] == [201, 201]
    assert (
        "Retry-After" not in web.post("/api/v1/films", json={}, headers=b).headers
    )  # 422, b's 1st
    assert_429(web.post("/api/v1/films", json={"title": "A2"}, headers=a))
    assert_429(web.patch("/api/v1/films/a0", json={"year": 2000}, headers=a))
    assert web.post("/api/v1/films", json={"title": "B1"}, headers=b).status_code == 201
    assert web.get("/api/v1/films/a2").status_code == 404  # the refused write left nothing


def test_expensive_reads_are_limited_per_address(make_app):
    web = make_app(RECS_RATE_READS="2/minute").test_client()
    assert [web.get("/api/v1/films").status_code for _ in range(2)] == [200, 200]
    assert_429(web.get("/api/v1/films?q=x"))
    # X-Forwarded-For is not trusted by default, so it cannot buy a new bucket.
    assert_429(web.get("/api/v1/films", headers={"X-Forwarded-For": "203.0.113.9"}))
    assert web.get("/api/v1/films/nope").status_code == 404  # a single-key read is not limited
    assert web.get("/healthz").status_code == 200


def test_related_titles_are_a_cheap_read_and_not_limited(make_app):
    app = make_app(RECS_RATE_READS="1/minute")
    web = app.test_client()
    key = {"Authorization": f"Bearer {API_KEY}"}
    assert web.post("/api/v1/films", json={"id": "f", "title": "F"}, headers=key).status_code == 201
    answers = [web.get("/api/v1/films/f/recommendations?limit=10") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert not any(h.startswith("X-RateLimit") for r in answers for h in r.headers.keys())
    listed = web.get("/api/v1/films")  # an expensive read: limited, with its headers
    assert listed.status_code == 200 and listed.headers["X-RateLimit-Limit"] == "1"
    assert_429(web.get("/api/v1/films"))
    spec = web.get("/api/v1/openapi.json").get_json()["paths"]
    assert "429" not in spec["/api/v1/films/{film_id}/recommendations"]["get"]["responses"]


def test_forwarded_address_counts_behind_a_trusted_proxy(make_app):
    web = make_app(RECS_RATE_READS="1/minute", RECS_TRUSTED_PROXIES=1).test_client()
    for addr in ("203.0.113.1", "203.0.113.2"):
        assert web.get("/api/v1/films", headers={"X-Forwarded-For": addr}).status_code == 200
    assert_429(web.get("/api/v1/films", headers={"X-Forwarded-For": "203.0.113.1"}))


def test_limits_work_on_the_embedded_unix_socket_redis(make_app, tmp_path):
    from service.redisconn import _embedded

    app = make_app(REDIS_URL="", RECS_DATA_DIR=str(tmp_path), RECS_RATE_WRITES="1/minute")
    try:
        web = app.test_client()
        key = {"Authorization": f"Bearer {API_KEY}"}
        assert web.post("/api/v1/films", json={"title": "A"}, headers=key).status_code == 201
        assert_429(web.post("/api/v1/films", json={"title": "B"}, headers=key))
    finally:
        _embedded.pop(str(tmp_path / "recs.rdb")).shutdown()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/films/a:b",
        "/api/v1/films/a*",
        "/api/v1/films/a%20b",
        "/api/v1/films/a/b/tags",
        "/api/v1/reviews/r:1",
        "/api/v1/jobs/a:b",
        "/api/v1/films/*/recommendations",
        "/films/a%3Ab",
    ],
)
def test_bad_path_ids_are_404_without_touching_redis(make_app, path):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens: any Redis access is a 503
    web = app.test_client()
    web.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {API_KEY}"
    assert web.get(path).status_code == 404
    assert web.delete(path).status_code in (404, 405)
    assert web.get("/api/v1/films/good-id").status_code == 503  # the control: a valid id does


def test_openapi_documents_the_bearer_scheme(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    films = spec["paths"]["/api/v1/films"]
    assert films["post"]["security"] == [{"bearerAuth": []}]
    assert {"401", "413", "429"} <= set(films["post"]["responses"])
    assert "security" not in films["get"] and "429" in films["get"]["responses"]
    param = spec["paths"]["/api/v1/films/{film_id}"]["parameters"][0]
    assert param["schema"]["pattern"] == f"^{security.IdConverter.regex}$"


def test_queued_jobs_are_json_not_pickle(client, store):
    job_id = client.post("/api/v1/films", json={"id": "f", "title": "A"}).get_json()["job_id"]
    data = Job.fetch(job_id, connection=store.r, serializer=JSONSerializer).data  # as stored
    assert not data.startswith(b"\x80")  # a pickle starts with its protocol byte
    func, _instance, args, _kwargs = json.loads(data)
    assert func == "workers.jobs.refresh_film" and args[-1] == "f"


def test_failed_keys_are_limited_per_address(make_app):
    """Issue 15 item 7: 300 wrong keys from one address get 429s once past the limit, a right
    key from there too (no guess is confirmed); another address's right key still works."""
    app = make_app(RECS_API_KEYS=["right-key"], RECS_RATE_AUTH_FAILURES="20/minute")
    web = app.test_client()
    guesser = {"REMOTE_ADDR": "10.0.0.1"}
    started = time.monotonic()
    codes = [
        web.post(
            "/api/v1/films",
            json={"title": "X"},
            environ_base=guesser,
            headers={"Authorization": f"Bearer guess-{i}"},
        ).status_code
        for i in range(300)
    ]
    elapsed = time.monotonic() - started
    assert codes[:20] == [401] * 20 and codes[20:] == [429] * 280, (codes.count(401), elapsed)
    refused = web.post(
        "/api/v1/films",
        json={"title": "X"},
        environ_base=guesser,
        headers={"Authorization": "Bearer right-key"},
    )
    assert_429(refused)
    assert web.post("/api/v1/films", json={"title": "X"}, environ_base=guesser).status_code == 429
    ok = web.post(
        "/api/v1/films",
        json={"title": "Y"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
        headers={"Authorization": "Bearer right-key"},
    )
    assert ok.status_code == 201
    print(f"300 wrong keys in {elapsed:.2f} s: {codes.count(401)} x 401, {codes.count(429)} x 429")
