"""The files extract hands to normalize: the script writes them uncompressed (a seventh of a full
load's CPU), unless the user's config or environment asks for gzip."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest
from inspection.helpers import script_module

KEY = "sources.shotgun.data_writer.disable_compression"
ENV = "SOURCES__SHOTGUN__DATA_WRITER__DISABLE_COMPRESSION"


@pytest.fixture
def clean_config() -> Iterator[None]:
    """Leaves no value behind in dlt's in-memory config for the tests that run after this one."""
    yield
    dlt.config[KEY] = None


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
