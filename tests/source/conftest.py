"""Fixtures for the source's tests: pipelines in a temp dir loading into real DuckDB files."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dlt
import pytest
from shotgun_testing import script_auth

from shotgun_source import ShotgunAuth, shotgun_source

PipelineFactory = Callable[..., dlt.Pipeline]


@pytest.fixture
def make_pipeline(tmp_path: Path) -> PipelineFactory:
    """A dlt pipeline whose working dir and DuckDB file live in this test's temp dir."""

    def make(name: str = "shotgun_test", destination: Any = None, dataset: str = "shotgun") -> dlt.Pipeline:
        return dlt.pipeline(
            pipeline_name=name,
            pipelines_dir=str(tmp_path / "pipelines"),
            destination=destination or dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
            dataset_name=dataset,
        )

    return make


@pytest.fixture
def source_for() -> Callable[..., Any]:
    """`shotgun_source` pointed at a running sandbox with its script credentials."""

    def make(sandbox: Any, credentials: ShotgunAuth | None = None, **kwargs: Any) -> Any:
        return shotgun_source(site_url=sandbox.url, credentials=credentials or script_auth(sandbox), **kwargs)

    return make
