"""dlt's own inspection commands after a demo load: `dlt pipeline shotgun_demo info` and `trace`."""

from inspection.conftest import DemoRun
from inspection.helpers import run_dlt, table_counts


def test_info_shows_the_pipeline_its_dataset_and_resources(demo_run: DemoRun) -> None:
    result = run_dlt(demo_run.cwd, "pipeline", "shotgun_demo", "info")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"Found pipeline shotgun_demo in {demo_run.cwd / 'dlt_data' / 'pipelines'}" in out
    assert "dataset_name: shotgun" in out and "destination_type: dlt.destinations.duckdb" in out
    for resource in ("projects", "shots", "tasks", "assets", "versions"):
        assert f"\n{resource} with " in out, resource


def test_info_verbose_shows_the_cursors(demo_run: DemoRun) -> None:
    result = run_dlt(demo_run.cwd, "pipeline", "shotgun_demo", "info", "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "last_value" in result.stdout and "updated_at" in result.stdout


def test_trace_shows_the_steps_and_the_rows_of_each_table(demo_run: DemoRun) -> None:
    result = run_dlt(demo_run.cwd, "pipeline", "shotgun_demo", "trace")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for step in ("extract", "normalize", "load"):
        assert f"Step {step} COMPLETED" in out, step
    for table, rows in table_counts(demo_run.database).items():
        assert f"- {table}: {rows} row(s)" in out, table
    assert f"duckdb:///{demo_run.database}" in out and "is LOADED and contains no failed jobs" in out
