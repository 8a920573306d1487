"""A throw-away PostgreSQL server for tests: ``initdb`` in a temp dir, started on a free loopback port.

``postgres_server`` (session scope) yields a ``PostgresServer``; ``server.create_database()`` gives a URL
of a fresh empty database. The server requires a password (scram-sha-256), so URLs carry one — like
production. As root, the server runs as the ``postgres`` user (PostgreSQL refuses to run as root).

Binaries: ``$AJAM_PG_BIN`` (a directory), else the newest ``/usr/lib/postgresql/*/bin`` (Debian/Ubuntu),
``/usr/pgsql-*/bin`` (RHEL), ``/usr/local/pgsql/bin``, else ``initdb`` on the PATH. Without them the
tests are skipped — or fail when ``AJAM_REQUIRE_POSTGRES=1`` (CI), so a missing install is noticed.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRE_ENV = "AJAM_REQUIRE_POSTGRES"
BIN_ENV = "AJAM_PG_BIN"
SUPERUSER = "ajam"
INSTALL_HINT = "install PostgreSQL (Debian: apt-get install -y postgresql) or set AJAM_PG_BIN"


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or ``None``."""
    candidates: list[str] = []
    if os.environ.get(BIN_ENV):
        candidates.append(os.environ[BIN_ENV])
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"):
        candidates.extend(sorted(glob.glob(pattern), key=_version_key, reverse=True))
    candidates.append("/usr/local/pgsql/bin")
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        folder = Path(candidate)
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path))


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL tests: {reason}; {INSTALL_HINT}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    password: str
    run_as: str | None  # user to run the server binaries as (when we are root)
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "sockets"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def command(self, program: str, *args: str) -> list[str]:
        argv = [str(self.bindir / program), *args]
        return ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else argv

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"journal_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def start(self) -> None:
        self.sockets.mkdir(exist_ok=True)
        self._chown(self.sockets)
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.sockets} "
            "-c max_connections=40 -c shared_buffers=16MB -c logging_collector=off"
        )
        subprocess.run(
            self.command(
                "pg_ctl",
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data),
                "-l",
                str(self.root / "server.log"),
                "-o",
                options,
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )

    def stop(self) -> None:
        subprocess.run(
            self.command("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data)),
            check=False,
            capture_output=True,
            timeout=60,
        )

    def log_tail(self) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def _chown(self, path: Path) -> None:
        if self.run_as:
            user = pwd.getpwnam(self.run_as)
            os.chown(path, user.pw_uid, user.pw_gid)


def _server_user() -> str | None:
    """``None`` when we may run PostgreSQL ourselves; the unprivileged user to use when we are root."""
    if os.geteuid() != 0:
        return None
    if shutil.which("runuser") is None:
        _unavailable("running as root without runuser to drop privileges")
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    _unavailable("running as root and no unprivileged 'postgres' user exists")
    return None


def start_server() -> PostgresServer:
    bindir = find_binaries()
    if bindir is None:
        _unavailable("initdb/pg_ctl not found")
        raise AssertionError("unreachable")
    run_as = _server_user()
    root = Path(tempfile.mkdtemp(prefix="ajam-pg-"))
    server = PostgresServer(bindir, root, _free_port(), secrets.token_urlsafe(16), run_as)
    server._chown(root)
    password_file = root / "password"
    password_file.write_text(server.password + "\n")
    server._chown(password_file)
    try:
        subprocess.run(
            server.command(
                "initdb",
                "-D",
                str(server.data),
                "-U",
                SUPERUSER,
                "-A",
                "scram-sha-256",
                f"--pwfile={password_file}",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        password_file.unlink()
        for attempt in range(3):
            try:
                server.start()
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                server.port = _free_port()  # someone took the port between probing and starting
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        output = getattr(error, "stderr", b"") or b""
        details = output.decode(errors="replace")[-1500:] + server.log_tail()
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL from {bindir}: {error}\n{details}", pytrace=False)
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_server()
    deadline = time.monotonic() + 30
    import psycopg

    while True:
        try:
            psycopg.connect(server.url(), connect_timeout=5).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
