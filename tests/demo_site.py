"""The site a `--demo` run loaded, built again in the test's process, for the truth comparison.

The demo serves `Sandbox(seed=1, scale=1.0)` (shotgun_source/cli.py): the records are the seed's,
every timestamp counted back from the second the sandbox was built (the site's anchor). That second
is read off one record's `created_at` in the destination, must lie within the run, and then every
other row of the destination must match the site it gives.
"""

import datetime as dt
from pathlib import Path

import duckdb

from shotgun_source.sandbox import Site

DEMO_SEED, DEMO_SCALE = 1, 1.0


def demo_site(database: Path, started: float, finished: float, dataset: str = "shotgun") -> Site:
    """The demo's site, for a demo run between `started` and `finished` (Unix times) that loaded
    `database`."""
    probe = Site(DEMO_SEED, DEMO_SCALE, anchor=int(started))
    project = probe.records("Project")[0]
    with duckdb.connect(str(database), read_only=True) as con:
        row = con.execute(
            f"select created_at from {dataset}.projects where id = ?", [project["id"]]
        ).fetchone()
    assert row is not None, f"project {project['id']} of the demo site is not in {database}"
    loaded: dt.datetime = row[0]
    anchor = int(started) + round((loaded - project["created_at"]).total_seconds())
    assert int(started) <= anchor <= finished, (
        f"the demo's site would have started at {anchor}, outside the run ({started:.0f}..{finished:.0f})"
    )
    return Site(DEMO_SEED, DEMO_SCALE, anchor=anchor)
