"""The recipe: the best ShotGrid loader a user can build from dlt's built-ins and the public guide.

    python bench/_recipe.py --page-size 500 [--serial] [--entities Project,Shot]

Run by `bench/speed.py` in its own process (so its peak RSS is its own), from a fresh working dir
with a fresh `DLT_DATA_DIR`, and with the sandbox's `SOURCES__SHOTGUN__*` variables set. It loads
`rest_api_source` (built-in `OAuth2ClientCredentials`, GET `entity/{type}` with `fields=*`, one
built-in `PageNumberPaginator` per resource, merge on `id`, dlt incremental on
`attributes.updated_at` applied client-side: GET has no range filter) into DuckDB through parquet
files, which is already better than dlt's default insert_values for DuckDB, or into PostgreSQL
(`--destination postgres`, credentials from DESTINATION__POSTGRES__CREDENTIALS) with dlt's default
insert statements. Resources run parallelized (a built-in switch of rest_api_source) unless
`--serial`.

The last stdout line is one JSON object: rows per root table and dlt's step timings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import dlt
from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
from dlt.sources.rest_api import rest_api_source

ENTITIES = ("Project", "Shot", "Task", "Asset", "Version")
SLUGS = {"Project": "projects", "Shot": "shots", "Task": "tasks", "Asset": "assets", "Version": "versions"}
PIPELINE_NAME = "shotgrid_recipe"


def recipe_source(site: str, client_id: str, client_secret: str, page_size: int, parallelized: bool) -> Any:
    auth = OAuth2ClientCredentials(
        access_token_url=f"{site}/api/v1/auth/access_token",
        client_id=client_id,
        client_secret=client_secret,
    )
    resources: list[Any] = [
        {
            "name": SLUGS.get(entity_type, entity_type.lower()),
            "endpoint": {
                "path": f"entity/{entity_type}",
                "params": {"fields": "*", "page[size]": page_size},
                # one instance per resource: a shared one truncates every resource after page 1
                "paginator": PageNumberPaginator(
                    base_page=1, page_param="page[number]", total_path=None, stop_after_empty_page=True
                ),
                "data_selector": "data",
                "incremental": {
                    "cursor_path": "attributes.updated_at",
                    "initial_value": "1970-01-01T00:00:00Z",
                },
            },
        }
        for entity_type in ENTITIES
    ]
    config: Any = {
        "client": {"base_url": f"{site}/api/v1/", "auth": auth},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": resources,
    }
    return rest_api_source(config, name="shotgrid", parallelized=parallelized)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--page-size", type=int, default=500)
    p.add_argument("--serial", action="store_true", help="resources one after another (rest_api default)")
    p.add_argument("--entities", default=",".join(ENTITIES))
    p.add_argument("--destination", default="duckdb", help="duckdb (parquet files) or postgres")
    args = p.parse_args()
    site = os.environ["SOURCES__SHOTGUN__SITE_URL"]
    source = recipe_source(
        site,
        os.environ["SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID"],
        os.environ["SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET"],
        args.page_size,
        parallelized=not args.serial,
    )
    wanted = [SLUGS.get(e, e.lower()) for e in args.entities.split(",")]
    source = source.with_resources(*wanted)
    pipeline = dlt.pipeline(PIPELINE_NAME, destination=args.destination, dataset_name="shotgrid")
    started = time.monotonic()
    # parquet for DuckDB (dlt's default insert_values costs gigabytes there); PostgreSQL takes dlt's
    # default, insert statements (parquet needs an ADBC driver, csv turns "" into NULL)
    pipeline.run(source, loader_file_format="parquet" if args.destination == "duckdb" else None)
    elapsed = time.monotonic() - started
    trace = pipeline.last_trace
    assert trace is not None
    counts = trace.last_normalize_info.row_counts if trace.last_normalize_info else {}
    steps = {s.step: (s.finished_at - s.started_at).total_seconds() for s in trace.steps if s.finished_at}
    spans = {
        s.step: (s.started_at.timestamp(), s.finished_at.timestamp()) for s in trace.steps if s.finished_at
    }
    result = {
        "elapsed": elapsed,
        "rows": {t: n for t, n in counts.items() if not t.startswith("_dlt")},
        "steps": steps,
        "spans": spans,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
