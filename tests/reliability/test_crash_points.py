"""SIGKILL at the two moments a random kill only sometimes hits, then one rerun.

The script runs as a subprocess that kills itself (SIGKILL, no clean-up possible) at one exact
point inside dlt, injected before the script starts:

- load: right after a copy into a staging table has committed, before dlt has marked that job
  done (a root table with nested tables, whose merge inserts by `_dlt_id`);
- normalize: right after the normalized package was moved to the load folder, before the
  extracted package is deleted (dlt logs "Committing storage, do not kill this process");
- first load: right after the load step recorded its schema update as applied (tables created in
  the dataset and in staging), before any copy job started. The rerun turns the first load's
  appended tables to merge, so their staging tables must be created then, though dlt thinks the
  package's schema is in place (found by CI, where a random kill once landed there).

The first two kills hit an incremental run (after a first load and changes on the site), the
third the first load itself. The rerun, as users would run it, must end with the destination
equal to the site.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from destination_truth import assert_destination_matches_site

from reliability.helpers import CLI_TIMEOUT, SCRIPT, CliDir, duplicate_keys

FIVE = ["Project", "Shot", "Task", "Asset", "Version"]
ARGS = ("--page-size", "100")
KILL_SELF = "import os, signal\ndef die():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
CRASH_POINTS = {
    "load: a staging copy committed, its job not yet marked done": KILL_SELF
    + """
from dlt.destinations.impl.duckdb.duck import DuckDbCopyJob
_run = DuckDbCopyJob.run
def run(self):
    _run(self)
    if self.load_table_name == "shots":
        die()
DuckDbCopyJob.run = run
""",
    "normalize: package moved to the load folder, extracted copy not yet deleted": KILL_SELF
    + """
from dlt.common.storages.load_package import PackageStorage
_delete = PackageStorage.delete_package
def delete_package(self, load_id, not_exists_ok=False):
    if self.initial_state == "extracted":
        die()
    return _delete(self, load_id, not_exists_ok)
PackageStorage.delete_package = delete_package
""",
    "first load: schema update applied, no copy job started yet": KILL_SELF
    + """
from dlt.common.storages.load_storage import LoadStorage
_commit = LoadStorage.commit_schema_update
def commit_schema_update(self, load_id, applied_update):
    _commit(self, load_id, applied_update)
    die()
LoadStorage.commit_schema_update = commit_schema_update
""",
}
FIRST_LOAD_POINTS = {point for point in CRASH_POINTS if point.startswith("first load")}
RUN_SCRIPT = """
import runpy, sys
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_sigkill_at_a_commit_point_then_a_rerun_mends(sandbox: Any, tmp_path: Path, point: str) -> None:
    sandbox.faults.latency = 0.01
    cli = CliDir(tmp_path / "run")
    if point not in FIRST_LOAD_POINTS:
        first = cli.run(sandbox.env(), *ARGS)
        assert first.returncode == 0, first.stderr[-2000:]
        for n, entity_type in enumerate(FIVE):
            sandbox.site.mutate(entity_type, 0.3, seed=n)
    killed = subprocess.run(
        [sys.executable, "-c", CRASH_POINTS[point] + RUN_SCRIPT, str(SCRIPT), *ARGS],
        cwd=cli.cwd,
        env=cli.env(sandbox.env()),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    assert killed.returncode == -9, f"the run did not die at the injected point: {killed.stderr[-2000:]}"

    rerun = cli.run(sandbox.env(), *ARGS)
    assert rerun.returncode == 0, f"the rerun after a kill at {point} failed: {rerun.stderr[-2500:]}"
    assert not duplicate_keys(cli.database), f"duplicated keys: {duplicate_keys(cli.database)}"
    assert_destination_matches_site(cli.attach(), sandbox.site, FIVE)
