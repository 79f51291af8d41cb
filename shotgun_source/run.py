"""`load()`: one ShotGrid load into a dlt pipeline, with everything a run guarantees.

The command line, the Dagster assets and the Airflow DAG all call this, and so can any pipeline of a
user's own, so none of them loses what `pipeline.run(shotgun_source())` alone does not give:

- one run per pipeline at a time (`lock.py`);
- mending what a killed run left (`recovery.py`) and loading it before reading anything new;
- the load file format per destination, PostgreSQL's COPY that keeps empty texts, and DuckDB's
  memory cap (`load_settings.py`);
- a `RunReport`: rows per table, step times, requests and retries, cursors (`report.py`), and
  notes on what the site lost that the run went on without (`site_changes.py`);
- failures of ours raised as the ShotgunError they are (a setting, the credentials, the site), with
  the rerun-cannot-mend ones also dlt `TerminalException`s, so orchestrator retries skip them.
"""

import time
from typing import Any

import dlt
from dlt.common import logger
from dlt.common.configuration import known_sections, with_config
from dlt.extract import DltSource

from .errors import ShotgunError, find_shotgun_error
from .load_settings import load_settings_for, loader_file_format
from .lock import pipeline_lock
from .recovery import recover_interrupted_run
from .report import RunReport, destination_type
from .settings import DEFAULT_LOCK_TIMEOUT_SECONDS
from .site_changes import fields_deleted_during_the_run, site_session_of, tables_no_longer_on_the_site, warn
from .source import shotgun_source
from .transport import RequestCounts


@with_config(sections=(known_sections.SOURCES, "shotgun"))
def configured_lock_timeout(lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> float:
    """`[sources.shotgun] lock_timeout_seconds` (or SOURCES__SHOTGUN__LOCK_TIMEOUT_SECONDS)."""
    return float(lock_timeout_seconds)


def load(
    pipeline: dlt.Pipeline,
    source: DltSource | None = None,
    *,
    refresh: bool = False,
    lock_timeout_seconds: float | None = None,
    **source_options: Any,
) -> RunReport:
    """Load ShotGrid into `pipeline` once: lock, mend an interrupted run, load, report.

    Args:
        pipeline: Any dlt pipeline (destination and dataset of your choice).
        source: A `shotgun_source(...)`, perhaps narrowed with `.with_resources(...)`; None builds
            one here, inside the lock, from `source_options` and the configuration (.dlt/,
            SOURCES__SHOTGUN__...). Building it here is what orchestrators want: the site is read
            when the task runs, not when the DAG or the definitions load.
        refresh: Start over: drop this source's tables and cursors, then load everything.
        lock_timeout_seconds: How long to wait for another run of the same pipeline; default
            `[sources.shotgun] lock_timeout_seconds` (60).
        **source_options: Arguments of `shotgun_source` (entities, page_size, deletes, ...).

    Returns:
        What the run loaded, how long it took, what it asked the site, where the cursors stand.

    Raises:
        ShotgunPipelineBusyError: another run holds the pipeline past the timeout.
        ShotgunError: the settings, the credentials or the site stopped the run (the subclass says
            which; ShotgunConfigError, ShotgunAuthError and ShotgunPermissionError are terminal).
        dlt's PipelineStepFailed: anything else (the destination, say); the rows read are kept in
            the pipeline's working folder and the next run loads them first.
    """
    if source is not None and source_options:
        raise TypeError("give load() either a source or shotgun_source options, not both")
    timeout = configured_lock_timeout() if lock_timeout_seconds is None else lock_timeout_seconds
    with pipeline_lock(pipeline, timeout), load_settings_for(pipeline):
        started = time.monotonic()
        try:
            mended = finish_interrupted_run(pipeline)
            if source is None:
                source = shotgun_source(**source_options)
            session = site_session_of(source)
            if session is not None:
                session.empty_tables = empty_tables(pipeline, uncursored_tables(pipeline, source))
            notes = [] if refresh else warn(tables_no_longer_on_the_site(pipeline, source))
            # every item of a ShotGrid source is an Arrow table: csv for PostgreSQL (load_settings.py)
            arrow_items = session is not None
            options: dict[str, Any] = {"loader_file_format": loader_file_format(pipeline, arrow_items)}
            if refresh:
                options["refresh"] = "drop_sources"
            info = pipeline.run(source, **options)
            notes += warn(fields_deleted_during_the_run(source))
        except ShotgunError:
            raise
        except Exception as exc:
            ours = find_shotgun_error(exc)
            if ours is not None:
                raise ours from exc  # the message of what went wrong, not dlt's step wrapper
            raise
        requests: RequestCounts | None = session.stats.since_last_report() if session is not None else None
        report = RunReport.of(pipeline, time.monotonic() - started, requests, mended, info, notes)
        if session is not None:
            report.leave_out(session.take_markers())
        return report


def finish_interrupted_run(pipeline: dlt.Pipeline) -> list[str]:
    """Mend and load what a stopped run left (dlt's own `run` would refuse new data until then).

    dlt 1.31 duplicates rows when a killed load resumes, and sticks when normalize is killed at its
    commit point; `recover_interrupted_run` resets such packages first. Returns the load ids mended.
    """
    if not pipeline.has_pending_data:
        return []
    mended = recover_interrupted_run(pipeline)
    pipeline.run()  # normalizes and loads what is pending, reads nothing
    return mended


def uncursored_tables(pipeline: dlt.Pipeline, source: DltSource) -> list[str]:
    """The selected resources of the source that this pipeline has no cursor for yet."""
    resources = pipeline.state.get("sources", {}).get(source.name, {}).get("resources", {})
    return [name for name in source.selected_resources if not resources.get(name, {}).get("incremental")]


def empty_tables(pipeline: dlt.Pipeline, tables: list[str]) -> set[str]:
    """Which of `tables` the destination holds no rows of (a table or dataset not there yet counts
    as empty). One small query per table, only for tables without a cursor (first runs)."""
    if not tables or pipeline.destination is None or destination_type(pipeline) == "filesystem":
        return set()
    empty: set[str] = set()
    try:
        with pipeline.sql_client() as client:
            for table in tables:
                try:
                    rows = client.execute_sql(
                        f"select 1 from {client.make_qualified_table_name(table)} limit 1"
                    )
                except Exception:  # no such table (or dataset) yet
                    empty.add(table)
                    continue
                if not rows:
                    empty.add(table)
    except Exception as exc:  # the destination cannot be asked now: merge, which is always right
        logger.info(f"Could not tell which tables are empty ({type(exc).__name__}); merging into all.")
        return set()
    return empty
