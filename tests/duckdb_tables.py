"""Reading what a load left in a DuckDB file: its data tables (dlt's own left out) and their rows."""

from pathlib import Path

import duckdb


def data_tables(con: duckdb.DuckDBPyConnection, dataset: str) -> list[str]:
    """The dataset's tables without dlt's bookkeeping tables (`_dlt_loads`, `_dlt_pipeline_state`...)."""
    return [
        t
        for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [dataset]
        ).fetchall()
        if not t.startswith("_dlt")
    ]


def table_counts(database: Path, dataset: str = "shotgun") -> dict[str, int]:
    """{table: rows} of every data table."""
    with duckdb.connect(str(database), read_only=True) as con:
        return {
            t: int(con.execute(f'select count(*) from {dataset}."{t}"').fetchall()[0][0])
            for t in data_tables(con, dataset)
        }
