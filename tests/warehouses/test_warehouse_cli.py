"""The pipeline script into PostgreSQL and parquet files, configured the ways dlt documents:
environment variables, then .dlt/config.toml and .dlt/secrets.toml; a missing setting exits 2."""

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import dlt
import psycopg2
import pyarrow.parquet as pq
from destination_truth import assert_destination_matches_site, expected_row_counts, newest_change
from postgres_server import PostgresServer
from shotgun_testing import cursor_of, first_load_counts
from test_pipeline_cli import LOOKBACK, run_script, summary_rows, with_project_config

ENTITIES = ["Shot", "Version"]


def attach(cwd: Path, destination: Any, dataset: str, name: str = "shotgun_pipeline") -> dlt.Pipeline:
    return dlt.attach(
        name, pipelines_dir=str(cwd / "dlt_data" / "pipelines"), destination=destination, dataset_name=dataset
    )


def postgres_counts(server: PostgresServer, schema: str) -> dict[str, int]:
    with psycopg2.connect(server.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select table_name from information_schema.tables where table_schema = %s"
            " and table_name not like '\\_dlt%%'",
            (schema,),
        )
        tables = [name for (name,) in cur.fetchall()]
        counts = {}
        for table in tables:
            cur.execute(f'select count(*) from "{schema}"."{table}"')
            counts[table] = cur.fetchone()[0]
    return counts


def test_script_loads_postgres_configured_by_env_then_by_dlt_files(
    sandbox: Any, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    cwd = with_project_config(tmp_path)
    dataset = f"shotgun_cli_{uuid.uuid4().hex[:8]}"
    args = ("--dataset", dataset, "--entities", ",".join(ENTITIES))

    missing = run_script(cwd, "--destination", "postgres", *args, env=sandbox.env())
    assert missing.returncode == 2, missing.stderr
    assert "DESTINATION__POSTGRES__CREDENTIALS" in missing.stderr and "Traceback" not in missing.stderr

    env = {**sandbox.env(), "DESTINATION__POSTGRES__CREDENTIALS": postgres_server.dsn}
    first = run_script(cwd, "--destination", "postgres", *args, env=env)
    assert first.returncode == 0, first.stderr
    assert "into postgres" in first.stdout
    destination = dlt.destinations.postgres(postgres_server.dlt_credentials())
    pipeline = attach(cwd, destination, dataset)
    assert_destination_matches_site(pipeline, sandbox.site, ENTITIES)
    expected = first_load_counts(sandbox.site, pipeline, ENTITIES)
    assert summary_rows(first.stdout) == postgres_counts(postgres_server, dataset) == expected
    assert postgres_server.password not in first.stdout + first.stderr
    cursor = cursor_of(pipeline, "shots")
    assert cursor == newest_change(sandbox.site, "Shot")

    # the same through the files: destination_type in config.toml, split keys in secrets.toml
    config = cwd / ".dlt" / "config.toml"
    config.write_text(
        config.read_text().replace('destination_type = "duckdb"', 'destination_type = "postgres"')
    )
    (cwd / ".dlt" / "secrets.toml").write_text(
        "[destination.postgres.credentials]\n"
        f'database = "{postgres_server.database}"\nusername = "{postgres_server.user}"\n'
        f'password = "{postgres_server.password}"\nhost = "{postgres_server.host}"\n'
        f"port = {postgres_server.port}\n"
    )
    shot = sandbox.site.records("Shot")[0]
    sandbox.site.advance_clock(2)
    sandbox.site.update("Shot", shot["id"], {"description": "changed for the second run"})
    second = run_script(cwd, *args, env=sandbox.env())
    assert second.returncode == 0, second.stderr
    assert "into postgres" in second.stdout
    since = dt.datetime.strptime(cursor, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    window = since - dt.timedelta(seconds=LOOKBACK)
    assert (
        summary_rows(second.stdout)["shots"]
        == expected_row_counts(sandbox.site, ["Shot"], changed_since={"Shot": window})["shots"]
    )

    pipeline = attach(cwd, destination, dataset)
    counts = assert_destination_matches_site(pipeline, sandbox.site, ENTITIES)
    print(f"\npostgres through the script: rows compared {counts}")
    formats = {
        job.job_file_info.file_format
        for load_id in pipeline.list_completed_load_packages()
        for job in pipeline.get_load_package_info(load_id).jobs["completed_jobs"]
    }
    assert formats == {"csv", "insert_values", "sql"}, formats  # insert_values: dlt's own state row


def test_script_writes_parquet_to_shotgun_data_or_the_configured_bucket(sandbox: Any, tmp_path: Path) -> None:
    cwd = with_project_config(tmp_path)
    result = run_script(cwd, "--destination", "filesystem", "--entities", "Shot", env=sandbox.env())
    assert result.returncode == 0, result.stderr
    assert "newest `_dlt_load_id` per id" in result.stdout  # says the files append
    shots = sorted((cwd / "shotgun_data" / "shotgun" / "shots").iterdir())
    assert shots and all(f.suffix == ".parquet" for f in shots)
    files = attach(cwd, dlt.destinations.filesystem(bucket_url=str(cwd / "shotgun_data")), "shotgun")
    assert_destination_matches_site(files, sandbox.site, ["Shot"])
    expected = first_load_counts(sandbox.site, files, ["Shot"])
    assert sum(pq.read_metadata(f).num_rows for f in shots) == expected["shots"]
    assert summary_rows(result.stdout) == expected

    lake = tmp_path / "lake"
    env = {**sandbox.env(), "DESTINATION__FILESYSTEM__BUCKET_URL": str(lake)}
    other = run_script(
        cwd, "--destination", "filesystem", "--entities", "Shot", "--pipeline-name", "lake", env=env
    )
    assert other.returncode == 0, other.stderr
    assert [f.suffix for f in (lake / "shotgun" / "shots").iterdir()] == [".parquet"]
