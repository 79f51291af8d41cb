"""The dlt source: one rest_api resource per ShotGrid entity type."""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dlt
from dlt.common.schema.typing import TColumnSchema
from dlt.extract import DltResource
from dlt.sources.rest_api import rest_api_resources
from dlt.sources.rest_api.typing import Endpoint, EndpointResource, RESTAPIConfig

from .auth import ShotgunAuth
from .deletes import (
    RetirementReader,
    check_delete_mode,
    live_row_marks,
    retirement_columns,
    retirement_resource,
)
from .errors import ShotgunConfigError
from .paginator import ShotgunKeysetPaginator, check_page_size
from .records import RecordFlattener
from .responses import ResponseChecker
from .schema import EntitySchema
from .settings import (
    API_PREFIX,
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
    fields: dict[str, Sequence[str]] | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS,
    initial_updated_at: str = DEFAULT_INITIAL_UPDATED_AT,
    deletes: str = "soft",
    reconcile_deletes: bool = False,
) -> list[DltResource]:
    """Resources for ShotGrid entity types, incremental on `updated_at` and merged on `id`.

    Types without `updated_at` (EventLogEntry) window on `created_at` instead: their rows never
    change, and the lookback re-scans behind the head for events the site commits late.

    Args:
        site_url: The site's address, e.g. `https://studio.shotgrid.autodesk.com`.
        credentials: Script name/key or user login, see `ShotgunAuth`.
        entities: Entity type names (`Shot`, `CustomEntity01`) or table slugs (`shots`), or "all"
            (every type the credentials can read); default Project, Shot, Task, Asset, Version.
        fields: Per entity type (name or table), the fields to read (default every field); `id`
            and the cursor field are always added. Unknown names are refused.
        page_size: Rows per request, 1..5000.
        lookback_seconds: How far before the stored cursor each run re-reads, for rows committed
            late; the overlap is merged away on `id`.
        initial_updated_at: Lower bound of the first run, ISO 8601 UTC.
        deletes: What a record retired on the site does to its row: "soft" (stays, `_sg_retired`
            true), "hard" (removed, child rows too) or "ignore". Read from the event log.
        reconcile_deletes: Also compare every id on the site with the destination each run
            (one request per 5000 rows per type): certainty at the price of a full id scan.

    Returns:
        One resource per entity type, named by the server's plural slug (`shots`, `human_users`).
    """
    _check_settings(page_size, lookback_seconds, initial_updated_at)
    mode = check_delete_mode(deletes)
    auth = credentials.bind(site_url)
    site = ShotgunSite(auth.site_url or normalize_site_url(site_url), auth)
    entity_types = site.resolve_entity_types(entities if entities else list(DEFAULT_ENTITIES))
    schemas = site.entity_schemas(entity_types)
    # the window ends when the run starts, by the site's clock, so it cannot grow while we page
    window_end = time.strftime(SHOTGRID_TIME_FORMAT, time.gmtime(auth.site_now()))
    selected = _selected_fields(fields, schemas)
    reads = [EntityRead.of(schema, selected.get(schema.entity_type), mode) for schema in schemas]
    config: RESTAPIConfig = {
        "client": {"base_url": f"{site.site_url}{API_PREFIX}/", "auth": auth},
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "merge",
            "parallelized": True,
        },
        "resources": [
            _entity_resource(read, site, page_size, lookback_seconds, initial_updated_at, window_end)
            for read in reads
        ],
    }
    retirements = [
        retirement_resource(
            RetirementReader(
                read.schema,
                site.site_url,
                auth,
                mode,
                read.field_list,
                window_end,
                lookback_seconds,
                page_size,
                reconcile_deletes,
            ),
            read.columns,
            read.schema.nested_hints(),
        )
        for read in reads
        if mode != "ignore" and read.schema.cursor_field == "updated_at"  # the event log is never retired
    ]
    return [*rest_api_resources(config), *retirements]


@dataclass(frozen=True)
class EntityRead:
    """What is read of one entity type and how its rows look: shared by its two resources."""

    schema: EntitySchema
    field_list: str | list[str]
    columns: dict[str, TColumnSchema]
    marks: dict[str, Any]

    @classmethod
    def of(cls, schema: EntitySchema, selected_fields: Sequence[str] | None, mode: str) -> "EntityRead":
        field_list: str | list[str] = "*"
        if selected_fields:
            schema = schema.only(selected_fields)
            field_list = sorted(schema.field_types)
        columns = {**schema.column_hints(), **retirement_columns(mode)}
        return cls(schema, field_list, columns, live_row_marks(mode))


def _entity_resource(
    read: EntityRead,
    site: ShotgunSite,
    page_size: int,
    lookback_seconds: int,
    initial_updated_at: str,
    window_end: str,
) -> EndpointResource:
    """The rest_api resource config of one entity type: a keyset-paged `_search` in a fixed window."""
    schema = read.schema
    cursor = schema.cursor_field
    body: dict[str, Any] = {
        "filters": [],
        "fields": read.field_list,
        "options": {"include_archived_projects": True},
    }
    endpoint: Endpoint = {
        "path": f"entity/{schema.entity_type}/_search",
        "method": "POST",
        "headers": {"Content-Type": SEARCH_CONTENT_TYPE, "Accept": "application/json"},
        "json": body,
        "paginator": ShotgunKeysetPaginator(page_size),
        "data_selector": "data",
        "response_actions": [ResponseChecker(site.site_url)],
    }
    if cursor:
        body["filters"].append([cursor, "between", ["{incremental.start_value}", window_end]])
        endpoint["incremental"] = {
            "cursor_path": cursor,
            "initial_value": initial_updated_at,
            "lag": lookback_seconds,
            "on_cursor_value_missing": "raise",
        }
    return {
        "name": schema.table_name,
        # a type without a timestamp to window on is read whole each run, and replaced
        "write_disposition": "merge" if cursor else "replace",
        "columns": read.columns,
        "nested_hints": schema.nested_hints(),
        "processing_steps": [{"map": RecordFlattener(schema, marks=read.marks)}],
        "endpoint": endpoint,
    }


def _selected_fields(
    fields: dict[str, Sequence[str]] | None, schemas: Sequence[EntitySchema]
) -> dict[str, Sequence[str]]:
    """`fields` keyed by entity type, checked against the site's schema.

    The server silently drops field names it does not know, so a typo would load as an empty
    column forever; refuse it instead.
    """
    if not fields:
        return {}
    by_key = {key: schema for schema in schemas for key in (schema.entity_type.lower(), schema.table_name)}
    selected: dict[str, Sequence[str]] = {}
    for key, names in fields.items():
        schema = by_key.get(str(key).lower())
        if schema is None:
            raise ShotgunConfigError(
                f"`fields` names the entity type {key!r}, which is not among the loaded entities"
                f" ({', '.join(s.entity_type for s in schemas)})."
            )
        names = [names] if isinstance(names, str) else list(names)
        unknown = sorted(set(names) - set(schema.field_types))
        if unknown:
            raise ShotgunConfigError(
                f"`fields` for {schema.entity_type} names unknown field(s): {', '.join(unknown)}."
                f" Valid fields: {', '.join(sorted(schema.field_types))}."
            )
        selected[schema.entity_type] = names
    return selected


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
