"""SIGKILL during extract, normalize and load, then one rerun: nothing lost, nothing duplicated.

The pipeline script runs as a subprocess against a sandbox in this process (20 ms per request,
100 rows per page, so a first load lasts a few seconds); it is killed a seeded-random delay after
the target phase starts (see `crash.py`), and the test asserts that the kill landed in that phase,
as dlt's log showed it, aiming earlier when it did not. Between runs the site changes, so the
killed runs are incremental merges too. After each rerun the destination must equal the site
(retired records flagged), ids unique.
`bench/soak.py` does the same many more times.
"""

import random
from pathlib import Path
from typing import Any

from destination_truth import assert_destination_matches_site

from reliability.crash import run_and_kill
from reliability.helpers import CliDir, duplicate_keys, pending_packages

FIVE = ["Project", "Shot", "Task", "Asset", "Version"]
ARGS = ("--page-size", "100")
SEED = 20261125
DELAYS = {"extract": (0.05, 0.8), "normalize": (0.0, 0.15), "load": (0.0, 0.3)}
"""Seconds after the phase starts: inside each phase's usual length on this data."""
ATTEMPTS = 4
"""Kills aimed at one phase at most. The phase a kill landed in is read from dlt's log
(`crash.py`); one that lands later (the phase was shorter than the delay) or after the run ended is
checked like any other, then the site changes and the next kill comes a third as late."""


def change_site(site: Any, rng: random.Random) -> None:
    """A quarter of every type updated, a few records created, one Version retired (soft-deleted)."""
    for entity_type in FIVE:
        site.mutate(entity_type, 0.25, seed=rng.randrange(1_000_000))
    shot = rng.choice(site.records("Shot"))
    for n in range(3):
        site.create("Version", {"code": f"crash_test_{rng.randrange(10**6)}_{n}", "project": shot["project"]})
    site.retire("Version", rng.choice(site.records("Version"))["id"])


def test_sigkill_in_every_phase_then_a_rerun_loses_and_duplicates_nothing(
    sandbox: Any, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    sandbox.faults.latency = 0.02
    cli = CliDir(tmp_path / "run")
    site_env = sandbox.env()
    # the first load killed while loading (tables being created), then incremental runs killed in
    # normalize and extract (test_crash_points.py kills incremental loads at their worst moment)
    for n, target in enumerate(["load", "normalize", "extract"]):
        delay = rng.uniform(*DELAYS[target])
        landed: list[str] = []
        for attempt in range(ATTEMPTS):
            if n or attempt:
                change_site(sandbox.site, rng)
            kill = run_and_kill(cli.command(*ARGS), cli.cwd, cli.env(site_env), target, delay)
            where = f"run {n}.{attempt}, kill {delay:.2f} s into {target}, landed in {kill.phase}"
            landed.append(f"{kill.phase} after {delay:.2f} s")
            print(f"\n{where} ({kill.seconds:.1f} s, phases seen {kill.phases_seen})")
            if kill.killed:
                rerun = cli.run(site_env, *ARGS)
                assert rerun.returncode == 0, f"{where}: rerun failed: {rerun.stderr[-3000:]}"
            else:
                assert kill.returncode == 0, f"{where}: the run failed by itself: {kill.stderr[-2000:]}"
            left = pending_packages(cli.working_dir)
            assert not left, f"{where}: packages left pending: {left}"
            assert not duplicate_keys(cli.database), (
                f"{where}: duplicated keys {duplicate_keys(cli.database)}"
            )
            assert_destination_matches_site(cli.attach(), sandbox.site, FIVE)
            if kill.phase == target:
                break
            delay /= 3  # the phase was shorter than the delay: aim earlier
        assert landed[-1].startswith(f"{target} "), f"no kill landed in {target}: {landed}"


def test_a_temporary_file_a_kill_left_beside_the_packages_is_no_package(sandbox: Any, tmp_path: Path) -> None:
    """CI once killed a load inside dlt's `FileStorage.save_atomic`, which left its empty temporary
    file (`load/normalized/f6a51f14fc6300fe`) beside the packages. dlt lists packages as folders
    and skips it; the mending of killed runs must skip it too, and the next runs load as usual."""
    cli = CliDir(tmp_path / "run")
    site_env = sandbox.env()
    first = cli.run(site_env, "--entities", "Shot")
    assert first.returncode == 0, first.stderr[-3000:]
    normalized = cli.working_dir / "load" / "normalized"
    normalized.mkdir(parents=True, exist_ok=True)
    leftover = normalized / "f6a51f14fc6300fe"
    leftover.write_bytes(b"")
    sandbox.site.mutate("Shot", 0.25, seed=7)
    rerun = cli.run(site_env, "--entities", "Shot")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "interrupted run was reset" not in rerun.stderr, rerun.stderr[-3000:]
    assert not pending_packages(cli.working_dir)
    assert_destination_matches_site(cli.attach(), sandbox.site, ["Shot"])
