"""A throw-away redis-server for tests: a free loopback port, no persistence, data in a temp dir.

``redis_url`` (session scope) yields ``redis://127.0.0.1:<port>/0``; ``redis_server`` yields the
:class:`RedisServer` (``flush()`` empties it between tests). Binary: ``$AJAM_REDIS_SERVER`` or
``redis-server`` on the PATH (Debian: ``apt-get install -y redis-server``). Without it the tests are
skipped — or fail when ``AJAM_REQUIRE_REDIS=1`` (CI), so a missing install is noticed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE_ENV = "AJAM_REQUIRE_REDIS"
BINARY_ENV = "AJAM_REDIS_SERVER"
INSTALL_HINT = "install Redis (Debian: apt-get install -y redis-server) or set AJAM_REDIS_SERVER"


def _unavailable(reason: str) -> None:
    message = f"Redis tests: {reason}; {INSTALL_HINT}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(message)


def find_binary() -> str | None:
    configured = os.environ.get(BINARY_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    binary: str
    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        argv = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.root),
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", str(self.root / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _answers_ping(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer within {timeout} s: {self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            connection.sendall(b"FLUSHALL\r\n")
            connection.recv(16)

    def log_tail(self) -> str:
        log = self.root / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def start_server() -> RedisServer:
    binary = find_binary()
    if binary is None:
        _unavailable("redis-server not found")
        raise AssertionError("unreachable")
    root = Path(tempfile.mkdtemp(prefix="ajam-redis-"))
    for attempt in range(3):
        server = RedisServer(binary, root, _free_port())
        try:
            server.start()
            return server
        except RuntimeError as error:
            if attempt == 2:
                shutil.rmtree(root, ignore_errors=True)
                pytest.fail(f"could not start redis-server ({binary}): {error}", pytrace=False)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A real server, emptied before each test."""
    redis_server.flush()
    yield redis_server.url
