"""The declarative form of the source: a complete dlt `rest_api` config for chosen entity types.

    from dlt.sources.rest_api import rest_api_source
    config = shotgun_rest_api_config(entities=["Shot", "Version"])   # [sources.shotgun] as for the source
    pipeline.run(rest_api_source(config, name="shotgun_rest"))

Each entity type becomes one rest_api resource built from the same `EntityRead` the fast source
reads with (`reads.py`): `POST entity/{Type}/_search` with the type's fields, keyset paging by id
(`ShotgunKeysetPaginator`), the `updated_at` window in the request body, `RecordFlattener` as a map
step, the column hints from the site's schema, merged on `id`. A config is plain data a user may
extend with reads of their own (another endpoint, an extra filter), which the fast source cannot.

The window: rest_api's incremental fills `{incremental.start_value}` (the stored cursor less the
lookback, dlt's `lag`) into the body, and its `convert` step, `CursorWindow`, turns that one value
into the run's whole window `[start, now by the site's clock]`. rest_api expands placeholders once
per run, before the first request, so the window end is fixed while the run pages: a record changed
behind the reader is stamped after the window and read by the next run, and the cursor (the newest
`updated_at` read, never past the window end) cannot move beyond it. An open-ended window would let
it: a record changed later and further ahead would carry the cursor past the one behind.

Compared with the fast source it lacks the event-log reads (retirements, renames) and the parallel
id ranges, and multi-entity links land in dlt's own child tables (README: Declarative (rest_api)).
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

import dlt
from dlt.common.configuration import known_sections, with_config
from dlt.sources.rest_api.config_setup import register_auth, register_paginator
from dlt.sources.rest_api.typing import EndpointResource, RESTAPIConfig

from .auth import ShotgunAuth
from .paginator import ShotgunKeysetPaginator, ShotgunLinksPaginator
from .reads import EntityRead, window_end
from .records import RecordFlattener
from .responses import ResponseChecker
from .settings import (
    API_PREFIX,
    DEFAULT_ENTITIES,
    DEFAULT_INITIAL_UPDATED_AT,
    DEFAULT_LOOKBACK_SECONDS,
    DEFAULT_PAGE_SIZE,
    SHOTGRID_TIME_FORMAT,
)
from .site import ShotgunSite
from .source import _check_settings, _selected_fields

AUTH_NAME = "shotgun"
"""`"auth": "shotgun"` (or `{"type": "shotgun", ...}`) in a rest_api config is `ShotgunAuth`."""
KEYSET_PAGINATOR_NAME = "shotgun_keyset"
"""`"paginator": "shotgun_keyset"` is `ShotgunKeysetPaginator()` (2000 rows a page)."""
LINKS_PAGINATOR_NAME = "shotgun_links"
"""`"paginator": "shotgun_links"` is `ShotgunLinksPaginator()` (2000 rows a page)."""
START_PLACEHOLDER = "{incremental.start_value}"


def register_rest_api_names() -> None:
    """Make the auth and both paginators known to rest_api by name, so a config written as plain
    data (TOML, JSON) can use them. Idempotent; runs when `shotgun_source` is imported."""
    register_auth(AUTH_NAME, ShotgunAuth)
    register_paginator(KEYSET_PAGINATOR_NAME, ShotgunKeysetPaginator)
    register_paginator(LINKS_PAGINATOR_NAME, ShotgunLinksPaginator)


class CursorWindow:
    """rest_api's `convert` for a ShotGrid cursor: a cursor value becomes the window `[value, end]`.

    `end` is now by the site's clock (from the Date header of its token answer, as the fast source
    keeps it) less a second of margin (`reads.window_end`), taken when rest_api expands the
    placeholders: once per run, before its first request. dlt converts every incremental value with
    it, so `{incremental.last_value}` and the others also expand to windows; the generated config
    uses only `start_value`.
    """

    def __init__(self, auth: ShotgunAuth) -> None:
        self.auth = auth

    def __call__(self, value: Any) -> list[str]:
        return [_shotgrid_time(value), window_end(self.auth.site_now())]


def _shotgrid_time(value: Any) -> str:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).strftime(SHOTGRID_TIME_FORMAT)
    return str(value)


def entity_endpoint_resource(
    read: EntityRead,
    window: CursorWindow,
    checker: ResponseChecker,
    page_size: int = DEFAULT_PAGE_SIZE,
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS,
    initial_updated_at: str = DEFAULT_INITIAL_UPDATED_AT,
) -> EndpointResource:
    """One entity type's rest_api resource, from the read definition the fast source uses.

    A type without a cursor (no `updated_at` or `created_at`) is read whole and replaced."""
    body = read.body(read.window_filters(START_PLACEHOLDER))
    endpoint: dict[str, Any] = {
        "path": read.path,
        "method": "POST",
        "headers": read.headers(body),
        "json": body,
        "paginator": ShotgunKeysetPaginator(page_size),  # one per resource: paginators keep state
        "data_selector": "data",
        "response_actions": [checker],
    }
    if read.cursor_field:
        endpoint["incremental"] = {
            **read.incremental_args(initial_updated_at, lookback_seconds),
            # the site filters the window; dlt's boundary deduplication (on without a lookback) would
            # drop a record changed again within the cursor's last second. The merge on id dedups.
            "primary_key": [],
            "convert": window,
        }
    resource = {
        "name": read.table_name,
        "primary_key": read.primary_key,
        "write_disposition": read.write_disposition,
        "columns": read.columns,
        "nested_hints": read.nested_hints,
        "max_table_nesting": 1,
        "parallelized": True,
        "processing_steps": [{"map": RecordFlattener(read.schema, read.marks)}],
        "endpoint": endpoint,
    }
    return cast(EndpointResource, resource)


@with_config(sections=(known_sections.SOURCES, "shotgun"))
def shotgun_rest_api_config(
    site_url: str = dlt.config.value,
    credentials: ShotgunAuth = dlt.secrets.value,
    entities: Any = None,
    fields: dict[str, Sequence[str]] | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS,
    initial_updated_at: str = DEFAULT_INITIAL_UPDATED_AT,
) -> RESTAPIConfig:
    """A complete rest_api config that loads the chosen entity types as `shotgun_source` does.

    Reads the site once (a token, the entity types, their field schemas), like `shotgun_source`,
    and takes the same settings from the same place (`[sources.shotgun]`, `SOURCES__SHOTGUN__...`).
    Run it with `rest_api_source(config, name=...)` in a pipeline of its own: its tables are laid
    out differently from the fast source's (README: Declarative (rest_api)).

    Args:
        site_url: The site's address, e.g. `https://studio.shotgrid.autodesk.com`.
        credentials: Script name/key or user login, see `ShotgunAuth`; bound to `site_url`.
        entities: Entity type names or table slugs, or "all"; default Project, Shot, Task, Asset,
            Version.
        fields: Per entity type, the fields to read (default every field).
        page_size: Rows per request, 1..5000.
        lookback_seconds: How far before the stored cursor each run re-reads (dlt's `lag`).
        initial_updated_at: Lower bound of the first run, ISO 8601 UTC.

    Returns:
        `{"client": ..., "resources": [...]}`, one resource per entity type named by its table.
    """
    _check_settings(page_size, lookback_seconds, initial_updated_at)
    auth = credentials.bind(site_url)
    assert auth.site_url is not None
    site = ShotgunSite(auth.site_url, auth)
    schemas = site.requested_schemas(entities if entities else list(DEFAULT_ENTITIES))
    selected = _selected_fields(fields, schemas)
    window = CursorWindow(auth)
    checker = ResponseChecker(auth.site_url)
    resources: list[Any] = [
        entity_endpoint_resource(
            EntityRead.of(schema, selected.get(schema.entity_type)),
            window,
            checker,
            page_size,
            lookback_seconds,
            initial_updated_at,
        )
        for schema in schemas
    ]
    return {
        "client": {
            "base_url": f"{auth.site_url}{API_PREFIX}/",
            "auth": auth,
            "headers": {"Accept": "application/json"},
        },
        "resources": resources,
    }
