"""A Redis primary, its replica and three sentinels of a test's own, on free loopback ports:
real ``redis-server`` and ``redis-sentinel`` processes, to kill the primary and watch the
sentinels promote the replica."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError

MASTER = "shiftswitch-test"
DOWN_AFTER_MS = 1000  # a primary that does not answer this long is down (the default is 30 s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SentinelGroup:
    """Primary, replica and three sentinels watching the primary as :data:`MASTER`."""

    def __init__(
        self, workdir: Path, password: str | None = None, sentinel_password: str | None = None
    ) -> None:
        self.workdir = workdir
        self.password = password  # the primary's and the replica's (requirepass, masterauth)
        self.sentinel_password = sentinel_password  # the sentinels' own
        self.ports = {"primary": free_port(), "replica": free_port()}
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """``REDIS_URL`` in Celery's form: every sentinel, database 0."""
        return ";".join(f"sentinel://127.0.0.1:{port}" for port in self.sentinel_ports) + "/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        sentinel = shutil.which("redis-sentinel")
        if server is None or sentinel is None:
            missing = "redis-server and redis-sentinel are not installed (scripts/services)"
            if os.environ.get("CI"):
                raise AssertionError(missing)
            pytest.skip(missing)
        for name, port in self.ports.items():
            argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            argv += ["--appendonly", "no", "--dir", str(self.workdir)]
            argv += ["--dbfilename", f"{name}.rdb"]
            argv += ["--repl-diskless-sync-delay", "0"]  # Redis waits 5 s for more replicas
            if self.password:
                argv += ["--requirepass", self.password, "--masterauth", self.password]
            if name == "replica":
                argv += ["--replicaof", "127.0.0.1", str(self.ports["primary"])]
            self.procs[name] = self._spawn(argv, name)
        # The sentinels find the replica in the primary's INFO, which they read at once and
        # then every 10 s: start them once the replica is in sync, so the first read finds it.
        self.wait(self._replica_in_sync, 20, "the replica in sync")
        for i, port in enumerate(self.sentinel_ports):
            conf = self.workdir / f"sentinel{i}.conf"  # sentinels rewrite their file
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.ports['primary']} 2\n"
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER} 5000\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
                + (f"sentinel auth-pass {MASTER} {self.password}\n" if self.password else "")
                + (
                    f"requirepass {self.sentinel_password}\n"
                    f"sentinel sentinel-pass {self.sentinel_password}\n"
                    if self.sentinel_password
                    else ""
                )
            )
            self.procs[f"sentinel{i}"] = self._spawn([sentinel, str(conf)], f"sentinel{i}")
        self.wait(self._linked, 20, "the replica in sync and known to every sentinel")

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def _replica_in_sync(self) -> bool:
        try:
            info = self._server("replica").info("replication")
        except RedisError:
            return False
        return info.get("master_link_status") == "up"

    def _linked(self) -> bool:
        try:
            info = self._server("replica").info("replication")
            if info.get("master_link_status") != "up":
                return False
            for port in self.sentinel_ports:
                replicas = self._sentinel(port).sentinel_slaves(MASTER)
                if not replicas or replicas[0].get("is_disconnected"):
                    return False
        except RedisError:
            return False
        return True

    def primary(self) -> int | None:
        """The primary's port, as the first sentinel that answers says."""
        for port in self.sentinel_ports:
            try:
                host_port = self._sentinel(port).sentinel_get_master_addr_by_name(MASTER)
            except RedisError:
                continue
            if host_port:
                return int(host_port[1])
        return None

    def _server(self, name: str) -> Redis:
        return Redis(port=self.ports[name], password=self.password, socket_timeout=0.5)

    def _sentinel(self, port: int) -> Redis:
        return Redis(port=port, password=self.sentinel_password, socket_timeout=0.5)

    def kill_primary(self) -> None:
        """SIGKILL the primary: no goodbye to its clients, its replica or the sentinels."""
        proc = self.procs.pop("primary")
        proc.kill()
        proc.wait()

    def wait_promoted(self, timeout: float = 30) -> float:
        """Wait for the replica to be the primary (it says so, and every sentinel says it is up);
        the monotonic time it was seen."""

        def promoted() -> bool:
            try:
                info = self._server("replica").info("replication")
                views = [
                    self._sentinel(port).sentinel_master(MASTER) for port in self.sentinel_ports
                ]
            except RedisError:
                return False
            return info.get("role") == "master" and all(
                int(view["port"]) == self.ports["replica"]
                and view.get("is_master")
                and not view.get("is_sdown")
                and not view.get("is_odown")
                for view in views
            )

        self.wait(promoted, timeout, "the replica promoted")
        return time.monotonic()

    @staticmethod
    def wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs.values():
            proc.wait()
        self.procs.clear()


@contextmanager
def sentinel_group(
    workdir: Path, password: str | None = None, sentinel_password: str | None = None
) -> Iterator[SentinelGroup]:
    group = SentinelGroup(workdir, password, sentinel_password)
    try:
        group.start()
        yield group
    finally:
        group.stop()
