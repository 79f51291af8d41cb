"""PostgreSQL down before or during a run: exit 1 with one line that names the destination and says
what is kept; the next run, with the server back, loads it all: nothing lost, nothing twice.

A PostgreSQL server of this module's own (tests/postgres_server.py), stopped with
`pg_ctl stop -m immediate` the way an outage cuts connections, and started again on its port.
The script runs as users run it, at its default log level, so stderr is what they would see.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest
from destination_truth import assert_destination_matches_site
from postgres_server import (
    POSTGRESQL,
    PostgresServer,
    require,
    running_postgres,
    server_is_up,
    start_server,
    stop_server,
)

from reliability.crash import run_and_act_when
from reliability.helpers import FAST, CliDir

ENTITIES = ["Project", "Shot", "Task", "Asset", "Version"]
WHEN = ("before the run", "while reading the site", "during the load step")
LIBPQ_NOTICE = "WARNING:  terminating connection due to"
"""What libpq itself prints on stderr when it connects to a server that is shutting down (its own
notice printer, before psycopg2 installs one): PostgreSQL's words, not ours or dlt's."""


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A server these tests may stop: not the session's, which other tests share."""
    with running_postgres(require(POSTGRESQL), durable=True) as server:
        yield server


def change_site(site: Any) -> None:
    for n, entity_type in enumerate(ENTITIES):
        site.mutate(entity_type, 0.2, seed=10 + n)
    shot = site.records("Shot")[0]
    site.create("Version", {"code": "created while the destination was down", "project": shot["project"]})
    site.retire("Version", site.records("Version")[3]["id"])


def package_files(cli: CliDir, folder: str) -> list[Path]:
    return list((cli.working_dir / "load" / "normalized").glob(f"*/{folder}/*"))


@pytest.mark.parametrize("when", WHEN)
def test_postgres_down_exits_1_with_one_line_and_the_next_run_loads_everything(
    sandbox: Any, own_postgres: PostgresServer, postgres_dataset_name: str, tmp_path: Path, when: str
) -> None:
    cli = CliDir(tmp_path / "run")
    site_env = {**sandbox.env(), "DESTINATION__POSTGRES__CREDENTIALS": own_postgres.dsn}
    args = ("--destination", "postgres", "--dataset", postgres_dataset_name, "--page-size", "200")
    first = cli.run(site_env, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    change_site(sandbox.site)
    sandbox.clear_requests()

    try:
        if when == "before the run":
            stop_server(own_postgres)
            failed = run_and_act_when(
                cli.command(*args), cli.cwd, cli.env(site_env), lambda: False, lambda: None
            )
        elif when == "while reading the site":
            stopped: list[bool] = []

            def stop_on_first_page(request: Any) -> None:
                if request.kind == "search" and not stopped:
                    stopped.append(True)
                    stop_server(own_postgres)

            sandbox.faults.before_request = stop_on_first_page
            failed = run_and_act_when(
                cli.command(*args), cli.cwd, cli.env(site_env), lambda: False, lambda: None
            )
            assert stopped, "the run read no page"
        else:
            failed = run_and_act_when(
                cli.command(*args),
                cli.cwd,
                # one job at a time, so jobs are still waiting when the first is loaded
                cli.env({**site_env, "LOAD__WORKERS": "1"}),
                lambda: bool(package_files(cli, "completed_jobs")),  # a first job is loaded
                lambda: stop_server(own_postgres),
                freeze=True,  # the run waits while the server goes down
            )
            assert failed.acted, f"the load ended before a job completed: {failed.stderr[-2000:]}"
            unloaded = package_files(cli, "new_jobs") + package_files(cli, "started_jobs")
            assert unloaded, "every job was loaded before the server stopped"
        sandbox.faults.before_request = None
    finally:
        if not server_is_up(own_postgres):
            start_server(own_postgres)

    said = failed.stderr.strip()
    assert failed.returncode == 1, f"exit {failed.returncode}: {said[-3000:]}"
    lines = [line for line in said.splitlines() if not line.startswith(LIBPQ_NOTICE)]
    assert len(lines) == 1, f"not one line but {len(lines)}:\n{said[-3000:]}"
    line = lines[0]
    assert line.startswith("error: Could not "), line
    assert "the postgres destination" in line and "Run again when postgres is back." in line, line
    assert str(own_postgres.port) in line, line  # psycopg2's own words name the server
    if when == "before the run":
        assert "No records were read from ShotGrid" in line, line
        assert not [r for r in sandbox.requests if r.kind == "search"], "records were read"
    else:
        assert "The rows read are kept (1 load package(s) in" in line, line
        assert "the next run loads them before it reads anything new" in line, line
    assert failed.seconds < FAST, f"failing took {failed.seconds:.1f} s"

    rerun = cli.run(site_env, *args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not package_files(cli, "*"), "a package is still pending"
    pipeline = dlt.attach(
        cli.pipeline_name,
        pipelines_dir=str(cli.pipelines_dir),
        destination=dlt.destinations.postgres(own_postgres.dlt_credentials()),
        dataset_name=postgres_dataset_name,
    )
    assert_destination_matches_site(pipeline, sandbox.site, ENTITIES)


def test_a_duckdb_file_another_process_holds_exits_1_saying_so_and_the_next_run_loads_everything(
    sandbox: Any, tmp_path: Path
) -> None:
    """A DuckDB shell or notebook left open on the file (here: this test's process) blocks the
    run's own connection: one line that says so and names the file, nothing read, and the run
    after it is closed loads it all."""
    import duckdb

    cli = CliDir(tmp_path / "run")
    site_env = sandbox.env()
    first = cli.run(site_env, "--entities", "Shot,Version")
    assert first.returncode == 0, first.stderr[-3000:]
    change_site(sandbox.site)
    sandbox.clear_requests()
    holder = duckdb.connect(str(cli.database), read_only=True)  # a reader, as a BI tool would be
    try:
        failed = cli.run(site_env, "--entities", "Shot,Version")
    finally:
        holder.close()
    said = failed.stderr.strip()
    assert failed.returncode == 1, f"exit {failed.returncode}: {said[-3000:]}"
    assert len(said.splitlines()) == 1, said[-3000:]
    assert "Another process has the DuckDB file open" in said and "close that connection" in said, said
    assert f'{cli.database.name}": Conflicting lock is held' in said, said  # DuckDB's words name the file
    assert "No records were read from ShotGrid" in said, said
    assert not [r for r in sandbox.requests if r.kind == "search"], "records were read"

    rerun = cli.run(site_env, "--entities", "Shot,Version")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert_destination_matches_site(cli.attach(), sandbox.site, ["Shot", "Version"])
