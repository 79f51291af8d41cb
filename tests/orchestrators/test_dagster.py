"""pipelines/dagster_definitions.py, as users run it: definitions that read nothing when they load,
materialized in this process against the sandbox (then again after the site changed), a failure a
rerun cannot mend failing at once, and the `dagster` command killed while it loads.

Settings reach the file the way they reach any run: SOURCES__SHOTGUN__* for the site, a DuckDB file
in the test's folder (DESTINATION__DUCKDB__CREDENTIALS), dlt's data dir there too (DLT_DATA_DIR).
"""

import importlib.util
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
import pytest
from reliability.crash import run_and_kill
from reliability.helpers import CLI_TIMEOUT, FAST, duplicate_keys, pending_packages
from script_runner import REPO, clean_env

from orchestrators.helpers import (
    DATASET,
    ENTITY_TYPES,
    KILL_AFTER_SHOTS_COPY,
    assert_matches_site,
    change_site,
    entity_pipeline,
    table_rows,
)
from shotgun_source import table_name_for

DEFINITIONS = REPO / "pipelines" / "dagster_definitions.py"
DAGSTER = Path(sys.executable).parent / "dagster"
TABLES = {table_name_for(entity_type) for entity_type in ENTITY_TYPES}
KILL_DELAY = (0.05, 0.1)
"""Seconds into the load step, while copy jobs complete: the first asset's incremental load lasts
about 0.2 s here, its jobs complete from 0.07 s on. Too early still leaves the package to load."""


class Run:
    """Where one test's definitions load: its DuckDB file, dlt's data dir, the environment."""

    def __init__(self, tmp_path: Path, sandbox: Any) -> None:
        self.cwd = tmp_path
        shutil.copytree(REPO / ".dlt", tmp_path / ".dlt", ignore=shutil.ignore_patterns("secrets.toml"))
        self.database = tmp_path / "shotgun_dagster.duckdb"
        self.pipelines_dir = tmp_path / "dlt_data" / "pipelines"
        self.env = {
            **sandbox.env(),
            "DLT_DATA_DIR": str(tmp_path / "dlt_data"),
            "DESTINATION__DUCKDB__CREDENTIALS": str(self.database),
        }

    def pipelines(self) -> dict[str, Any]:
        return {e: entity_pipeline(self.pipelines_dir, self.database, e) for e in ENTITY_TYPES}


@pytest.fixture
def run(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The environment set in this process, as a scheduler's worker would have it."""
    for name in ("PIPELINES__DESTINATION_TYPE", "DESTINATION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    setup = Run(tmp_path, sandbox)
    for name, value in setup.env.items():
        monkeypatch.setenv(name, value)
    return setup


def load_definitions() -> ModuleType:
    """The file executed afresh, as `dagster dev -f` loads it (its settings are read when it loads)."""
    spec = importlib.util.spec_from_file_location(f"dagster_definitions_{time.monotonic_ns()}", DEFINITIONS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def materialize(module: ModuleType, **options: Any) -> dict[str, dict[str, Any]]:
    """The file's job run in this process; {table: the materialization's metadata values}."""
    job = module.defs.resolve_job_def("shotgun_load")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), **options)
    assert result.success
    found: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        found[materialization.asset_key.path[-1]] = {k: v.value for k, v in materialization.metadata.items()}
    return found


def test_loading_the_definitions_sends_no_request(run: Run, sandbox: Any) -> None:
    module = load_definitions()
    dg.Definitions.validate_loadable(module.defs)
    keys = {key.to_user_string() for key in module.defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {f"shotgun/{table}" for table in TABLES}
    assert module.defs.resolve_job_def("shotgun_load") is not None
    assert sandbox.requests == [], "building the definitions talked to the site"

    # what `dagster dev -f` does first: load the file in a process of its own
    checked = subprocess.run(
        [str(DAGSTER), "definitions", "validate", "-f", str(DEFINITIONS)],
        cwd=run.cwd,
        env=clean_env(run.cwd, **run.env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert sandbox.requests == [], "loading the definitions talked to the site"


def test_materialized_in_process_then_again_after_site_changes_the_duckdb_file_equals_the_site(
    run: Run, sandbox: Any
) -> None:
    module = load_definitions()
    first = materialize(module)
    assert set(first) == TABLES
    assert sandbox.requests, "materializing read nothing from the site"
    compared = assert_matches_site(sandbox.site, run.pipelines())
    assert not duplicate_keys(run.database)
    # the metadata is the run report: on a first load each table's rows are every row it holds
    held = table_rows(run.database)
    for table, metadata in first.items():
        rows = metadata["rows_per_table"]
        owned = {name for name in held if name.split("__")[0] == table or name == f"{table}_field_changes"}
        assert rows == {name: held[name] for name in owned}, table
        assert metadata["rows_loaded"] == sum(rows.values())
        assert metadata["pipeline_name"] == f"shotgun_{table}"
        assert metadata["destination"] == "duckdb" and metadata["dataset_name"] == DATASET
        assert metadata["requests"] > 0 and metadata["mended_load_ids"] == []
        assert {f"{table}.updated_at", f"{table}.events_read_to"} <= set(metadata["cursors"])
        assert f"Loaded pipeline shotgun_{table} into duckdb" in metadata["summary"]

    change_site(sandbox.site, seed=1)
    second = materialize(load_definitions())
    counts = assert_matches_site(sandbox.site, run.pipelines())
    assert not duplicate_keys(run.database)
    assert counts["Shot"] == compared["Shot"] + 3
    for table, metadata in second.items():
        # incremental: each pipeline read from its own cursor, not everything again
        assert 0 < metadata["rows_loaded"] < first[table]["rows_loaded"], table
        for cursor, value in metadata["cursors"].items():
            assert value >= first[table]["cursors"][cursor], (table, cursor)
    print(f"\ndagster: rows compared {compared}, then {counts}")


def test_a_failure_a_rerun_cannot_mend_fails_at_once_without_retries(
    run: Run, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET", "not-the-key-0123456789")
    started = time.monotonic()
    job = load_definitions().defs.resolve_job_def("shotgun_load")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey(["shotgun", "projects"])],
        raise_on_error=False,
    )
    assert not result.success
    assert time.monotonic() - started < FAST, "a refused key must fail at once, not after retries"
    events = result.all_events
    assert not [e for e in events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    failures = [e for e in events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert len(failures) == 1
    message = str(failures[0].step_failure_data.error)
    assert "credentials" in message.lower(), message
    assert "not-the-key-0123456789" not in message


def materialize_command(before: str = "") -> list[str]:
    """`dagster asset materialize -f pipelines/dagster_definitions.py --select '*'`, the README's
    command; Python runs the code `before` first, in the same process."""
    args = ["asset", "materialize", "-f", str(DEFINITIONS), "--select", "*"]
    if not before:
        return [sys.executable, "-m", "dagster", *args]
    then = "import runpy, sys\nsys.argv[0] = 'dagster'\nrunpy.run_module('dagster', run_name='__main__')\n"
    return [sys.executable, "-c", before + then, *args]


def assert_rerun_mends(run: Run, sandbox: Any, module: ModuleType, where: str) -> dict[str, list[str]]:
    """What the kill left is there to load again; one materialization in this process loads it
    without a duplicate and leaves the destination equal to the site. The load ids it mended."""
    left = {e: pending_packages(run.pipelines_dir / f"shotgun_{table_name_for(e)}") for e in ENTITY_TYPES}
    assert any(left.values()), f"{where}: the kill left nothing to load again"
    again = materialize(module)
    assert not any(pending_packages(Path(p.working_dir)) for p in run.pipelines().values()), where
    assert not duplicate_keys(run.database), f"{where}: duplicated keys {duplicate_keys(run.database)}"
    assert_matches_site(sandbox.site, run.pipelines())
    return {table: m["mended_load_ids"] for table, m in again.items() if m["mended_load_ids"]}


def test_the_dagster_command_killed_while_loading_then_materialized_again_duplicates_nothing(
    run: Run, sandbox: Any
) -> None:
    module = load_definitions()
    materialize(module)
    env = clean_env(run.cwd, **run.env)

    # 1. at the worst moment: a copy into shots' staging table committed, its job not yet marked
    # done (a plain `pipeline.run()` would load that copy twice: tests/reliability/test_crash_points.py)
    change_site(sandbox.site, seed=2)
    killed = subprocess.run(
        materialize_command(KILL_AFTER_SHOTS_COPY),
        cwd=run.cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    assert killed.returncode == -signal.SIGKILL, f"not killed at the copy: {killed.stderr[-2000:]}"
    mended = assert_rerun_mends(run, sandbox, module, "killed after a staging copy")
    assert list(mended) == ["shots"], f"the rerun did not mend the killed load first: {mended}"

    # 2. at a time: a seeded moment of the load step, told apart by dlt's log (reliability/crash.py)
    change_site(sandbox.site, seed=3)
    delay = random.Random(20261201).uniform(*KILL_DELAY)
    kill = run_and_kill(materialize_command(), run.cwd, env, target="load", delay=delay)
    assert kill.killed and kill.phase == "load", (
        f"not killed while loading ({kill.returncode}, {kill.phase}): {kill.stderr[-2000:]}"
    )
    mended_later = assert_rerun_mends(run, sandbox, module, f"killed {delay:.2f} s into the load")
    print(f"\ndagster: mended {mended} after the copy kill, {mended_later} after {delay:.2f} s into a load")


def test_a_configured_warehouse_is_every_pipelines_destination(
    run: Run, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINES__DESTINATION_TYPE", "postgres")
    module = load_definitions()
    pipelines = [module.entity_pipeline(entity_type) for entity_type in ENTITY_TYPES]
    assert {p.destination.destination_type for p in pipelines} == {"dlt.destinations.postgres"}
    assert {p.dataset_name for p in pipelines} == {DATASET}
    assert len({p.pipeline_name for p in pipelines}) == len(ENTITY_TYPES)
    # a warehouse takes many writers: the assets may run in parallel processes
    assert module.defs.resolve_job_def("shotgun_load").executor_def.name == "multiprocess"
    monkeypatch.delenv("PIPELINES__DESTINATION_TYPE")
    assert load_definitions().defs.resolve_job_def("shotgun_load").executor_def.name == "in_process"
    assert sandbox.requests == []
