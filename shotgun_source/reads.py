"""One definition of each entity type's read, for the fast source and the generated rest_api config.

What is asked of the site (the `_search` path, its body and content type, the fields) and how the
rows land (column and nested hints, primary key, write disposition, the cursor and its lookback)
live here once, so `shotgun_source` and `shotgun_rest_api_config` cannot drift apart.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dlt.common.schema.typing import TColumnSchema, TWriteDisposition
from dlt.common.typing import TTableNames
from dlt.extract.hints import TResourceNestedHints

from .schema import EntitySchema
from .settings import SEARCH_CONTENT_TYPE, SHOTGRID_TIME_FORMAT

HASH_FILTERS_CONTENT_TYPE = "application/vnd+shotgun.api3_hash+json"
"""`_search` with nested and/or groups takes hash filters, announced by this content type."""
PRIMARY_KEY = "id"
WINDOW_OPERATOR = "between"
"""The cursor window `[start, end]`, both ends included: a record stamped in the window's last second
is read by this run or, if it changed while this run paged, by the next (which starts at or before it)."""
WINDOW_END_MARGIN_SECONDS = 1.0
"""The site's clock is known from the Date header of its token answer, which has whole seconds, so
to within half a second. A window that ended in the site's future would take in changes made while
the run pages, and a change ahead of the reader could carry the cursor past one behind it; ending a
second early never does (a record stamped in that second waits for the next run)."""


MIN_OVERLAP_SECONDS = 1
"""Every run re-reads at least the last second before its cursor, whatever `lookback_seconds` says:
timestamps have whole seconds, and the site's clock is known to half a second, so a change made in
the cursor's own second while a run paged must be read again by the next run."""


def overlap_seconds(lookback_seconds: int) -> int:
    """How far before the stored cursor a run starts: the lookback, and never less than a second."""
    return max(lookback_seconds, MIN_OVERLAP_SECONDS)


def window_end(site_time: float) -> str:
    """Where a run's window ends, as ShotGrid writes it, for the site's clock now (`site_time`, a Unix
    time): never after the site's own now."""
    return time.strftime(SHOTGRID_TIME_FORMAT, time.gmtime(site_time - WINDOW_END_MARGIN_SECONDS))


def search_path(entity_type: str) -> str:
    """The entity read, relative to the API prefix: POST `entity/{Type}/_search`."""
    return f"entity/{entity_type}/_search"


def content_type_of(body: dict[str, Any]) -> str:
    """The site picks the filter shape from the content type (plain JSON is refused with 415)."""
    return HASH_FILTERS_CONTENT_TYPE if isinstance(body.get("filters"), dict) else SEARCH_CONTENT_TYPE


def search_body(fields: str | list[str], filters: Sequence[Any], **extra: Any) -> dict[str, Any]:
    """A `_search` body: the filters, the fields, and records of archived projects too (a mirror
    of the site must not lose a project's rows when it is archived)."""
    return {
        "filters": [list(f) if isinstance(f, (list, tuple)) else f for f in filters],
        "fields": fields,
        "options": {"include_archived_projects": True},
        **extra,
    }


@dataclass(frozen=True)
class EntityRead:
    """What is read of one entity type and how its rows look."""

    schema: EntitySchema
    field_list: str | list[str]
    columns: dict[str, TColumnSchema]
    """The root table's column hints: the site's field types, plus what the caller adds."""
    marks: dict[str, Any] = field(default_factory=dict)
    """Constant columns every live row carries (the fast source's retirement flag)."""

    @classmethod
    def of(
        cls,
        schema: EntitySchema,
        selected_fields: Sequence[str] | None = None,
        extra_columns: dict[str, TColumnSchema] | None = None,
        marks: dict[str, Any] | None = None,
    ) -> "EntityRead":
        """Every field (`*`), or only `selected_fields` (with `id` and the cursor, see
        `EntitySchema.only`); `extra_columns` and `marks` are the fast source's event-log columns."""
        field_list: str | list[str] = "*"
        if selected_fields:
            schema = schema.only(selected_fields)
            field_list = sorted(schema.field_types)
        columns = {**schema.column_hints(), **(extra_columns or {})}
        return cls(schema, field_list, columns, dict(marks or {}))

    @property
    def entity_type(self) -> str:
        return self.schema.entity_type

    @property
    def table_name(self) -> str:
        return self.schema.table_name

    @property
    def path(self) -> str:
        return search_path(self.schema.entity_type)

    @property
    def cursor_field(self) -> str | None:
        return self.schema.cursor_field

    @property
    def primary_key(self) -> str:
        return PRIMARY_KEY

    @property
    def write_disposition(self) -> TWriteDisposition:
        """Merged on `id` where there is a cursor; a type without one is read whole and replaced."""
        return "merge" if self.cursor_field else "replace"

    @property
    def nested_hints(self) -> dict[TTableNames, TResourceNestedHints]:
        return self.schema.nested_hints()

    def body(self, filters: Sequence[Any], **extra: Any) -> dict[str, Any]:
        """The `_search` body of this type for `filters`, asking for this read's fields."""
        return search_body(self.field_list, filters, **extra)

    def headers(self, body: dict[str, Any]) -> dict[str, str]:
        return {"Content-Type": content_type_of(body)}

    def window_filters(self, bounds: Any) -> list[list[Any]]:
        """The cursor window as `_search` filters: `bounds` is `[start, end]` (or a placeholder that
        rest_api expands to it); none for a type without a cursor."""
        if self.cursor_field is None:
            return []
        return [[self.cursor_field, WINDOW_OPERATOR, bounds]]

    def incremental_args(self, initial_value: str, lookback_seconds: int) -> dict[str, Any]:
        """dlt incremental arguments for this type's cursor: each run starts `lookback_seconds` before
        the stored cursor (dlt's `lag`), for rows the site commits late."""
        if self.cursor_field is None:
            raise ValueError(f"{self.entity_type} has no cursor field to read incrementally")
        return {
            "cursor_path": self.cursor_field,
            "initial_value": initial_value,
            "lag": overlap_seconds(lookback_seconds),
            "on_cursor_value_missing": "raise",
        }
