"""The sandbox site: every table, the clock, credentials, and the data API tests use.

`Site` is what `sb.site` returns. Reads give ground truth as plain Python values (see
`records`); writes behave like the server's: they stamp updated_at at second resolution,
write EventLogEntry rows, and retiring does NOT bump updated_at (unknown on the real
server, so the sandbox takes the case that is harder for a client). Writes can also commit
late, stamped when they begin and visible when the caller commits (`begin_late_update` and
friends, `hold_events`; see `late`).

All state changes and all reads hold one re-entrant lock, which the HTTP handlers share:
a page is always rendered from one consistent state.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import errors
from .catalog import build_catalog
from .columns import pack_ref, ref_id, ref_type_code
from .errors import ApiError
from .events import (
    EVENT_FIELDS,
    KIND_CHANGE,
    KIND_NAMES,
    KIND_NEW,
    KIND_RETIREMENT,
    KIND_REVIVAL,
    InitialEvents,
    LiveRefColumn,
    change_meta,
    entity_meta,
    initial_event_keys,
)
from .late import EventHold, LateCommits, LateWrite
from .schema import SYSTEM_FIELDS, FieldDef, field_schema_plain
from .studio import generate
from .table import LIVE, PENDING, RETIRED, Table
from .values import InvalidValue, meta_value, parse_scalar, to_epoch, truth_value
from .words import PHRASES


@dataclass
class Script:
    """An ApiUser credential and what it may not read."""

    name: str
    key: str
    api_user_id: int
    denied_types: frozenset[str] = field(default_factory=frozenset)


class Site:
    """In-memory ShotGrid site built from (seed, scale, anchor)."""

    def __init__(
        self,
        seed: int = 1,
        scale: float = 1.0,
        *,
        versions: int | None = None,
        anchor: int | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.generation = 0  # bumped by every write; cached pages are only served at their generation
        self.seed = seed
        self._clock_offset = 0.0
        self.anchor = int(time.time()) if anchor is None else anchor
        catalog = build_catalog()
        self.codes = {d.name: i + 1 for i, d in enumerate(catalog)}
        studio = generate(catalog, seed, scale, self.anchor, versions)
        self.tables: dict[str, Table] = {}
        self.by_code: dict[int, Table] = {}
        self.disabled: set[str] = set()  # entity types switched off in the site's preferences
        for tdef in catalog:
            if tdef.name == "EventLogEntry":
                continue
            td = studio.tables[tdef.name]
            table = Table(tdef, self.codes[tdef.name], td.n, td.columns)
            for row in td.retired_at:
                table.state[row] = RETIRED
            self._register(table)
        keys = initial_event_keys(studio.tables, self.codes)
        initial = InitialEvents(keys, studio, self.by_code, seed)
        ev_cols = initial.columns()
        ev_cols["entity"] = LiveRefColumn(ev_cols["entity"], self.by_code.get)
        events_def = next(d for d in catalog if d.name == "EventLogEntry")
        self.events = Table(events_def, self.codes["EventLogEntry"], len(keys), ev_cols)
        self._register(self.events)
        self.credentials = studio.credentials
        self.scripts: dict[str, Script] = {}
        api_users = self.tables["ApiUser"]
        for row in range(api_users.n):
            name = api_users.columns["firstname"].get(row)
            key = studio.extra_scripts.get(name, studio.credentials.script_key)
            self.scripts[name] = Script(name, key, api_users.id_for_row(row))
        self.passwords = {self.credentials.login: self.credentials.password}
        self._pending_events: dict[int, int] = {}  # reserved event row -> reservation time
        self.late = LateCommits(self)

    def _register(self, table: Table) -> None:
        self.tables[table.name] = table
        self.by_code[table.type_code] = table

    # clock --------------------------------------------------------------------------
    def now(self) -> int:
        """Site time in epoch seconds (wall clock plus `advance_clock` offsets)."""
        return int(time.time() + self._clock_offset)

    def now_float(self) -> float:
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move site time forward (writes, the Date header and token expiry all follow)."""
        with self.lock:
            self._clock_offset += seconds
            self.generation += 1

    # lookup -------------------------------------------------------------------------
    def table(self, name: str) -> Table | None:
        """A table by schema name (`HumanUser`) or plural slug (`human_users`); None for a type
        that is disabled, as the server answers 404 for it."""
        t = self.tables.get(name)
        if t is None:
            t = next((t for t in self.tables.values() if t.slug == name), None)
        return t if t is not None and t.name not in self.disabled else None

    def require(self, name: str) -> Table:
        t = self.table(name)
        if t is None:
            raise errors.unknown_type(name)
        return t

    def entity_types(self) -> list[str]:
        """The types the schema lists: every one but the disabled."""
        return [name for name in self.tables if name not in self.disabled]

    def disable_entity_type(self, name: str) -> None:
        """Switch a type off, as a site admin does with a custom entity (or Episode): it leaves
        `GET /schema` and every read of it answers 404 "Entity type 'X' does not exist."; its
        records stay, and `enable_entity_type` brings them back."""
        with self.lock:
            self.require(name)
            if name in ("HumanUser", "ApiUser", "Project", "EventLogEntry"):
                raise errors.bad_request(f"{name} cannot be disabled.")
            self.disabled.add(self.require(name).name)
            self.generation += 1

    def enable_entity_type(self, name: str) -> None:
        with self.lock:
            match = next((t.name for t in self.tables.values() if name in (t.name, t.slug)), name)
            self.disabled.discard(match)
            self.generation += 1

    def link(self, ref: int) -> dict[str, Any]:
        """Wire form of a link: id, the target's current name, type."""
        table = self.by_code[ref_type_code(ref)]
        eid = ref_id(ref)
        row = eid - table.id_base
        name = table.display_name(row) if 0 <= row < table.n else None
        return {"id": eid, "name": name, "type": table.name}

    def link_truth(self, ref: int) -> dict[str, Any]:
        d = self.link(ref)
        return {"type": d["type"], "id": d["id"], "name": d["name"]}

    def ref_for(self, type_name: str, entity_id: int) -> int:
        table = self.require(type_name)
        if table.row_for_id(entity_id) is None:
            raise errors.record_missing(table.name, entity_id)
        return pack_ref(table.type_code, entity_id)

    def archived_project_ids(self) -> set[int]:
        projects = self.tables["Project"]
        col = projects.columns["archived"]
        return {projects.id_for_row(r) for r in range(projects.n) if col.get(r)}

    # ground truth ---------------------------------------------------------------------
    def truth_value(self, table: Table, fd: FieldDef, row: int) -> Any:
        if fd.name == "id":
            return table.id_for_row(row)
        v = table.columns[fd.name].get(row)
        if fd.data_type == "entity":
            return self.link_truth(v) if v else None
        if fd.data_type == "multi_entity":
            return [self.link_truth(x) for x in v] if v else []
        return truth_value(fd.data_type, v)

    def record(self, table: Table, row: int) -> dict[str, Any]:
        rec: dict[str, Any] = {"type": table.name, "id": table.id_for_row(row)}
        for fd in table.fields.values():
            if fd.name != "id":
                rec[fd.name] = self.truth_value(table, fd, row)
        return rec

    def fields(self, entity_type: str) -> dict[str, dict[str, Any]]:
        """Schema of a type, unwrapped: `{field: {"data_type", "properties", ...}}`."""
        with self.lock:
            table = self.require(entity_type)
            return {n: field_schema_plain(table.name, fd) for n, fd in table.fields.items()}

    def records(self, entity_type: str, retired: bool | None = False) -> list[dict[str, Any]]:
        """Ground truth rows: live ones (False), retired ones (True) or both (None), by id."""
        with self.lock:
            table = self.require(entity_type)
            st = table.state
            wanted = {LIVE, RETIRED} if retired is None else {RETIRED if retired else LIVE}
            return [self.record(table, r) for r in range(table.n) if st[r] in wanted]

    def get(self, entity_type: str, entity_id: int) -> dict[str, Any] | None:
        """One record, live or retired; None if it never existed."""
        with self.lock:
            table = self.require(entity_type)
            row = table.row_for_id(entity_id)
            return None if row is None else self.record(table, row)

    def is_retired(self, entity_type: str, entity_id: int) -> bool:
        with self.lock:
            table = self.require(entity_type)
            row = table.row_for_id(entity_id)
            return row is not None and table.state[row] == RETIRED

    # writes -------------------------------------------------------------------------
    def default_user(self) -> int:
        """Who the data API writes as when nobody is named: the sandbox admin person."""
        return pack_ref(self.codes["HumanUser"], self.tables["HumanUser"].id_base)

    def _user_ref(self, user: dict[str, Any] | int | None) -> int:
        if user is None:
            return self.default_user()
        if isinstance(user, int):
            return user
        return self.ref_for(user["type"], int(user["id"]))

    def parse_value(self, table: Table, fd: FieldDef, value: Any) -> Any:
        """A written value -> internal form (links validated against their target)."""
        dt = fd.data_type
        if dt == "entity":
            return None if value is None else self._parse_ref(table, fd, value)
        if dt == "multi_entity":
            if value is None:
                return None
            if not isinstance(value, list | tuple):
                raise InvalidValue(f"{table.name}.{fd.name} expects an array of entity hashes")
            refs = tuple(self._parse_ref(table, fd, v) for v in value)
            return refs or None
        if dt == "pivot_column":
            raise InvalidValue(f"{table.name}.{fd.name} is calculated and cannot be written")
        return parse_scalar(fd, value)

    def _parse_ref(self, table: Table, fd: FieldDef, value: Any) -> int:
        if not isinstance(value, dict) or "type" not in value or "id" not in value:
            raise InvalidValue(
                f"{table.name}.{fd.name} expects an entity hash with 'type' and 'id': {value!r}"
            )
        if value["type"] not in fd.valid_types:
            valid = list(fd.valid_types)
            raise InvalidValue(
                f"{table.name}.{fd.name} does not accept type {value['type']!r}; valid types: {valid}"
            )
        target = self.tables.get(value["type"])
        try:
            entity_id = int(value["id"])
        except (TypeError, ValueError) as exc:
            raise InvalidValue(f"{table.name}.{fd.name}: invalid id {value['id']!r}") from exc
        if target is None or target.row_for_id(entity_id) is None:
            raise InvalidValue(f"{table.name}.{fd.name}: {value['type']} {entity_id} does not exist")
        return pack_ref(target.type_code, entity_id)

    def _parse_attrs(self, table: Table, attrs: dict[str, Any], verb: str, strict: bool) -> dict[str, Any]:
        parsed: dict[str, Any] = {}
        for name, value in attrs.items():
            fd = table.fields.get(name)
            if fd is None or name == "id":
                raise errors.unknown_field(verb, table.name, name)
            if strict and (name in SYSTEM_FIELDS or not fd.editable):
                raise errors.not_editable(table.name, name)
            try:
                parsed[name] = self.parse_value(table, fd, value)
            except InvalidValue as exc:
                raise errors.bad_request(f"API {verb}() {exc}") from exc
        return parsed

    def create(
        self,
        entity_type: str,
        attrs: dict[str, Any],
        *,
        user: dict[str, Any] | None = None,
        strict: bool = False,
    ) -> dict[str, Any]:
        """Create a record; returns its ground truth. `strict` rejects system fields (HTTP)."""
        with self.lock:
            row = self.create_row(entity_type, attrs, user=user, strict=strict)
            table = self.require(entity_type)
            return self.record(table, row)

    def create_row(
        self,
        entity_type: str,
        attrs: dict[str, Any],
        *,
        user: dict[str, Any] | int | None = None,
        strict: bool = False,
    ) -> int:
        with self.lock:
            table = self.require(entity_type)
            who = self._user_ref(user)
            now = self.now()
            row = table.append(self._new_row_values(table, attrs, who, strict, now))
            self.generation += 1
            if table is not self.events:
                self._append_event(self._new_event(table, row, who, now))
            return row

    def _new_row_values(
        self, table: Table, attrs: dict[str, Any], who: int, strict: bool, stamp: int
    ) -> dict[str, Any]:
        """The values a created row starts with: the given ones, stamped `stamp`, with defaults."""
        values = self._parse_attrs(table, attrs, "create", strict)
        new_id = table.id_for_row(table.n)
        if "created_at" in table.fields:
            values.setdefault("created_at", stamp)
        if "updated_at" in table.fields:
            values.setdefault("updated_at", values["created_at"])
        if "created_by" in table.fields:
            values.setdefault("created_by", who)
            values.setdefault("updated_by", who)
        if "code" in table.fields and values.get("code") is None:
            values["code"] = f"New {table.tdef.display_name} {new_id}"
        if table is self.events:
            values.setdefault("description", "New Event")
        return values

    def _new_event(self, table: Table, row: int, who: int, at: int) -> dict[str, Any]:
        eid = table.id_for_row(row)
        return self._event_values(table, row, KIND_NEW, who, entity_meta(table.name, eid, KIND_NEW), at)

    def update(
        self,
        entity_type: str,
        entity_id: int,
        changes: dict[str, Any],
        *,
        user: dict[str, Any] | None = None,
        strict: bool = False,
    ) -> dict[str, Any]:
        """Change fields; bumps updated_at to now and writes one Change event per field."""
        with self.lock:
            table = self.require(entity_type)
            row = self._live_row(table, entity_id)
            self.update_row(table, row, changes, user=user, strict=strict)
            return self.record(table, row)

    def update_row(
        self,
        table: Table,
        row: int,
        changes: dict[str, Any],
        *,
        user: dict[str, Any] | int | None = None,
        strict: bool = False,
    ) -> list[str]:
        """Apply changes to a live row; returns the names of the fields that really changed."""
        with self.lock:
            if table is self.events and strict:
                raise ApiError(400, 104, "The field is not editable for this user: [EventLogEntry]", {})
            self.late.check_unlocked(table, row)
            values = self._parse_attrs(table, changes, "update", strict)
            who = self._user_ref(user)
            now = self.now()
            changed = self._apply_values(table, row, values, who, now)
            if table is not self.events:
                for event in self._change_events(table, row, changed, who, now):
                    self._append_event(event)
            return [c[0] for c in changed]

    def _apply_values(
        self, table: Table, row: int, values: dict[str, Any], who: int, stamp: int
    ) -> list[tuple[str, Any, Any]]:
        """Set parsed values on a row and stamp updated_at/by with `stamp` and `who` when a field
        really changed (unless given); returns (field, old, new) of the real changes."""
        changed = []
        for name, new in values.items():
            old = table.get(name, row)
            if old == new:
                continue
            table.set(name, row, new)
            if name not in ("updated_at", "updated_by"):
                changed.append((name, old, new))
        if changed or values:
            self.generation += 1
        if changed and "updated_at" in table.fields:
            if "updated_at" not in values:
                table.set("updated_at", row, stamp)
            if "updated_by" not in values:
                table.set("updated_by", row, who)
        return changed

    def _change_events(
        self, table: Table, row: int, changed: list[tuple[str, Any, Any]], who: int, at: int
    ) -> list[dict[str, Any]]:
        """One `Shotgun_<Type>_Change` event per changed field, with old and new value in meta."""
        eid = table.id_for_row(row)
        events = []
        for name, old, new in changed:
            dt = table.fields[name].data_type
            old_value, new_value = self._meta_value(dt, old), self._meta_value(dt, new)
            meta = change_meta(table.name, eid, name, dt, old_value, new_value)
            events.append(self._event_values(table, row, KIND_CHANGE, who, meta, at, attribute=name))
        return events

    def _meta_value(self, data_type: str, v: Any) -> Any:
        if data_type == "entity":
            return self.link(v) if v else None
        if data_type == "multi_entity":
            return [self.link(x) for x in v] if v else []
        return meta_value(data_type, v)

    def _live_row(self, table: Table, entity_id: int) -> int:
        row = table.row_for_id(entity_id)
        if row is None or table.state[row] != LIVE:
            raise errors.record_missing(table.name, entity_id)
        return row

    def retire(self, entity_type: str, entity_id: int, *, user: dict[str, Any] | None = None) -> None:
        """Retire (soft-delete) a live record. updated_at is left as it was."""
        with self.lock:
            table = self.require(entity_type)
            if table is self.events:
                raise ApiError(400, 104, "Entity of type EventLogEntry can not be deleted by this user.", {})
            row = self._live_row(table, entity_id)
            self.late.check_unlocked(table, row)
            table.state[row] = RETIRED
            self.generation += 1
            meta = entity_meta(table.name, entity_id, KIND_RETIREMENT)
            self._append_event(
                self._event_values(table, row, KIND_RETIREMENT, self._user_ref(user), meta, self.now())
            )

    def revive(self, entity_type: str, entity_id: int, *, user: dict[str, Any] | None = None) -> bool:
        """Bring a retired record back; False if it was live already."""
        with self.lock:
            table = self.require(entity_type)
            row = table.row_for_id(entity_id)
            if row is None:
                raise errors.record_missing(table.name, entity_id)
            if table.state[row] == LIVE:
                return False
            self.late.check_unlocked(table, row)
            table.state[row] = LIVE
            self.generation += 1
            meta = entity_meta(table.name, entity_id, KIND_REVIVAL)
            self._append_event(
                self._event_values(table, row, KIND_REVIVAL, self._user_ref(user), meta, self.now())
            )
            return True

    def mutate(self, entity_type: str, share: float, seed: int = 0) -> list[int]:
        """Update `share` of the live rows (status or description), bumping updated_at."""
        with self.lock:
            table = self.require(entity_type)
            live = table.live_rows()
            locked = self.late.locked_rows(table)
            if locked:
                live = [r for r in live if r not in locked]
            k = min(len(live), round(len(live) * share))
            if share > 0 and live and k == 0:
                k = 1
            rng = random.Random(f"mutate:{seed}:{entity_type}")
            picked = sorted(rng.sample(live, k))
            status = table.fields.get("sg_status_list")
            for n, row in enumerate(picked):
                if status is not None:
                    values = status.valid_values
                    cur = table.get("sg_status_list", row)
                    i = values.index(cur) if cur in values else -1
                    change: dict[str, Any] = {"sg_status_list": values[(i + 1) % len(values)]}
                else:
                    field_name = "description" if "description" in table.fields else "sg_description"
                    change = {field_name: f"{PHRASES[n % len(PHRASES)]} (edit {seed}.{n})"}
                self.update_row(table, row, change)
            return [table.id_for_row(r) for r in picked]

    # schema changes -----------------------------------------------------------------
    def add_field(
        self,
        entity_type: str,
        name: str,
        data_type: str,
        *,
        display_name: str = "",
        valid_types: tuple[str, ...] | list[str] = (),
        valid_values: tuple[str, ...] | list[str] = (),
        default_value: Any = None,
        **properties: Any,
    ) -> dict[str, Any]:
        """Add a field (existing rows hold `default_value`); returns its plain schema."""
        with self.lock:
            table = self.require(entity_type)
            if name in table.fields:
                raise errors.bad_request(f"API schema_field_create() {table.name}.{name} already exists.")
            fd = FieldDef(
                name,
                data_type,
                display_name,
                valid_types=tuple(valid_types),
                valid_values=tuple(valid_values),
                default_value=default_value,
                extra_properties=dict(properties),
            )
            table.add_field(fd)
            self.generation += 1
            return field_schema_plain(table.name, fd)

    def remove_field(self, entity_type: str, name: str) -> None:
        with self.lock:
            table = self.require(entity_type)
            if name not in table.fields:
                raise errors.unknown_field("schema_field_delete", table.name, name)
            if name in SYSTEM_FIELDS or name == "project":
                raise errors.bad_request(f"API schema_field_delete() {table.name}.{name} is a system field.")
            table.remove_field(name)
            self.generation += 1

    # credentials --------------------------------------------------------------------
    def add_script(
        self, name: str, key: str, denied_entity_types: tuple[str, ...] | list[str] = ()
    ) -> dict[str, Any]:
        """A second ApiUser; reads of `denied_entity_types` are refused for its tokens."""
        with self.lock:
            if name in self.scripts:
                raise errors.bad_request(f"Script '{name}' already exists.")
            for t in denied_entity_types:
                self.require(t)
            row = self.create_row(
                "ApiUser", {"firstname": name, "lastname": "1.0", "description": "Added by a test"}
            )
            users = self.tables["ApiUser"]
            denied = frozenset(self.require(t).name for t in denied_entity_types)
            self.scripts[name] = Script(name, key, users.id_for_row(row), denied)
            return self.record(users, row)

    def human_user_row(self, login: str) -> int | None:
        users = self.tables["HumanUser"]
        col = users.columns["login"]
        for r in range(users.n):
            if col.get(r) == login and users.state[r] != PENDING:
                return r
        return None

    # event log ----------------------------------------------------------------------
    def _event_values(
        self,
        table: Table,
        row: int,
        kind: int,
        who: int,
        meta: dict[str, Any],
        at: int,
        attribute: str | None = None,
    ) -> dict[str, Any]:
        """The fields of one event about a record, written at `at`."""
        project = table.columns["project"].get(row) if "project" in table.columns else None
        eid = table.id_for_row(row)
        verb = {
            KIND_NEW: "created",
            KIND_CHANGE: f"changed {attribute} on",
            KIND_RETIREMENT: "retired",
            KIND_REVIVAL: "revived",
        }[kind]
        return {
            "created_at": at,
            "event_type": f"Shotgun_{table.name}_{KIND_NAMES[kind]}",
            "attribute_name": attribute,
            "description": f"{self.link(who)['name']} {verb} {table.tdef.display_name} #{eid}",
            "entity": pack_ref(table.type_code, eid),
            "project": project,
            "user": who,
            "meta": meta,
            "session_uuid": None,
        }

    def _append_event(self, values: dict[str, Any]) -> int:
        """Write an ordinary write's event: visible at once, unless an event hold catches it."""
        hold = self.late.catching
        row = self.events.append(values, state=LIVE if hold is None else PENDING)
        if hold is not None:
            hold.catch(row)
        return row

    def reserve_event_id(self) -> int:
        """Hand out an event id now that becomes visible only at `commit_event` (late commit)."""
        with self.lock:
            values = dict.fromkeys(EVENT_FIELDS)
            now = self.now()
            values["created_at"] = now
            row = self.events.append(values, state=PENDING)
            self.generation += 1
            self._pending_events[row] = now
            return self.events.id_for_row(row)

    def commit_event(
        self,
        reserved_id: int,
        event_type: str,
        entity: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        *,
        attribute_name: str | None = None,
        project: dict[str, Any] | None = None,
        user: dict[str, Any] | None = None,
        description: str | None = None,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Fill and publish a reserved event; created_at defaults to the reservation time."""
        with self.lock:
            ev = self.events
            row = reserved_id - ev.id_base
            if row not in self._pending_events:
                raise errors.record_missing("EventLogEntry", reserved_id)
            reserved_at = self._pending_events.pop(row)
            ev.set("created_at", row, to_epoch(created_at) if created_at else reserved_at)
            ev.set("event_type", row, event_type)
            ev.set("attribute_name", row, attribute_name)
            ev.set("description", row, description or event_type)
            ev.set("entity", row, self.ref_for(entity["type"], int(entity["id"])) if entity else None)
            ev.set("project", row, self.ref_for("Project", int(project["id"])) if project else None)
            ev.set("user", row, self._user_ref(user))
            ev.set("meta", row, meta)
            ev.state[row] = LIVE
            self.generation += 1
            return self.record(ev, row)

    # late commits (see late.py) -------------------------------------------------------
    def begin_late_create(
        self, entity_type: str, attrs: dict[str, Any], *, user: dict[str, Any] | None = None
    ) -> LateWrite:
        """Create a record stamped now that no read sees until the handle's `commit()`."""
        with self.lock:
            table = self._late_table(entity_type, "create")
            who = self._user_ref(user)
            now = self.now()
            row = table.append(self._new_row_values(table, attrs, who, False, now), state=PENDING)

            def apply() -> None:
                table.state[row] = LIVE

            return self._begin_late("create", table, row, now, [self._new_event(table, row, who, now)], apply)

    def begin_late_update(
        self,
        entity_type: str,
        entity_id: int,
        changes: dict[str, Any],
        *,
        user: dict[str, Any] | None = None,
    ) -> LateWrite:
        """Change fields as of now (updated_at = now); reads show the old values until `commit()`."""
        with self.lock:
            table = self._late_table(entity_type, "update")
            row = self._live_row(table, entity_id)
            self.late.check_unlocked(table, row)
            values = self._parse_attrs(table, changes, "update", False)
            who = self._user_ref(user)
            now = self.now()
            changed = [
                (name, old, new)
                for name, new in values.items()
                if name not in ("updated_at", "updated_by") and (old := table.get(name, row)) != new
            ]

            def apply() -> None:
                kept = {name: v for name, v in values.items() if name in table.fields}  # fields removed since
                self._apply_values(table, row, kept, who, now)

            events = self._change_events(table, row, changed, who, now)
            return self._begin_late("update", table, row, now, events, apply)

    def begin_late_retire(
        self, entity_type: str, entity_id: int, *, user: dict[str, Any] | None = None
    ) -> LateWrite:
        """Retire a record as of now; it stays live to every read until `commit()`."""
        with self.lock:
            table = self._late_table(entity_type, "retire")
            row = self._live_row(table, entity_id)
            self.late.check_unlocked(table, row)
            now = self.now()
            meta = entity_meta(table.name, entity_id, KIND_RETIREMENT)
            event = self._event_values(table, row, KIND_RETIREMENT, self._user_ref(user), meta, now)

            def apply() -> None:
                table.state[row] = RETIRED

            return self._begin_late("retire", table, row, now, [event], apply)

    def hold_events(self) -> EventHold:
        """Catch the events of ordinary writes from now on: ids and created_at at write time,
        visible at `release()`; `stop_catching()` lets later events through first."""
        with self.lock:
            return self.late.open_hold()

    def _late_table(self, entity_type: str, action: str) -> Table:
        table = self.require(entity_type)
        if table is self.events:
            raise ValueError(
                f"a late {action} of EventLogEntry is not a write a site makes; use reserve_event_id()"
                " and commit_event(), or hold_events()"
            )
        return table

    def _begin_late(
        self,
        action: str,
        table: Table,
        row: int,
        stamp: int,
        events: list[dict[str, Any]],
        apply: Callable[[], None],
    ) -> LateWrite:
        """Reserve the write's events (invisible) and lock its record until it commits."""
        event_rows = [self.events.append(values, state=PENDING) for values in events]
        write = LateWrite(self, self.late.next_number(), action, table, row, stamp, event_rows, apply)
        self.late.lock(write)
        self.generation += 1
        return write

    # sizes, for the admin API and benchmarks -----------------------------------------
    def counts(self) -> dict[str, int]:
        """Records per type, live and retired (ids taken by uncommitted writes do not count)."""
        with self.lock:
            return {name: t.n - t.state.count(PENDING) for name, t in self.tables.items()}
