"""A throwaway PostgreSQL server for tests: `running_postgres()` and the `postgres_server` fixture.

Why no library: pytest-postgresql (maintained; Python 3.11, PostgreSQL 14+) cannot run the server as
another user, so as root (this machine, CI) initdb refuses; a `runuser` wrapper given as its pg_ctl gets
past that, but then its password option fails (the password file it writes is root-only), so auth is
still hand-made, and it adds psycopg 3, mirakuru, port-for, psutil and a pytest plugin loaded in every
run. testing.postgresql has had no release since 2016 and fails as root the same way. So this uses
PostgreSQL's own tools (initdb; `pg_ctl start -w -t` is the bounded readiness wait) and only adds the
user switch, the port, the login role, and cleanup that also works when the test process is killed
(atexit hook plus a watchdog process).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import psycopg2
import pytest
from psycopg2 import sql
from system_packages import SystemPackage, ensure_installed, require

if TYPE_CHECKING:
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

INSTALL_HINT = (
    "install them with `apt-get install -y postgresql` (Debian's package for its supported version; "
    "`running_postgres()` does it itself when it may)"
)
DEBIAN_LIB_DIR = Path("/usr/lib/postgresql")
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10
CONNECT_TIMEOUT_S = 10
PORT_ATTEMPTS = 3
SUPERUSER = "postgres"
LOGIN_ROLE = "shotgun_test"
DATABASE = "shotgun_test"
# A throwaway cluster may lose data on a crash, so trade durability for speed.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresNotInstalledError(RuntimeError):
    """The server binaries are missing: the suite says how to install them rather than skipping."""


class PostgresStartError(RuntimeError):
    """The throwaway server did not come up; the message carries the tail of its log."""


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server and the login that tests use (password auth over TCP)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    version: str
    bin_dir: Path
    data_dir: Path

    @property
    def dsn(self) -> str:
        """A libpq URL with a connect timeout, so a dead server fails a test instead of hanging it."""
        auth = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return (
            f"postgresql://{auth}@{self.host}:{self.port}/{quote(self.database, safe='')}"
            f"?connect_timeout={CONNECT_TIMEOUT_S}"
        )

    def dlt_credentials(self) -> PostgresCredentials:
        """Credentials in the form `dlt.destinations.postgres(credentials=...)` takes."""
        from dlt.destinations.impl.postgres.configuration import PostgresCredentials

        credentials = PostgresCredentials()
        credentials.parse_native_representation(self.dsn)
        return credentials


@dataclass(frozen=True)
class _Account:
    """The unprivileged user the server runs as when we are root (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def find_bin_dir(lib_dir: Path = DEBIAN_LIB_DIR, path: str | None = None) -> Path:
    """Find initdb/pg_ctl/postgres: Debian's newest version dir, then `pg_config --bindir`, then PATH.

    `path` replaces $PATH for the last two steps (tests use it to simulate a machine without them).
    """
    for candidate in (*_debian_bin_dirs(lib_dir), _pg_config_bin_dir(path), _path_bin_dir(path)):
        if candidate is not None and _has_server_binaries(candidate):
            return candidate
    raise PostgresNotInstalledError(
        f"PostgreSQL server binaries ({', '.join(SERVER_BINARIES)}) not found in {lib_dir}/<version>/bin, "
        f"`pg_config --bindir` or PATH; to install them, {INSTALL_HINT}."
    )


def _located_bin_dir() -> Path | None:
    try:
        return find_bin_dir()
    except PostgresNotInstalledError:
        return None


POSTGRESQL = SystemPackage(
    "postgresql", f"the PostgreSQL server ({', '.join(SERVER_BINARIES)}) the tests start", _located_bin_dir
)


def installed_bin_dir() -> Path:
    """`find_bin_dir()`, after installing Debian's `postgresql` with apt-get if the binaries are
    missing (once per session); fails saying why it could not and what to run by hand."""
    return ensure_installed(POSTGRESQL)


def _debian_bin_dirs(lib_dir: Path) -> list[Path]:
    versions = [d for d in lib_dir.glob("*") if d.name.replace(".", "").isdigit()] if lib_dir.is_dir() else []
    versions.sort(key=lambda d: tuple(int(part) for part in d.name.split(".")), reverse=True)
    return [d / "bin" for d in versions]


def _pg_config_bin_dir(path: str | None) -> Path | None:
    pg_config = shutil.which("pg_config", path=path)
    if pg_config is None:
        return None
    try:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip() else None


def _path_bin_dir(path: str | None) -> Path | None:
    # Resolve symlinks such as /usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin/pg_ctl.
    pg_ctl = shutil.which("pg_ctl", path=path)
    return Path(pg_ctl).resolve().parent if pg_ctl else None


def _has_server_binaries(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in SERVER_BINARIES)


def _server_account() -> _Account | None:
    """None when we are not root: then the server simply runs as us."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return _Account(name, entry.pw_uid, entry.pw_gid)
    raise RuntimeError(
        "running as root and neither a `postgres` nor a `nobody` user exists to run the server"
    )


def _server_env() -> dict[str, str]:
    """Drop PG* variables (PGDATA, PGPORT...) that would steer initdb/pg_ctl elsewhere; C locale for
    predictable, English messages."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


def _run(cmd: list[str], account: _Account | None, cwd: Path, timeout: float) -> None:
    """Run a server tool as the server account; raise with its output when it fails."""
    kwargs = account.popen_kwargs() if account else {}
    result = subprocess.run(
        cmd,
        cwd=cwd,
        env=_server_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    if result.returncode != 0:
        raise PostgresStartError(
            f"{' '.join(cmd)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
        )


def _init_cluster(bin_dir: Path, base: Path, account: _Account | None, durable: bool = False) -> Path:
    """initdb with trust on the unix socket (its dir is private to the server user) and scram over TCP.
    Not `durable`: without fsync and synchronous commits (fast; a crash may lose the last commits)."""
    data_dir = base / "data"
    _run(
        [
            str(bin_dir / "initdb"),
            f"--pgdata={data_dir}",
            f"--username={SUPERUSER}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        account,
        cwd=base,
        timeout=60,
    )
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": "'{}'".format(str(base).replace("'", "''")),
        **({} if durable else FAST_SETTINGS),
    }
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\n# tests/postgres_server.py\n")
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
    return data_dir


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(log_file: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no server log: {error})"


def _start(bin_dir: Path, data_dir: Path, log_file: Path, account: _Account | None) -> int:
    """Start on a free loopback port; retry another port if one was taken between probe and bind."""
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        cmd = [str(bin_dir / "pg_ctl"), "start", "-D", str(data_dir), "-l", str(log_file)]
        cmd += ["-w", "-t", str(START_TIMEOUT_S), "-o", f"-p {port}"]
        try:
            _run(cmd, account, cwd=data_dir.parent, timeout=START_TIMEOUT_S + 10)
            return port
        except (PostgresStartError, subprocess.TimeoutExpired) as error:
            tail = _log_tail(log_file)
            if "could not bind" not in tail:
                raise PostgresStartError(
                    f"PostgreSQL did not come up (pg_ctl waits at most {START_TIMEOUT_S} s): {error}\n"
                    f"--- tail of {log_file} ---\n{tail}"
                ) from error
    raise PostgresStartError(f"no free loopback port after {PORT_ATTEMPTS} attempts:\n{_log_tail(log_file)}")


def _create_login(socket_dir: Path, port: int, password: str) -> str:
    """Create the test role and its database as the superuser over the socket; return the server version."""
    conn = psycopg2.connect(
        host=str(socket_dir), port=port, user=SUPERUSER, dbname="postgres", connect_timeout=CONNECT_TIMEOUT_S
    )
    try:
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(LOGIN_ROLE)), (password,)
            )
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(LOGIN_ROLE)
                )
            )
            cur.execute("SHOW server_version")
            row = cur.fetchone()
    finally:
        conn.close()
    assert row is not None
    return str(row[0]).split()[0]  # "15.18 (Debian 15.18-0+deb12u1)" -> "15.18"


def _postmaster_pid(data_dir: Path) -> int | None:
    """The postmaster's pid, only if that process really is the server of this data dir (pids get reused)."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        if Path(os.readlink(f"/proc/{pid}/cwd")) != data_dir.resolve():
            return None
    except (OSError, ValueError):
        return None
    return pid


def _process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a zombie has already stopped serving)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_and_remove(base: Path) -> None:
    """Immediate shutdown (SIGQUIT; SIGKILL if that hangs) and delete the whole temp dir.

    Signals instead of `pg_ctl stop` so it also works from the watchdog and atexit without a subprocess.
    """
    pid = _postmaster_pid(base / "data")
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
            if not _wait_until(lambda: not _process_alive(pid), STOP_TIMEOUT_S):
                os.kill(pid, signal.SIGKILL)
                _wait_until(lambda: not _process_alive(pid), STOP_TIMEOUT_S)
    shutil.rmtree(base, ignore_errors=True)


def _start_watchdog(base: Path) -> subprocess.Popen[bytes]:
    """A process that cleans up if this one dies without running atexit (SIGKILL, SIGTERM)."""
    return subprocess.Popen(
        [sys.executable, __file__, "--watch", str(os.getpid()), str(base)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # survive the Ctrl-C that kills the test process group
    )


def _watch(parent_pid: int, base: Path) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    stop_and_remove(base)


def stop_server(server: PostgresServer) -> None:
    """Stop the server at once (`pg_ctl stop -m immediate`), the way an outage or a crash does:
    open connections are cut, new ones refused. Its data stays; `start_server` brings it back."""
    cmd = [str(server.bin_dir / "pg_ctl"), "stop", "-D", str(server.data_dir), "-m", "immediate"]
    _run(
        [*cmd, "-w", "-t", str(STOP_TIMEOUT_S)],
        _server_account(),
        server.data_dir.parent,
        STOP_TIMEOUT_S + 10,
    )


def start_server(server: PostgresServer) -> None:
    """Start a server `stop_server` stopped, on the same port, and wait until it accepts logins."""
    log_file = server.data_dir.parent / "server.log"
    cmd = [str(server.bin_dir / "pg_ctl"), "start", "-D", str(server.data_dir), "-l", str(log_file)]
    cmd += ["-w", "-t", str(START_TIMEOUT_S), "-o", f"-p {server.port}"]
    try:
        _run(cmd, _server_account(), server.data_dir.parent, START_TIMEOUT_S + 10)
    except (PostgresStartError, subprocess.TimeoutExpired) as error:
        raise PostgresStartError(f"PostgreSQL did not come back: {error}\n{_log_tail(log_file)}") from error


def server_is_up(server: PostgresServer) -> bool:
    """True when the server accepts the test login now."""
    try:
        psycopg2.connect(
            server.dsn.replace(f"connect_timeout={CONNECT_TIMEOUT_S}", "connect_timeout=2")
        ).close()
    except psycopg2.OperationalError:
        return False
    return True


@dataclass
class _Cleanup:
    """Idempotent teardown shared by the context manager and the atexit hook."""

    base: Path
    watchdog: subprocess.Popen[bytes] | None = None

    def __call__(self) -> None:
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog.wait(timeout=STOP_TIMEOUT_S)
            self.watchdog = None
        stop_and_remove(self.base)


@contextlib.contextmanager
def running_postgres(bin_dir: Path | None = None, durable: bool = False) -> Iterator[PostgresServer]:
    """Start a throwaway cluster, yield its login, and stop and delete it on exit (also on errors).

    Without `bin_dir`, the installed server's (installed first when missing: `installed_bin_dir`).
    `durable`: keep PostgreSQL's fsync and synchronous commits, for a server a test stops the way a
    crash does (`stop_server`): without them, commits of the last moments are lost, which a real
    server would keep."""
    bin_dir = bin_dir or installed_bin_dir()
    if not _has_server_binaries(bin_dir):
        raise PostgresNotInstalledError(f"{bin_dir} lacks {', '.join(SERVER_BINARIES)}; {INSTALL_HINT}.")
    account = _server_account()
    base = Path(tempfile.mkdtemp(prefix="pg-test-"))
    cleanup = _Cleanup(base)
    atexit.register(cleanup)
    try:
        if account is not None:
            os.chown(base, account.uid, account.gid)
        cleanup.watchdog = _start_watchdog(base)
        data_dir = _init_cluster(bin_dir, base, account, durable)
        port = _start(bin_dir, data_dir, base / "server.log", account)
        password = secrets.token_urlsafe(18)
        version = _create_login(base, port, password)
        yield PostgresServer("127.0.0.1", port, LOGIN_ROLE, password, DATABASE, version, bin_dir, data_dir)
    finally:
        atexit.unregister(cleanup)
        cleanup()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server for the whole test session: starting one costs about a second."""
    with running_postgres(require(POSTGRESQL)) as server:
        yield server


@pytest.fixture
def postgres_dataset_name(request: pytest.FixtureRequest) -> str:
    """A schema name no other test uses, so tests sharing the session server cannot see each other's
    tables. The test name is kept in it (for debugging) within PostgreSQL's 63-byte identifier limit."""
    # no trailing "_": dlt collapses the "__" it would make with the suffix's "_"
    test_name = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40].rstrip("_")
    return f"t_{test_name}_{uuid.uuid4().hex[:8]}"


if __name__ == "__main__" and sys.argv[1:2] == ["--watch"]:
    _watch(int(sys.argv[2]), Path(sys.argv[3]))
