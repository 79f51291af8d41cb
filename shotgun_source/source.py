"""The dlt source: one resource per ShotGrid entity type.

Each entity resource is a dlt resource on dlt's `RESTClient` (with `ShotgunAuth` and the keyset
paginator) rather than a `rest_api` config entry: rest_api pages one request after another, and a
large type must be read in parallel id ranges to be fast (`reader.py`); the event-log reads of a
type ride in the same resource, so a record reaches a load once (`resources.py`).
"""

import time
from collections.abc import Sequence
from typing import Any

import dlt
from dlt.extract import DltResource

from .auth import ShotgunAuth
from .deletes import check_delete_mode, live_row_marks, retirement_columns
from .errors import ShotgunConfigError
from .history import DEFAULT_HISTORY_SINCE, FieldHistory, check_history_since, resolve_history_fields
from .paginator import check_page_size
from .reads import EntityRead
from .resources import ReadSettings, entity_resource
from .schema import EntitySchema, check_known_fields, per_loaded_type
from .session import SHOTGRID_TIME_FORMAT, SiteSession
from .settings import (
    DEFAULT_ENTITIES,
    DEFAULT_INITIAL_UPDATED_AT,
    DEFAULT_LOOKBACK_SECONDS,
    DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_PAGE_SIZE,
    DEFAULT_PARALLEL_RANGES,
)
from .site import ShotgunSite
from .site_url import normalize_site_url


@dlt.source(name="shotgun", section="shotgun", max_table_nesting=1)
def shotgun_source(
    site_url: str = dlt.config.value,
    credentials: ShotgunAuth = dlt.secrets.value,
    entities: Any = None,
    fields: dict[str, Sequence[str]] | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS,
    initial_updated_at: str = DEFAULT_INITIAL_UPDATED_AT,
    deletes: str = "soft",
    reconcile_deletes: bool = False,
    refresh_link_names: bool = True,
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS,
    parallel_ranges: int = DEFAULT_PARALLEL_RANGES,
    history_fields: Any = None,
    history_since: str = DEFAULT_HISTORY_SINCE,
) -> list[DltResource]:
    """Resources for ShotGrid entity types, incremental on `updated_at` and merged on `id`.

    Types without `updated_at` (EventLogEntry) window on `created_at` instead: their rows never
    change, and the lookback re-scans behind the head for events the site commits late.

    Args:
        site_url: The site's address, e.g. `https://studio.shotgrid.autodesk.com`.
        credentials: Script name/key or user login, see `ShotgunAuth`.
        entities: Entity type names (`Shot`, `CustomEntity01`) or table slugs (`shots`), or "all"
            (every type the credentials can read); a list, or one string ("Shot,Version", or a
            JSON list as environment variables carry lists); default Project, Shot, Task, Asset,
            Version. (Typed `Any` so dlt hands a string from the environment over as it is.)
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
        refresh_link_names: Read again the rows linking to a record renamed on the site (its
            `<link>__name` changes, their `updated_at` does not). Read from the event log.
        max_concurrent_requests: Page requests in flight at once, all entity types together.
        parallel_ranges: Threads one large entity type's id ranges are read on (1: one by one).
        history_fields: The fields whose every change is recorded in `<table>_field_changes`, from
            the event log. Default: each type's status_list fields, whenever the run reads the
            event log anyway (deletes or renames); False (or "off", []) records none; a mapping of
            entity types to field lists replaces the default for the types it names; "Type.field"
            names (a list, or one comma-separated string) do the same; True: the default always.
        history_since: How far back a first run reads history (and a field added later): a UTC time
            ("2024-01-31T00:00:00Z"), a date, or days before the run ("30 days", the default);
            "1970-01-01T00:00:00Z" reads the whole event log.

    Returns:
        One resource per entity type, named by the server's plural slug (`shots`, `human_users`).
    """
    _check_settings(page_size, lookback_seconds, initial_updated_at)
    _check_positive("max_concurrent_requests", max_concurrent_requests)
    _check_positive("parallel_ranges", parallel_ranges)
    mode = check_delete_mode(deletes)
    since = check_history_since(history_since)
    auth = credentials.bind(site_url)
    session = SiteSession(auth.site_url or normalize_site_url(site_url), auth, max_concurrent_requests)
    site = ShotgunSite(session.site_url, auth)
    schemas = site.requested_schemas(entities if entities else list(DEFAULT_ENTITIES))
    for schema in schemas:
        session.expect_fields(schema.entity_type, schema.field_types)
    selected = _selected_fields(fields, schemas)
    settings = ReadSettings(
        page_size=page_size,
        lookback_seconds=lookback_seconds,
        initial_updated_at=initial_updated_at,
        deletes=mode,
        reconcile_deletes=reconcile_deletes,
        refresh_link_names=refresh_link_names,
        parallel_ranges=parallel_ranges,
    )
    extra_columns, marks = retirement_columns(mode), live_row_marks(mode)
    reads_event_log = mode != "ignore" or refresh_link_names
    history = resolve_history_fields(history_fields, schemas, default_on=reads_event_log)
    return [
        entity_resource(
            session,
            EntityRead.of(schema, selected.get(schema.entity_type), extra_columns, marks),
            settings,
            FieldHistory(session, schema, history[schema.entity_type], since, page_size, parallel_ranges)
            if schema.entity_type in history
            else None,
        )
        for schema in schemas
    ]


def _selected_fields(
    fields: dict[str, Sequence[str]] | None, schemas: Sequence[EntitySchema]
) -> dict[str, Sequence[str]]:
    """`fields` keyed by entity type, checked against the site's schema (`check_known_fields`)."""
    if not fields:
        return {}
    selected: dict[str, Sequence[str]] = {}
    for schema, names in per_loaded_type("fields", fields, schemas):
        names = [names] if isinstance(names, str) else list(names)
        check_known_fields("fields", schema, names)
        selected[schema.entity_type] = names
    return selected


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ShotgunConfigError(
            f"{name} must be a whole number, 1 or more, got {value!r}."
            f" Set [sources.shotgun] {name} or SOURCES__SHOTGUN__{name.upper()}."
        )


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
