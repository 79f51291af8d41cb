"""Shared fixtures: a sandbox site per test, one shared read-only sandbox, the recordings, and one
throwaway PostgreSQL server for the session (`postgres_server`, `postgres_dataset_name`)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_server import postgres_dataset_name, postgres_server  # noqa: F401

from shotgun_source.sandbox import Sandbox, Site

# As .dlt/config.toml has it, for runs in folders without it (and this process): with the airflow
# extra installed, dlt would import Airflow into every run to read its Variables (seconds each, and
# a ~/airflow folder) and ask Airflow's API for each setting inside a task.
os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")

RECORDINGS = Path(__file__).resolve().parents[1].parent / "shared" / "shotgrid-recordings"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox (seed 1, scale 1) for one test; tests may mutate it and set faults."""
    with Sandbox(seed=1, scale=1.0) as sb:
        yield sb


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    """One sandbox for the whole session: read it, never change its data or faults."""
    with Sandbox(seed=1, scale=1.0) as sb:
        yield sb


@pytest.fixture(scope="session")
def recordings_dir() -> Path:
    """The real ShotGrid VCR cassettes next to the repository; skips when absent."""
    if not RECORDINGS.is_dir():
        pytest.skip(f"ShotGrid recordings not found at {RECORDINGS}")
    return RECORDINGS


@pytest.fixture(scope="session")
def shared_site(shared_sandbox: Sandbox) -> Site:
    """The shared sandbox's data API (read only)."""
    return shared_sandbox.site
