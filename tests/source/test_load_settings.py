"""What `shotgun_source.load()` sets for speed and memory, and that the user's own settings win:
DuckDB's memory bounded and its insertion order let go on the loader's connection, parquet load
files for DuckDB, csv files by COPY for PostgreSQL (insert statements for a source of rows)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest
from destination_truth import assert_destination_matches_site
from dlt.sources.rest_api import rest_api_source
from shotgun_testing import rest_api_config_for, script_auth

from shotgun_source import load
from shotgun_source.load_settings import tune_duckdb_loads

DUCKDB_CONFIG = "destination.duckdb.credentials.global_config"
DUCKDB_ENV = "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG"


@pytest.fixture
def clean_config() -> Iterator[None]:
    """Leaves no value behind in dlt's in-memory config for the tests that run after this one."""
    yield
    dlt.secrets[DUCKDB_CONFIG] = None


def _loader_memory_limit(tmp_path: Path, credentials: Any = None) -> str:
    """DuckDB's memory_limit on the connection dlt loads with, after a one-row load."""
    pipeline = dlt.pipeline(
        "memory_check",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.duckdb(credentials) if credentials else "duckdb",
        dataset_name="check",
    )
    pipeline.run([{"id": 1}], table_name="rows")
    with pipeline.sql_client() as client:
        return str(client.execute_sql("select current_setting('memory_limit')")[0][0])


def _mib(setting: str) -> float:
    number, unit = setting.split()
    return float(number) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]


def test_duckdbs_memory_is_bounded_when_loading(
    tmp_path: Path, clean_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DUCKDB_ENV, raising=False)
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "bounded.duckdb"))
    unbounded = _loader_memory_limit(tmp_path / "before")
    with tune_duckdb_loads("duckdb"):
        bounded = _loader_memory_limit(tmp_path / "after")
    after = _loader_memory_limit(tmp_path / "later")
    assert _mib(bounded) == pytest.approx(256 * 1000**2 / 1024**2, rel=0.01), bounded
    assert _mib(unbounded) > _mib(bounded), unbounded
    assert _mib(after) == _mib(unbounded), "the cap outlived the load it was set for"


@pytest.mark.parametrize("where", ["environment", "secrets.toml"])
def test_the_users_duckdb_memory_setting_wins(
    tmp_path: Path, clean_config: None, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.delenv(DUCKDB_ENV, raising=False)
    if where == "environment":
        monkeypatch.setenv(DUCKDB_ENV, '{"memory_limit": "1GB"}')
    else:
        dlt.secrets[DUCKDB_CONFIG] = {"memory_limit": "1GB"}  # as [destination.duckdb.credentials] would
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "users.duckdb"))
    with tune_duckdb_loads("duckdb"):
        assert _mib(_loader_memory_limit(tmp_path)) == pytest.approx(1000**3 / 1024**2, rel=0.01)


def test_other_destinations_are_left_alone(clean_config: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DUCKDB_ENV, raising=False)
    with tune_duckdb_loads("postgres"):
        assert dlt.secrets.get(DUCKDB_CONFIG) is None
        assert dlt.secrets.get("destination.postgres.credentials.global_config") is None


def _job_files(pipeline: dlt.Pipeline) -> list[str]:
    """The data files of the pipeline's last package, as the loader took them (not the merge SQL
    dlt generates from them, nor dlt's own tables)."""
    load_id = pipeline.list_completed_load_packages()[-1]
    jobs = pipeline.get_load_package_info(load_id).jobs["completed_jobs"]
    return [
        job.file_path
        for job in jobs
        if not job.job_file_info.table_name.startswith("_dlt") and job.job_file_info.file_format != "sql"
    ]


def test_load_applies_them_to_a_pipeline_of_the_users_own(
    sandbox: Any, tmp_path: Path, clean_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's own pipeline with a DuckDB file of its own: `load()` loads parquet files and the
    loader's connections are bounded, without any setting of the user's, and only while it loads."""
    from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

    limits: list[str] = []
    insertion_orders: list[bool] = []
    open_connection = DuckDbSqlClient.open_connection

    def recording(client: Any) -> Any:  # the settings of every connection dlt opens
        connection = open_connection(client)
        limits.append(str(connection.execute("select current_setting('memory_limit')").fetchone()[0]))
        order = connection.execute("select current_setting('preserve_insertion_order')").fetchone()[0]
        insertion_orders.append(order)
        return connection

    monkeypatch.setattr(DuckDbSqlClient, "open_connection", recording)
    monkeypatch.delenv(DUCKDB_ENV, raising=False)
    pipeline = dlt.pipeline(
        "users_own",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.duckdb(str(tmp_path / "users_own.duckdb")),
        dataset_name="shotgun",
    )
    report = load(pipeline, site_url=sandbox.url, credentials=script_auth(sandbox), entities=["Shot"])
    assert report.rows["shots"] == len(sandbox.site.records("Shot"))
    files = _job_files(pipeline)
    assert files and all(f.endswith(".parquet") for f in files), files
    assert limits and all(_mib(limit) == pytest.approx(256 * 1000**2 / 1024**2, rel=0.01) for limit in limits)
    assert insertion_orders and not any(insertion_orders), insertion_orders  # DuckDB's default is true
    assert dlt.secrets.get(DUCKDB_CONFIG) is None  # and the setting went with the load


def test_load_hands_duckdb_parquet_files_from_a_source_of_rows(sandbox: Any, tmp_path: Path) -> None:
    """The fast source hands dlt Arrow tables, which dlt writes as parquet whatever it is told; a
    source of rows (dicts: the generated rest_api config here, or any source of a user's own) is
    written as dlt's default for DuckDB, insert statements, unless `load()` asks for parquet."""
    pipeline = dlt.pipeline(
        "rows_to_duckdb",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.duckdb(str(tmp_path / "rows.duckdb")),
        dataset_name="shotgun",
    )
    source = rest_api_source(rest_api_config_for(sandbox, entities=["Shot"]), name="shotgun_rest")
    load(pipeline, source)
    files = _job_files(pipeline)
    assert files and all(f.endswith(".parquet") for f in files), files


def _postgres_pipeline(name: str, tmp_path: Path, server: Any, dataset: str) -> dlt.Pipeline:
    return dlt.pipeline(
        name,
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.postgres(server.dlt_credentials()),
        dataset_name=dataset,
    )


def test_load_copies_csv_files_into_postgres_and_an_empty_text_stays_empty(
    sandbox: Any, tmp_path: Path, postgres_server: Any, postgres_dataset_name: str
) -> None:
    """PostgreSQL gets uncompressed csv files by COPY, and a text the site holds empty comes back
    "" while a missing one comes back NULL (dlt's own COPY makes both NULL); the row counts are the
    rows', and the pipeline keeps the destination it was given."""
    site = sandbox.site
    emptied, missing = (project["id"] for project in site.records("Project")[:2])
    site.update("Project", emptied, {"sg_description": ""})
    site.update("Project", missing, {"sg_description": None})
    pipeline = _postgres_pipeline("users_own_pg", tmp_path, postgres_server, postgres_dataset_name)
    destination = pipeline.destination

    report = load(pipeline, site_url=sandbox.url, credentials=script_auth(sandbox), entities=["Project"])

    files = _job_files(pipeline)
    assert files and all(f.endswith(".csv") for f in files), files
    assert report.rows["projects"] == len(site.records("Project"))
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            f"select id, sg_description from {client.make_qualified_table_name('projects')}"
            " where id in (%s, %s)",
            emptied,
            missing,
        )
    assert dict(rows or []) == {emptied: "", missing: None}
    assert pipeline.destination is destination
    assert pipeline.state["destination_type"] == "dlt.destinations.postgres"
    assert dlt.config.get("data_writer.disable_compression") is None  # the setting went with the load


def test_a_source_of_rows_loads_postgres_with_insert_statements(
    sandbox: Any, tmp_path: Path, postgres_server: Any, postgres_dataset_name: str
) -> None:
    """dlt's csv writer for rows writes None and "" alike: a source of dicts keeps insert
    statements, and its empty texts and NULLs stay apart too."""
    site = sandbox.site
    emptied, missing = (shot["id"] for shot in site.records("Shot")[:2])
    site.update("Shot", emptied, {"description": ""})
    site.update("Shot", missing, {"description": None})
    pipeline = _postgres_pipeline("rows_to_pg", tmp_path, postgres_server, postgres_dataset_name)
    load(pipeline, rest_api_source(rest_api_config_for(sandbox, entities=["Shot"]), name="shotgun_rest"))
    files = _job_files(pipeline)
    assert files and all(".insert_values" in f for f in files), files
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            f"select id, description from {client.make_qualified_table_name('shots')} where id in (%s, %s)",
            emptied,
            missing,
        )
    assert dict(rows or []) == {emptied: "", missing: None}


def _formats(pipeline: dlt.Pipeline) -> set[str]:
    """The job formats of the last package for the shots tables (the history table always merges)."""
    load_id = pipeline.list_completed_load_packages()[-1]
    jobs = pipeline.get_load_package_info(load_id).jobs["completed_jobs"]
    return {
        job.job_file_info.file_format
        for job in jobs
        if job.job_file_info.table_name in ("shots", "shots__assets")
    }


def test_a_first_load_appends_and_later_runs_merge(sandbox: Any, tmp_path: Path) -> None:
    """A pipeline's first load into empty tables appends (no staging, dedup or delete: one copy of
    each record, nothing to replace); the next run merges. A second pipeline into the same tables
    sees their rows and merges from its first run: nothing doubles."""
    site = sandbox.site
    database = str(tmp_path / "shared.duckdb")
    options = {"site_url": sandbox.url, "credentials": script_auth(sandbox), "entities": ["Shot"]}

    def pipeline(name: str) -> dlt.Pipeline:
        return dlt.pipeline(
            name,
            pipelines_dir=str(tmp_path / name),
            destination=dlt.destinations.duckdb(database),
            dataset_name="shotgun",
        )

    first = pipeline("first")
    load(first, **options)
    assert _formats(first) == {"parquet"}  # appended: no merge SQL
    assert first.default_schema.tables["shots"]["write_disposition"] == "append"
    site.update("Shot", site.records("Shot")[5]["id"], {"description": "changed"})
    load(first, **options)
    assert _formats(first) == {"parquet", "sql"}
    assert first.default_schema.tables["shots"]["write_disposition"] == "merge"
    assert_destination_matches_site(first, site, ["Shot"])

    second = pipeline("second")  # no cursor of its own, but the tables hold rows
    load(second, **options)
    assert "sql" in _formats(second)
    assert_destination_matches_site(second, site, ["Shot"])
