"""One dlt resource per entity type: its `updated_at` window, then what the event log changed.

Both reads of a type run in ONE resource, so that a record reaches one load once, in its newest
state, whatever the destination (merge tables or append-only files):

1. The run's window ends now, by the site's clock (`window_end`).
2. The event log is read up to `window_end` while the window's first page is read: the records of
   this type retired or revived since the last run, and those linking to a renamed record.
3. The window is read (`updated_at` between the cursor less the lookback and `window_end`), leaving
   out the records the event log named:
4. those are read again after the window, in their state then (live, retired, or gone), so the one
   copy of each that the load gets is also the newest read of it.

The window is filtered by the site, so dlt's incremental only keeps the cursor (`advance`), and rows
read for the event log, whose `updated_at` is old, pass through it.
"""

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import dlt
from dlt.common.schema.typing import TColumnSchema
from dlt.extract import DltResource

from .deletes import EventChanges, EventLogReader, added_columns, live_row_marks, shift
from .reader import WindowReader
from .schema import EntitySchema
from .session import SiteSession

LEGACY_EVENTS_SUFFIX = "_events"
"""Before 0.2 the event-log reads were a resource of their own, `<table>_events`; its state is
read once, so the first run after an upgrade misses no retirement."""


@dataclass(frozen=True)
class EntityRead:
    """What is read of one entity type and how its rows look."""

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
        columns = {**schema.column_hints(), **added_columns(mode)}
        return cls(schema, field_list, columns, live_row_marks(mode))


@dataclass(frozen=True)
class ReadSettings:
    """The source's settings that shape every entity type's read alike."""

    page_size: int
    lookback_seconds: int
    initial_updated_at: str
    deletes: str
    reconcile_deletes: bool
    refresh_link_names: bool
    parallel_ranges: int


@dataclass
class EventLogPlan:
    """What the event log (and reconciliation) says must be read again, found before the window."""

    changes: EventChanges = field(default_factory=EventChanges)
    state_ids: set[int] = field(default_factory=set)
    """Records whose live/retired state is read again."""
    linking_ids: set[int] = field(default_factory=set)
    """Live records linking to a renamed record."""

    @property
    def candidates(self) -> set[int]:
        return self.state_ids | self.linking_ids


class EntityResource(DltResource):
    """An entity type's resource; `site_session` tells a runner which site it reads, with what
    credentials and request counts (`shotgun_source.load` reports them)."""

    site_session: SiteSession | None = None


class EntityRows:
    """The rows of one entity type for one run, in the order the module docstring explains."""

    def __init__(self, session: SiteSession, read: EntityRead, settings: ReadSettings) -> None:
        self.session = session
        self.read = read
        self.settings = settings
        schema = read.schema
        self.windows = WindowReader(
            session, schema.entity_type, read.field_list, settings.page_size, settings.parallel_ranges
        )
        self.events = EventLogReader(
            session,
            schema,
            settings.deletes,
            read.field_list,
            settings.page_size,
            settings.refresh_link_names,
        )

    @property
    def follows_event_log(self) -> bool:
        """Only types windowed on `updated_at` are retired and link to renamed records; the event log
        itself (windowed on `created_at`) never is."""
        return self.read.schema.cursor_field == "updated_at" and (
            self.events.reads_events or self.settings.reconcile_deletes
        )

    def rows(self, window: Any) -> Iterator[Any]:
        """The resource's items; `window` is its bound dlt incremental (None: read whole)."""
        cursor = self.read.schema.cursor_field
        if window is None:
            for page in self.windows.pages([]):
                yield self.events.rows_of(page)
            return
        assert cursor is not None
        window.advance(None)  # the site filters the window; dlt keeps the cursor
        window_end = self.session.now()
        state = dlt.current.resource_state()
        newest: str | None = None
        with ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"shotgun-{self.read.schema.table_name}"
        ) as pool:
            planned: Future[EventLogPlan] | None = None
            if self.follows_event_log:
                # the state and the destination are read here: dlt's context lives in this thread
                since = self._events_read_to(state) or window_end
                applied = set(state.get("applied_events") or ())
                reconciled = self.events.reconcile() if self.settings.reconcile_deletes else None
                planned = pool.submit(self._plan, since, applied, reconciled, window_end)
            pages = self.windows.pages([[cursor, "between", [window.start_value, window_end]]])
            first = next(pages, [])  # read while the event log is
            plan = planned.result() if planned is not None else None
            later = plan.candidates if plan is not None else set()
            for page in chain([first], pages):
                rows = self.events.rows_of(page)
                for row in rows:
                    value = row[cursor]
                    if newest is None or value > newest:
                        newest = value
                yield [row for row in rows if row["id"] not in later] if later else rows
            if plan is not None:
                yield from self.events.current_rows(later, plan.changes.retired_at, window_end)
                self._remember(plan, window_end, state)
        stored = window.get_state().get("last_value")  # as stored, without the lag
        if newest is not None and (stored is None or newest > stored):
            window.advance(newest)

    def _events_read_to(self, state: dict[str, Any]) -> str | None:
        if state.get("events_read_to"):
            return str(state["events_read_to"])
        legacy = (
            dlt.current.source_state()
            .get("resources", {})
            .get(f"{self.read.schema.table_name}{LEGACY_EVENTS_SUFFIX}", {})
        )
        return legacy.get("events_read_to")

    def _plan(
        self, since: str, applied: set[int], reconciled: tuple[set[int], set[int]] | None, window_end: str
    ) -> EventLogPlan:
        """What the event log (and the reconciliation) says must be read again after the window."""
        plan = EventLogPlan()
        if self.events.reads_events:
            start = shift(since, self.settings.lookback_seconds)
            plan.changes = self.events.changes(start, window_end, applied)
        plan.state_ids = plan.changes.state_changed
        if reconciled is not None:
            gone, missing = reconciled
            for entity_id in gone:
                plan.changes.retired_at.setdefault(entity_id, None)
            plan.state_ids |= gone | missing
        if plan.changes.renamed:
            plan.linking_ids = self.events.linking_ids(plan.changes.renamed) - plan.state_ids
        return plan

    def _remember(self, plan: EventLogPlan, window_end: str, state: dict[str, Any]) -> None:
        """How far the event log is read, and the events the next run's lookback reads again (they
        are applied: their records were read again after them)."""
        state["events_read_to"] = window_end
        next_start = shift(window_end, self.settings.lookback_seconds)
        state["applied_events"] = sorted(
            event_id for event_id, created_at, _ in plan.changes.events if created_at >= next_start
        )


def entity_resource(session: SiteSession, read: EntityRead, settings: ReadSettings) -> DltResource:
    """One entity type's resource: merged on `id`, incremental on its cursor; a type without a
    timestamp to window on is read whole and replaced."""
    schema = read.schema
    cursor = schema.cursor_field
    rows = EntityRows(session, read, settings)

    def windowed(
        window: dlt.sources.incremental[str] = dlt.sources.incremental(
            cursor or "updated_at",
            initial_value=settings.initial_updated_at,
            lag=settings.lookback_seconds,
            on_cursor_value_missing="raise",
        ),
    ) -> Iterator[Any]:
        yield from rows.rows(window)

    def whole() -> Iterator[Any]:
        yield from rows.rows(None)

    resource = dlt.resource(
        windowed if cursor else whole,
        name=schema.table_name,
        primary_key="id",
        write_disposition="merge" if cursor else "replace",
        columns=read.columns,
        nested_hints=schema.nested_hints(),
        max_table_nesting=1,
        parallelized=True,
        _impl_cls=EntityResource,
    )
    resource.site_session = session  # type: ignore[attr-defined]
    return resource
