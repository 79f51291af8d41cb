"""What the script sets for speed and memory, and that the user's own settings win: extract's files
uncompressed (a seventh of a full load's CPU), DuckDB's memory bounded on the loader's connection."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest
from script_runner import script_module

KEY = "sources.shotgun.data_writer.disable_compression"
ENV = "SOURCES__SHOTGUN__DATA_WRITER__DISABLE_COMPRESSION"


DUCKDB_CONFIG = "destination.duckdb.credentials.global_config"
DUCKDB_ENV = "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG"


@pytest.fixture
def clean_config() -> Iterator[None]:
    """Leaves no value behind in dlt's in-memory config for the tests that run after this one."""
    yield
    dlt.config[KEY] = None
    dlt.secrets[DUCKDB_CONFIG] = None


def _extracted_files(pipeline: dlt.Pipeline, sandbox: Any, source_for: Any) -> list[Path]:
    pipeline.extract(source_for(sandbox, entities=["Shot"]), loader_file_format="parquet")
    extracted = Path(pipeline.working_dir) / "normalize" / "extracted"
    return [f for f in extracted.rglob("shots.*") if "new_jobs" in f.parts]


def test_the_script_extracts_uncompressed_files(
    sandbox: Any, source_for: Any, make_pipeline: Any, clean_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    script_module().extract_files_uncompressed()
    files = _extracted_files(make_pipeline(), sandbox, source_for)
    assert files and all(not f.name.endswith(".gz") for f in files), files
    assert all(f.read_bytes()[:2] != b"\x1f\x8b" for f in files)


@pytest.mark.parametrize("where", ["environment", "config.toml"])
def test_the_users_setting_wins(
    sandbox: Any,
    source_for: Any,
    make_pipeline: Any,
    clean_config: None,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    if where == "environment":
        monkeypatch.setenv(ENV, "false")
    else:
        dlt.config[KEY] = False  # what a `disable_compression = false` in .dlt/config.toml amounts to
    script_module().extract_files_uncompressed()
    files = _extracted_files(make_pipeline(), sandbox, source_for)
    assert files and all(f.read_bytes()[:2] == b"\x1f\x8b" for f in files), files


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


def test_the_script_bounds_duckdbs_memory_when_loading(
    tmp_path: Path, clean_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DUCKDB_ENV, raising=False)
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "bounded.duckdb"))
    unbounded = _loader_memory_limit(tmp_path / "before")
    script_module().cap_duckdb_load_memory("duckdb")
    bounded = _loader_memory_limit(tmp_path / "after")
    assert _mib(bounded) == pytest.approx(256 * 1000**2 / 1024**2, rel=0.01), bounded
    assert _mib(unbounded) > _mib(bounded), unbounded


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
    script_module().cap_duckdb_load_memory("duckdb")
    assert _mib(_loader_memory_limit(tmp_path)) == pytest.approx(1000**3 / 1024**2, rel=0.01)


def test_other_destinations_are_left_alone(clean_config: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DUCKDB_ENV, raising=False)
    script_module().cap_duckdb_load_memory("postgres")
    assert dlt.secrets.get(DUCKDB_CONFIG) is None
    assert dlt.secrets.get("destination.postgres.credentials.global_config") is None
