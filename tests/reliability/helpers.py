"""What the reliability tests share: pipelines in a temp dir, the CLI as a subprocess, snapshots.

The CLI runs exactly as users run it (`python pipelines/shotgun_pipeline.py`, site and
credentials from `SOURCES__SHOTGUN__*`), in a working directory of the test's own with dlt's
data dir inside it, so nothing leaks between tests or into the developer's `~/.dlt`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.common.pipeline import LoadInfo
from duckdb_tables import data_tables
from script_runner import REPO, SCRIPT, clean_env
from shotgun_testing import script_auth
from timing import FAIL_FAST_SECONDS

from shotgun_source import shotgun_source

PIPELINE_NAME = "shotgun_pipeline"
DATASET = "shotgun"
CLI_TIMEOUT = 120.0
FAST = FAIL_FAST_SECONDS
"""A failure that is not retried comes within this on any machine (tests/timing.py)."""
"""No subprocess may hang a test run: every one of them is killed after this."""


def make_pipeline(tmp_path: Path, name: str = "reliability") -> dlt.Pipeline:
    """A pipeline whose working dir and DuckDB file live in the test's temp dir."""
    return dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
        dataset_name=DATASET,
    )


def run_source(pipeline: dlt.Pipeline, sandbox: Any, **kwargs: Any) -> LoadInfo:
    """One run of the source against a sandbox, loading parquet like the CLI does."""
    credentials = kwargs.pop("credentials", None) or script_auth(sandbox)
    source = shotgun_source(site_url=sandbox.url, credentials=credentials, **kwargs)
    return pipeline.run(source, loader_file_format="parquet")


def cursors_of(state: dict[str, Any]) -> dict[str, Any]:
    """{table: stored updated_at cursor} from a pipeline state dict."""
    resources = state.get("sources", {}).get("shotgun", {}).get("resources", {})
    return {
        table: spec.get("incremental", {}).get("updated_at", {}).get("last_value")
        for table, spec in resources.items()
    }


class CliDir:
    """A directory the pipeline script runs in, with the project's `.dlt/config.toml` copied in."""

    def __init__(self, cwd: Path, pipeline_name: str = PIPELINE_NAME) -> None:
        self.cwd = cwd
        self.pipeline_name = pipeline_name
        cwd.mkdir(parents=True, exist_ok=True)
        if not (cwd / ".dlt").exists():
            shutil.copytree(REPO / ".dlt", cwd / ".dlt", ignore=shutil.ignore_patterns("secrets.toml"))

    @property
    def pipelines_dir(self) -> Path:
        return self.cwd / "dlt_data" / "pipelines"

    @property
    def working_dir(self) -> Path:
        return self.pipelines_dir / self.pipeline_name

    @property
    def database(self) -> Path:
        return self.cwd / f"{self.pipeline_name}.duckdb"

    def env(self, site_env: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
        return clean_env(self.cwd, **site_env, **(extra or {}))

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(SCRIPT), *args]

    def run(
        self,
        site_env: dict[str, str],
        *args: str,
        extra_env: dict[str, str] | None = None,
        timeout: float = CLI_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=self.cwd,
            env=self.env(site_env, extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cursors(self) -> dict[str, Any]:
        """The cursors in the local pipeline state (empty before the first load)."""
        state_file = self.working_dir / "state.json"
        if not state_file.exists():
            return {}
        return cursors_of(json.loads(state_file.read_text()))

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every data table's rows without dlt's columns, sorted: equal before and after = unchanged."""
        return snapshot_duckdb(self.database)

    def attach(self) -> dlt.Pipeline:
        """The CLI's pipeline, opened from its working dir, for the truth comparison."""
        return dlt.attach(
            pipeline_name=self.pipeline_name,
            pipelines_dir=str(self.pipelines_dir),
            destination=dlt.destinations.duckdb(str(self.database)),
            dataset_name=DATASET,
        )


def pending_packages(working_dir: Path) -> list[str]:
    """Packages a pipeline still has to normalize or load: the folders dlt lists there. (A killed
    extract or normalize also leaves its unfinished package in a temporary folder,
    `normalize/<id>` or `load/new/<id>`, and a kill inside dlt's `save_atomic` leaves its
    temporary file, 16 hex digits, beside the packages; dlt never reads these again nor removes
    them: disk, not data.)"""
    folders = [working_dir / "normalize" / "extracted", working_dir / "load" / "normalized"]
    return [str(p) for folder in folders if folder.exists() for p in folder.iterdir() if p.is_dir()]


def snapshot_duckdb(database: Path, dataset: str = DATASET) -> dict[str, list[tuple[Any, ...]]]:
    if not database.exists():
        return {}
    out: dict[str, list[tuple[Any, ...]]] = {}
    with duckdb.connect(str(database), read_only=True) as con:
        for table in data_tables(con, dataset):
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = ? and table_name = ? order by column_name",
                    [dataset, table],
                ).fetchall()
                if not c.startswith("_dlt")
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f'select {select} from {dataset}."{table}"').fetchall()
            out[table] = sorted(rows, key=repr)
    return out


def page_times(sandbox: Any, page_size: int | str) -> list[float]:
    """When the site received each page request of `page_size` rows (a run's own page size, as it
    tells one run's pages from another's)."""
    return sorted(
        r.time
        for r in sandbox.requests
        if r.kind == "search"
        and isinstance(r.body, dict)
        and str((r.body.get("page") or {}).get("size")) == str(page_size)
    )


def key_columns(table: str) -> str:
    """The quoted columns that identify a row of one of the source's tables: `id` in root tables,
    (parent id, list index) in link tables, `event_id` in field-history tables."""
    if table.endswith("_field_changes"):
        return '"event_id"'
    return '"parent_id", "list_idx"' if "__" in table else '"id"'


def duplicate_keys(database: Path, dataset: str = DATASET) -> dict[str, int]:
    """{table: rows that repeat a key}: `id` in root tables, (parent id, list index) in link tables,
    `event_id` in field-history tables."""
    found: dict[str, int] = {}
    with duckdb.connect(str(database), read_only=True) as con:
        for table in data_tables(con, dataset):
            key = key_columns(table)
            (extra,) = con.execute(
                f'select coalesce(sum(n - 1), 0) from (select count(*) as n from {dataset}."{table}"'
                f" group by {key}) where n > 1"
            ).fetchone() or (0,)
            if extra:
                found[table] = int(extra)
    return found
