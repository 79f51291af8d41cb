"""One scenario body, every destination: the `warehouse` fixture runs each test on DuckDB, on the
session's real PostgreSQL server and on parquet files, loading the way the pipeline script does."""

from collections.abc import Callable
from typing import Any

import pytest
from shotgun_testing import script_auth
from warehouse_testing import DESTINATIONS, Warehouse

from shotgun_source import ShotgunAuth, shotgun_source


@pytest.fixture(params=DESTINATIONS)
def warehouse(request: pytest.FixtureRequest, tmp_path: Any) -> Warehouse:
    """A destination of this test's own: a DuckDB file, a PostgreSQL schema or a parquet folder."""
    name = request.param
    if name == "postgres":
        server = request.getfixturevalue("postgres_server")
        return Warehouse(name, tmp_path, request.getfixturevalue("postgres_dataset_name"), server)
    return Warehouse(name, tmp_path, "shotgun")


@pytest.fixture
def source_for() -> Callable[..., Any]:
    """`shotgun_source` pointed at a running sandbox with its script credentials."""

    def make(sandbox: Any, credentials: ShotgunAuth | None = None, **kwargs: Any) -> Any:
        return shotgun_source(site_url=sandbox.url, credentials=credentials or script_auth(sandbox), **kwargs)

    return make
