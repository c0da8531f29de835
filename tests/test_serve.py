"""The README's first command: `recs serve` on the embedded Redis shows a filled Love 911 page."""

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


def test_recs_serve_embedded_fills_love_911(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "RECS_PREFIX", "RECS_QUEUE", "RECS_API_KEYS", "RECS_ALLOW_NO_KEYS")}
    env["RECS_DATA_DIR"] = str(tmp_path / "var")
    proc = subprocess.Popen([str(RECS), "serve", "--port", str(port), "--workers", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
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
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert url in out and f"API key for writes (kept in {tmp_path / 'var'}/api-key): {key}" in out
    assert (tmp_path / "var" / "recs.rdb").exists() or any((tmp_path / "var").iterdir())
