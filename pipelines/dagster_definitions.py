"""Dagster: one asset per ShotGrid entity type, each its own dlt pipeline, all in one dataset.

    pip install -e ".[dagster]"
    dagster dev -f pipelines/dagster_definitions.py          # the UI on http://127.0.0.1:3000
    dagster asset materialize -f pipelines/dagster_definitions.py --select '*'

Site and credentials come from .dlt/ or SOURCES__SHOTGUN__..., as for every run of the package.
The destination is `[pipelines] destination_type` (PIPELINES__DESTINATION_TYPE: snowflake, bigquery,
postgres, ..., with `staging_type` beside it when the warehouse loads from a bucket); when none is
set, one DuckDB file (`[destination.duckdb] credentials`, default ./shotgun_dagster.duckdb) for every entity
type, and the assets run one after another in one process, as a DuckDB file takes one writer.

Each materialization is `shotgun_source.load()`, so it carries every guarantee the command line has:
- the site is read when an asset materializes, never when these definitions load (no request);
- one run per entity type at a time (a second waits `lock_timeout_seconds`, then fails naming the
  holder); each entity type is its own pipeline, with its own cursor;
- what a run killed mid-load left is mended and loaded first, without duplicates;
- the load file format per destination and DuckDB's memory cap;
- settings, credentials and permission errors fail at once, without retries (`dg.Failure` with
  `allow_retries=False`); anything else is retried by the asset's retry policy;
- the run report's figures (rows per table, step times, requests, cursors) are the
  materialization's metadata, its text the `summary`.

Not dagster-dlt's `@dlt_assets`: it needs the source when the definitions load (ours reads the site
when it is built), and its `DagsterDltResource.run` drops the pipeline's local state (a killed run's
packages too) and calls `pipeline.run()` itself, so none of the above would hold.
"""

from typing import Any

import dagster as dg
import dlt
from dlt.common.exceptions import TerminalException

from shotgun_source import RunReport, load, table_name_for

ENTITY_TYPES = ("Project", "Shot", "Asset", "Task", "Version")
DATASET = "shotgun"
DUCKDB_FILE = "shotgun_dagster.duckdb"
"""Not `shotgun.duckdb`: DuckDB cannot tell a file (catalog) named like the dataset from the dataset."""
GROUP = "shotgun"


def configured_destination() -> str | None:
    """The warehouse named in `[pipelines] destination_type`; None for the shared DuckDB file."""
    name: str | None = dlt.config.get("pipelines.destination_type")
    return None if not name or name == "duckdb" else str(name)


def entity_pipeline(entity_type: str) -> dlt.Pipeline:
    """`shotgun_shots` for Shot: its own state and lock, the one dataset all entity types share."""
    return dlt.pipeline(
        pipeline_name=f"shotgun_{table_name_for(entity_type)}",
        # None: dlt takes destination and staging from the configuration; DuckDB would give each
        # pipeline a file of its own, so name the one file they share
        destination=None
        if configured_destination()
        else dlt.destinations.duckdb(dlt.config.get("destination.duckdb.credentials") or DUCKDB_FILE),
        dataset_name=DATASET,
    )


def report_metadata(report: RunReport) -> dict[str, Any]:
    """The run report as asset metadata: numbers to chart across runs, the summary to read."""
    metadata: dict[str, Any] = {
        "rows_loaded": dg.MetadataValue.int(report.total_rows),
        "rows_per_table": dg.MetadataValue.json(report.rows),
        "elapsed_seconds": dg.MetadataValue.float(round(report.elapsed_seconds, 3)),
        **{
            f"{step}_seconds": dg.MetadataValue.float(round(seconds, 3))
            for step, seconds in report.step_seconds.items()
        },
        "cursors": dg.MetadataValue.json({f"{c.resource}.{c.name}": c.value for c in report.cursors}),
        "mended_load_ids": dg.MetadataValue.json(report.mended_load_ids),
        "pipeline_name": dg.MetadataValue.text(report.pipeline_name),
        "destination": dg.MetadataValue.text(report.destination),
        "dataset_name": dg.MetadataValue.text(report.dataset_name),
        "summary": dg.MetadataValue.md(f"```\n{report.render()}\n```"),
    }
    if report.requests is not None:
        metadata["requests"] = dg.MetadataValue.int(report.requests.total)
        metadata["requests_retried"] = dg.MetadataValue.int(report.requests.retried)
        metadata["requests_by_kind"] = dg.MetadataValue.json(dict(report.requests.by_kind))
    return metadata


def shotgun_asset(entity_type: str) -> dg.AssetsDefinition:
    """`shotgun/shots` for Shot: the table and its link tables, merged on `id`."""
    table = table_name_for(entity_type)

    @dg.asset(
        key=[GROUP, table],
        group_name=GROUP,
        kinds={"dlt"},
        description=f"ShotGrid {entity_type} records: table {DATASET}.{table} and its link tables.",
        retry_policy=dg.RetryPolicy(max_retries=2, delay=60),
    )
    def load_entity_type(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        pipeline = entity_pipeline(entity_type)
        try:
            report = load(pipeline, entities=[entity_type])  # builds the source here, inside the lock
        except TerminalException as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        context.log.info(report.render())
        return dg.MaterializeResult(metadata=report_metadata(report))

    return load_entity_type


shotgun_job = dg.define_asset_job("shotgun_load", selection=dg.AssetSelection.groups(GROUP))

defs = dg.Definitions(
    assets=[shotgun_asset(entity_type) for entity_type in ENTITY_TYPES],
    jobs=[shotgun_job],
    # stopped until switched on in the UI (or with `dagster schedule start`)
    schedules=[dg.ScheduleDefinition(job=shotgun_job, cron_schedule="*/30 * * * *")],
    executor=dg.multiprocess_executor if configured_destination() else dg.in_process_executor,
)
