"""How a ShotGrid load is best handed to each destination; `load()` applies these, the user's own
settings win.

Measured with bench/speed.py on this project's 2-core machine; each constant says what it buys.
"""

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, cast

import dlt
from dlt.common.destination import AnyDestination
from dlt.common.typing import TLoaderFileFormat

from .postgres_copy import postgres_keeping_empty_text
from .report import destination_type

PARQUET_DESTINATIONS = frozenset(
    {"duckdb", "motherduck", "filesystem", "bigquery", "snowflake", "databricks"}
)
"""Destinations that take parquet load files: DuckDB loads insert_values files with gigabytes of
memory where parquet costs megabytes, and warehouses load parquet fastest."""
ARROW_LOADER_FILE_FORMATS: dict[str, TLoaderFileFormat] = {"postgres": "csv"}
"""PostgreSQL loads this source's Arrow tables from csv files by COPY (`postgres_copy.py`: dlt's own
COPY would load an empty text as NULL): bench/speed.py's full load into PostgreSQL 35.1 s -> 19.7 s
(normalize 14.6 -> 1.4 s, load 6.6 -> 1.6 s), the rows and values the same."""
ROW_LOADER_FILE_FORMATS: dict[str, TLoaderFileFormat] = {"postgres": "insert_values"}
"""A source of rows (dicts) loads PostgreSQL with insert statements: dlt's csv writer for rows
writes None and "" alike, so only its COPY's `FORCE_NULL` (every empty field NULL) could read it,
and it counts a row once per column. (Parquet would need an ADBC driver and lands json as `json`,
not `jsonb`.)"""
UNCOMPRESSED_FILES = frozenset({"postgres"})
"""Destinations whose text load files (csv, insert statements) are written without gzip: gzip cost
a PostgreSQL full load 5.2 s (bench/speed.py, 200k rows: 24.9 s -> 19.7 s), for files the loader
reads once. They are kept in the pipeline's folder as dlt keeps every loaded package."""
COMPRESSION_KEY = "data_writer.disable_compression"
"""dlt reads `normalize.data_writer.disable_compression` first, then this one."""
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


def loader_file_format(pipeline: dlt.Pipeline, arrow_items: bool) -> TLoaderFileFormat | None:
    """The load file format for the pipeline's destination; None leaves dlt's default.
    `arrow_items`: every item the source yields is an Arrow table (true of `shotgun_source`)."""
    destination = destination_type(pipeline)
    if destination in PARQUET_DESTINATIONS:
        return "parquet"
    return (ARROW_LOADER_FILE_FORMATS if arrow_items else ROW_LOADER_FILE_FORMATS).get(destination)


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


def uncompressed_files(destination: str) -> AbstractContextManager[None]:
    """Text load files without gzip in the block (`UNCOMPRESSED_FILES`), unless the user's config
    sets `data_writer.disable_compression`."""
    if destination not in UNCOMPRESSED_FILES:
        return nullcontext()
    return setting_unless_given(COMPRESSION_KEY, True)


@contextmanager
def csv_copy_keeping_empty_text(pipeline: dlt.Pipeline) -> Iterator[None]:
    """For the block, the pipeline's dlt postgres destination loads csv files with
    `postgres_copy.CopyKeepingEmptyText` (the same destination otherwise); it is given back after.
    A destination of another class (a user's own subclass of dlt's) is left as it is."""
    original = pipeline.destination
    if not isinstance(original, dlt.destinations.postgres) or type(original) is not dlt.destinations.postgres:
        yield
        return
    pipeline.destination = cast(AnyDestination, postgres_keeping_empty_text.like(original))
    try:
        yield
    finally:
        pipeline.destination = cast(AnyDestination, original)


@contextmanager
def load_settings_for(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Every setting above that the pipeline's destination takes, for the length of a load. (Extract
    writes parquet files, which compress themselves: dlt's gzip setting applies to the files
    normalize writes.)"""
    destination = destination_type(pipeline)
    with (
        tune_duckdb_loads(destination),
        uncompressed_files(destination),
        csv_copy_keeping_empty_text(pipeline),
    ):
        yield
