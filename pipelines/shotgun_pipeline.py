"""Load a ShotGrid site into DuckDB (default), PostgreSQL or any dlt destination.

    python pipelines/shotgun_pipeline.py                    # site and credentials from .dlt/ or env
    python pipelines/shotgun_pipeline.py --demo             # the bundled sandbox site, no set-up
    python pipelines/shotgun_pipeline.py --destination postgres --entities Shot,Version
    python pipelines/shotgun_pipeline.py --destination filesystem   # parquet files under ./shotgun_data

Exit status: 0 loaded; 1 the run failed (nothing half-done is committed, rerun); 2 a setting or the
credentials must be fixed first.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.typing import TLoaderFileFormat

from shotgun_source import (
    ShotgunAuth,
    ShotgunAuthError,
    ShotgunConfigError,
    ShotgunPermissionError,
    shotgun_source,
)
from shotgun_source.errors import CREDENTIALS_HELP, SITE_URL_HELP, explain_failure, find_shotgun_error

PIPELINE_NAME = "shotgun_pipeline"
DEMO_PIPELINE_NAME = "shotgun_demo"
DEFAULT_DESTINATION = "duckdb"
DEFAULT_DATASET = "shotgun"
MUST_FIX_FIRST = (ShotgunConfigError, ShotgunAuthError, ShotgunPermissionError)
"""Errors a rerun cannot mend: exit status 2."""
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
DEFAULT_BUCKET_URL = "shotgun_data"
"""Where `--destination filesystem` writes when no bucket_url is configured (relative to the run dir)."""
DESTINATION_HELP = {
    "postgres": "Set [destination.postgres.credentials] (database, username, password, host, port) in"
    " .dlt/secrets.toml, or DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:password@host:5432/database.",
    "filesystem": "Set [destination.filesystem] bucket_url (a folder, s3://, gs://, az://...) in"
    " .dlt/config.toml, or DESTINATION__FILESYSTEM__BUCKET_URL; cloud keys go under"
    " [destination.filesystem.credentials] in .dlt/secrets.toml.",
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="shotgun_pipeline.py",
        description="Copy a ShotGrid site into DuckDB, PostgreSQL or any dlt destination, incrementally.",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start the bundled sandbox ShotGrid site on 127.0.0.1 and load it (pipeline shotgun_demo,"
        " file shotgun_demo.duckdb); needs no site and no credentials",
    )
    parser.add_argument(
        "--destination",
        help="any dlt destination: duckdb (default), postgres, filesystem, bigquery, snowflake, ..."
        " (default: [pipelines.shotgun_pipeline] destination_type in .dlt/config.toml, else duckdb)",
    )
    parser.add_argument("--dataset", help="dataset (schema) name in the destination (default: shotgun)")
    parser.add_argument(
        "--entities",
        help='comma-separated entity types (Shot,Version) or table names (shots), or "all"'
        " (default: [sources.shotgun] entities, else Project,Shot,Task,Asset,Version)",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="start over: drop this source's tables and cursors, then load everything again",
    )
    parser.add_argument("--page-size", type=int, help="rows per request, 1..5000 (default: 500)")
    parser.add_argument("--pipeline-name", help=f"dlt pipeline name (default: {PIPELINE_NAME})")
    return parser.parse_args(argv)


@contextmanager
def demo_site() -> Iterator[dict[str, Any]]:
    """The bundled sandbox, serving on loopback for the length of the run."""
    from shotgun_source.sandbox import Sandbox  # only the demo needs the sandbox

    with Sandbox(seed=1, scale=1.0) as sandbox:
        print(f"Demo: sandbox ShotGrid site serving at {sandbox.url}", flush=True)
        yield {
            "site_url": sandbox.url,
            "credentials": ShotgunAuth(client_id=sandbox.script_name, client_secret=sandbox.script_key),
        }


@contextmanager
def configured_site() -> Iterator[dict[str, Any]]:
    """Site and credentials from .dlt/config.toml, .dlt/secrets.toml or SOURCES__SHOTGUN__*."""
    yield {}


def destination_type(pipeline: dlt.Pipeline) -> str:
    """`postgres` for `dlt.destinations.postgres`, also when the destination has a name of its own."""
    return pipeline.destination.destination_type.rsplit(".", 1)[-1] if pipeline.destination else ""


def loader_file_format(pipeline: dlt.Pipeline) -> TLoaderFileFormat | None:
    """The load file format for the pipeline's destination; None leaves dlt's default."""
    destination = destination_type(pipeline)
    if destination in PARQUET_DESTINATIONS:
        return "parquet"
    return LOADER_FILE_FORMATS.get(destination)


def make_destination(name: str) -> Any:
    """The destination by name; a filesystem without a configured bucket writes to ./shotgun_data."""
    if name == "filesystem" and not dlt.config.get("destination.filesystem.bucket_url"):
        return dlt.destinations.filesystem(bucket_url=DEFAULT_BUCKET_URL)
    return name


def run(args: argparse.Namespace) -> int:
    pipeline_name = args.pipeline_name or (DEMO_PIPELINE_NAME if args.demo else PIPELINE_NAME)
    destination = args.destination or dlt.config.get(f"pipelines.{pipeline_name}.destination_type")
    if args.demo and not args.destination:
        destination = DEFAULT_DESTINATION
    dataset = args.dataset or dlt.config.get(f"pipelines.{pipeline_name}.dataset_name") or DEFAULT_DATASET
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=make_destination(destination or DEFAULT_DESTINATION),
        dataset_name=dataset,
    )
    source_args: dict[str, Any] = {}
    if args.entities:
        source_args["entities"] = args.entities
    if args.page_size is not None:
        source_args["page_size"] = args.page_size
    started = time.monotonic()
    with demo_site() if args.demo else configured_site() as site_args:
        source = shotgun_source(**site_args, **source_args)
        run_options: dict[str, Any] = {"loader_file_format": loader_file_format(pipeline)}
        # the sandbox is new on every demo run, so a demo always starts over
        if args.refresh or args.demo:
            run_options["refresh"] = "drop_sources"
        pipeline.run(source, **run_options)
    print_summary(pipeline, time.monotonic() - started)
    return 0


def print_summary(pipeline: dlt.Pipeline, elapsed: float) -> None:
    """Rows loaded per table in this run."""
    trace = pipeline.last_trace
    counts = trace.last_normalize_info.row_counts if trace and trace.last_normalize_info else {}
    rows = {table: n for table, n in sorted(counts.items()) if not table.startswith("_dlt")}
    where = pipeline.destination.destination_type.rsplit(".", 1)[-1] if pipeline.destination else "?"
    print(
        f"Loaded pipeline {pipeline.pipeline_name} into {where},"
        f" dataset {pipeline.dataset_name}, in {elapsed:.1f} s"
    )
    width = max([len("table"), *map(len, rows)])
    print(f"  {'table':<{width}}  {'rows':>9}")
    for table, n in rows.items():
        print(f"  {table:<{width}}  {n:>9,}")
    if not rows:
        print("  (no new or changed rows)")
    if where == "filesystem":
        print(
            "Note: files hold every row each run loaded (dlt merges only into delta or iceberg tables),"
            " so a changed record has one row per run that saw it: read the newest `_dlt_load_id` per id."
        )


def find_missing_setting(exc: BaseException) -> ConfigFieldMissingException | None:
    """The missing-configuration error under dlt's step failure, if that is what stopped the run."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConfigFieldMissingException):
            return current
        wrapped = getattr(current, "exception", None)  # PipelineStepFailed keeps the step's error here
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__ or current.__context__
    return None


def explain_missing_destination_setting(args: argparse.Namespace, exc: ConfigFieldMissingException) -> str:
    """One short line instead of dlt's list of every place it looked."""
    destination = args.destination or dlt.config.get(
        f"pipelines.{args.pipeline_name or PIPELINE_NAME}.destination_type"
    )
    fields = ", ".join(exc.fields)
    help_text = DESTINATION_HELP.get(
        str(destination),
        f"Put them under [destination.{destination}] in .dlt/secrets.toml, or in environment variables"
        f" DESTINATION__{str(destination).upper()}__..., as dlt's page for that destination shows.",
    )
    return f"the {destination} destination is missing setting(s) {fields} of {exc.spec_name}. {help_text}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except ShotgunConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConfigFieldMissingException as exc:
        help_text = SITE_URL_HELP if "site_url" in exc.fields else CREDENTIALS_HELP
        print(f"error: missing setting(s) {', '.join(exc.fields)}. {help_text}", file=sys.stderr)
        return 2
    except Exception as exc:  # a failed run: say why in one message, not a traceback
        missing = find_missing_setting(exc)
        if missing is not None:
            # dlt found no destination credentials or bucket: a setting to fix, not a rerun
            print(f"error: {explain_missing_destination_setting(args, missing)}", file=sys.stderr)
            return 2
        cause = find_shotgun_error(exc)
        print(f"error: {explain_failure(exc)}", file=sys.stderr)
        print(
            "No cursor moves past data that is not loaded: rerun when fixed, it picks up from there.",
            file=sys.stderr,
        )
        return 2 if isinstance(cause, MUST_FIX_FIRST) else 1


if __name__ == "__main__":
    sys.exit(main())
