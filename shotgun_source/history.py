"""Field history: every change of the chosen fields, from the event log, as rows of a table.

A mirror of the current state cannot say how long a shot sat in each status, who approved a
version and when, or how often a task bounced back. The site's event log can: every change of a
field is a `Shotgun_<Type>_Change` event with `attribute_name`, `meta.old_value` / `new_value`,
`user` and `created_at`. Each entity type's resource writes them to `<table>_field_changes`
(`shots_field_changes`), one row per event, merged on `event_id`.

How the events are read:

- Fields whose history is read up to where the event log is (`events_read_to`) ride on the
  event-log read every run already makes for retirements and renames (`deletes.EventLogReader`):
  one more branch of its filter, so a run where nothing changed still costs one request per type.
  That read re-scans `lookback_seconds` behind the head, where the site commits events late (ids
  are reserved when a change starts and committed when it ends), and leaves out the events an
  earlier run already wrote (`applied_events`): nothing doubled, nothing skipped.
- A field with no history yet (the first run, or a field added to `history_fields`) is read from
  `history_since` up to the run's window end, paged by id and streamed page by page (memory stays
  flat whatever the site's size); so is a field whose history stopped while it was switched off
  (from where it stopped), and the older part when `history_since` moves back.

The state per resource, `history_read`, holds for each field the span of time its changes are
read for, `[from, to]`.
"""

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pyarrow as pa
from dlt.common.schema.typing import TColumnSchema

from .columns import LOAD_ID, RECORD_AT, TIMESTAMP
from .deletes import EVENT_TYPE, NOT_EVENT_LOG_READER, shift
from .errors import ShotgunConfigError, ShotgunPermissionError, ShotgunResponseError
from .reader import WindowReader
from .schema import ENTITY, EntitySchema, check_known_fields, per_loaded_type
from .session import SHOTGRID_TIME_FORMAT, SiteSession

HISTORY_TABLE_SUFFIX = "_field_changes"
STATE_KEY = "history_read"
STATUS_TYPE = "status_list"
HISTORY_EVENT_FIELDS = ["event_type", "attribute_name", "created_at", "meta", "entity", "user", "project"]
"""What a history read asks of each event."""
DEFAULT_HISTORY_SINCE = "30 days"
"""How far back a first run reads history: a month of changes is a few requests on a busy site,
where its whole event log (millions of events) would be thousands; see the README for the cost."""
BEGINNING = "1970-01-01T00:00:00Z"
OFF_WORDS = frozenset({"off", "false", "no", "none", "0"})
DEFAULT_WORDS = frozenset({"default", "status", "on", "true", "yes", "1"})

NUMBER_TYPES = frozenset({"number", "float", "duration", "percent", "timecode", "currency"})
TEXT_TYPES = frozenset(
    {"text", "status_list", "list", "color", "uuid", "entity_type", "image", "password", "footage"}
)
"""Data types whose values are strings: they keep their type in `old_value` / `new_value`."""

_DAYS = re.compile(r"^\s*(\d+)\s*days?\s*$", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def history_table_name(schema: EntitySchema) -> str:
    """`shots` -> `shots_field_changes`: one table per entity type, owned by the type's resource."""
    return f"{schema.table_name}{HISTORY_TABLE_SUFFIX}"


# -- settings ----------------------------------------------------------------------------------


def check_history_since(value: Any) -> str:
    """`history_since` as given, checked: an ISO 8601 UTC time, a date, or "N days" (before each
    run). Returns it normalized ("30 days", or a ShotGrid timestamp)."""
    text = str(value).strip() if value is not None else ""
    days = _DAYS.match(text)
    if days:
        return f"{int(days.group(1))} days"
    if _DATE.match(text):
        text += "T00:00:00Z"
    try:
        dt.datetime.strptime(text, SHOTGRID_TIME_FORMAT)
    except ValueError:
        raise ShotgunConfigError(
            f"history_since must be a UTC time like 2024-01-31T00:00:00Z, a date like 2024-01-31, or a"
            f' number of days before each run like "30 days"; got {value!r}. From the site\'s'
            f' beginning: "{BEGINNING}". Set [sources.shotgun] history_since or'
            " SOURCES__SHOTGUN__HISTORY_SINCE."
        ) from None
    return text


def history_since_at(since: str, window_end: str) -> str:
    """The moment `since` names for a run whose window ends at `window_end`."""
    days = _DAYS.match(since)
    if not days:
        return since
    end = dt.datetime.strptime(window_end, SHOTGRID_TIME_FORMAT)
    return (end - dt.timedelta(days=int(days.group(1)))).strftime(SHOTGRID_TIME_FORMAT)


def resolve_history_fields(
    setting: Any, schemas: Sequence[EntitySchema], default_on: bool
) -> dict[str, dict[str, str]]:
    """Per entity type, the fields whose changes are recorded, with their data types.

    `setting`: None (the default: each loaded type's status_list fields, when the run reads the
    event log anyway, `default_on`); True or "status" (that default, even when it does not);
    False, "off" or an empty list (no history); a mapping of entity types (names or tables) to
    field lists, which replace the default for the types named (an empty list: none for that
    type); or "Type.field" names, as a list or one comma-separated string. A string holding JSON
    (as environment variables carry mappings and lists) is read as that JSON.
    """
    if isinstance(setting, str):
        setting = _parse_text(setting)
    if setting is None:
        return _defaults(schemas) if default_on else {}
    if setting is True:
        return _defaults(schemas)
    if setting is False or (isinstance(setting, (list, tuple)) and not setting):
        return {}
    if isinstance(setting, (list, tuple)):
        setting = _by_type(setting)
    if not isinstance(setting, Mapping):
        raise ShotgunConfigError(
            f"history_fields must be false, a table of entity types to field lists, or Type.field names;"
            f" got {setting!r}."
        )
    chosen = _defaults(schemas) if default_on else {}
    for schema, names in per_loaded_type("history_fields", setting, schemas):
        names = [names] if isinstance(names, str) else list(names or [])
        if names and schema.cursor_field != "updated_at":
            raise ShotgunConfigError(
                f"`history_fields` names {schema.entity_type}, whose records never change (it has no"
                " updated_at): there is no field history to record. Leave it out."
            )
        check_known_fields("history_fields", schema, names)
        chosen.pop(schema.entity_type, None)
        if names:
            chosen[schema.entity_type] = {str(n): schema.field_types[str(n)] for n in dict.fromkeys(names)}
    return chosen


def _parse_text(text: str) -> Any:
    stripped = text.strip()
    if stripped.lower() in OFF_WORDS or not stripped:
        return False
    if stripped.lower() in DEFAULT_WORDS:
        return True
    if stripped[:1] in "[{":
        try:
            return json.loads(stripped)
        except ValueError:
            raise ShotgunConfigError(f"`history_fields` is not valid JSON: {text!r}.") from None
    return [part for part in stripped.replace(",", " ").split() if part]


def _by_type(names: Iterable[Any]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name in names:
        entity_type, dot, field_name = str(name).strip().partition(".")
        if not dot or not entity_type or not field_name:
            raise ShotgunConfigError(
                f"`history_fields` entry {name!r} must name a type and a field, like Shot.sg_status_list."
            )
        grouped.setdefault(entity_type, []).append(field_name)
    return grouped


def _defaults(schemas: Sequence[EntitySchema]) -> dict[str, dict[str, str]]:
    """Each type's status_list fields (`sg_status_list` and the like), for types that change."""
    return {
        schema.entity_type: {name: STATUS_TYPE for name in schema.fields_of_type(STATUS_TYPE)}
        for schema in schemas
        if schema.cursor_field == "updated_at" and schema.fields_of_type(STATUS_TYPE)
    }


# -- the table ---------------------------------------------------------------------------------

_TEXT: TColumnSchema = {"data_type": "text"}
_BIGINT: TColumnSchema = {"data_type": "bigint"}
_VALUE_COLUMNS: list[tuple[str, pa.DataType, TColumnSchema, str]] = [
    (
        "value",
        pa.string(),
        _TEXT,
        "value as text: a string as it is, a link as its name, anything else as JSON text",
    ),
    (
        "number",
        pa.float64(),
        {"data_type": "double"},
        "value of a number, float, duration, percent, timecode or currency field",
    ),
    ("id", pa.int64(), _BIGINT, "linked record's id (entity fields)"),
    ("type", pa.string(), _TEXT, "linked record's entity type (entity fields)"),
    ("name", pa.string(), _TEXT, "linked record's display name (entity fields)"),
    (
        "json",
        pa.string(),
        {"data_type": "json"},
        "value as JSON, for types without a typed column (multi-entity, date, checkbox, url...)",
    ),
]
_LINK_PARTS: list[tuple[str, pa.DataType, TColumnSchema]] = [
    ("id", pa.int64(), _BIGINT),
    ("type", pa.string(), _TEXT),
    ("name", pa.string(), _TEXT),
]


def _history_columns() -> list[tuple[str, pa.DataType, TColumnSchema]]:
    """The history table's columns in order: what changed and when, who, the values, the rest."""
    key: TColumnSchema = {"data_type": "bigint", "nullable": False, "primary_key": True}
    changed_at: TColumnSchema = {"data_type": "timestamp", "timezone": True}
    columns: list[tuple[str, pa.DataType, TColumnSchema]] = [
        ("event_id", pa.int64(), {**key, "description": "The EventLogEntry's id (rows merge on it)"}),
        ("entity_type", pa.string(), {**_TEXT, "description": "The changed record's entity type"}),
        ("entity_id", pa.int64(), {**_BIGINT, "description": "The changed record's ShotGrid id"}),
        ("field", pa.string(), {**_TEXT, "description": "The changed field (the event's attribute_name)"}),
        ("changed_at", TIMESTAMP, {**changed_at, "description": "When it changed (the event's created_at)"}),
    ]
    for part, arrow_type, hint in _LINK_PARTS:
        columns.append((f"user__{part}", arrow_type, {**hint, "description": f"Who changed it: {part}"}))
    for suffix, arrow_type, hint, text in _VALUE_COLUMNS:
        for side in ("old", "new"):
            columns.append((f"{side}_{suffix}", arrow_type, {**hint, "description": f"The {side} {text}"}))
    columns.append(("data_type", pa.string(), {**_TEXT, "description": "The field's ShotGrid data type"}))
    in_create = "True when the value was set as the record was created"
    columns.append(("in_create", pa.bool_(), {"data_type": "bool", "description": in_create}))
    for part, arrow_type, hint in _LINK_PARTS:
        what = f"The record's project when it changed: {part}"
        columns.append((f"project__{part}", arrow_type, {**hint, "description": what}))
    return columns


HISTORY_COLUMNS = _history_columns()
HISTORY_NAMES = [name for name, _, _ in HISTORY_COLUMNS]
HISTORY_SCHEMA = pa.schema([pa.field(name, arrow_type) for name, arrow_type, _ in HISTORY_COLUMNS])


def history_table_hints(schema: EntitySchema, appends: bool) -> dict[str, Any]:
    """`dlt.mark.make_hints(**hints)` arguments for the type's history table: merged on `event_id`
    (an event never changes, so the merge only removes a copy); appended on files, which take no
    merge (each run leaves out the events an earlier run wrote)."""
    columns: dict[str, TColumnSchema] = {
        name: {"name": name, "nullable": True, **hint} for name, _, hint in HISTORY_COLUMNS
    }
    return {
        "table_name": history_table_name(schema),
        "columns": columns,
        "primary_key": "event_id",  # not the resource's `id`, which a variant would inherit
        "write_disposition": "append" if appends else "merge",
    }


class _Link(msgspec.Struct, gc=False):
    id: Any = None
    type: Any = None
    name: Any = None


class _Relationship(msgspec.Struct, gc=False):
    data: _Link | None = None


class _Relationships(msgspec.Struct, gc=False):
    entity: _Relationship | None = None
    user: _Relationship | None = None
    project: _Relationship | None = None


class _Meta(msgspec.Struct, gc=False):
    entity_id: Any = None
    attribute_name: Any = None
    field_data_type: Any = None
    in_create: Any = None
    old_value: Any = msgspec.UNSET
    new_value: Any = msgspec.UNSET
    added: Any = msgspec.UNSET
    removed: Any = msgspec.UNSET
    """UNSET: the key was not sent (a multi-entity change sends `added` / `removed` instead)."""


class _Attributes(msgspec.Struct, gc=False):
    attribute_name: Any = None
    created_at: Any = None
    meta: _Meta | None = None


class ChangeEvent(msgspec.Struct, gc=False):
    """One Change event, as much of it as the history table needs.

    Why a struct: a first run reads a month of history, tens of thousands of events of about a
    kilobyte each, mostly link objects and their `links` URLs. msgspec decodes a page into these
    structs, skipping whatever they do not name, in a third of the time `orjson.loads` takes to
    build the dicts, on the thread that holds the GIL while the other readers wait."""

    id: int
    attributes: _Attributes | None = None
    relationships: _Relationships | None = None


_NO_ATTRIBUTES = _Attributes()
_NO_META = _Meta()
_NO_RELATIONSHIPS = _Relationships()


class _EventPageBody(msgspec.Struct, gc=False):
    data: list[ChangeEvent]


_EVENT_PAGE = msgspec.json.Decoder(_EventPageBody)


def change_events(events: Sequence[dict[str, Any]]) -> list[ChangeEvent]:
    """Events parsed as dicts (the event-log read's, which history rides on) as `ChangeEvent`s."""
    try:
        return msgspec.convert(events, list[ChangeEvent])
    except msgspec.ValidationError as exc:
        raise ShotgunResponseError(f"An event-log record does not have ShotGrid's shape: {exc}.") from None


class HistoryConverter:
    """`_search` records of Change events -> rows of the history table, each value typed by its
    field's data type in the site's schema."""

    def __init__(self, schema: EntitySchema, field_types: Mapping[str, str]) -> None:
        self.entity_type = schema.entity_type
        self.field_types = dict(field_types)

    def table(self, events: Iterable[ChangeEvent], load_id: str | None) -> pa.Table:
        columns: dict[str, list[Any]] = {name: [] for name in HISTORY_NAMES}
        appenders = [(name, values.append) for name, values in columns.items()]
        for event in events:
            row = self.row(event)
            if row is None:
                continue
            get = row.get
            for name, append in appenders:
                append(get(name))
        table = pa.Table.from_pydict(columns, schema=HISTORY_SCHEMA)
        if load_id is not None:
            table = table.append_column(
                pa.field(LOAD_ID, pa.string(), nullable=False), pa.repeat(pa.scalar(load_id), table.num_rows)
            )
        return table

    def row(self, event: ChangeEvent) -> dict[str, Any] | None:
        attributes = event.attributes or _NO_ATTRIBUTES
        meta = attributes.meta or _NO_META
        relationships = event.relationships or _NO_RELATIONSHIPS
        link = _link(relationships.entity)
        entity_id = meta.entity_id if isinstance(meta.entity_id, int) else link.id if link else None
        created_at = attributes.created_at
        if not isinstance(entity_id, int) or not isinstance(created_at, str):
            return None
        name = str(attributes.attribute_name or meta.attribute_name or "")
        data_type = self.field_types.get(name) or str(meta.field_data_type or "")
        row: dict[str, Any] = {
            "event_id": event.id,
            "entity_type": self.entity_type,
            "entity_id": entity_id,
            "field": name,
            "data_type": data_type,
            "changed_at": _utc(created_at),
            "in_create": meta.in_create if isinstance(meta.in_create, bool) else None,
        }
        if meta.old_value is not msgspec.UNSET or meta.new_value is not msgspec.UNSET:
            old = None if meta.old_value is msgspec.UNSET else meta.old_value
            new = None if meta.new_value is msgspec.UNSET else meta.new_value
        else:  # a multi-entity change as real sites write it: what was added and removed
            sides = {"added": meta.added, "removed": meta.removed}
            old, new = None, {k: v for k, v in sides.items() if v is not msgspec.UNSET} or None
        if old is not None:
            row.update(_typed("old", data_type, old))
        if new is not None:
            row.update(_typed("new", data_type, new))
        for name_, parts in (("user", _link(relationships.user)), ("project", _link(relationships.project))):
            if parts is not None:
                row[f"{name_}__id"] = parts.id
                row[f"{name_}__type"] = parts.type
                row[f"{name_}__name"] = parts.name
        return row


def _utc(created_at: str) -> dt.datetime:
    """An event's `created_at` (`2024-01-01T00:00:00Z`) as an aware UTC time; `fromisoformat`
    reads that form natively and is many times faster than `strptime`, which stays the fallback
    so a form it does not read is still refused as before."""
    try:
        value = dt.datetime.fromisoformat(created_at)
    except ValueError:
        value = dt.datetime.strptime(created_at, SHOTGRID_TIME_FORMAT)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _link(relationship: _Relationship | None) -> _Link | None:
    return None if relationship is None else relationship.data


def _typed(side: str, data_type: str, value: Any) -> dict[str, Any]:
    """One side of a change in the columns its data type allows; a value that does not fit its
    field's type (the field's type changed since, say) goes to `<side>_json` rather than fail."""
    if value is None:
        return {}
    if data_type in TEXT_TYPES and isinstance(value, str):
        return {f"{side}_value": value}
    if data_type in NUMBER_TYPES:
        number = _number(value)
        if number is not None:
            return {f"{side}_value": _json_text(value), f"{side}_number": number}
    if data_type == ENTITY and isinstance(value, dict) and isinstance(value.get("id"), int):
        link_name = value.get("name")
        return {
            f"{side}_value": link_name if isinstance(link_name, str) else None,
            f"{side}_id": value["id"],
            f"{side}_type": value.get("type") if isinstance(value.get("type"), str) else None,
            f"{side}_name": link_name if isinstance(link_name, str) else None,
        }
    text = value if isinstance(value, str) else _json_text(value)
    return {f"{side}_value": text, f"{side}_json": json.dumps(value, separators=(",", ":"))}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


# -- reading -----------------------------------------------------------------------------------


@dataclass
class HistoryRun:
    """One run's history reads for one entity type: which fields ride on the event-log read, which
    need reads of their own (`catch_up`: fields, from, to), and where each field then stands."""

    history: "FieldHistory"
    riding: list[str]
    catch_up: list[tuple[list[str], str, str]]
    read: dict[str, list[str]]
    """`history_read` after this run: field -> [from, to]."""
    recent: list[tuple[int, str, int]] = field(default_factory=list)
    """(event id, created_at, entity id) of the caught-up events the next run's lookback reads again."""

    def tables(
        self, riding_events: Sequence[dict[str, Any]], applied: set[int], load_id: str | None, next_start: str
    ) -> Iterator[pa.Table]:
        """The rows of the events the event-log read brought, then of each catch-up read, page by
        page (a backfill of millions of events never sits in memory); empty tables left out."""
        converter = self.history.converter
        if riding_events:
            table = converter.table(change_events(riding_events), load_id)
            if table.num_rows:
                yield table
        for names, start, end in self.catch_up:
            for page in self.history.read_changes(names, start, end):
                fresh = [event for event in page if event.id not in applied]
                for event in fresh:
                    created_at = str((event.attributes or _NO_ATTRIBUTES).created_at or "")
                    if created_at >= next_start:
                        self.recent.append((event.id, created_at, 0))  # no record to read again
                table = converter.table(fresh, load_id)
                if table.num_rows:
                    yield table

    def remember(self, state: dict[str, Any]) -> None:
        state[STATE_KEY] = {**(state.get(STATE_KEY) or {}), **self.read}


class FieldHistory:
    """One entity type's field history: its fields, how far back it reads, its table."""

    def __init__(
        self,
        session: SiteSession,
        schema: EntitySchema,
        field_types: Mapping[str, str],
        since: str,
        page_size: int,
        parallel_ranges: int = 1,
    ) -> None:
        self.session = session
        self.schema = schema
        self.fields = list(field_types)
        self.since = since
        self.page_size = page_size
        self.converter = HistoryConverter(schema, field_types)
        self.reader: WindowReader[EventPage] = WindowReader(
            session, EVENT_TYPE, event_page, HISTORY_EVENT_FIELDS, page_size, parallel_ranges
        )

    @property
    def change_event(self) -> str:
        return f"Shotgun_{self.schema.entity_type}_Change"

    def plan(
        self, state: Mapping[str, Any], events_read_to: str | None, window_end: str, overlap: int
    ) -> HistoryRun:
        """Which reads this run makes, from each field's `[from, to]` in the state:

        - read up to `events_read_to`: it rides on the event-log read (re-scanning the lookback);
        - never read: from `history_since` to `window_end`;
        - read up to before `events_read_to` (switched off for a while): from its `to` less the
          lookback to `window_end`;
        - and when `history_since` is now earlier than its `from`: that older part too.
        Fields with the same span share one read."""
        since_at = min(history_since_at(self.since, window_end), window_end)
        known: Mapping[str, Any] = state.get(STATE_KEY) or {}
        riding: list[str] = []
        spans: dict[tuple[str, str], list[str]] = {}
        read: dict[str, list[str]] = {}
        for name in self.fields:
            got = known.get(name)
            if not (isinstance(got, (list, tuple)) and len(got) == 2):
                spans.setdefault((since_at, window_end), []).append(name)
                read[name] = [since_at, window_end]
                continue
            start, to = str(got[0]), str(got[1])
            if since_at < start:
                spans.setdefault((since_at, shift(start, 1)), []).append(name)
                start = since_at
            if events_read_to is not None and to >= events_read_to:
                riding.append(name)
            else:
                spans.setdefault((shift(to, overlap), window_end), []).append(name)
            read[name] = [start, window_end]
        catch_up = [(names, start, end) for (start, end), names in sorted(spans.items())]
        return HistoryRun(self, riding, catch_up, read)

    def read_changes(self, names: Sequence[str], start: str, end: str) -> Iterator[list[ChangeEvent]]:
        """Pages of this type's Change events of `names` in [start, end]: the first page, then id
        ranges in parallel (`reader.WindowReader`), so a first run's month of history costs about
        as many round trips as the largest window, not one after another. Pages come in no
        particular order; the table merges on `event_id`."""
        filters: list[list[Any]] = [
            ["created_at", "between", [start, end]],
            ["event_type", "is", self.change_event],
            ["attribute_name", "in", list(names)],
        ]
        try:
            for page in self.reader.pages(filters):
                yield page.events
        except ShotgunPermissionError:
            raise ShotgunPermissionError(NOT_EVENT_LOG_READER) from None


@dataclass(frozen=True)
class EventPage:
    """One page of `_search` records of the event log, decoded, with what keyset paging and the
    id-range split need (`reader.WindowPage`)."""

    events: list[ChangeEvent]

    @property
    def row_count(self) -> int:
        return len(self.events)

    @property
    def first_id(self) -> int | None:
        return self.events[0].id if self.events else None

    @property
    def last_id(self) -> int | None:
        return self.events[-1].id if self.events else None


def event_page(content: bytes) -> EventPage:
    """A page's bytes (already checked as a ShotGrid answer) as an `EventPage`."""
    try:
        return EventPage(_EVENT_PAGE.decode(content).data)
    except msgspec.ValidationError as exc:  # a DecodeError too: test it first
        if RECORD_AT.search(str(exc)) is None:  # the envelope itself, not one of its records
            raise ShotgunResponseError(
                f"An event-log page has no `data` list ({content[:120]!r});"
                " this is not the ShotGrid REST envelope."
            ) from None
        raise ShotgunResponseError(
            f"An event-log page holds a record that does not have ShotGrid's shape: {exc}"
            f" ({content[:120]!r})."
        ) from None
    except msgspec.DecodeError:
        raise ShotgunResponseError(
            f"An event-log page is not JSON ({len(content)} bytes, starting {content[:120]!r}); the site"
            " may be showing a maintenance or login page."
        ) from None
