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
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/films", data=b'{"title": "Keyed"}',
                                 headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def requests_counted(port: int) -> float:
    """Return the sum of recs_http_requests_total that /metrics reports."""
    text = fetch(f"http://127.0.0.1:{port}/metrics") or ""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("recs_http_requests_total{"))


def test_recs_serve_embedded_fills_love_911(tmp_path):
    """... with compose's gunicorn config: JSON logs only on stderr (quiet, no colour codes),
    JSON access lines, and one /metrics view over both gunicorn workers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "RECS_PREFIX", "RECS_QUEUE", "RECS_API_KEYS", "RECS_ALLOW_NO_KEYS")}
    env["RECS_DATA_DIR"] = str(tmp_path / "var")
    proc = subprocess.Popen([str(RECS), "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
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
    assert any(line["logger"] == "recs.access" and line["route"] == "/films/<id:film_id>"
               for line in lines)
    assert any(line["logger"] == "rq.worker" for line in lines)
    assert url in out and f"API key for writes (kept in {tmp_path / 'var'}/api-key): {key}" in out
    assert (tmp_path / "var" / "recs.rdb").exists() or any((tmp_path / "var").iterdir())
