"""What the orchestrator tests share: the five entity types, site changes between runs, and reading
the one dataset that one pipeline per entity type loads."""

import json
import random
from pathlib import Path
from typing import Any

import dlt
import duckdb
from destination_truth import assert_destination_matches_site
from duckdb_tables import data_tables

from shotgun_source import table_name_for

ENTITY_TYPES = ["Project", "Shot", "Asset", "Task", "Version"]
DATASET = "shotgun"
KILL_AFTER_SHOTS_COPY = """
import os, signal
from dlt.destinations.impl.duckdb.duck import DuckDbCopyJob
_run = DuckDbCopyJob.run
def run(self):
    _run(self)
    if self.load_table_name == "shots":
        os.kill(os.getpid(), signal.SIGKILL)
DuckDbCopyJob.run = run
"""
"""Python code to run first in an orchestrator's process: SIGKILL right after the copy into shots'
staging table commits, before dlt marks the job done (reliability/test_crash_points.py: a plain
`pipeline.run()` resuming that load would copy the rows twice)."""


def change_site(site: Any, seed: int) -> None:
    """A quarter of every type updated, new Shots and Versions, one Version retired."""
    rng = random.Random(seed)
    for entity_type in ENTITY_TYPES:
        site.mutate(entity_type, 0.25, seed=rng.randrange(1_000_000))
    shot = rng.choice(site.records("Shot"))
    for n in range(3):
        site.create("Shot", {"code": f"orchestrated_{seed}_{n}", "project": shot["project"]})
        site.create("Version", {"code": f"orchestrated_v_{seed}_{n}", "project": shot["project"]})
    site.retire("Version", rng.choice(site.records("Version"))["id"])


def entity_pipeline(pipelines_dir: Path, database: Path, entity_type: str) -> dlt.Pipeline:
    """The pipeline an orchestrator task loaded one entity type with, opened from its working folder."""
    return dlt.attach(
        pipeline_name=f"shotgun_{table_name_for(entity_type)}",
        pipelines_dir=str(pipelines_dir),
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name=DATASET,
    )


def entity_dataset(database: Path, entity_type: str) -> dlt.Dataset:
    """One entity type's tables in a DuckDB file, when no local pipeline is left to read them with
    (Airflow tasks start from an empty folder and wipe it after).

    Every pipeline stores its own view of schema `shotgun`: the one it restored from the destination
    plus its own tables. The newest stored version that holds the entity type's table knows its
    link tables too."""
    table = table_name_for(entity_type)
    with duckdb.connect(str(database), read_only=True) as con:
        versions = con.execute(
            f'select "schema" from {DATASET}._dlt_version order by inserted_at desc'
        ).fetchall()
    for (stored,) in versions:
        schema = dlt.Schema.from_dict(json.loads(stored))
        if table in schema.tables:
            return dlt.dataset(dlt.destinations.duckdb(str(database)), DATASET, schema=schema)
    raise AssertionError(f"no stored schema in {database} knows table {table}")


def assert_matches_site(site: Any, pipelines: dict[str, dlt.Pipeline | dlt.Dataset]) -> dict[str, int]:
    """Each entity type's tables, read through the pipeline (or dataset) that loaded them, equal the
    site row for row; the rows compared per type."""
    counts: dict[str, int] = {}
    for entity_type, where in pipelines.items():
        counts.update(assert_destination_matches_site(where, site, [entity_type]))
    return counts


def table_rows(database: Path) -> dict[str, int]:
    """Rows per data table (entity tables and their link tables) in a DuckDB file."""
    with duckdb.connect(str(database), read_only=True) as con:
        return {
            name: con.execute(f'select count(*) from {DATASET}."{name}"').fetchone()[0]  # type: ignore[index]
            for name in data_tables(con, DATASET)
        }
