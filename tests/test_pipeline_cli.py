"""The script users run, as a subprocess: demo, configured runs, flags, summary, exit codes."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import script_runner
from duckdb_tables import table_counts
from script_runner import REPO, summary_rows

CLI_TIMEOUT = 180.0
"""Seconds before a script run is killed: the demo starts a sandbox and loads it."""


def run_script(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The script in `cwd` with dlt's data dir inside it (no state leaks between tests)."""
    return script_runner.run_script(cwd, *args, env=env, timeout=CLI_TIMEOUT)


def with_project_config(tmp_path: Path) -> Path:
    shutil.copytree(REPO / ".dlt", tmp_path / ".dlt")
    return tmp_path


def test_demo_loads_and_the_summary_matches_the_file(tmp_path: Path) -> None:
    result = run_script(tmp_path, "--demo")
    assert result.returncode == 0, result.stderr
    rows = summary_rows(result.stdout)
    assert {"projects", "shots", "tasks", "assets", "versions"} <= set(rows)
    assert table_counts(tmp_path / "shotgun_demo.duckdb", "shotgun") == rows


def test_configured_run_reads_env_vars_and_flags(sandbox: Any, tmp_path: Path) -> None:
    cwd = with_project_config(tmp_path)
    result = run_script(cwd, "--entities", "Shot,versions", "--dataset", "studio", env=sandbox.env())
    assert result.returncode == 0, result.stderr
    counts = table_counts(cwd / "shotgun_pipeline.duckdb", "studio")
    # live rows, plus rows of records the site retired shortly before (soft deletes keep them flagged)
    for table, entity_type in (("shots", "Shot"), ("versions", "Version")):
        live = len(sandbox.site.records(entity_type))
        assert live <= counts[table] <= live + len(sandbox.site.records(entity_type, retired=True))
    assert "projects" not in counts

    sandbox.site.update("Shot", sandbox.site.records("Shot")[0]["id"], {"description": "second run"})
    again = run_script(cwd, "--entities", "Shot,versions", "--dataset", "studio", env=sandbox.env())
    assert again.returncode == 0, again.stderr
    assert 1 <= summary_rows(again.stdout).get("shots", 0) < counts["shots"]

    refreshed = run_script(cwd, "--entities", "Shot", "--dataset", "studio", "--refresh", env=sandbox.env())
    assert refreshed.returncode == 0, refreshed.stderr
    assert summary_rows(refreshed.stdout)["shots"] == counts["shots"]


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
        assert {"shots", "versions"} <= set(summary_rows(result.stdout)) and "tasks" not in result.stdout


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
