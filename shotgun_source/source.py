"""The dlt source: one rest_api resource per ShotGrid entity type."""

import time
from collections.abc import Sequence
from typing import Any

import dlt
from dlt.extract import DltResource
from dlt.sources.rest_api import rest_api_resources
from dlt.sources.rest_api.typing import EndpointResource, RESTAPIConfig

from .auth import ShotgunAuth
from .errors import ShotgunConfigError
from .paginator import ShotgunKeysetPaginator, check_page_size
from .records import RecordFlattener
from .responses import ResponseChecker
from .schema import EntitySchema
from .settings import (
    API_PREFIX,
    CURSOR_FIELD,
    DEFAULT_ENTITIES,
    DEFAULT_INITIAL_UPDATED_AT,
    DEFAULT_LOOKBACK_SECONDS,
    DEFAULT_PAGE_SIZE,
    SEARCH_CONTENT_TYPE,
)
from .site import ShotgunSite
from .site_url import normalize_site_url

SHOTGRID_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dlt.source(name="shotgun", section="shotgun", max_table_nesting=1)
def shotgun_source(
    site_url: str = dlt.config.value,
    credentials: ShotgunAuth = dlt.secrets.value,
    entities: Sequence[str] | str | None = None,
    fields: dict[str, list[str]] | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS,
    initial_updated_at: str = DEFAULT_INITIAL_UPDATED_AT,
) -> list[DltResource]:
    """Resources for ShotGrid entity types, incremental on `updated_at` and merged on `id`.

    Args:
        site_url: The site's address, e.g. `https://studio.shotgrid.autodesk.com`.
        credentials: Script name/key or user login, see `ShotgunAuth`.
        entities: Entity type names (`Shot`) or table slugs (`shots`), or "all"; default the five
            of the design card: Project, Shot, Task, Asset, Version.
        fields: Per entity type, the fields to read (default every field); `id` and `updated_at`
            are always added.
        page_size: Rows per request, 1..5000.
        lookback_seconds: How far before the stored cursor each run re-reads, for rows committed
            late; the overlap is merged away on `id`.
        initial_updated_at: Lower bound of the first run, ISO 8601 UTC.

    Returns:
        One resource per entity type, named by the server's plural slug (`shots`, `human_users`).
    """
    _check_settings(page_size, lookback_seconds, initial_updated_at)
    auth = credentials.bind(site_url)
    site = ShotgunSite(auth.site_url or normalize_site_url(site_url), auth)
    entity_types = site.resolve_entity_types(entities if entities else list(DEFAULT_ENTITIES))
    schemas = site.entity_schemas(entity_types)
    # the window ends when the run starts, by the site's clock, so it cannot grow while we page
    window_end = time.strftime(SHOTGRID_TIME_FORMAT, time.gmtime(auth.site_now()))
    config: RESTAPIConfig = {
        "client": {"base_url": f"{site.site_url}{API_PREFIX}/", "auth": auth},
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "merge",
            "parallelized": True,
        },
        "resources": [
            _entity_resource(
                schema, site, page_size, lookback_seconds, initial_updated_at, window_end, fields
            )
            for schema in schemas
        ],
    }
    return rest_api_resources(config)


def _entity_resource(
    schema: EntitySchema,
    site: ShotgunSite,
    page_size: int,
    lookback_seconds: int,
    initial_updated_at: str,
    window_end: str,
    fields: dict[str, list[str]] | None,
) -> EndpointResource:
    """The rest_api resource config of one entity type: a keyset-paged `_search` in a fixed window."""
    selected = (fields or {}).get(schema.entity_type)
    field_list: str | list[str] = "*" if not selected else sorted({*selected, "id", CURSOR_FIELD})
    return {
        "name": schema.table_name,
        "columns": schema.column_hints(),
        "nested_hints": schema.nested_hints(),
        "processing_steps": [{"map": RecordFlattener(schema, CURSOR_FIELD)}],
        "endpoint": {
            "path": f"entity/{schema.entity_type}/_search",
            "method": "POST",
            "headers": {"Content-Type": SEARCH_CONTENT_TYPE, "Accept": "application/json"},
            "json": {
                "filters": [[CURSOR_FIELD, "between", ["{incremental.start_value}", window_end]]],
                "fields": field_list,
                "options": {"include_archived_projects": True},
            },
            "paginator": ShotgunKeysetPaginator(page_size),
            "data_selector": "data",
            "response_actions": [ResponseChecker(site.site_url)],
            "incremental": {
                "cursor_path": CURSOR_FIELD,
                "initial_value": initial_updated_at,
                "lag": lookback_seconds,
                "on_cursor_value_missing": "raise",
            },
        },
    }


def _check_settings(page_size: Any, lookback_seconds: Any, initial_updated_at: Any) -> None:
    """Reject bad settings before a single request, naming the setting and the valid range."""
    check_page_size(page_size)
    if not isinstance(lookback_seconds, int) or isinstance(lookback_seconds, bool) or lookback_seconds < 0:
        raise ShotgunConfigError(
            f"lookback_seconds must be a whole number of seconds, 0 or more, got {lookback_seconds!r}."
            " Set [sources.shotgun] lookback_seconds or SOURCES__SHOTGUN__LOOKBACK_SECONDS."
        )
    try:
        time.strptime(str(initial_updated_at), SHOTGRID_TIME_FORMAT)
    except ValueError:
        raise ShotgunConfigError(
            f"initial_updated_at must look like 2024-01-31T00:00:00Z (UTC), got {initial_updated_at!r}."
        ) from None
