"""How a ShotGrid load is best handed to each destination; `load()` applies these, the user's own
settings win.

Measured with bench/speed.py on this project's 2-core machine; each constant says what it buys.
"""

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import dlt
from dlt.common.typing import TLoaderFileFormat

from .report import destination_type

PARQUET_DESTINATIONS = frozenset(
    {"duckdb", "motherduck", "filesystem", "bigquery", "snowflake", "databricks"}
)
"""Destinations that take parquet load files: DuckDB loads insert_values files with gigabytes of
memory where parquet costs megabytes, and warehouses load parquet fastest."""
LOADER_FILE_FORMATS: dict[str, TLoaderFileFormat] = {"postgres": "insert_values"}
"""PostgreSQL loads insert statements, not csv, although csv's COPY loads faster (a 33,595-row load:
1.0 s against 2.7 s): with dlt 1.31's csv files PostgreSQL reads an empty text value as NULL, and
dlt counts csv rows as rows x columns, so the summary and the trace would lie. Parquet would need an
ADBC driver and lands json as `json`, not `jsonb`."""
DUCKDB_LOAD_CONFIG: dict[str, Any] = {"memory_limit": "256MB", "preserve_insertion_order": False}
"""DuckDB settings on the loader's own connection (queries elsewhere keep DuckDB's defaults). A
`global_config` in the user's DuckDB credentials wins, whole.

- `memory_limit`: left alone, DuckDB's merge grows with the load: bench/speed.py --memory, Versions
  only, peak 548 MB at 100k and 1563 MB at 1M; at 256MB 528 MB and 669 MB, the 1M load step
  8.1 s -> 10.6 s (DuckDB spills to a temporary file beside the database).
- `preserve_insertion_order` off: DuckDB need not keep the parquet files' row order through the
  merge's inserts, so it parallelises them; two runs each way, the 1M load step 8.2 and 7.7 s ->
  4.3 and 4.0 s, its peak within the spread (734 and 801 MB -> 758 and 791 MB); the 100k peak
  527 MB -> 565 MB. Nothing here reads rows back in insertion order: one load holds one copy of a
  record, and dlt's own reads order by their columns."""


def loader_file_format(pipeline: dlt.Pipeline) -> TLoaderFileFormat | None:
    """The load file format for the pipeline's destination; None leaves dlt's default."""
    destination = destination_type(pipeline)
    if destination in PARQUET_DESTINATIONS:
        return "parquet"
    return LOADER_FILE_FORMATS.get(destination)


@contextmanager
def setting_unless_given(key: str, value: Any, *, in_secrets: bool = False) -> Iterator[None]:
    """Sets `key` for the block unless the user's config, secrets or environment hold a value, and
    takes it away again after (a long-lived process keeps no setting of ours). Credentials keys go
    to the secrets provider: a credentials key in the config provider makes dlt refuse the whole
    credentials value as a secret held in config.toml."""
    if dlt.config.get(key) is not None or dlt.secrets.get(key) is not None:
        yield
        return
    provider = dlt.secrets if in_secrets else dlt.config
    provider[key] = value
    try:
        yield
    finally:
        provider[key] = None


def tune_duckdb_loads(destination: str) -> AbstractContextManager[None]:
    """Bounds the memory of DuckDB loads in the block and lets them insert in parallel
    (`DUCKDB_LOAD_CONFIG`), unless the user's DuckDB credentials configure DuckDB."""
    if destination != "duckdb":
        return nullcontext()
    return setting_unless_given(
        f"destination.{destination}.credentials.global_config",
        dict(DUCKDB_LOAD_CONFIG),
        in_secrets=True,
    )


def load_settings_for(pipeline: dlt.Pipeline) -> AbstractContextManager[None]:
    """Every setting above that the pipeline's destination takes, for the length of a load. (Extract
    writes parquet files, which compress themselves: dlt's gzip setting for extract files does not
    apply.)"""
    return tune_duckdb_loads(destination_type(pipeline))
