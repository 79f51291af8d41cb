"""Load a ShotGrid site into DuckDB (default), PostgreSQL or any dlt destination.

    python pipelines/shotgun_pipeline.py                    # site and credentials from .dlt/ or env
    python pipelines/shotgun_pipeline.py --demo             # the bundled sandbox site, no set-up
    python pipelines/shotgun_pipeline.py --destination postgres --entities Shot,Version
    python pipelines/shotgun_pipeline.py --destination filesystem   # parquet files under ./shotgun_data
    python pipelines/shotgun_pipeline.py --check            # do the site and credentials work? loads nothing
    python pipelines/shotgun_pipeline.py --help             # every flag (the same as `shotgun-pipeline`)

This file is the command line's thin face: the flags are `shotgun_source.cli`'s, the run is
`shotgun_source.load()`. Copy `load_my_site()` below into a pipeline of your own: it gets the same
guarantees (one run at a time, mending a killed run, the load format per destination, a report).

Exit status: 0 loaded; 1 the run failed (nothing half-done is committed, rerun); 2 a setting or the
credentials must be fixed first; 3 another run of this pipeline holds it. `--check`: one per failure.
"""

import sys

import dlt

from shotgun_source import load, shotgun_source
from shotgun_source.cli import main


def load_my_site() -> None:
    """The library way, without flags: what `python pipelines/shotgun_pipeline.py` does by default."""
    pipeline = dlt.pipeline("shotgun_pipeline", destination="duckdb", dataset_name="shotgun")
    report = load(pipeline, shotgun_source(entities=["Project", "Shot", "Task", "Asset", "Version"]))
    print(report.render())  # or: report.rows, report.requests, report.cursors


if __name__ == "__main__":
    sys.exit(main(prog="shotgun_pipeline.py"))
