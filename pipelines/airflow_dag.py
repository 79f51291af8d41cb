"""Airflow 3: one task per ShotGrid entity type, each its own dlt pipeline, all in one dataset.

    pip install -e ".[airflow]"
    cp pipelines/airflow_dag.py $AIRFLOW_HOME/dags/    # and .dlt/ beside it: dags/.dlt/config.toml
    python $AIRFLOW_HOME/dags/airflow_dag.py           # one run now, in this process (dag.test())
    airflow standalone                                 # the scheduler runs it every 30 minutes

Site and credentials come from dags/.dlt/ or SOURCES__SHOTGUN__... (dlt's PipelineTasksGroup makes
the DAG folder dlt's project folder). The destination is `[pipelines] destination_type`
(PIPELINES__DESTINATION_TYPE: snowflake, bigquery, postgres, ..., with `staging_type` beside it
when the warehouse loads from a bucket); when none is set, one DuckDB file for every entity type
(`[destination.duckdb] credentials`, an absolute path; default $AIRFLOW_HOME/shotgun_airflow.duckdb),
and the tasks run one after another, as a DuckDB file takes one writer.

Each task is `shotgun_source.load()`, so it carries what the command line carries:
- the site is read when a task runs, never when the DAG file is parsed (no request);
- the load file format per destination and DuckDB's memory cap; a run report in the task's log,
  its figures (rows per table, step times, requests, cursors) as the task's return value (XCom);
- settings, credentials and permission errors fail the task without retries
  (AirflowFailException); anything else is retried twice.
Like every PipelineTasksGroup task, each starts from an empty local folder (workers share no disk):
the cursor comes back from the destination, and what a killed task had not loaded is read again by
the retry, from the last cursor the destination holds (merged on `id`, so nothing doubles). So
`max_active_runs=1` keeps one run of each pipeline at a time: load()'s lock guards one folder.

Why `@task`s inside the group, not `group.add_run(pipeline, source)`: add_run's task calls
`pipeline.run()` itself (with the data, or what a callable returns), which would skip load() and
everything above. The group still gives what it is for: the DAG folder as dlt's project folder, a
fresh data folder per worker, the tasks grouped as `shotgun` in the UI.
"""

import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import pendulum
from airflow.sdk import chain, dag, task
from airflow.sdk.exceptions import AirflowFailException
from dlt.common.exceptions import TerminalException
from dlt.helpers.airflow_helper import PipelineTasksGroup

from shotgun_source import RunReport, load, table_name_for

ENTITY_TYPES = ("Project", "Shot", "Asset", "Task", "Version")
DATASET = "shotgun"
DUCKDB_FILE = "shotgun_airflow.duckdb"
"""Not `shotgun.duckdb`: DuckDB cannot tell a file (catalog) named like the dataset from the dataset."""


def configured_destination() -> str | None:
    """The warehouse named in `[pipelines] destination_type`; None for the shared DuckDB file."""
    name: str | None = dlt.config.get("pipelines.destination_type")
    return None if not name or name == "duckdb" else str(name)


def duckdb_path() -> str:
    """Absolute: dlt puts a relative DuckDB path in the worker's data folder, which is wiped."""
    configured: str | None = dlt.config.get("destination.duckdb.credentials")
    airflow_home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return str(Path(configured).expanduser().resolve() if configured else airflow_home / DUCKDB_FILE)


def entity_pipeline(entity_type: str) -> dlt.Pipeline:
    """`shotgun_shots` for Shot: its own state, the one dataset all entity types share."""
    return dlt.pipeline(
        pipeline_name=f"shotgun_{table_name_for(entity_type)}",
        # None: dlt takes destination and staging from the configuration
        destination=None if configured_destination() else dlt.destinations.duckdb(duckdb_path()),
        dataset_name=DATASET,
    )


def report_figures(report: RunReport) -> dict[str, Any]:
    """The run report's figures, as JSON for XCom."""
    requests = report.requests
    return {
        "pipeline_name": report.pipeline_name,
        "destination": report.destination,
        "dataset_name": report.dataset_name,
        "rows_loaded": report.total_rows,
        "rows_per_table": report.rows,
        "elapsed_seconds": round(report.elapsed_seconds, 3),
        "step_seconds": {step: round(seconds, 3) for step, seconds in report.step_seconds.items()},
        "requests": requests.total if requests else None,
        "requests_retried": requests.retried if requests else None,
        "cursors": {f"{c.resource}.{c.name}": c.value for c in report.cursors},
        "mended_load_ids": report.mended_load_ids,
    }


@task(retries=2, retry_delay=timedelta(minutes=2))
def load_entity_type(entity_type: str) -> dict[str, Any]:
    """One entity type into its own pipeline; the source is built here, when the task runs."""
    pipeline = entity_pipeline(entity_type)
    try:
        report = load(pipeline, entities=[entity_type])
    except TerminalException as exc:
        raise AirflowFailException(str(exc)) from exc  # a setting or the credentials: retries cannot help
    finally:
        # PipelineTasksGroup's wipe_local_data: no later try sees this worker's folder; the state
        # (cursors, schema) is in the destination
        shutil.rmtree(pipeline.working_dir, ignore_errors=True)
    print(report.render())
    return report_figures(report)


@dag(
    dag_id="shotgun",
    schedule="*/30 * * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["shotgun", "dlt"],
)
def shotgun() -> None:
    # first: it makes the DAG folder dlt's project folder (.dlt/ there) and sets a fresh data folder
    group = PipelineTasksGroup("shotgun", use_data_folder=False, wipe_local_data=True)
    with group:
        tasks = [load_entity_type.override(task_id=table_name_for(e))(e) for e in ENTITY_TYPES]
    if configured_destination() is None:
        chain(*tasks)  # one DuckDB file takes one writer at a time


shotgun_dag = shotgun()

if __name__ == "__main__":
    run = shotgun_dag.test()
    sys.exit(0 if run.state == "success" else 1)
