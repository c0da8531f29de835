"""docker-compose.yml: valid for a real compose parser, and each service's command starts.

No Docker engine runs here, so the services' commands run as local processes against the
test Redis, on a fresh key prefix and queue.
"""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis
import yaml
from rq import Queue, Worker
from rq.serializers import JSONSerializer
from rq.worker import WorkerStatus

from tests.conftest import REDIS_URL, remove_prefix
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMPOSE = shutil.which("docker-compose")
needs_compose = pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed")
API_KEY = "compose-test-" + uuid.uuid4().hex


DASH_LOGIN = {"RQ_DASHBOARD_USERNAME": "ops", "RQ_DASHBOARD_PASSWORD": "pw-" + uuid.uuid4().hex}
DASH_AUTH = {
    "Authorization": "Basic "
    + base64.b64encode(f"ops:{DASH_LOGIN['RQ_DASHBOARD_PASSWORD']}".encode()).decode()
}


def compose(*args: str, **env_vars: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RECS_API_KEYS": API_KEY, **DASH_LOGIN, **env_vars}
    return subprocess.run(
        [COMPOSE, "-f", str(ROOT / "docker-compose.yml"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict:
    """The compose file as docker-compose resolves it (anchors merged, variables filled)."""
    if COMPOSE is None:
        pytest.skip("docker-compose is not installed")
    result = compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def seconds(duration: str) -> float:
    """Parse a compose duration such as '35m', '1h30m' or '90s'."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration))
    assert parts, duration
    return sum(float(n) * units[u] for n, u in parts)


@needs_compose
def test_compose_config_is_valid():
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_redis_has_aof_healthcheck_and_named_volume(config):
    redis_service = config["services"]["redis"]
    assert "redis-data" in config["volumes"]
    assert any(v.startswith("redis-data:/data") for v in redis_service["volumes"])
    conf_mount = next(v for v in redis_service["volumes"] if v.split(":")[0].endswith("redis.conf"))
    assert conf_mount.split(":")[1] in redis_service["command"]
    redis_conf = Path(conf_mount.split(":")[0]).read_text()
    assert re.search(r"^appendonly yes$", redis_conf, re.MULTILINE)
    assert "redis-cli" in redis_service["healthcheck"]["test"]


@pytest.mark.parametrize("name", ["web", "worker", "rq-dashboard"])
def test_app_services_share_one_image_and_wait_for_healthy_redis(config, name):
    service, web = config["services"][name], config["services"]["web"]
    assert (service["image"], service["build"]) == (web["image"], web["build"])
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"


def test_worker_stop_grace_outlasts_the_longest_job(config):
    worker = config["services"]["worker"]
    timeout = int(worker["environment"]["RECS_REBUILD_TIMEOUT"])
    assert seconds(worker["stop_grace_period"]) > timeout


def test_web_is_published_only_through_the_nginx_proxy(config):
    proxy, web = config["services"]["proxy"], config["services"]["web"]
    assert "ports" not in web and proxy["image"].startswith("nginx:")
    assert any(
        str(p.get("published", p) if isinstance(p, dict) else p).startswith("8000")
        for p in proxy["ports"]
    )
    mount = next(v for v in proxy["volumes"] if ":/etc/nginx/nginx.conf" in v)
    conf = Path(mount.split(":")[0]).read_text()  # the file tests/test_proxy.py runs
    assert (
        Path(mount.split(":")[0]) == ROOT / "config/nginx.conf"
        and "/etc/nginx/nginx.conf" in proxy["command"][-1]
    )
    assert "server web:8000;" in conf and "listen 8000;" in conf
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    assert web["environment"]["RECS_TRUSTED_PROXIES"] == "1"  # one hop: the proxy


def test_rq_dashboard_reads_the_compose_redis_as_json(config):
    dash = config["services"]["rq-dashboard"]
    assert dash["command"][0] == "rq-dashboard"
    assert "--json" in dash["command"]
    assert (
        dash["environment"]["RQ_DASHBOARD_REDIS_URL"]
        == config["services"]["web"]["environment"]["REDIS_URL"]
    )
    assert any(str(p).endswith("9181:9181/tcp") or p == "9181:9181" for p in dash["ports"])


@needs_compose
@pytest.mark.parametrize("missing", ["RQ_DASHBOARD_USERNAME", "RQ_DASHBOARD_PASSWORD"])
def test_compose_refuses_to_start_the_dashboard_without_a_login(missing):
    result = compose("config", "-q", **{missing: ""})
    assert result.returncode != 0 and f"set {missing}" in result.stderr


# -- each service's command starts -------------------------------------------------------


def get(
    url: str, headers: dict | None = None, method: str = "GET", timeout: float = 5
) -> tuple[int, str]:
    try:
        request = urllib.request.Request(url, headers=headers or {}, method=method)
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return 0, ""


def wait_for(url: str, status: int, deadline: float, headers: dict | None = None) -> str:
    code, body = 0, ""
    while time.monotonic() < deadline:
        code, body = get(url, headers)
        if code == status:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url}: wanted {status}, last got {code} {body[:300]}")


def local_command(command: list[str]) -> list[str]:
    """The compose command with its program taken from this virtualenv."""
    return [str(BIN / command[0]), *command[1:]]


def stop(procs: list[subprocess.Popen]) -> list[str]:
    """Stop the processes (SIGTERM, then SIGKILL) and return what each wrote."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    outputs = []
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=5)
        outputs.append(out or "")
    return outputs


def test_web_worker_and_dashboard_commands_start(config, tmp_path):
    name = "compose-" + uuid.uuid4().hex[:10]
    web_port, dash_port = free_port(), free_port()
    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "RECS_PREFIX": name + ":",
        "RECS_QUEUE": name,
        "RECS_API_KEYS": API_KEY,
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "RECS_DATA_DIR": str(tmp_path / "var"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    services = config["services"]
    dash_command = [
        str(dash_port) if arg == "9181" else arg for arg in services["rq-dashboard"]["command"]
    ]
    dash_env = {**env, "RQ_DASHBOARD_REDIS_URL": REDIS_URL, **DASH_LOGIN}
    base = f"http://127.0.0.1:{web_port}"
    procs = []

    def start(command, environ):
        procs.append(
            subprocess.Popen(
                local_command(command),
                env=environ,
                cwd=ROOT,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )

    busy = None
    try:
        deadline = time.monotonic() + 90
        start(services["web"]["command"], env)
        assert wait_for(base + "/healthz", 200, deadline)
        assert "No worker" in wait_for(base + "/readyz", 503, deadline)
        start(services["worker"]["command"], env)
        assert json.loads(wait_for(base + "/readyz", 200, deadline))["workers"] == 1

        # A write goes through the worker; its job shows up in the metrics (read from Redis).
        request = urllib.request.Request(
            base + "/api/v1/films",
            method="POST",
            data=json.dumps(
                {"id": "compose-film", "title": "Compose", "genres": ["Drama"]}
            ).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 201
        metrics = ""
        while time.monotonic() < deadline:
            metrics = get(base + "/metrics")[1]
            if 'recs_job_duration_seconds_count{kind="refresh"} 1.0' in metrics:
                break
            time.sleep(0.3)
        assert 'recs_job_duration_seconds_count{kind="refresh"} 1.0' in metrics
        assert f'recs_queue_jobs{{queue="{name}",registry="queued"}} 0.0' in metrics
        assert re.search(
            r'recs_http_requests_total\{method="POST",route="/api/v1/films",'
            r'status="201"\} 1\.0',
            metrics,
        )

        # The dashboard starts and lists workers even while one is busy with a JSON job.
        queue = Queue(name, connection=redis.Redis.from_url(REDIS_URL), serializer=JSONSerializer)
        parked = queue.enqueue("workers.jobs.refresh_film", name + ":", "parked", result_ttl=60)
        queue.remove(parked)
        busy = Worker(
            [queue], connection=queue.connection, serializer=JSONSerializer, name=name + "-busy"
        )
        busy.register_birth()
        busy.set_state(WorkerStatus.BUSY)
        busy.set_current_job_id(parked.id)
        start(dash_command, dash_env)
        dash = f"http://127.0.0.1:{dash_port}"
        assert "RQ dashboard" in wait_for(dash + "/", 200, deadline, DASH_AUTH)
        workers = json.loads(wait_for(dash + "/0/data/workers.json", 200, deadline, DASH_AUTH))[
            "workers"
        ]
        assert parked.id in json.dumps([w for w in workers if w["name"] == busy.name])
    finally:
        if busy is not None:
            busy.register_death()
        outputs = stop(procs)
        remove_prefix(name)  # the queue, its registries and jobs, through rq's own API
    web_log = outputs[0].splitlines()
    access = [json.loads(line) for line in web_log if '"recs.access"' in line]
    assert access and all(line["request_id"] for line in access), web_log[:5]
    assert all(line.startswith("{") for line in web_log if line.strip()), web_log[:5]


@pytest.fixture(scope="module")
def dashboard(config):
    """The compose rq-dashboard command on a free port, with the login; yields its base URL."""
    port = free_port()
    command = [
        str(port) if arg == "9181" else arg for arg in config["services"]["rq-dashboard"]["command"]
    ]
    env = {**os.environ, "RQ_DASHBOARD_REDIS_URL": REDIS_URL, **DASH_LOGIN}
    proc = subprocess.Popen(
        local_command(command),
        env=env,
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/", 200, time.monotonic() + 60, DASH_AUTH)
        yield base
    finally:
        stop([proc])


def test_the_dashboard_does_not_start_without_a_login(config):
    command = config["services"]["rq-dashboard"]["command"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RQ_DASHBOARD_")}
    result = subprocess.run(
        local_command(command),
        env={**env, "RQ_DASHBOARD_USERNAME": "ops"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "RQ_DASHBOARD_PASSWORD" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic " + base64.b64encode(b"ops:wrong").decode()}]
)
def test_the_dashboard_needs_its_login(dashboard, headers):
    assert get(dashboard + "/", headers)[0] == 401
    assert get(dashboard + "/queue/nope/finished/empty", headers, "POST")[0] == 401


@pytest.mark.parametrize(
    "site, status",
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({}, 200),  # not a browser (curl with the login)
    ],
)
def test_dashboard_writes_refuse_cross_site_requests(dashboard, site, status):
    for path in ("/queue/nope/finished/empty", "/requeue/nope", "/job/nope/requeue"):
        code, _ = get(dashboard + path, {**DASH_AUTH, **site}, "POST")
        assert (code == 403) == (status == 403), (path, code)
    same_origin = {"Origin": dashboard} if not site else {}
    assert (
        get(dashboard + "/queue/nope/finished/empty", {**DASH_AUTH, **same_origin}, "POST")[0]
        == 200
    )


def test_dashboard_requeue_by_get_is_refused(dashboard):
    assert get(dashboard + "/requeue/nope", DASH_AUTH)[0] == 405
    # lists every queue of the shared test database: slow while other suites fill it
    assert get(dashboard + "/0/data/queues.json", DASH_AUTH, timeout=30)[0] == 200


def test_ha_profile_adds_a_replica_and_three_sentinels(config):
    services = config["services"]
    replica = services["redis-replica"]
    assert replica["profiles"] == ["ha"]
    assert replica["command"][-3:] == ["--replicaof", "redis", "6379"]
    sentinels = [services[f"sentinel-{i}"] for i in (1, 2, 3)]
    for sentinel in sentinels:
        assert sentinel["profiles"] == ["ha"]
        assert any("config/sentinel.conf" in str(v) for v in sentinel["volumes"])
    # each Sentinel rewrites its own copy of the config: three volumes, not one
    data = {str(v).split(":")[0] for s in sentinels for v in s["volumes"] if "/data" in str(v)}
    assert len(data) == 3
    # without the profile's REDIS_URL the app still talks to `redis` directly
    assert services["web"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"


@needs_compose
def test_ha_profile_points_the_app_at_the_sentinels():
    url = "redis+sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/recsprimary/0"
    env = {**os.environ, "RECS_API_KEYS": API_KEY, **DASH_LOGIN, "REDIS_URL": url}
    result = subprocess.run(
        [COMPOSE, "-f", str(ROOT / "docker-compose.yml"), "--profile", "ha", "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["web"]["environment"]["REDIS_URL"] == url
    assert services["worker"]["environment"]["REDIS_URL"] == url


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_sentinel_conf_monitors_a_real_primary(tmp_path):
    """config/sentinel.conf as redis-server --sentinel runs it, `redis` and its port mapped
    to a primary of our own: the Sentinel starts and names that primary."""
    from tests.redis_ha import wait_for

    primary_port, sentinel_port = free_port(), free_port()
    conf = (ROOT / "config/sentinel.conf").read_text()
    assert "sentinel monitor recsprimary redis 6379 2" in conf
    conf = conf.replace("port 26379", f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}")
    conf = conf.replace("recsprimary redis 6379", f"recsprimary 127.0.0.1 {primary_port}")
    (tmp_path / "sentinel.conf").write_text(conf)
    procs = [
        subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(primary_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        procs.append(
            subprocess.Popen(
                ["redis-server", str(tmp_path / "sentinel.conf"), "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        sentinel = redis.Redis(port=sentinel_port, socket_timeout=1)
        addr = wait_for(lambda: sentinel.sentinel_get_master_addr_by_name("recsprimary"), 10)
        assert int(addr[1]) == primary_port
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
