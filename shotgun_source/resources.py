"""One dlt resource per entity type: its `updated_at` window, then what the event log changed.

Both reads of a type run in ONE resource, so that two copies of one record in one load are ordered:

1. The run's window ends now, by the site's clock (`window_end`).
2. The event log is read up to `window_end`, in the background while the window is read: the
   records of this type retired or revived since the last run, and the renamed records it links to.
3. The window is read (`updated_at` between the cursor less the lookback and `window_end`).
4. The records the event log named are read again, in their state now: after every window page, so
   each such copy is newer than a window copy of the same record. Every row carries when it was read
   (`_sg_read_at`) and dlt's merge keeps the newest copy of each id (`dedup_sort`): a retirement beats
   a live copy read before it, a revival or a rename beats an older read.
   Destinations that only append (parquet files) keep every row they are given, so there a record
   the window already read is not read again: one row per record per load, and the event is applied
   by the next run (it is not remembered as applied).

The window is filtered by the site, so dlt's incremental only keeps the cursor (`advance`), and rows
read for the event log, whose `updated_at` is old, pass through it.
"""

from array import array
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.extract import DltResource

from .deletes import EventChanges, EventLogReader, shift
from .reader import WindowReader
from .reads import EntityRead
from .session import SiteSession

__all__ = ["EntityRead", "ReadSettings", "entity_resource"]  # EntityRead lives in reads.py now

LEGACY_EVENTS_SUFFIX = "_events"
"""Before 0.2 the event-log reads were a resource of their own, `<table>_events`; its state is
read once, so the first run after an upgrade misses no retirement."""


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
                yield self.stamped(page)
            return
        assert cursor is not None
        window.advance(None)  # the site filters the window; dlt keeps the cursor
        window_end = self.session.now()
        state = dlt.current.resource_state()
        plan: Future[EventLogPlan] | None = None
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"shotgun-{self.read.schema.table_name}")
        try:
            if self.follows_event_log:
                since = self._events_read_to(state) or window_end
                applied = set(state.get("applied_events") or ())
                gone_missing = self.events.reconcile() if self.settings.reconcile_deletes else None
                start = shift(since, self.settings.lookback_seconds)
                plan = pool.submit(self._plan, start, window_end, applied, gone_missing)
            newest: str | None = None
            window_ids = array("q")
            for page in self.windows.pages(self.read.window_filters([window.start_value, window_end])):
                rows = self.stamped(page)
                for row in rows:
                    window_ids.append(row["id"])
                    value = row[cursor]
                    if newest is None or value > newest:
                        newest = value
                yield rows
            if plan is not None:
                yield from self._event_rows(plan.result(), window_ids, window_end, state)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        stored = window.get_state().get("last_value")  # as stored, without the lag
        if newest is not None and (stored is None or newest > stored):
            window.advance(newest)

    def stamped(self, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.events.stamped(page)

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
        self, start: str, end: str, applied: set[int], gone_missing: tuple[set[int], set[int]] | None
    ) -> EventLogPlan:
        """The event-log read (and the renamed records' linking ids), run while the window is read."""
        plan = EventLogPlan()
        if self.events.reads_events:
            plan.changes = self.events.changes(start, end, applied)
        plan.state_ids = plan.changes.state_changed
        if gone_missing is not None:
            gone, missing = gone_missing
            for entity_id in gone:
                plan.changes.retired_at.setdefault(entity_id, None)
            plan.state_ids |= gone | missing
        if plan.changes.renamed:
            plan.linking_ids = self.events.linking_ids(plan.changes.renamed) - plan.state_ids
        return plan

    def _event_rows(
        self, plan: EventLogPlan, window_ids: "array[int]", window_end: str, state: dict[str, Any]
    ) -> Iterator[Any]:
        """The records the event log named, read again now; then the event-log state for the next run."""
        wanted = plan.candidates
        postponed: set[int] = set()
        if wanted and appends_only():
            postponed = {i for i in window_ids if i in wanted}  # one row per record per load
            wanted = wanted - postponed
        yield from self.events.current_rows(wanted, plan.changes.retired_at, window_end)
        state["events_read_to"] = window_end
        # the next run reads the last lookback_seconds again: events applied now are not applied twice
        next_start = shift(window_end, self.settings.lookback_seconds)
        state["applied_events"] = sorted(
            event_id
            for event_id, created_at, entity_id in plan.changes.events
            if created_at >= next_start and entity_id not in postponed
        )


def appends_only() -> bool:
    """True when the running pipeline's destination keeps every row it is given (dlt's filesystem
    destination without a table format: its merge falls back to append)."""
    destination = dlt.current.pipeline().destination
    return destination is not None and destination.destination_type.endswith(".filesystem")


def entity_resource(session: SiteSession, read: EntityRead, settings: ReadSettings) -> DltResource:
    """One entity type's resource: merged on `id`, incremental on its cursor; a type without a
    timestamp to window on is read whole and replaced."""
    schema = read.schema
    cursor = schema.cursor_field
    rows = EntityRows(session, read, settings)

    def whole() -> Iterator[Any]:
        yield from rows.rows(None)

    read_rows: Callable[..., Iterator[Any]] = whole
    if cursor:
        cursor_window: dlt.sources.incremental[str] = dlt.sources.incremental(
            **read.incremental_args(settings.initial_updated_at, settings.lookback_seconds)
        )

        def windowed(window: dlt.sources.incremental[str] = cursor_window) -> Iterator[Any]:
            yield from rows.rows(window)

        read_rows = windowed

    resource = dlt.resource(
        read_rows,
        name=schema.table_name,
        primary_key=read.primary_key,
        write_disposition=read.write_disposition,
        columns=read.columns,
        nested_hints=read.nested_hints,
        max_table_nesting=1,
        parallelized=True,
        _impl_cls=EntityResource,
    )
    resource.site_session = session  # type: ignore[attr-defined]
    return resource
