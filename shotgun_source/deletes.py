"""What the event log knows and no `updated_at` cursor sees: retirements, revivals, renames.

ShotGrid deletes by retiring: the record disappears from every read and its `updated_at` stays as
it was, so a mirror that only follows `updated_at` keeps retired rows forever. The event log records
each retirement and revival (`Shotgun_<Type>_Retirement` / `_Revival`); each run reads those events
since the last run (one request per entity type when nothing happened) and reads the records they
name again, in their state now:

- live: the live row (a revival, or a retirement undone since);
- not live, `soft` (default): the retired record's full row with `_sg_retired` true and
  `_sg_retired_at`;
- not live, `hard`: `{id, _sg_retired: true}`, which dlt's `hard_delete` hint turns into a delete of
  the row and its child rows.

Reading the state rather than trusting the order of events makes a retirement and a revival in one
window come out right whatever ids the site gave them (ids are reserved early, committed late).

Renaming a record (a Task's `content`, a Shot's `code`) changes the `<link>__name` of every row that
links to it, yet leaves those rows' `updated_at` alone. The same event-log read also picks up the
renames of the types this type links to, and those linking rows are read again.

`reconcile=True` also compares every id on the site with the destination's, for users who want
certainty over thrift: rows missing from the destination are read again, rows no longer live on the
site are retired there.
"""

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import dlt
import pyarrow as pa
from dlt.common import logger
from dlt.common.schema import Schema
from dlt.common.schema.typing import TColumnSchema
from dlt.common.storages.exceptions import SchemaNotFoundError

from .columns import TIMESTAMP, Page, PageConverter
from .errors import ShotgunConfigError, ShotgunPermissionError
from .schema import EntitySchema
from .session import SHOTGRID_TIME_FORMAT, SiteSession
from .settings import MAX_PAGE_SIZE

_T = TypeVar("_T")
DELETE_MODES = ("soft", "hard", "ignore")
RETIRED_FLAG = "_sg_retired"
RETIRED_AT = "_sg_retired_at"
EVENT_TYPE = "EventLogEntry"
IDS_PER_REQUEST = 500
"""Ids per `id in [...]` filter when reading records again by id."""
LINK_NAME_FIELDS: dict[str, tuple[str, ...]] = {
    "HumanUser": ("name", "firstname", "lastname"),
    "ApiUser": ("firstname",),
    "Project": ("name",),
    "Task": ("content",),
    "Note": ("subject",),
    "TimeLog": ("description",),
}
"""The field(s) a link's `name` comes from, per target type; `code` (and `name`) elsewhere, as the
python-api documents: Shot, Asset, Sequence, Version, Episode, Playlist, PublishedFile, custom..."""
DEFAULT_LINK_NAME_FIELDS = ("code", "name")
EVENT_FIELDS = ["event_type", "attribute_name", "created_at", "meta", "entity"]
"""What an event-log read asks for: enough to tell retirements, revivals and renames apart."""
HISTORY_FIELDS = ["user", "project"]
"""What it also asks for when it brings field history (`history.py`): who, and in which project."""
NOT_EVENT_LOG_READER = (
    "The credentials may not read the event log (EventLogEntry), where retirements, renames and field"
    ' history are read from. Give them read access to EventLogEntry, or set deletes = "ignore",'
    " refresh_link_names = false and history_fields = false."
)


def check_delete_mode(deletes: Any) -> str:
    if deletes not in DELETE_MODES:
        raise ShotgunConfigError(
            f"deletes must be one of {', '.join(DELETE_MODES)}, got {deletes!r}."
            " Set [sources.shotgun] deletes or SOURCES__SHOTGUN__DELETES."
        )
    return str(deletes)


def retirement_columns(mode: str) -> dict[str, TColumnSchema]:
    """The columns every table gets for retirements, by mode."""
    if mode == "ignore":
        return {}
    flag: TColumnSchema = {
        "data_type": "bool",
        "nullable": True,
        "description": "True once the record was retired (deleted) on the ShotGrid site",
    }
    if mode == "hard":
        return {RETIRED_FLAG: {**flag, "hard_delete": True}}
    at: TColumnSchema = {
        "data_type": "timestamp",
        "timezone": True,
        "nullable": True,
        "description": "When the record was retired, from the site's event log",
    }
    return {RETIRED_FLAG: flag, RETIRED_AT: at}


def live_row_marks(mode: str) -> dict[str, Any]:
    """What every live row carries, so a revived row's flag turns false again."""
    if mode == "ignore":
        return {}
    return {RETIRED_FLAG: False} if mode == "hard" else {RETIRED_FLAG: False, RETIRED_AT: None}


def shift(timestamp: str, seconds: int) -> str:
    """A ShotGrid timestamp `seconds` earlier."""
    moment = dt.datetime.strptime(timestamp, SHOTGRID_TIME_FORMAT) - dt.timedelta(seconds=seconds)
    return moment.strftime(SHOTGRID_TIME_FORMAT)


@dataclass
class EventChanges:
    """What one run learns from the event log for one entity type, before reading any record."""

    retired_at: dict[int, str | None] = field(default_factory=dict)
    """Records of this type retired or revived in the window: when last retired (None: revived)."""
    renamed: dict[str, set[int]] = field(default_factory=dict)
    """Renamed records of the types this one links to, by type."""
    events: list[tuple[int, str, int]] = field(default_factory=list)
    """(event id, created_at, entity id) of every event read, applied by an earlier run or not."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Change events of this type's history fields that no earlier run wrote (`history.py`)."""

    @property
    def state_changed(self) -> set[int]:
        return set(self.retired_at)


class EventLogReader:
    """One entity type's event-log read and the reads of the records it names.

    The caller (the entity's resource) decides which records still need reading: a record its window
    read returned is already in its newest state, since that read happened after every event read.
    """

    def __init__(
        self,
        session: SiteSession,
        schema: EntitySchema,
        mode: str,
        fields: str | list[str],
        page_size: int,
        refresh_link_names: bool,
        history_fields: Sequence[str] = (),
    ) -> None:
        self.session = session
        self.schema = schema
        self.mode = mode
        self.fields = fields
        self.page_size = page_size
        self.refresh_link_names = refresh_link_names
        self.history_fields = list(history_fields)

    @property
    def reads_events(self) -> bool:
        """False when there is nothing to ask the event log (deletes ignored, renames not followed
        or nothing linked, no field history): then not even one request is made."""
        return self._event_filters("", "", self.history_fields) is not None

    # -- the event log -------------------------------------------------------------------------

    def _event_filters(
        self, start: str, end: str, history_fields: Sequence[str] = ()
    ) -> dict[str, Any] | None:
        """(this type's retirements or revivals) or (renames of the types it links to) or (changes of
        its `history_fields`), in the window."""
        entity_type = self.schema.entity_type
        wanted: list[Any] = []
        if self.mode != "ignore":
            wanted.append(
                ["event_type", "in", [f"Shotgun_{entity_type}_{k}" for k in ("Retirement", "Revival")]]
            )
        targets, names = self._rename_targets()
        if self.refresh_link_names and targets:
            renames = [
                ["event_type", "in", [f"Shotgun_{t}_Change" for t in targets]],
                ["attribute_name", "in", names],
            ]
            wanted.append({"logical_operator": "and", "conditions": renames})
        if history_fields:
            history = [
                ["event_type", "is", f"Shotgun_{entity_type}_Change"],
                ["attribute_name", "in", list(history_fields)],
            ]
            wanted.append({"logical_operator": "and", "conditions": history})
        if not wanted:
            return None
        return {
            "logical_operator": "and",
            "conditions": [
                ["created_at", "between", [start, end]],
                {"logical_operator": "or", "conditions": wanted},
            ],
        }

    def changes(
        self, start: str, end: str, applied: set[int], history_fields: Sequence[str] = ()
    ) -> EventChanges:
        """The events in [start, end] that an earlier run has not applied, sorted into state changes
        of this type's records, renames of the records it links to, and changes of its
        `history_fields` (an event can be both of the last two: an Asset renamed, Assets link to)."""
        changes = EventChanges()
        filters = self._event_filters(start, end, history_fields)
        if filters is None:
            return changes
        own = f"Shotgun_{self.schema.entity_type}_"
        history = set(history_fields)
        fields = EVENT_FIELDS + HISTORY_FIELDS if history else EVENT_FIELDS
        last_state_event: dict[int, int] = {}
        for event in self._records(EVENT_TYPE, {"filters": filters, "fields": fields}):
            attributes = event.get("attributes") or {}
            meta = attributes.get("meta") or {}
            link = ((event.get("relationships") or {}).get("entity") or {}).get("data") or {}
            entity_id = meta.get("entity_id") or link.get("id")
            event_type = str(attributes.get("event_type") or "")
            if not isinstance(entity_id, int):
                continue
            changes.events.append((event["id"], str(attributes.get("created_at") or ""), entity_id))
            if event["id"] in applied:
                continue
            if event_type == f"{own}Change" and attributes.get("attribute_name") in history:
                changes.history.append(event)
                if not self._is_rename(event_type, attributes.get("attribute_name")):
                    continue
            if event_type.startswith(own) and not event_type.endswith("_Change"):
                # the record's state is read again; the time only says when it was retired
                if event["id"] >= last_state_event.get(entity_id, -1):
                    last_state_event[entity_id] = event["id"]
                    retired = event_type.endswith("_Retirement")
                    changes.retired_at[entity_id] = attributes.get("created_at") if retired else None
            else:  # a rename of a record this type links to
                target = meta.get("entity_type") or link.get("type") or event_type.split("_")[1]
                changes.renamed.setdefault(str(target), set()).add(entity_id)
        return changes

    def _is_rename(self, event_type: str, attribute_name: Any) -> bool:
        """A Change event the rename branch of the filter asked for (a link-name field of a type
        this type links to)."""
        targets, names = self._rename_targets()
        parts = event_type.split("_")
        return self.refresh_link_names and len(parts) == 3 and parts[1] in targets and attribute_name in names

    def _rename_targets(self) -> tuple[list[str], list[str]]:
        """The types this type links to, and the fields their link names come from."""
        targets = sorted({t for types in self.schema.link_targets.values() for t in types})
        names = sorted({n for t in targets for n in LINK_NAME_FIELDS.get(t, DEFAULT_LINK_NAME_FIELDS)})
        return targets, names

    def linking_ids(self, renamed: dict[str, set[int]], retired: bool = False) -> set[int]:
        """Ids of the rows that link to a renamed record (their link names are stale): live ones,
        or with `retired` the retired ones (a retired row keeps its links, and their names)."""
        options: dict[str, Any] = {"include_archived_projects": True}
        if retired:
            options["return_only"] = "retired"
        found: set[int] = set()
        for name, targets in self.schema.link_targets.items():
            for target in targets:
                ids = sorted(renamed.get(target, ()))
                for start in range(0, len(ids), IDS_PER_REQUEST):
                    links = [{"type": target, "id": i} for i in ids[start : start + IDS_PER_REQUEST]]
                    body = {"filters": [[name, "in", links]], "fields": ["id"], "options": options}
                    found.update(r["id"] for r in self._records(self.schema.entity_type, body, MAX_PAGE_SIZE))
        return found

    # -- the records they name -----------------------------------------------------------------

    def current_pages(
        self, ids: Iterable[int], retired_at: dict[int, str | None], now: str, stamp: "Stamp"
    ) -> Iterator[Page]:
        """Each record as it stands now: its live row, else (not live) its retired row (`soft`) or a
        delete marker with markers for its link rows (`hard`). Under `ignore` only live rows. A
        record purged from the site's trash cannot be read at all; under `soft` its row stays."""
        wanted = sorted(set(ids))
        live: set[int] = set()
        for page in self._by_ids(wanted, retired=False, convert=stamp.live):
            live.update(page.root.column("id").to_pylist())
            yield page
        gone = [i for i in wanted if i not in live]
        if not gone or self.mode == "ignore":
            return
        if self.mode == "hard":
            if not stamp.first_load:  # an empty table has nothing to delete
                yield stamp.deleted(gone)
            return
        for page in self._by_ids(gone, retired=True, convert=stamp.retired):
            yield with_retirement_times(page, retired_at, now)

    def _by_ids(self, ids: Sequence[int], retired: bool, convert: Callable[[bytes], Page]) -> Iterator[Page]:
        options: dict[str, Any] = {"include_archived_projects": True}
        if retired:
            options["return_only"] = "retired"
        for start in range(0, len(ids), IDS_PER_REQUEST):
            chunk = list(ids[start : start + IDS_PER_REQUEST])
            body = {"filters": [["id", "in", chunk]], "fields": self.fields, "options": options}
            yield from self.session.converted_pages(self.schema.entity_type, body, IDS_PER_REQUEST, convert)

    def _records(self, entity_type: str, body: dict[str, Any], page_size: int | None = None) -> Iterator[Any]:
        try:
            for page in self.session.search(entity_type, body, page_size or self.page_size):
                yield from page
        except ShotgunPermissionError:
            if entity_type != EVENT_TYPE:
                raise
            raise ShotgunPermissionError(NOT_EVENT_LOG_READER) from None

    # -- reconciliation ------------------------------------------------------------------------

    def reconcile(self) -> tuple[set[int], set[int]]:
        """(ids live in the destination but not on the site, ids live on the site but missing)."""
        body = {"filters": [], "fields": ["id"], "options": {"include_archived_projects": True}}
        on_site = {record["id"] for record in self._records(self.schema.entity_type, body, MAX_PAGE_SIZE)}
        in_destination = destination_live_ids(self.schema.table_name, flagged=self.mode != "ignore")
        gone = in_destination - on_site
        missing = on_site - in_destination
        if gone or missing:
            logger.warning(
                f"Reconciling {self.schema.table_name}: {len(gone)} rows no longer live on the site,"
                f" {len(missing)} live rows missing from the destination; both are being mended."
            )
        return gone, missing


def destination_live_ids(table: str, flagged: bool) -> set[int]:
    """Ids of the rows the destination holds as live (empty before the table's first load).
    Reads the pipeline that is running, so it must be called from the resource's own thread."""

    def live_ids(dataset: Any) -> set[int]:
        relation = dataset[table]
        if flagged:
            rows: Iterable[tuple[Any, ...]] = relation.select("id", RETIRED_FLAG).fetchall()
            return {row[0] for row in rows if not row[1]}
        return {row[0] for row in relation.select("id").fetchall()}

    try:
        return _read_destination(table, live_ids) or set()
    except Exception as exc:  # the table is in the schema but not yet in the destination
        logger.info(f"Reconcile of {table}: no destination rows to compare yet ({type(exc).__name__}).")
        return set()


def destination_retirement_times(table: str, ids: Iterable[int]) -> dict[int, str]:
    """When the destination says each of these rows was retired (`_sg_retired_at`), for the rows it
    holds flagged retired: a retired row read again for a rename keeps its time (the site's
    retirement event no longer links the record, so the site cannot be asked by id). Rows the
    destination does not hold retired are left out. Reads the running pipeline, so it must be
    called from the resource's own thread."""
    wanted = sorted(set(ids))

    def retirement_times(dataset: Any) -> dict[int, str]:
        times: dict[int, str] = {}
        for start in range(0, len(wanted), IDS_PER_REQUEST):
            relation = (
                dataset[table]
                .where("id", "in", wanted[start : start + IDS_PER_REQUEST])
                .select("id", RETIRED_FLAG, RETIRED_AT)
            )
            for entity_id, flagged, retired_at in relation.fetchall():
                if flagged and isinstance(retired_at, dt.datetime):
                    text = retired_at.astimezone(dt.UTC).strftime(SHOTGRID_TIME_FORMAT)
                    times[entity_id] = max(times.get(entity_id, text), text)
        return times

    if not wanted:
        return {}
    try:
        return _read_destination(table, retirement_times) or {}
    except Exception as exc:  # the table is in the schema but not yet in the destination
        logger.warning(
            f"Renames in {table}: the destination's retired rows could not be read ({type(exc).__name__}:"
            f" {exc}); their link names stay as they are (`--refresh` reads them again)."
        )
        return {}


_DESTINATION_READS = threading.Lock()
"""One destination read at a time in this process: resource threads that open DuckDB connections
to one file at the same moment collide in DuckDB's instance cache ("Unique file handle conflict")."""


def _read_destination(table: str, query: Callable[[Any], _T]) -> _T | None:
    """`query(dataset)` on the running pipeline's destination, one read at a time; None while the
    stored schema has no such table (before the table's first load)."""
    with _DESTINATION_READS:
        schema = _stored_schema()
        if schema is None or table not in schema.tables:
            return None
        return query(dlt.current.pipeline().dataset(schema=schema))


def _stored_schema() -> Schema | None:
    """A private copy of the running pipeline's schema as last stored (None before its first run
    stored one), to read the destination with.

    Not `pipeline.default_schema`: while the resources extract in parallel, that getter reloads the
    stored schema into the one shared live instance in place, and a thread reading that instance
    in the same moment sees it with no tables (`Available tables: []`)."""
    pipeline = dlt.current.pipeline()
    name = pipeline.default_schema_name
    if name is None:
        return None
    try:
        return pipeline.schemas.load_schema(name)
    except SchemaNotFoundError:
        return None


@dataclass(frozen=True)
class Stamp:
    """How one run converts pages of one entity type: with the run's load id, and with marker rows
    for emptied link lists where the destination merges (files keep every row they are given)."""

    live_converter: PageConverter
    retired_converter: PageConverter
    load_id: str | None
    markers: bool
    """Marker rows for records whose link list is now empty (not on a table's first load)."""
    merged: bool
    """The link tables merge (their rows carry the marker column); false on files."""
    first_load: bool = False
    """The tables hold nothing yet (they are appended to, and nothing needs deleting)."""

    @classmethod
    def of(
        cls, schema: EntitySchema, mode: str, load_id: str | None, first_load: bool, merged: bool
    ) -> "Stamp":
        columns = retirement_columns(mode)
        retired = {**live_row_marks(mode), RETIRED_FLAG: True} if mode != "ignore" else {}
        return cls(
            PageConverter(schema, live_row_marks(mode), columns),
            PageConverter(schema, retired, columns),
            load_id,
            not first_load and merged,
            merged,
            first_load,
        )

    @property
    def live(self) -> Callable[[bytes], Page]:
        return partial(
            self.live_converter.convert, load_id=self.load_id, markers=self.markers, merged=self.merged
        )

    @property
    def retired(self) -> Callable[[bytes], Page]:
        return partial(
            self.retired_converter.convert, load_id=self.load_id, markers=self.markers, merged=self.merged
        )

    def deleted(self, ids: Sequence[int]) -> Page:
        """Delete markers (`hard`): the root rows by id with `_sg_retired` true, which dlt's
        `hard_delete` hint turns into deletes of the rows, and markers clearing their link rows
        (where the link tables merge)."""
        page = self.live_converter.deleted(ids, RETIRED_FLAG, self.load_id)
        return page if self.merged else Page(page.root, {}, page.first_id, page.last_id)


def with_retirement_times(page: Page, retired_at: dict[int, str | None], now: str) -> Page:
    """Retired rows with when each was retired (from its event; `now` for one found otherwise)."""
    root = page.root
    times = [
        dt.datetime.strptime(retired_at.get(i) or now, SHOTGRID_TIME_FORMAT).replace(tzinfo=dt.UTC)
        for i in root.column("id").to_pylist()
    ]
    index = root.schema.get_field_index(RETIRED_AT)
    root = root.set_column(index, pa.field(RETIRED_AT, TIMESTAMP), pa.array(times, TIMESTAMP))
    return Page(root, page.links, page.first_id, page.last_id, page.next_link)
