"""Field history on every destination: the status changes a test makes between runs arrive once
each, and the README's time-in-status query returns the intervals they make, on DuckDB and on
PostgreSQL; on parquet files (append only) each change is held once, and the same query runs over
the files with DuckDB."""

import datetime as dt
from typing import Any

from history_testing import history_rows, time_in_status_sql, utc
from warehouse_testing import Warehouse

DAY = 86400


def test_time_in_status_query_returns_the_intervals_the_changes_made(
    warehouse: Warehouse, sandbox: Any, source_for: Any
) -> None:
    site = sandbox.site
    pipeline = warehouse.pipeline()
    warehouse.run(pipeline, source_for(sandbox, entities=["Shot"]))
    shot = next(s for s in site.records("Shot") if s["sg_status_list"] not in ("rdy", "ip", "rev"))
    other = next(s for s in site.records("Shot") if s["id"] != shot["id"] and s["sg_status_list"] != "ip")

    made: list[tuple[str, dt.datetime]] = []
    for status, wait in (("rdy", DAY), ("ip", DAY // 2), ("rev", 3 * DAY)):
        site.advance_clock(wait)
        site.update("Shot", shot["id"], {"sg_status_list": status})
        made.append((status, utc(site.get("Shot", shot["id"])["updated_at"])))
        if status == "ip":
            site.update("Shot", other["id"], {"sg_status_list": "ip"})  # another record's change between
    site.advance_clock(60)
    warehouse.run(pipeline, source_for(sandbox, entities=["Shot"]))
    site.advance_clock(60)
    warehouse.run(pipeline, source_for(sandbox, entities=["Shot"]))  # the lookback re-scans them

    rows = history_rows(pipeline)
    assert len({r["event_id"] for r in rows}) == len(rows)  # once each, also in files that only append
    mine = [r for r in rows if r["entity_id"] == shot["id"]][-3:]
    assert [(r["new_value"], utc(r["changed_at"])) for r in mine] == made

    intervals = [row for row in _time_in_status(warehouse, pipeline) if row[0] == shot["id"]][-3:]
    expected_closed = [
        (made[0][0], made[0][1], made[1][1], 0.5),
        (made[1][0], made[1][1], made[2][1], 3.0),
    ]
    assert [(r[1], utc(r[2]), utc(r[3]), round(float(r[4]), 6)) for r in intervals[:2]] == expected_closed
    status, started, ended, _ = intervals[2][1:]
    assert (status, utc(started), ended) == ("rev", made[2][1], None)  # the current status: open-ended
    print(f"\n{warehouse.name}: time in status of shot {shot['id']}: {intervals}")


def _time_in_status(warehouse: Warehouse, pipeline: Any) -> list[tuple[Any, ...]]:
    """The README's query as a user runs it: in the warehouse, or over the parquet files (each change
    once per event_id first, as the README says)."""
    if warehouse.merges:
        with pipeline.sql_client() as client:
            return [tuple(row) for row in client.execute_sql(time_in_status_sql(pipeline.dataset_name))]
    import duckdb

    files = warehouse.tmp_path / "shotgun_data" / pipeline.dataset_name / "shots_field_changes" / "*.parquet"
    with duckdb.connect() as con:
        con.execute(f"create schema {pipeline.dataset_name}")
        con.execute(
            f"create view {pipeline.dataset_name}.shots_field_changes as select distinct on (event_id) *"
            f" from read_parquet('{files}')"
        )
        return [tuple(row) for row in con.execute(time_in_status_sql(pipeline.dataset_name)).fetchall()]
