"""What the event log knows and no `updated_at` cursor sees: retirements, revivals, renames.

ShotGrid deletes by retiring, and no `updated_at` cursor ever sees that.

Retiring a record leaves its `updated_at` alone and hides it from every read, so a mirror that
only follows `updated_at` keeps retired rows forever. The event log records each retirement and
revival (`Shotgun_<Type>_Retirement` / `_Revival`); each run reads those events since the last run,
one request per entity type when nothing happened, and turns them into rows of the entity's table:

- `soft` (default): the retired record's full row with `_sg_retired` true and `_sg_retired_at`;
- `hard`: `{id, _sg_retired: true}`, which dlt's `hard_delete` hint turns into a delete of the row
  and its child rows;
- a revival re-reads the live record (flag false again, or the row back).

`reconcile=True` also compares every id on the site with the destination's, for users who want
certainty over thrift: rows missing from the destination are read again, rows no longer live on
the site are retired there.

Renaming a record (a Task's `content`, a Shot's `code`) changes the `<link>__name` of every row
that links to it, yet leaves those rows' `updated_at` alone. The same event-log read also picks up
the renames of the types this type links to, and those linking rows are read again.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common import logger
from dlt.common.schema.typing import TColumnSchema, TTableSchema
from dlt.extract import DltResource
from dlt.sources.helpers.rest_client import RESTClient

from .auth import ShotgunAuth
from .errors import ShotgunConfigError, ShotgunPermissionError
from .paginator import ShotgunKeysetPaginator
from .records import RecordFlattener
from .responses import ResponseChecker
from .schema import EntitySchema
from .settings import MAX_PAGE_SIZE, SEARCH_CONTENT_TYPE
from .transport import search_client

DELETE_MODES = ("soft", "hard", "ignore")
RETIRED_FLAG = "_sg_retired"
RETIRED_AT = "_sg_retired_at"
EVENT_TYPE = "EventLogEntry"
IDS_PER_REQUEST = 500
"""Ids per `id in [...]` filter when re-reading retired or revived records."""
SHOTGRID_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
HASH_FILTERS_CONTENT_TYPE = "application/vnd+shotgun.api3_hash+json"
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


def _shift(timestamp: str, seconds: int) -> str:
    moment = dt.datetime.strptime(timestamp, SHOTGRID_TIME_FORMAT) - dt.timedelta(seconds=seconds)
    return moment.strftime(SHOTGRID_TIME_FORMAT)


@dataclass
class EventChanges:
    """What one run learns from the event log for one entity type."""

    retired: dict[int, str | None] = field(default_factory=dict)
    """Ids retired, with when."""
    revived: list[int] = field(default_factory=list)
    renamed: dict[str, set[int]] = field(default_factory=dict)
    """Renamed records of the types this one links to, by type."""
    recent: list[int] = field(default_factory=list)
    """Events the next run reads again (its lookback): applied already."""


class EventLogReader:
    """Reads one entity type's retirements, revivals and linked renames since the last run, and
    yields the rows they change."""

    def __init__(
        self,
        schema: EntitySchema,
        site_url: str,
        auth: ShotgunAuth,
        mode: str,
        fields: str | list[str],
        site_clock: Callable[[], str],
        lookback_seconds: int,
        page_size: int,
        reconcile: bool,
        refresh_link_names: bool,
    ) -> None:
        self.schema = schema
        self.site_url = site_url
        self.auth = auth
        self.mode = mode
        self.fields = fields
        self.site_clock = site_clock
        self.window_end = ""  # set when a run starts reading
        self.lookback_seconds = lookback_seconds
        self.page_size = page_size
        self.reconcile = reconcile
        self.refresh_link_names = refresh_link_names
        self.flatten = RecordFlattener(schema, marks=live_row_marks(mode))

    def rows(self) -> Iterator[dict[str, Any]]:
        self.window_end = self.site_clock()
        state = dlt.current.resource_state()
        # the first run starts where its own entity reads start, so nothing retired mid-run escapes
        since = state.get("events_read_to") or self.window_end
        client = search_client(self.site_url, self.auth)
        applied = set(state.get("applied_events") or ())
        changes = self._changes(client, _shift(since, self.lookback_seconds), applied)
        retired, revived = changes.retired, changes.revived
        if self.reconcile:
            more_retired, missing = self._reconcile(client)
            retired.update({i: None for i in more_retired if i not in retired})
            revived = sorted(set(revived) | set(missing))
        yield from self._retired_rows(client, retired)
        yield from self._live_rows(client, revived)
        yield from self._relinked_rows(client, changes.renamed, skip=set(retired) | set(revived))
        state["events_read_to"] = self.window_end
        # the next run re-reads the lookback window; these events are applied already
        state["applied_events"] = changes.recent

    def _search(
        self, client: RESTClient, entity_type: str, body: dict[str, Any], page_size: int
    ) -> Iterator[Any]:
        content_type = HASH_FILTERS_CONTENT_TYPE if isinstance(body["filters"], dict) else SEARCH_CONTENT_TYPE
        pages = client.paginate(
            f"entity/{entity_type}/_search",
            method="POST",
            json=body,
            headers={"Content-Type": content_type},
            paginator=ShotgunKeysetPaginator(page_size),
            hooks={"response": [ResponseChecker(self.site_url)]},
        )
        for page in pages:
            yield from page

    def _event_filters(self, start: str) -> dict[str, Any] | None:
        """(this type's retirements or revivals) or (renames of the types it links to), in the window."""
        entity_type = self.schema.entity_type
        wanted: list[Any] = []
        if self.mode != "ignore":
            wanted.append(
                ["event_type", "in", [f"Shotgun_{entity_type}_{k}" for k in ("Retirement", "Revival")]]
            )
        targets = sorted({t for types in self.schema.link_targets.values() for t in types})
        if self.refresh_link_names and targets:
            names = sorted({n for t in targets for n in LINK_NAME_FIELDS.get(t, DEFAULT_LINK_NAME_FIELDS)})
            renames = [
                ["event_type", "in", [f"Shotgun_{t}_Change" for t in targets]],
                ["attribute_name", "in", names],
            ]
            wanted.append({"logical_operator": "and", "conditions": renames})
        if not wanted:
            return None
        return {
            "logical_operator": "and",
            "conditions": [
                ["created_at", "between", [start, self.window_end]],
                {"logical_operator": "or", "conditions": wanted},
            ],
        }

    def _changes(self, client: RESTClient, start: str, applied: set[int]) -> "EventChanges":
        """What the event log says happened in the window that an earlier run has not applied.

        For retirements and revivals only each record's last event counts. Events of the last
        `lookback_seconds` are remembered, since the next run reads them again.
        """
        changes = EventChanges()
        filters = self._event_filters(start)
        if filters is None:
            return changes
        body = {
            "filters": filters,
            "fields": ["event_type", "attribute_name", "created_at", "meta", "entity"],
        }
        latest: dict[int, tuple[int, bool, str | None]] = {}
        next_start = _shift(self.window_end, self.lookback_seconds)
        own = f"Shotgun_{self.schema.entity_type}_"
        try:
            for event in self._search(client, EVENT_TYPE, body, self.page_size):
                attributes = event.get("attributes") or {}
                meta = attributes.get("meta") or {}
                link = ((event.get("relationships") or {}).get("entity") or {}).get("data") or {}
                entity_id = meta.get("entity_id") or link.get("id")
                event_type = str(attributes.get("event_type") or "")
                if not isinstance(entity_id, int):
                    continue
                if str(attributes.get("created_at") or "") >= next_start:
                    changes.recent.append(event["id"])
                if event_type.startswith(own) and not event_type.endswith("_Change"):
                    previous = latest.get(entity_id)
                    if previous is None or previous[0] < event["id"]:
                        is_retirement = event_type.endswith("_Retirement")
                        latest[entity_id] = (event["id"], is_retirement, attributes.get("created_at"))
                elif event["id"] not in applied:  # a rename of a record this type links to
                    target = meta.get("entity_type") or link.get("type") or event_type.split("_")[1]
                    changes.renamed.setdefault(str(target), set()).add(entity_id)
        except ShotgunPermissionError:
            raise ShotgunPermissionError(
                "The credentials may not read the event log (EventLogEntry), where retirements and"
                " renames are read from. Give them read access to EventLogEntry, or set"
                ' deletes = "ignore" and refresh_link_names = false.'
            ) from None
        pending = {i: last for i, last in latest.items() if last[0] not in applied}
        changes.retired = {i: at for i, (_, is_retirement, at) in pending.items() if is_retirement}
        changes.revived = sorted(i for i, (_, is_retirement, _) in pending.items() if not is_retirement)
        changes.recent.sort()
        return changes

    def _relinked_rows(
        self, client: RESTClient, renamed: dict[str, set[int]], skip: set[int]
    ) -> Iterator[dict[str, Any]]:
        """The live rows linking to a renamed record, read again so their link names are new."""
        done = set(skip)
        for name, targets in self.schema.link_targets.items():
            for target in targets:
                ids = sorted(renamed.get(target, ()))
                for start in range(0, len(ids), IDS_PER_REQUEST):
                    links = [{"type": target, "id": i} for i in ids[start : start + IDS_PER_REQUEST]]
                    body = {
                        "filters": [[name, "in", links]],
                        "fields": self.fields,
                        "options": {"include_archived_projects": True},
                    }
                    for record in self._search(client, self.schema.entity_type, body, IDS_PER_REQUEST):
                        if record["id"] not in done:
                            done.add(record["id"])
                            yield self.flatten(record)

    def _records(self, client: RESTClient, ids: Sequence[int], retired: bool) -> Iterator[dict[str, Any]]:
        options: dict[str, Any] = {"include_archived_projects": True}
        if retired:
            options["return_only"] = "retired"
        for start in range(0, len(ids), IDS_PER_REQUEST):
            chunk = list(ids[start : start + IDS_PER_REQUEST])
            body = {"filters": [["id", "in", chunk]], "fields": self.fields, "options": options}
            yield from self._search(
                client, self.schema.entity_type, body, min(MAX_PAGE_SIZE, IDS_PER_REQUEST)
            )

    def _retired_rows(self, client: RESTClient, retired: dict[int, str | None]) -> Iterator[dict[str, Any]]:
        if not retired:
            return
        if self.mode == "hard":
            for entity_id in sorted(retired):
                yield {"id": entity_id, RETIRED_FLAG: True}
            return
        for record in self._records(client, sorted(retired), retired=True):
            row = self.flatten(record)
            row[RETIRED_FLAG] = True
            row[RETIRED_AT] = retired.get(row["id"]) or self.window_end
            yield row

    def _live_rows(self, client: RESTClient, ids: Sequence[int]) -> Iterator[dict[str, Any]]:
        for record in self._records(client, ids, retired=False):
            yield self.flatten(record)

    def _reconcile(self, client: RESTClient) -> tuple[list[int], list[int]]:
        """(ids live in the destination but not on the site, ids live on the site but missing)."""
        body = {"filters": [], "fields": ["id"], "options": {"include_archived_projects": True}}
        on_site = {
            record["id"] for record in self._search(client, self.schema.entity_type, body, MAX_PAGE_SIZE)
        }
        in_destination = _destination_live_ids(self.schema.table_name, flagged=self.mode != "ignore")
        gone = sorted(in_destination - on_site)
        missing = sorted(on_site - in_destination)
        if gone or missing:
            logger.warning(
                f"Reconciling {self.schema.table_name}: {len(gone)} rows no longer live on the site,"
                f" {len(missing)} live rows missing from the destination; both are being mended."
            )
        return gone, missing


def _destination_live_ids(table: str, flagged: bool) -> set[int]:
    """Ids of the rows the destination holds as live (empty before the table's first load)."""
    pipeline = dlt.current.pipeline()
    if table not in pipeline.default_schema.tables:
        return set()
    relation = pipeline.dataset()[table]
    try:
        if flagged:
            rows: Iterable[tuple[Any, ...]] = relation.select("id", RETIRED_FLAG).fetchall()
            return {row[0] for row in rows if not row[1]}
        return {row[0] for row in relation.select("id").fetchall()}
    except Exception as exc:  # the table is in the schema but not yet in the destination
        logger.info(f"Reconcile of {table}: no destination rows to compare yet ({type(exc).__name__}).")
        return set()


class EntityTableChanges(DltResource):
    """A resource that writes into another resource's table and leaves that table its owner's.

    dlt stamps every table with the name of the resource that wrote to it last, and `dlt
    pipeline ... drop versions`, `info` and the trace's per-resource figures go by that stamp.
    Without this, a run whose event log retired a Version would hand the `versions` table to
    `versions_events`, and dropping `versions` would leave its table behind.
    """

    EVENTS_SUFFIX = "_events"

    def compute_table_schema(self, item: Any = None, meta: Any = None) -> TTableSchema:
        table_schema = super().compute_table_schema(item, meta)
        if "resource" in table_schema:
            table_schema["resource"] = self.name.removesuffix(self.EVENTS_SUFFIX)
        return table_schema


def event_log_resource(reader: EventLogReader, columns: dict[str, TColumnSchema], nested: Any) -> DltResource:
    """A resource writing the rows the event log changes into the entity's own table, with the
    same hints (`<table>_events`), the table staying the entity resource's."""

    def changes() -> Iterator[dict[str, Any]]:
        yield from reader.rows()

    table = reader.schema.table_name
    return dlt.resource(
        changes,
        name=f"{table}{EntityTableChanges.EVENTS_SUFFIX}",
        table_name=table,
        primary_key="id",
        write_disposition="merge",
        columns=columns,
        nested_hints=nested,
        max_table_nesting=1,
        parallelized=True,
        _impl_cls=EntityTableChanges,
    )
