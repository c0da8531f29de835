"""A Redis primary, a replica and three Sentinels as real processes on loopback ports.

Used by tests/test_sentinel.py and bench/failover.py; every process is stopped by its PID.
"""

import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests.helpers import free_port

SERVICE = "recsprimary"


def wait_for(check, timeout: float, step: float = 0.1):
    """Return check()'s first truthy value, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except redis.RedisError:
            value = None
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not true after {timeout} s: {check}")


def available() -> bool:
    return shutil.which("redis-server") is not None


class RedisHA:
    """Start with start(), stop with stop(); kill_primary() SIGKILLs whichever server is primary."""

    # 3 s, not less: with 1 s, a loaded machine let the new primary, busy forking for the
    # restarted server's full sync, miss its pings, and the Sentinels failed over again onto
    # that restarted, still empty server, which then wiped the new primary (seen in CI runs)
    def __init__(self, workdir: Path, down_after_ms: int = 3000):
        self.dir = workdir
        self.down_after_ms = down_after_ms
        self.servers: dict[int, subprocess.Popen] = {}  # port -> process
        self.sentinels: dict[int, subprocess.Popen] = {}
        self.first_primary = free_port()

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def _log(self, name: str):
        return open(self.dir / f"{name}.log", "ab")

    def start_server(self, port: int, replica_of: int | None = None) -> None:
        data = self.dir / f"redis-{port}"
        data.mkdir(exist_ok=True)
        cmd = [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            # a full sync starts at once (the default waits 5 s for more replicas to join)
            "--repl-diskless-sync-delay",
            "0",
        ]
        if replica_of:
            cmd += ["--replicaof", "127.0.0.1", str(replica_of)]
        with self._log(f"redis-{port}") as log:
            self.servers[port] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        with redis.Redis(port=port) as probe:
            wait_for(probe.ping, 10)

    def start(self) -> "RedisHA":
        primary = self.first_primary
        self.start_server(primary)
        self.start_server(free_port(), replica_of=primary)
        for _ in range(3):
            port = free_port()
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            with self._log(f"sentinel-{port}") as log:
                self.sentinels[port] = subprocess.Popen(
                    ["redis-server", str(conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
                )
        wait_for(lambda: all(self._sentinel_sees_replica(p) for p in self.sentinels), 20)
        wait_for(lambda: self.replicas_online(primary) == 1, 20)
        return self

    def replicas_online(self, port: int) -> int:
        """Return how many replicas of the server on port have finished their sync."""
        with redis.Redis(port=port, socket_timeout=1) as r:
            info = r.info("replication")
        return sum(
            1
            for k, v in info.items()
            if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
        )

    def _sentinel_sees_replica(self, port: int) -> bool:
        with redis.Redis(port=port, socket_timeout=1) as s:
            return bool(s.sentinel_slaves(SERVICE))

    def primary_port(self) -> int:
        port = next(iter(self.sentinels))
        with redis.Redis(port=port, socket_timeout=1) as s:
            return int(s.sentinel_get_master_addr_by_name(SERVICE)[1])

    def kill_primary(self) -> int:
        """SIGKILL the current primary (no shutdown, like a crash); return its port."""
        port = self.primary_port()
        proc = self.servers[port]
        proc.kill()
        proc.wait(10)
        return port

    def restart_as_replica(self, port: int) -> None:
        """Start a killed server again, empty, as a replica of the primary Sentinel names now.

        That is what a supervisor's start script does (docs/OPERATIONS.md): an empty server
        that comes back as a primary would wait ~10 s for Sentinel to demote it.
        """
        self.start_server(port, replica_of=self.primary_port())

    def wait_failover(self, old_port: int, timeout: float = 30) -> int:
        return wait_for(lambda: self.primary_port() != old_port and self.primary_port(), timeout)

    def stop(self) -> None:
        for proc in [*self.sentinels.values(), *self.servers.values()]:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
