"""dlt's own floor for a small incremental run: no site, no requests, just dlt.

Run by `bench/speed.py` in the product's Python, twice in one working directory: the first run
creates `tables` merge tables in a DuckDB file (parquet load files, as ours loads DuckDB); the
second, the one measured, merges `rows` rows into each, as an hourly run after a few changes does.
Whatever ours' incremental run takes beyond this process's wall time is ours (requests, the event
log, conversion); this much any loader built on dlt pays to load that many tables in a new process.

    python bench/_dlt_floor.py WORKDIR TABLES ROWS

Prints one JSON line: the seconds spent importing dlt and in `pipeline.run`, and dlt's step times.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

started = time.perf_counter()
import dlt  # noqa: E402
import pyarrow as pa  # noqa: E402

imported = time.perf_counter()


def floor_source(tables: int, rows: int) -> object:
    """`tables` merge resources of `rows` Arrow rows each (an id and a text column)."""

    @dlt.source(name="floor")
    def source() -> object:
        for n in range(tables):

            def items(n: int = n) -> object:
                yield pa.table(
                    {
                        "id": pa.array(range(rows), pa.int64()),
                        "name": pa.array([f"row {n}.{i}" for i in range(rows)], pa.string()),
                    }
                )

            yield dlt.resource(items, name=f"table_{n}", primary_key="id", write_disposition="merge")

    return source()


def main(workdir: str, tables: int, rows: int) -> None:
    root = Path(workdir)
    pipeline = dlt.pipeline(
        "floor",
        destination=dlt.destinations.duckdb(str(root / "dlt_floor.duckdb")),
        pipelines_dir=str(root / "pipelines"),
        dataset_name="tables",
    )
    before = time.perf_counter()
    pipeline.run(floor_source(tables, rows), loader_file_format="parquet")
    ran = time.perf_counter()
    trace = pipeline.last_trace
    steps = {s.step: (s.finished_at - s.started_at).total_seconds() for s in trace.steps if s.finished_at}
    print(json.dumps({"import": imported - started, "run": ran - before, "steps": steps}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
