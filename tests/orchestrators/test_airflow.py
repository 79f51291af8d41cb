"""pipelines/airflow_dag.py as users deploy it: copied into a DAG folder with .dlt/ beside it, parsed
without a request to the site, run with `dag.test()` against the sandbox, then again after the site
changed (each task from an empty folder: the cursors come back from the destination), then killed
in the middle of a load and run again; and a refused key failing its task at once, without retries.

Airflow runs in processes of its own (AIRFLOW_HOME in the test's folder, its SQLite database made
by `airflow db migrate`): importing it configures logging process-wide, and PipelineTasksGroup
points dlt's folders elsewhere through os.environ.
"""

import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from reliability.helpers import duplicate_keys
from script_runner import REPO, SCRIPT, clean_env, summary_rows

from orchestrators.helpers import (
    DATASET,
    ENTITY_TYPES,
    KILL_AFTER_SHOTS_COPY,
    assert_matches_site,
    change_site,
    entity_dataset,
    table_rows,
)
from shotgun_source import table_name_for

DAG_FILE = REPO / "pipelines" / "airflow_dag.py"
TABLES = [table_name_for(entity_type) for entity_type in ENTITY_TYPES]
AIRFLOW_TIMEOUT = 300.0
"""No Airflow process may hang a test run."""
NO_RETRY_SECONDS = 100.0
"""A failed try waits its retry_delay (2 minutes) before the next: a run that ends sooner retried nothing."""
RUN_FILE = "import runpy, sys\nsys.argv = sys.argv[1:]\nrunpy.run_path(sys.argv[0], run_name='__main__')\n"
PARSE = """
import json, runpy, sys
dag = runpy.run_path(sys.argv[1])["shotgun_dag"]
print(json.dumps({t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}))
"""


class AirflowHome:
    """A DAG folder with the DAG file and .dlt/ in it, Airflow's home and the workers' temp dir."""

    def __init__(self, tmp_path: Path, sandbox: Any) -> None:
        self.cwd = tmp_path
        self.dags = tmp_path / "dags"
        self.dags.mkdir()
        self.dag_file = self.dags / DAG_FILE.name
        shutil.copy(DAG_FILE, self.dag_file)
        shutil.copytree(REPO / ".dlt", self.dags / ".dlt", ignore=shutil.ignore_patterns("secrets.toml"))
        self.worker_tmp = tmp_path / "worker_tmp"
        self.worker_tmp.mkdir()
        self.database = tmp_path / "shotgun_airflow.duckdb"
        self.env = clean_env(
            tmp_path,
            **sandbox.env(),
            AIRFLOW_HOME=str(tmp_path / "airflow"),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            DESTINATION__DUCKDB__CREDENTIALS=str(self.database),
            TMPDIR=str(self.worker_tmp),  # where PipelineTasksGroup makes each worker's data folder
        )
        migrated = self.python("-m", "airflow", "db", "migrate")
        assert migrated.returncode == 0, migrated.stderr[-3000:]

    def python(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=AIRFLOW_TIMEOUT,
        )

    def test_run(self, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`python dags/airflow_dag.py`: one DAG run now, in that process (`dag.test()`)."""
        return self.python(str(self.dag_file), env=env)

    def killed_run(self) -> subprocess.CompletedProcess[str]:
        """The same run, killed (SIGKILL) right after a copy into shots' staging table commits."""
        return self.python("-c", KILL_AFTER_SHOTS_COPY + RUN_FILE, str(self.dag_file))

    def leftover_working_folders(self) -> list[str]:
        return [str(p) for p in self.worker_tmp.glob("dlt_*/pipelines/*") if p.is_dir()]


@pytest.fixture
def airflow(tmp_path: Path, sandbox: Any) -> AirflowHome:
    return AirflowHome(tmp_path, sandbox)


def compare(airflow: AirflowHome, sandbox: Any) -> dict[str, int]:
    datasets: dict[str, Any] = {e: entity_dataset(airflow.database, e) for e in ENTITY_TYPES}
    counts = assert_matches_site(sandbox.site, datasets)
    assert not duplicate_keys(airflow.database), f"duplicated keys: {duplicate_keys(airflow.database)}"
    return counts


def test_the_dag_parses_without_a_request_then_runs_load_what_the_site_holds_even_after_a_kill(
    airflow: AirflowHome, sandbox: Any
) -> None:
    parsed = airflow.python("-c", PARSE, str(airflow.dag_file))
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    upstream = json.loads(parsed.stdout.strip().splitlines()[-1])
    # one task per entity type in the group, one after another: one DuckDB file takes one writer
    assert upstream == {
        f"shotgun.{table}": [f"shotgun.{TABLES[n - 1]}"] if n else [] for n, table in enumerate(TABLES)
    }
    assert sandbox.requests == [], "parsing the DAG file talked to the site"

    first = airflow.test_run()
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for table in TABLES:
        assert f"Loaded pipeline shotgun_{table} into duckdb, dataset {DATASET}" in first.stdout
    loaded = summary_rows(first.stdout)
    assert loaded == table_rows(airflow.database), "each task's report counts what it loaded"
    counts = compare(airflow, sandbox)
    assert not airflow.leftover_working_folders(), "the tasks left their working folders"

    change_site(sandbox.site, seed=4)
    second = airflow.test_run()
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    again = compare(airflow, sandbox)
    assert again["Shot"] == counts["Shot"] + 3
    # each task started from an empty folder and still read only what changed: its cursor came
    # back from the destination
    loaded_again = summary_rows(second.stdout)
    for table in TABLES:
        assert 0 < loaded_again[table] < loaded[table], (table, loaded_again[table], loaded[table])

    # a worker killed in the middle of the shots task's load; the next run (each task from an
    # empty folder again) reads from the cursors the destination holds
    change_site(sandbox.site, seed=5)
    killed = airflow.killed_run()
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:] + killed.stderr[-2000:]
    assert "Loaded pipeline shotgun_projects" in killed.stdout, "projects loaded before the kill"
    assert "Loaded pipeline shotgun_shots" not in killed.stdout
    rerun = airflow.test_run()
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    after_kill = compare(airflow, sandbox)
    print(f"\nairflow: rows compared {counts}, then {again}, after a kill {after_kill}")


def test_a_refused_key_fails_its_task_at_once_without_retries(airflow: AirflowHome, sandbox: Any) -> None:
    secret = "not-the-key-0123456789"
    started = time.monotonic()
    run = airflow.test_run(env={"SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": secret})
    seconds = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode == 1, output[-3000:]
    assert seconds < NO_RETRY_SECONDS, f"the failed run took {seconds:.0f} s: it waited for a retry"
    assert "AirflowFailException" in output and "credentials" in output.lower(), output[-3000:]
    assert "up_for_retry" not in output.lower(), output[-3000:]
    assert secret not in output
    assert not airflow.database.exists() or not table_rows(airflow.database), "it loaded rows"


def test_a_cli_run_beside_an_airflow_install_with_its_provider_on_still_prints_its_report(
    sandbox: Any, tmp_path: Path
) -> None:
    """Airflow installed (the airflow extra) and no `.dlt/config.toml` turning dlt's Airflow
    provider off: dlt 1.31 then reads every setting through Airflow Variables, each lookup inside
    `contextlib.redirect_stdout`, which is not thread-safe. Settings resolved on several reader
    threads at once left `sys.stdout` a `StringIO`, so the run loaded and exited 0 and printed no
    report; the package resolves them on the thread that builds the source."""
    assert importlib.util.find_spec("airflow") is not None, "the test extra installs Airflow"
    env = clean_env(tmp_path, **sandbox.env(), AIRFLOW_HOME=str(tmp_path / "airflow"))
    env.pop("PROVIDERS__ENABLE_AIRFLOW_SECRETS", None)  # conftest turns it off for the suite
    assert not (tmp_path / ".dlt").exists()
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--entities", "Shot,Asset,Task"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=AIRFLOW_TIMEOUT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = summary_rows(run.stdout)
    assert rows.keys() >= {"shots", "assets", "tasks"}, f"no report on stdout:\n{run.stdout[-2000:]}"
    assert rows["shots"] == len(sandbox.site.records("Shot")), rows
