"""`--progress`: dlt's own progress displays, on stderr so stdout keeps the summary; a display
that is not installed is refused before anything runs."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest
from destination_truth import expected_row_counts

from inspection.helpers import SCRIPT, clean_env, run_main, run_script, summary_rows, table_counts

PROJECTS = ("--entities", "Project")
"""A small load (4 projects, their users): progress is about the display, not the volume."""


def loaded(cwd: Path) -> dict[str, int]:
    return table_counts(cwd / "shotgun_pipeline.duckdb")


def projects(sandbox: Any) -> dict[str, int]:
    """The rows of the site's projects (none of them retired) and their users."""
    return expected_row_counts(sandbox.site, ["Project"])


def test_log_progress_reports_each_step_on_stderr(shared_sandbox: Any, tmp_path: Path) -> None:
    result = run_script(tmp_path, *PROJECTS, "--progress", "log", env=shared_sandbox.env())
    assert result.returncode == 0, result.stderr
    for step in ("Extract shotgun", "Normalize shotgun", "Load shotgun"):
        assert f" {step}" in result.stderr, step
    assert "Resources: 1/1 (100.0%)" in result.stderr and "projects: 4" in result.stderr
    assert "Extract shotgun" not in result.stdout
    assert summary_rows(result.stdout) == loaded(tmp_path) == projects(shared_sandbox)


@pytest.mark.parametrize("display", ["enlighten", "alive_progress"])
def test_other_displays_run_and_leave_the_summary_intact(
    display: str, shared_sandbox: Any, tmp_path: Path
) -> None:
    result = run_script(tmp_path, *PROJECTS, "--progress", display, env=shared_sandbox.env())
    assert result.returncode == 0, result.stderr
    assert summary_rows(result.stdout) == loaded(tmp_path) == projects(shared_sandbox)


def test_by_default_no_progress_when_output_is_not_a_terminal(demo_run: Any) -> None:
    assert demo_run.stderr == ""


def test_by_default_a_terminal_gets_tqdm_bars(shared_sandbox: Any, tmp_path: Path) -> None:
    """stderr on a pseudo-terminal, as in an interactive shell: `auto` draws tqdm's bars there."""
    leader, follower = pty.openpty()
    # 40 rows of 120 columns: tqdm fits its bars to the terminal, and draws nothing in a 0 x 0 one
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    try:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT), *PROJECTS],
            cwd=tmp_path,
            env=clean_env(tmp_path, **shared_sandbox.env()),
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
        )
        os.close(follower)
        follower = -1
        screen = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the script is done
                break
            if not chunk:
                break
            screen += chunk
        stdout, _ = process.communicate(timeout=60)
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    text = screen.decode("utf-8", errors="replace")
    assert process.returncode == 0, text
    assert "Extract shotgun: Resources: 100%" in text and "it/s" in text, text
    assert summary_rows(stdout) == loaded(tmp_path) == projects(shared_sandbox)


def test_an_unknown_display_is_refused_with_the_choices() -> None:
    status, _, err = run_main("--progress", "fancy")
    assert status == 2
    assert "invalid choice: 'fancy'" in err
    assert "'log', 'tqdm', 'enlighten', 'alive_progress'" in err


@pytest.mark.parametrize(("display", "package"), [("alive_progress", "alive-progress"), ("tqdm", "tqdm")])
def test_a_display_that_is_not_installed_says_what_to_install(
    display: str,
    package: str,
    shared_sandbox: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, display, None)  # import fails as if it were not installed
    for key, value in clean_env(tmp_path, **shared_sandbox.env()).items():
        if key.startswith(("SOURCES__", "DLT_DATA_DIR")):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    before = len(shared_sandbox.requests)
    status, _, err = run_main(*PROJECTS, "--progress", display)
    assert status == 2
    assert f"--progress {display} needs the {package} package, which is not installed" in err
    assert 'pip install -e ".[progress]"' in err and f"pip install {package}" in err
    assert len(shared_sandbox.requests) == before, "refused before any request"
    assert not (tmp_path / "dlt_data" / "pipelines").exists()
