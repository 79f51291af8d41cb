"""Two runs of one pipeline at once: the second waits for the first (or gives up, exit 3, one line),
never moves the first's load packages; runs of different pipelines never wait on each other.

Real processes: the script users run, started twice against one sandbox site, the way two cron
entries or a slow hourly run and the next one overlap. The sandbox's request log tells the runs
apart: the two runs read with different page sizes, so each page request says whose it is, and a
second run that waited sends its first one after the first run's last.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import dlt
import pytest
from destination_truth import assert_destination_matches_site
from shotgun_testing import script_auth

from reliability.crash import run_and_kill
from reliability.helpers import CLI_TIMEOUT, FAST, CliDir, duplicate_keys, page_times
from shotgun_source import ShotgunPipelineBusyError, load
from shotgun_source.lock import lock_path_for, named_pipeline_lock, read_holder

ENTITIES = ["Project", "Shot", "Task", "Asset", "Version"]
SLOW = ("--page-size", "50")
"""With 0.2 s a request, a first load reads for seconds: long enough for a second run to start inside it."""
SECOND = ("--page-size", "51")
"""The second run's page size: what tells its page requests from the first run's in the site's log."""
LATENCY = 0.2
STARTED_WITHIN = 60.0
"""Bound of every wait for a child to reach a point (a loaded 2-core machine is slow, not stuck)."""


def start(cli: CliDir, site_env: dict[str, str], *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli.command(*args),
        cwd=cli.cwd,
        env=cli.env(site_env, extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Any, what: str, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + STARTED_WITHIN
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {process.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {STARTED_WITHIN} s: {what}")
        time.sleep(0.02)


def searches(sandbox: Any) -> int:
    return sum(1 for r in sandbox.requests if r.kind == "search")


def assert_one_after_the_other(sandbox: Any) -> None:
    """Every page request of the second run (page size 51) came after the first run's last (50)."""
    first, second = page_times(sandbox, SLOW[1]), page_times(sandbox, SECOND[1])
    assert first and second, (len(first), len(second))
    overlapping = sum(1 for t in second if t < first[-1])
    assert not overlapping, (
        f"{overlapping} of {len(second)} pages of the second run came while the first read"
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str, float]:
    """Wait for a child; its exit status, stdout, stderr and when (epoch seconds) it was seen to end."""
    out, err = process.communicate(timeout=CLI_TIMEOUT)
    return process.returncode, out, err, time.time()


def overlapped_pair(cli: CliDir, sandbox: Any, *args: str) -> dict[str, Any]:
    """Run A, start B while A reads pages, wait for both; what each said."""
    sandbox.clear_requests()
    first = start(cli, sandbox.env(), *SLOW, *args)
    wait_for(lambda: searches(sandbox) > 0, "the first run reads pages", first)
    second = start(cli, sandbox.env(), *SECOND, *args)
    status_a, out_a, err_a, _ = finish(first)
    status_b, out_b, err_b, _ = finish(second)
    return {"a": (status_a, out_a, err_a), "b": (status_b, out_b, err_b), "first_pid": first.pid}


def test_a_second_run_waits_for_the_first_on_a_first_load_and_an_incremental_run(
    sandbox: Any, tmp_path: Path
) -> None:
    sandbox.faults.latency = LATENCY
    cli = CliDir(tmp_path / "run")
    for round_name in ("first load", "incremental"):
        if round_name == "incremental":
            for entity_type in ENTITIES:
                sandbox.site.mutate(entity_type, 0.2, seed=len(entity_type))
        pair = overlapped_pair(cli, sandbox, "--lock-timeout", str(CLI_TIMEOUT))
        assert_one_after_the_other(sandbox)
        for name in ("a", "b"):
            status, _out, err = pair[name]
            assert status == 0, f"{round_name}: run {name} exited {status}:\n{err[-3000:]}"
        _, _, said = pair["b"]
        assert f"is being loaded by another run (pid {pair['first_pid']} on " in said, said
        assert re.search(r"free again after [\d.]+ s; this run goes on", said), said
        assert not duplicate_keys(cli.database), round_name
        assert_destination_matches_site(cli.attach(), sandbox.site, ENTITIES)


def test_a_second_run_gives_up_after_the_lock_timeout_with_one_line_and_exit_3(
    sandbox: Any, tmp_path: Path
) -> None:
    sandbox.faults.latency = LATENCY
    cli = CliDir(tmp_path / "run")
    first = start(cli, sandbox.env(), *SLOW)
    lock = lock_path_for(cli.pipeline_name, cli.pipelines_dir)
    wait_for(lambda: read_holder(lock).get("pid") == first.pid, "the first run holds the lock", first)
    started = time.monotonic()
    second = subprocess.run(
        cli.command(*SECOND),
        cwd=cli.cwd,
        env=cli.env(sandbox.env(), {"SOURCES__SHOTGUN__LOCK_TIMEOUT_SECONDS": "1"}),  # dlt's config way
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    took = time.monotonic() - started
    still_running = first.poll() is None
    status, _out, err = finish(first)[:3]
    assert status == 0, err[-3000:]
    assert still_running, "the first run ended before the second gave up: the test proved nothing"

    assert second.returncode == 3, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    line = lines[0]
    holder = read_holder(lock)
    assert line.startswith(f"error: Pipeline {cli.pipeline_name} is being loaded by another run"), line
    assert f"pid {first.pid} on {holder['host']}, started {holder['started_at']}" in line, line
    assert "waited 1 s" in line and "--lock-timeout" in line and "lock_timeout_seconds" in line, line
    assert second.stdout == ""
    assert took < FAST, f"giving up took {took:.1f} s"
    assert not page_times(sandbox, SECOND[1]), "the second run read pages"
    assert_destination_matches_site(cli.attach(), sandbox.site, ENTITIES)


def test_runs_of_different_pipelines_never_wait_on_each_other(sandbox: Any, tmp_path: Path) -> None:
    """The studio-scale layout: one pipeline per entity type, on one machine. While the Shot
    pipeline is held, the Version pipeline runs without waiting; the Shot pipeline's own run is
    refused naming who holds it (this test process)."""
    cli = CliDir(tmp_path / "run", pipeline_name="shotgun_shots")
    versions = CliDir(tmp_path / "run", pipeline_name="shotgun_versions")
    with named_pipeline_lock("shotgun_shots", cli.pipelines_dir, 0):
        other = versions.run(
            sandbox.env(),
            "--pipeline-name",
            "shotgun_versions",
            "--entities",
            "Version",
            "--lock-timeout",
            "0",
        )
        same = cli.run(
            sandbox.env(), "--pipeline-name", "shotgun_shots", "--entities", "Shot", "--lock-timeout", "0.5"
        )
    assert other.returncode == 0, other.stderr
    assert "is being loaded by another run" not in other.stderr
    assert same.returncode == 3, same.stderr
    assert f"Pipeline shotgun_shots is being loaded by another run (pid {os.getpid()} on" in same.stderr
    assert not cli.database.exists(), "the refused run created its destination"
    assert_destination_matches_site(versions.attach(), sandbox.site, ["Version"])


def test_a_run_killed_with_sigkill_leaves_no_lock_behind(sandbox: Any, tmp_path: Path) -> None:
    sandbox.faults.latency = LATENCY
    cli = CliDir(tmp_path / "run")
    killed = run_and_kill(cli.command(*SLOW), cli.cwd, cli.env(sandbox.env()), "extract", delay=0.3)
    assert killed.killed, f"the run was not killed (it {killed.phase}): {killed.stderr[-2000:]}"
    lock = lock_path_for(cli.pipeline_name, cli.pipelines_dir)
    dead_pid = read_holder(lock).get("pid")
    assert dead_pid is not None and not Path(f"/proc/{dead_pid}").exists()

    rerun = cli.run(sandbox.env(), *SLOW, "--lock-timeout", "0")
    assert rerun.returncode == 0, rerun.stderr
    assert not duplicate_keys(cli.database)
    assert_destination_matches_site(cli.attach(), sandbox.site, ENTITIES)


def test_the_library_entry_point_takes_the_lock(sandbox: Any, tmp_path: Path) -> None:
    """`shotgun_source.load()`, as a Dagster asset or an Airflow task calls it, in this process,
    against the script running the same pipeline: it gives up after its timeout naming the script,
    and with a longer timeout waits for it, then loads."""
    sandbox.faults.latency = LATENCY
    cli = CliDir(tmp_path / "run")
    sandbox.clear_requests()
    script = start(cli, sandbox.env(), *SLOW)
    lock = lock_path_for(cli.pipeline_name, cli.pipelines_dir)
    wait_for(lambda: read_holder(lock).get("pid") == script.pid, "the script holds the lock", script)
    # dlt.pipeline() wipes a working folder without a state file: two built at the same instant
    # race in dlt itself, outside any lock, so this one is built once the script has built its own
    wait_for(lambda: (cli.working_dir / "state.json").exists(), "the script built its pipeline", script)
    pipeline = dlt.pipeline(
        cli.pipeline_name,
        pipelines_dir=str(cli.pipelines_dir),
        destination=dlt.destinations.duckdb(str(cli.database)),
        dataset_name="shotgun",
    )
    options = {
        "site_url": sandbox.url,
        "credentials": script_auth(sandbox),
        "entities": ENTITIES,
        "page_size": int(SECOND[1]),
    }
    with pytest.raises(ShotgunPipelineBusyError, match=rf"another run \(pid {script.pid} on "):
        load(pipeline, lock_timeout_seconds=0.5, **options)
    assert script.poll() is None, "the script ended before load() gave up: the test proved nothing"

    sandbox.site.mutate("Shot", 0.2, seed=5)
    report = load(pipeline, lock_timeout_seconds=CLI_TIMEOUT, **options)  # waits for the script
    status, _out, err, _ = finish(script)
    assert status == 0, err[-3000:]
    assert_one_after_the_other(sandbox)
    assert report.rows.get("shots", 0) >= 1
    assert not duplicate_keys(cli.database)
    assert_destination_matches_site(cli.attach(), sandbox.site, ENTITIES)


def test_the_lock_is_reentrant_in_a_thread_and_exclusive_across_threads(tmp_path: Path) -> None:
    """The command line takes the lock and `load()` takes it again in the same thread; another
    thread of the same process (two tasks of one worker) waits like another process."""
    import threading

    outcome: list[str] = []
    with named_pipeline_lock("p", tmp_path, 0), named_pipeline_lock("p", tmp_path, 0):

        def other_thread() -> None:
            try:
                with named_pipeline_lock("p", tmp_path, 0.3):
                    outcome.append("got it")
            except ShotgunPipelineBusyError:
                outcome.append("busy")

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(timeout=FAST)
    assert outcome == ["busy"]
    with named_pipeline_lock("p", tmp_path, 0):
        pass  # released by the outer block: free again
