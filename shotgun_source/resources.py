"""One dlt resource per entity type: its `updated_at` window, then what the event log changed.

Both reads of a type run in ONE resource, so that a record reaches one load once, in its newest
state, whatever the destination (merge tables or append-only files):

1. The run's window ends now, by the site's clock (`window_end`).
2. The event log is read up to `window_end` while the window's first page is read: the records of
   this type retired or revived since the last run, and those linking to a renamed record.
3. The window is read (`updated_at` between the cursor less the lookback and `window_end`), leaving
   out the records the event log named:
4. those are read again after the window, in their state then (live, retired, or gone), so the one
   copy of each that the load gets is also the newest read of it;
5. the changes of the type's history fields go to its history table (`history.py`): those the
   event-log read brought, then the reads of fields whose history is behind (a first run's backfill).

The window is filtered by the site, so dlt's incremental only keeps the cursor (`advance`), and rows
read for the event log, whose `updated_at` is old, pass through it.
"""

import datetime as dt
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import dlt
from dlt.common.configuration.container import Container
from dlt.common.pipeline import PipelineContext
from dlt.extract import DltResource

from .columns import (
    Page,
    PageConverter,
    batched,
    dlt_items,
    link_table_hints,
    marker_rows,
    quiet_json_hint_notices,
    root_table_hints,
)
from .deletes import (
    EventChanges,
    EventLogReader,
    Stamp,
    destination_retirement_times,
    retirement_columns,
    shift,
)
from .errors import ShotgunConfigError
from .history import FieldHistory, HistoryRun, history_table_hints
from .reader import WindowReader
from .reads import EntityRead, overlap_seconds
from .schema import EntitySchema
from .session import SHOTGRID_TIME_FORMAT, SiteSession

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
    """Records linking to a renamed record, read again."""
    retired_linking_ids: set[int] = field(default_factory=set)
    """Retired records linking to a renamed record (soft deletes), read again where the destination
    holds them retired."""

    @property
    def candidates(self) -> set[int]:
        return self.state_ids | self.linking_ids


class EntityResource(DltResource):
    """An entity type's resource; `site_session` tells a runner which site it reads, with what
    credentials and request counts (`shotgun_source.load` reports them)."""

    site_session: SiteSession | None = None
    history_fields: list[str] | None = None
    """The fields whose changes this resource records in its history table (None: no history)."""


class EntityRows:
    """The rows of one entity type for one run, in the order the module docstring explains."""

    def __init__(
        self,
        session: SiteSession,
        read: EntityRead,
        settings: ReadSettings,
        history: FieldHistory | None = None,
    ) -> None:
        self.session = session
        self.read = read
        self.settings = settings
        self.history = history
        schema = read.schema
        mark_columns = retirement_columns(settings.deletes)
        converter = PageConverter(schema, read.marks, mark_columns)
        converter.on_missing = session.field_gone  # a field deleted on the site since the schema read
        self.windows: WindowReader[Page] = WindowReader(
            session,
            schema.entity_type,
            converter.convert,
            read.field_list,
            settings.page_size,
            settings.parallel_ranges,
        )
        self.events = EventLogReader(
            session,
            schema,
            settings.deletes,
            read.field_list,
            settings.page_size,
            settings.refresh_link_names,
            history.fields if history is not None else (),
        )
        self.root_hints = root_table_hints(schema, mark_columns)

    @property
    def follows_event_log(self) -> bool:
        """Only types windowed on `updated_at` are retired and link to renamed records; the event log
        itself (windowed on `created_at`) never is."""
        return self.read.schema.cursor_field == "updated_at" and (
            self.events.reads_events or self.settings.reconcile_deletes
        )

    def items(
        self, page: Page, root_hints: dict[str, Any], link_hints: dict[str, dict[str, Any]]
    ) -> list[Any]:
        """A page's tables as dlt items, each with its table's hints; marker rows are counted, so
        the run's report can say how many link rows were loaded."""
        for name, table in page.links.items():
            self.session.count_markers(name, marker_rows(table))
        return dlt_items(page, root_hints, link_hints)

    def rows(self, window: Any) -> Iterator[Any]:
        """The resource's items; `window` is its bound dlt incremental (None: read whole)."""
        schema = self.read.schema
        refuse_old_layout(schema)
        appends = appends_only()
        # a first load: this pipeline has no cursor for the type and its runner saw the destination
        # table empty (`load()` looks; a plain `pipeline.run` merges); its tables are appended to,
        # and no marker rows are needed to clear old links
        first_load = (
            window is not None
            and window.get_state().get("last_value") in (None, window.initial_value)
            and not appends
            and schema.table_name in self.session.empty_tables
        )
        load_id = dlt.current.load_package_state()["load_id"]
        stamp = Stamp.of(schema, self.settings.deletes, load_id, first_load=first_load, merged=not appends)
        stamp.live_converter.on_missing = stamp.retired_converter.on_missing = self.session.field_gone
        cursor = schema.cursor_field
        # every run says each table's disposition: dlt keeps a table variant's hints on the resource,
        # so a source object run again would otherwise keep its first run's
        root_hints = {**self.root_hints, "write_disposition": self.read.write_disposition}
        link_hints = link_table_hints(schema, markers=not appends)
        if cursor is None:
            link_hints = {
                name: {**hints, "write_disposition": "replace"} for name, hints in link_hints.items()
            }
        elif first_load and not appends:
            # a first load holds one copy of each record and meets empty tables: append, with no
            # staging, dedup and delete (the next run merges; dlt updates the disposition)
            root_hints = appended(root_hints)
            link_hints = {name: appended(hints) for name, hints in link_hints.items()}
        if window is None:
            for page in batched(self.windows.pages([], stamp.live)):
                yield from self.items(page, root_hints, link_hints)
            return
        assert cursor is not None
        window.advance(None)  # the site filters the window; dlt keeps the cursor
        window_end = self.session.window_end()
        state = dlt.current.resource_state()
        history: HistoryRun | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"shotgun-{schema.table_name}") as pool:
            planned: Future[EventLogPlan] | None = None
            if self.follows_event_log:
                # the state and the destination are read here: dlt's context lives in this thread
                read_to = self._events_read_to(state)
                since = read_to or window_end
                applied = set(state.get("applied_events") or ())
                reconciled = self.events.reconcile() if self.settings.reconcile_deletes else None
                if self.history is not None:
                    overlap = overlap_seconds(self.settings.lookback_seconds)
                    history = self.history.plan(state, read_to, window_end, overlap)
                riding = history.riding if history is not None else []
                # retired rows are soft deletes' only, and a type's first run holds none yet
                retired_rows = (
                    self.settings.deletes == "soft" and window.get_state().get("last_value") is not None
                )
                planned = pool.submit(
                    self._plan, since, applied, reconciled, window_end, riding, retired_rows
                )
            filters = self.read.window_filters([window.start_value, window_end])
            pages = self.windows.pages(filters, stamp.live)
            first = next(pages)  # read while the event log is
            plan = planned.result() if planned is not None else None
            if plan is not None:
                self._refresh_retired_links(plan)
            later = plan.candidates if plan is not None else set()
            newest_seen: list[dt.datetime] = []

            def window_pages() -> Iterator[Page]:
                """The window's pages less the records the event log reads later; each page's
                newest cursor value is noted as it is read."""
                for page in chain([first], pages):
                    page_newest = page.newest(cursor)
                    if page_newest is not None:
                        newest_seen.append(page_newest)
                    yield page.without(later)

            for page in batched(window_pages()):
                yield from self.items(page, root_hints, link_hints)
            newest = max(newest_seen, default=None)
            if plan is not None:
                for page in self.events.current_pages(later, plan.changes.retired_at, window_end, stamp):
                    yield from self.items(page, root_hints, link_hints)
                if history is not None:
                    yield from self._history_items(history, plan, applied, load_id, appends, window_end)
                self._remember(plan, window_end, state)
                if history is not None:
                    history.remember(state)
        advance_cursor(window, newest)

    def _events_read_to(self, state: dict[str, Any]) -> str | None:
        if state.get("events_read_to"):
            return str(state["events_read_to"])
        legacy = (
            dlt.current.source_state()
            .get("resources", {})
            .get(f"{self.read.schema.table_name}{LEGACY_EVENTS_SUFFIX}", {})
        )
        return legacy.get("events_read_to")

    def _history_items(
        self,
        history: HistoryRun,
        plan: EventLogPlan,
        applied: set[int],
        load_id: str,
        appends: bool,
        window_end: str,
    ) -> Iterator[Any]:
        """The history table's rows, as a table variant of this resource; the caught-up events the
        next run re-scans count as applied, like the event-log read's."""
        assert self.history is not None
        hints = dlt.mark.make_hints(**history_table_hints(self.read.schema, appends))
        next_start = shift(window_end, overlap_seconds(self.settings.lookback_seconds))
        for table in history.tables(plan.changes.history, applied, load_id, next_start):
            yield dlt.mark.with_hints(table, hints, create_table_variant=True)
        plan.changes.events.extend(history.recent)

    def _plan(
        self,
        since: str,
        applied: set[int],
        reconciled: tuple[set[int], set[int]] | None,
        window_end: str,
        history_fields: list[str],
        retired_rows: bool,
    ) -> EventLogPlan:
        """What the event log (and the reconciliation) says must be read again after the window, and
        the changes of the history fields that ride on its read; with `retired_rows`, the retired
        rows that link to a renamed record too."""
        plan = EventLogPlan()
        if self.events.reads_events:
            start = shift(since, overlap_seconds(self.settings.lookback_seconds))
            plan.changes = self.events.changes(start, window_end, applied, history_fields)
        plan.state_ids = plan.changes.state_changed
        if reconciled is not None:
            gone, missing = reconciled
            for entity_id in gone:
                plan.changes.retired_at.setdefault(entity_id, None)
            plan.state_ids |= gone | missing
        if plan.changes.renamed:
            plan.linking_ids = self.events.linking_ids(plan.changes.renamed) - plan.state_ids
            if retired_rows:  # retired rows keep their links, and their names
                plan.retired_linking_ids = (
                    self.events.linking_ids(plan.changes.renamed, retired=True) - plan.candidates
                )
        return plan

    def _refresh_retired_links(self, plan: EventLogPlan) -> None:
        """Retired rows that link to a renamed record are read again as retired rows, keeping the
        time the destination says they were retired; rows it does not hold retired are left alone."""
        if not plan.retired_linking_ids:
            return
        times = destination_retirement_times(self.read.schema.table_name, plan.retired_linking_ids)
        plan.changes.retired_at.update(times)
        plan.linking_ids |= set(times)

    def _remember(self, plan: EventLogPlan, window_end: str, state: dict[str, Any]) -> None:
        """How far the event log is read, and the events the next run's lookback reads again (they
        are applied: their records were read again after them)."""
        state["events_read_to"] = window_end
        next_start = shift(window_end, overlap_seconds(self.settings.lookback_seconds))
        state["applied_events"] = sorted(
            event_id for event_id, created_at, _ in plan.changes.events if created_at >= next_start
        )


def advance_cursor(window: Any, newest: dt.datetime | None) -> None:
    """Move the cursor to the newest cursor value read, forward only, kept as ShotGrid writes it."""
    if newest is None:
        return
    value = newest.astimezone(dt.UTC).strftime(SHOTGRID_TIME_FORMAT)
    stored = window.get_state().get("last_value")  # as stored, without the lag
    if stored is None or value > stored:
        window.advance(value)


def appended(hints: dict[str, Any]) -> dict[str, Any]:
    """A table's hints for a first load: append, and no `hard_delete` (dlt ignores it on append and
    warns about it)."""
    columns = {
        name: {k: v for k, v in hint.items() if k != "hard_delete"} for name, hint in hints["columns"].items()
    }
    return {**hints, "write_disposition": "append", "columns": columns}


def appends_only() -> bool:
    """True when the running pipeline's destination keeps every row it is given (dlt's filesystem
    destination without a table format: its merge falls back to append, `hard_delete` is ignored)."""
    # the active pipeline as its context holds it: `dlt.current.pipeline()` resolves the pipeline's
    # configuration again on every call, here on dlt's extract threads (`transport.runtime_settings`
    # says why settings are not resolved there)
    destination = Container()[PipelineContext].pipeline().destination
    return destination is not None and destination.destination_type.endswith(".filesystem")


def refuse_old_layout(schema: EntitySchema) -> None:
    """Stop before reading when the destination holds the layout of shotgun_source 0.1: link tables
    as dlt child tables of the entity's table (joined on `_dlt_id`), which the link tables joined on
    ShotGrid ids cannot merge into. A refresh rebuilds the dataset once (a full read)."""
    # a snapshot (one C-level copy): the extract adds tables to this schema while resources run
    tables = dict(dlt.current.source_schema().tables)
    root = tables.get(schema.table_name)
    old_children = [name for name, table in tables.items() if table.get("parent") == schema.table_name]
    if root is None or not (old_children or "_dlt_id" in root.get("columns", {})):
        return
    raise ShotgunConfigError(
        f"The destination's `{schema.table_name}` was loaded by an older shotgun_source, whose"
        f" multi-entity link tables ({', '.join(old_children) or 'child tables'}) joined their parent"
        " on dlt's `_dlt_id`; link tables now join on ShotGrid ids (`parent_id`). Rebuild the dataset"
        " once, which reads the site in full: `python pipelines/shotgun_pipeline.py --refresh`"
        " (or `shotgun_source.load(pipeline, refresh=True)`)."
    )


def entity_resource(
    session: SiteSession, read: EntityRead, settings: ReadSettings, history: FieldHistory | None = None
) -> DltResource:
    """One entity type's resource: merged on `id`, incremental on its cursor; a type without a
    timestamp to window on is read whole and replaced. Column hints travel with each table (the
    root, every link table and the history table are dlt table variants), not on the resource: a
    variant starts as a copy of the resource's hints, and root columns would land in every link table."""
    schema = read.schema
    cursor = schema.cursor_field
    rows = EntityRows(session, read, settings, history)

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
        parallelized=True,
        _impl_cls=EntityResource,
    )
    resource.site_session = session  # type: ignore[attr-defined]
    resource.history_fields = list(history.fields) if history is not None else None  # type: ignore[attr-defined]
    quiet_json_hint_notices(schema.table_name)
    return resource
