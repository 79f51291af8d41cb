"""Mending what a killed run leaves in dlt's working folder, before it is loaded again.

Two places in dlt 1.31 do not survive a SIGKILL (found by the crash tests, which kill the pipeline
at each point; the fix upstream would be in dlt's load and normalize steps):

- load: a killed load resumes the copy jobs it had started into staging tables it does not clear
  again, so a copy that had committed lands twice; the merge of a root table with child tables
  inserts by `_dlt_id`, so both copies reach the table: duplicated rows.
- normalize: the package is moved to the load folder before its extracted copy is deleted; a kill
  between the two makes every later run normalize it again and fail ("Directory not empty").

`recover_interrupted_run` puts such a package back to "nothing loaded yet": its schema updates
are applied again (staging is cleared), its copy jobs are queued again and its merge SQL is
generated again. Every step of a merge load is idempotent from there, so loading the package once
more gives the destination the package's rows exactly once.

Only jobs of merge tables go back: they copy into staging, which is cleared. A table that loads
straight into the dataset (dlt's `_dlt_pipeline_state`, appended) keeps its completed jobs done:
inserting its rows again would duplicate them, and on PostgreSQL break the unique `_dlt_id` and
fail every later run (found by stopping PostgreSQL in the middle of a load).

A first load appends this source's tables (they are empty, and the load holds one copy of each
record); a kill in its load step may have committed some of those copies. Such tables are turned to
merge in the package before it is loaded again, so the copies that landed are replaced, not doubled.
A merge table loads through a staging table, which the first load never made for an appended one;
so whenever the package's schema is changed its schema update is applied again, even when no job
had started (a kill right after dlt recorded the update as applied: the copies would find no
staging table).
"""

import json
import shutil
from pathlib import Path
from typing import Any

import dlt
from dlt.common import logger
from dlt.common.schema.utils import get_write_disposition
from dlt.common.storages.load_package import ParsedLoadJobFileName

APPLIED_SCHEMA_UPDATES = "applied_schema_updates.json"
SCHEMA_UPDATES = "schema_updates.json"
JOB_FOLDERS = ("started_jobs", "completed_jobs", "failed_jobs")
PACKAGE_SCHEMA = "schema.json"


def recover_interrupted_run(pipeline: dlt.Pipeline) -> list[str]:
    """Reset every normalized package an earlier, killed run left half done; their load ids.

    Call it before `pipeline.run()` when `pipeline.has_pending_data`; then run once with no data
    to load the package, and once more for what changed since.
    """
    root = Path(pipeline.working_dir)
    normalized = root / "load" / "normalized"
    mended: list[str] = []
    for package in sorted(normalized.iterdir()) if normalized.is_dir() else []:
        if not package.is_dir():  # a kill inside dlt's save_atomic leaves its temporary file here
            continue
        load_id = package.name
        for leftover in (root / "normalize" / "extracted" / load_id, root / "load" / "new" / load_id):
            if leftover.exists():
                shutil.rmtree(leftover)
                mended.append(load_id)
        schema_changed = _merge_first_loads(package)
        staged = _merge_tables(package)
        jobs = [
            job
            for folder in JOB_FOLDERS
            if (package / folder).is_dir()
            for job in (package / folder).iterdir()
            if _table_of(job) in staged
        ]
        if not jobs and not schema_changed:
            continue
        applied = package / APPLIED_SCHEMA_UPDATES
        if applied.exists():
            applied.rename(package / SCHEMA_UPDATES)
        new_jobs = package / "new_jobs"
        new_jobs.mkdir(exist_ok=True)
        queued_sql = [
            job for job in new_jobs.iterdir() if ".sql" in job.suffixes and _table_of(job) in staged
        ]
        for job in [*jobs, *queued_sql]:
            if ".sql" in job.suffixes:
                job.unlink()  # merge SQL, generated again from the copy jobs
            else:
                job.rename(new_jobs / job.name)
        mended.append(load_id)
    for load_id in sorted(set(mended)):
        logger.warning(f"Package {load_id} of an interrupted run was reset; it is loaded again now.")
    return sorted(set(mended))


def _merge_first_loads(package: Path) -> bool:
    """Turn the keyed tables a first load appended to into merge tables, in the package's schema;
    whether there were any (then the package's schema update must be applied again)."""
    path = package / PACKAGE_SCHEMA
    try:
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        tables: dict[str, Any] = schema["tables"]
    except (OSError, ValueError, KeyError):
        return False
    changed = False
    for name, table in tables.items():
        keyed = any(
            column.get("primary_key") or column.get("merge_key")
            for column in (table.get("columns") or {}).values()
        )
        if not name.startswith("_dlt") and keyed and table.get("write_disposition") == "append":
            table["write_disposition"] = "merge"
            changed = True
    if changed:
        path.write_text(json.dumps(schema), encoding="utf-8")
    return changed


def _merge_tables(package: Path) -> set[str]:
    """The package's tables (nested ones included) that merge, i.e. load through staging."""
    try:
        tables: dict[str, Any] = json.loads((package / PACKAGE_SCHEMA).read_text(encoding="utf-8"))["tables"]
    except (OSError, ValueError, KeyError):
        return set()  # no readable schema: leave the package to dlt as it is
    return {name for name in tables if get_write_disposition(tables, name) == "merge"}


def _table_of(job: Path) -> str | None:
    try:
        return ParsedLoadJobFileName.parse(job.name).table_name
    except Exception:  # not a job file: leave it where it is
        return None
