"""The script users run, as a subprocess: demo, configured runs, flags, summary, exit codes."""

import datetime as dt
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import dlt
import duckdb
import script_runner
from demo_site import demo_site
from destination_truth import (
    assert_destination_matches_site,
    compare_entity,
    expected_row_counts,
    newest_change,
    plural_slug,
)
from duckdb_tables import table_counts
from script_runner import REPO, summary_rows
from shotgun_testing import cursor_of, first_load_counts, later_history

CLI_TIMEOUT = 180.0
"""Seconds before a script run is killed: the demo starts a sandbox and loads it."""
FIVE = ["Project", "Shot", "Task", "Asset", "Version"]
TABLES = [plural_slug(t) for t in FIVE]
TWO = ["Shot", "Version"]
LOOKBACK = 300
"""`lookback_seconds` in the project's .dlt/config.toml, which the configured runs use."""


def _moment(timestamp: str) -> dt.datetime:
    return dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def run_script(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The script in `cwd` with dlt's data dir inside it (no state leaks between tests)."""
    return script_runner.run_script(cwd, *args, env=env, timeout=CLI_TIMEOUT)


def with_project_config(tmp_path: Path) -> Path:
    shutil.copytree(REPO / ".dlt", tmp_path / ".dlt")
    return tmp_path


def attach(cwd: Path, name: str, dataset: str) -> dlt.Pipeline:
    """The pipeline a script run in `cwd` left, with its DuckDB file."""
    return dlt.attach(
        pipeline_name=name,
        pipelines_dir=str(cwd / "dlt_data" / "pipelines"),
        destination=dlt.destinations.duckdb(str(cwd / f"{name}.duckdb")),
        dataset_name=dataset,
    )


def test_demo_loads_the_demo_site_and_the_summary_says_so(tmp_path: Path) -> None:
    started = time.time()
    result = run_script(tmp_path, "--demo")
    finished = time.time()
    assert result.returncode == 0, result.stderr
    database = tmp_path / "shotgun_demo.duckdb"
    site = demo_site(database, started, finished)
    pipeline = attach(tmp_path, "shotgun_demo", "shotgun")
    assert_destination_matches_site(pipeline, site, FIVE)
    expected = first_load_counts(site, pipeline, FIVE)
    assert table_counts(database, "shotgun") == expected
    assert summary_rows(result.stdout) == expected
    assert {table: cursor_of(pipeline, table) for table in TABLES} == {
        plural_slug(t): newest_change(site, t) for t in FIVE
    }


def test_configured_run_reads_env_vars_and_flags(sandbox: Any, tmp_path: Path) -> None:
    cwd = with_project_config(tmp_path)
    site = sandbox.site
    args = ("--entities", "Shot,versions", "--dataset", "studio")
    result = run_script(cwd, *args, env=sandbox.env())
    assert result.returncode == 0, result.stderr
    pipeline = attach(cwd, "shotgun_pipeline", "studio")
    assert_destination_matches_site(pipeline, site, TWO)
    expected = first_load_counts(site, pipeline, TWO)
    assert table_counts(cwd / "shotgun_pipeline.duckdb", "studio") == summary_rows(result.stdout) == expected
    cursors = {"shots": newest_change(site, "Shot"), "versions": newest_change(site, "Version")}
    assert {table: cursor_of(pipeline, table) for table in cursors} == cursors

    # the second run reads what changed since each cursor less the lookback (.dlt/config.toml: 300 s)
    site.advance_clock(2)
    site.update("Shot", site.records("Shot")[0]["id"], {"description": "second run"})
    history = later_history(pipeline, "shots")
    again = run_script(cwd, *args, env=sandbox.env())
    assert again.returncode == 0, again.stderr
    starts = {t: _moment(cursors[plural_slug(t)]) - dt.timedelta(seconds=LOOKBACK) for t in TWO}
    assert summary_rows(again.stdout) == expected_row_counts(site, TWO, changed_since=starts, history=history)
    pipeline = attach(cwd, "shotgun_pipeline", "studio")
    assert_destination_matches_site(pipeline, site, TWO)
    assert cursor_of(pipeline, "shots") == newest_change(site, "Shot") > cursors["shots"]


def test_refresh_reads_the_whole_site_again(sandbox: Any, tmp_path: Path) -> None:
    """Rows the destination lost or that were changed behind the source's back: an incremental run
    does not see them (their records did not change on the site); `--refresh` drops the tables and
    cursors and loads the site again, so they are right again."""
    cwd = with_project_config(tmp_path)
    site = sandbox.site
    args = ("--entities", "Shot", "--dataset", "studio")
    assert run_script(cwd, *args, env=sandbox.env()).returncode == 0
    # the records changed longest ago: no lookback reaches them
    oldest = [s["id"] for s in sorted(site.records("Shot"), key=lambda s: (s["updated_at"], s["id"]))]
    lost, altered = sorted(oldest[:3]), oldest[3]
    with duckdb.connect(str(cwd / "shotgun_pipeline.duckdb")) as con:
        con.execute(f"delete from studio.shots where id in ({', '.join(map(str, lost))})")
        con.execute("update studio.shots set code = 'not what the site says' where id = ?", [altered])

    incremental = run_script(cwd, *args, env=sandbox.env())
    assert incremental.returncode == 0, incremental.stderr
    comparison = compare_entity(attach(cwd, "shotgun_pipeline", "studio"), site, "Shot")
    # (the lost rows' link rows stay behind, orphaned, which the comparison reports too)
    assert comparison.missing == lost, "an incremental run was not expected to bring back lost rows"
    assert f"Shot {altered}.code: site" in "\n".join(comparison.different), comparison.different

    refreshed = run_script(cwd, *args, "--refresh", env=sandbox.env())
    assert refreshed.returncode == 0, refreshed.stderr
    pipeline = attach(cwd, "shotgun_pipeline", "studio")
    assert_destination_matches_site(pipeline, site, ["Shot"])
    expected = first_load_counts(site, pipeline, ["Shot"])
    assert (
        summary_rows(refreshed.stdout) == expected == table_counts(cwd / "shotgun_pipeline.duckdb", "studio")
    )
    assert cursor_of(pipeline, "shots") == newest_change(site, "Shot")


def test_missing_site_url_names_the_setting(tmp_path: Path) -> None:
    result = run_script(with_project_config(tmp_path))
    assert result.returncode == 2
    assert "site_url" in result.stderr and "SOURCES__SHOTGUN__SITE_URL" in result.stderr


def test_bad_flag_value_exits_2_before_any_request(sandbox: Any, tmp_path: Path) -> None:
    sandbox.clear_requests()
    result = run_script(with_project_config(tmp_path), "--page-size", "0", env=sandbox.env())
    assert result.returncode == 2 and "page_size must be a whole number from 1 to 5000" in result.stderr
    assert sandbox.requests == []


def test_wrong_key_exits_2_and_never_prints_the_key(sandbox: Any, tmp_path: Path) -> None:
    env = {**sandbox.env(), "SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET": "wrong-key-do-not-print"}
    result = run_script(with_project_config(tmp_path), env=env)
    assert result.returncode == 2 and "refused the script key" in result.stderr
    assert "wrong-key-do-not-print" not in result.stdout + result.stderr


def test_entities_from_an_environment_variable(sandbox: Any, tmp_path: Path) -> None:
    """Environment variables carry lists as text: a comma list and a JSON list both work."""
    for value, name in (("Shot,Version", "comma"), ('["Shot", "Version"]', "json")):
        cwd = with_project_config(tmp_path / name)
        result = run_script(cwd, env={**sandbox.env(), "SOURCES__SHOTGUN__ENTITIES": value})
        assert result.returncode == 0, result.stderr
        pipeline = attach(cwd, "shotgun_pipeline", "shotgun")
        expected = first_load_counts(sandbox.site, pipeline, TWO)
        assert set(summary_rows(result.stdout)) == set(expected), result.stdout


def test_history_flags(sandbox: Any, tmp_path: Path) -> None:
    """`--history off` loads no history table; `Type.field` names replace the default for their types
    (the others keep their status history); `--history-since` reaches back; a bad one exits 2."""
    off = run_script(
        with_project_config(tmp_path / "off"),
        "--entities",
        "Shot,Version",
        "--history",
        "off",
        env=sandbox.env(),
    )
    assert off.returncode == 0, off.stderr
    assert not [t for t in summary_rows(off.stdout) if t.endswith("_field_changes")]

    cwd = with_project_config(tmp_path / "named")
    named = run_script(
        cwd,
        "--entities",
        "Shot,Version",
        "--history",
        "Shot.sg_status_list,Shot.sg_cut_in",
        "--history-since",
        "1970-01-01",
        env=sandbox.env(),
    )
    assert named.returncode == 0, named.stderr
    counts = table_counts(cwd / "shotgun_pipeline.duckdb", "shotgun")
    changes = sandbox.site.records("EventLogEntry")
    for table, entity_type, fields in (
        ("shots_field_changes", "Shot", {"sg_status_list", "sg_cut_in"}),
        ("versions_field_changes", "Version", {"sg_status_list"}),
    ):
        on_site = [
            e
            for e in changes
            if e["event_type"] == f"Shotgun_{entity_type}_Change" and e["attribute_name"] in fields
        ]
        assert counts[table] == len(on_site) > 0, table

    bad = run_script(with_project_config(tmp_path / "bad"), "--history-since", "soon", env=sandbox.env())
    assert bad.returncode == 2 and "history_since must be" in bad.stderr
