"""Tests of the throwaway PostgreSQL server that the PostgreSQL destination tests run against.

The `postgres_server` and `postgres_dataset_name` fixtures come from the root conftest, so the whole
session shares one server (importing them here as well would start a second one).
"""

from __future__ import annotations

import os
import pwd
import re
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dlt
import psycopg2
import pytest
from postgres_server import (
    PostgresNotInstalledError,
    PostgresServer,
    find_bin_dir,
    installed_bin_dir,
    running_postgres,
)


def _connect(server: PostgresServer, password: str | None = None) -> psycopg2.extensions.connection:
    """A TCP login with a statement timeout, so a stuck server fails the test instead of hanging it."""
    return psycopg2.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password if password is None else password,
        dbname=server.database,
        connect_timeout=5,
        options="-c statement_timeout=10000",
    )


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


def test_login_over_tcp_with_password_can_write_and_read(postgres_server: PostgresServer) -> None:
    with _connect(postgres_server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE roundtrip (id int PRIMARY KEY, name text)")
        cur.execute("INSERT INTO roundtrip VALUES (1, 'shot_010'), (2, 'shot_020')")
        cur.execute("SELECT id, name FROM roundtrip ORDER BY id")
        assert cur.fetchall() == [(1, "shot_010"), (2, "shot_020")]
        cur.execute("SELECT current_user, inet_server_addr()::text")
        assert cur.fetchone() == (postgres_server.user, "127.0.0.1/32")
    conn.close()


def test_server_is_the_installed_postgresql(postgres_server: PostgresServer) -> None:
    with _connect(postgres_server) as conn, conn.cursor() as cur:
        cur.execute("SELECT version()")
        row = cur.fetchone()
    conn.close()
    assert row is not None
    print(f"\nserver: {row[0]} from {postgres_server.bin_dir}")
    assert row[0].startswith(f"PostgreSQL {postgres_server.version} ")
    debian_major = re.fullmatch(r"/usr/lib/postgresql/(\d+)/bin", str(postgres_server.bin_dir))
    if debian_major:
        assert postgres_server.version.split(".")[0] == debian_major.group(1)


def test_server_listens_on_loopback_only_with_fast_unsafe_settings(postgres_server: PostgresServer) -> None:
    names = ("listen_addresses", "fsync", "synchronous_commit", "full_page_writes")
    with _connect(postgres_server) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(names),))
        settings = dict(cur.fetchall())
    conn.close()
    assert settings == {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }


def test_server_process_does_not_run_as_root(postgres_server: PostgresServer) -> None:
    owner = os.stat(f"/proc/{_postmaster_pid(postgres_server.data_dir)}").st_uid
    assert owner != 0
    if os.geteuid() == 0:
        assert pwd.getpwuid(owner).pw_name in ("postgres", "nobody")
    else:
        assert owner == os.geteuid()


def test_wrong_password_is_refused(postgres_server: PostgresServer) -> None:
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        _connect(postgres_server, password="not-the-password")


def test_server_and_directory_are_gone_after_the_context_even_on_error() -> None:
    with pytest.raises(RuntimeError, match="body failed"), running_postgres() as server:
        pid = _postmaster_pid(server.data_dir)
        assert Path(f"/proc/{pid}").exists()
        raise RuntimeError("body failed")
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "zombie" in status.read_text()
    assert not server.data_dir.parent.exists()
    with pytest.raises(psycopg2.OperationalError):
        _connect(server)


def test_server_and_directory_are_gone_when_the_test_process_is_killed() -> None:
    """SIGKILL skips finally blocks and atexit: the watchdog must clean up."""
    installed_bin_dir()  # any install happens here, not in the child within its 60 s
    script = (
        "import time; from postgres_server import running_postgres\n"
        "with running_postgres() as server:\n"
        "    print(server.data_dir, flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 60)
        assert ready, "the child did not start a server within 60 s"
        data_dir = Path(child.stdout.readline().strip())
        pid = _postmaster_pid(data_dir)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    deadline = time.monotonic() + 15
    while data_dir.parent.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not data_dir.parent.exists()
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "zombie" in status.read_text()


def test_missing_binaries_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(PostgresNotInstalledError, match=r"`apt-get install -y postgresql`"):
        find_bin_dir(lib_dir=tmp_path, path=str(tmp_path))
    with (
        pytest.raises(PostgresNotInstalledError, match=r"lacks initdb.*`apt-get install -y postgresql`"),
        running_postgres(bin_dir=tmp_path),
    ):
        pass


def test_dlt_pipeline_loads_timestamps_and_json(
    postgres_server: PostgresServer, postgres_dataset_name: str, tmp_path: Path
) -> None:
    rows = [
        {"id": 1, "updated_at": datetime(2024, 5, 1, 12, 30, tzinfo=UTC), "payload": {"tags": ["hero"]}},
        {"id": 2, "updated_at": datetime(2024, 5, 2, 8, 0, tzinfo=UTC), "payload": {"frames": [1001, 1100]}},
    ]
    resource = dlt.resource(rows, name="shots", columns={"payload": {"data_type": "json"}})
    pipeline = dlt.pipeline(
        pipeline_name="postgres_server_check",
        pipelines_dir=str(tmp_path),
        destination=dlt.destinations.postgres(credentials=postgres_server.dsn),
        dataset_name=postgres_dataset_name,
    )
    pipeline.run(resource)

    with _connect(postgres_server) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'shots' AND column_name IN ('updated_at', 'payload')",
            (postgres_dataset_name,),
        )
        assert dict(cur.fetchall()) == {"updated_at": "timestamp with time zone", "payload": "jsonb"}
        cur.execute(f'SELECT id, updated_at, payload FROM "{postgres_dataset_name}".shots ORDER BY id')
        assert cur.fetchall() == [(row["id"], row["updated_at"], row["payload"]) for row in rows]
    conn.close()


def test_dlt_credentials_point_at_the_server(postgres_server: PostgresServer) -> None:
    credentials = postgres_server.dlt_credentials()
    assert (credentials.host, credentials.port, credentials.username, credentials.database) == (
        postgres_server.host,
        postgres_server.port,
        postgres_server.user,
        postgres_server.database,
    )
    assert credentials.password == postgres_server.password
    assert credentials.connect_timeout > 0
    dlt.destinations.postgres(credentials=credentials)
    conn = psycopg2.connect(credentials.to_native_representation())  # and they log in
    conn.close()


def test_dataset_names_are_unique_per_test(postgres_dataset_name: str) -> None:
    assert re.fullmatch(r"t_test_dataset_names_are_unique_per_test_[0-9a-f]{8}", postgres_dataset_name)
