"""Load a ShotGrid site into DuckDB (default), PostgreSQL or any dlt destination.

    python pipelines/shotgun_pipeline.py                    # site and credentials from .dlt/ or env
    python pipelines/shotgun_pipeline.py --demo             # the bundled sandbox site, no set-up
    python pipelines/shotgun_pipeline.py --destination postgres --entities Shot,Version

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
from dlt.pipeline.exceptions import PipelineStepFailed

from shotgun_source import (
    ShotgunAuth,
    ShotgunAuthError,
    ShotgunConfigError,
    ShotgunError,
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


def loader_file_format(pipeline: dlt.Pipeline) -> str | None:
    destination = pipeline.destination.destination_type.rsplit(".", 1)[-1] if pipeline.destination else ""
    return "parquet" if destination in PARQUET_DESTINATIONS else None


def run(args: argparse.Namespace) -> int:
    pipeline_name = args.pipeline_name or (DEMO_PIPELINE_NAME if args.demo else PIPELINE_NAME)
    destination = args.destination or dlt.config.get(f"pipelines.{pipeline_name}.destination_type")
    if args.demo and not args.destination:
        destination = DEFAULT_DESTINATION
    dataset = args.dataset or dlt.config.get(f"pipelines.{pipeline_name}.dataset_name") or DEFAULT_DATASET
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination or DEFAULT_DESTINATION,
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
        # the sandbox is new on every demo run, so a demo always starts over
        refresh = "drop_sources" if (args.refresh or args.demo) else None
        pipeline.run(source, loader_file_format=loader_file_format(pipeline), refresh=refresh)
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
    except (ShotgunError, PipelineStepFailed) as exc:
        cause = find_shotgun_error(exc)
        print(f"error: {explain_failure(exc)}", file=sys.stderr)
        print(
            "No cursor moves past data that is not loaded: rerun when fixed, it picks up from there.",
            file=sys.stderr,
        )
        return 2 if isinstance(cause, MUST_FIX_FIRST) else 1


if __name__ == "__main__":
    sys.exit(main())
