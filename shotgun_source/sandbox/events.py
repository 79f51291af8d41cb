"""The EventLogEntry table: compact initial history plus live events.

Every generated row has a `Shotgun_<Type>_New` event at its created_at, a `_Change` event at
its updated_at when that differs, and a `_Retirement` event if it starts retired. For a
million Versions that is ~1.5M events, so the initial ones are not stored as rows: one
sorted int64 key per event, `(ts << 30) | (type_code << 26) | (row << 2) | kind`, and every
field is computed from the key when read. Events written later (create/update/retire/
revive, or `commit_event`) are ordinary appended rows.

On a real site `entity` reads null once its target is retired, while `meta` keeps
`entity_type`/`entity_id`; `LiveRefColumn` applies that rule at read time.

A real site never rewrites an event, yet a generated event's `user`, `project` and
`description` come from its record's row, which later writes change. `EventOrigins` keeps a
row's values from just before its first write (copy on write: nothing is kept for rows never
written, so a million untouched Versions cost nothing), and the generated events read those.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .columns import Column, DerivedColumn, pack_ref, ref_id, ref_type_code
from .studio import StudioData, row_hash, uuid_from_hash
from .table import LIVE, Table
from .values import meta_value

if TYPE_CHECKING:
    from .studio import TableData

KIND_NEW, KIND_CHANGE, KIND_RETIREMENT, KIND_REVIVAL = 0, 1, 2, 3
KIND_NAMES = ("New", "Change", "Retirement", "Revival")
_ROW_MASK = (1 << 24) - 1

EVENT_FIELDS = (
    "created_at",
    "event_type",
    "attribute_name",
    "description",
    "entity",
    "project",
    "user",
    "meta",
    "session_uuid",
)


def initial_event_keys(tables: dict[str, TableData], codes: dict[str, int]) -> array[int]:
    """Sorted keys of all generated events, oldest first (their ids follow this order)."""
    keys: list[int] = []
    for name, td in tables.items():
        base = codes[name] << 26
        created = td.columns["created_at"].data  # type: ignore[attr-defined]
        updated = td.columns["updated_at"].data  # type: ignore[attr-defined]
        keys.extend((c << 30) | base | (r << 2) for r, c in enumerate(created))
        keys.extend(
            (u << 30) | base | (r << 2) | KIND_CHANGE
            for r, (c, u) in enumerate(zip(created, updated, strict=True))
            if u != c
        )
        keys.extend((ts << 30) | base | (r << 2) | KIND_RETIREMENT for r, ts in td.retired_at.items())
    keys.sort()
    return array("q", keys)


class LiveRefColumn(Column):
    """Reads a link as null while its target is retired (EventLogEntry.entity)."""

    def __init__(self, inner: Column, table_for_code: Callable[[int], Table | None]) -> None:
        self.inner = inner
        self._table_for_code = table_for_code

    def get(self, row: int) -> Any:
        ref = self.inner.get(row)
        if not ref:
            return None
        table = self._table_for_code(ref_type_code(ref))
        if table is None:
            return None
        trow = table.row_for_id(ref_id(ref))
        return ref if trow is not None and table.state[trow] == LIVE else None

    def set(self, row: int, value: Any) -> None:
        self.inner.set(row, value)

    def append(self, value: Any) -> None:
        self.inner.append(value)


class EventOrigins:
    """What one table's generated rows looked like when their generated events were written.

    Installed as the table's `before_write` hook: the first write to a generated row first keeps
    its authors, project and display name, which its generated events go on reading."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.generated = table.n
        self.kept: dict[int, tuple[int | None, int | None, int | None, str | None]] = {}
        table.before_write = self.keep

    def keep(self, row: int) -> None:
        if row < self.generated and row not in self.kept:
            self.kept[row] = self._now(row)

    def _now(self, row: int) -> tuple[int | None, int | None, int | None, str | None]:
        columns = self.table.columns
        return (
            columns["created_by"].get(row) if "created_by" in columns else None,
            columns["updated_by"].get(row) if "updated_by" in columns else None,
            columns["project"].get(row) if "project" in columns else None,
            self.table.display_name(row),
        )

    def of(self, row: int) -> tuple[int | None, int | None, int | None, str | None]:
        """(created_by, updated_by, project, display name) as the generated events saw them."""
        kept = self.kept.get(row)
        return kept if kept is not None else self._now(row)


class InitialEvents:
    """Field values of the generated events, computed from their keys and their rows' origins."""

    def __init__(
        self,
        keys: array[int],
        studio: StudioData,
        tables_by_code: dict[int, Table],
        seed: int,
    ) -> None:
        self.keys = keys
        self.studio = studio
        self.by_code = tables_by_code
        self.seed = seed
        self.origins = {code: EventOrigins(table) for code, table in tables_by_code.items()}

    def decode(self, row: int) -> tuple[int, Table, int, int]:
        key = self.keys[row]
        return key >> 30, self.by_code[(key >> 26) & 0xF], (key >> 2) & _ROW_MASK, key & 3

    def created_at(self, row: int) -> int:
        return self.keys[row] >> 30

    def event_type(self, row: int) -> str:
        _, table, _, kind = self.decode(row)
        return f"Shotgun_{table.name}_{KIND_NAMES[kind]}"

    def attribute_name(self, row: int) -> str | None:
        _, table, _, kind = self.decode(row)
        return self.studio.change_attr[table.name] if kind == KIND_CHANGE else None

    def entity(self, row: int) -> int:
        _, table, trow, _ = self.decode(row)
        return pack_ref(table.type_code, table.id_base + trow)

    def project(self, row: int) -> int | None:
        _, table, trow, _ = self.decode(row)
        return self.origins[table.type_code].of(trow)[2]

    def user(self, row: int) -> int | None:
        _, table, trow, kind = self.decode(row)
        created_by, updated_by, _, _ = self.origins[table.type_code].of(trow)
        return created_by if kind == KIND_NEW else updated_by

    def meta(self, row: int) -> dict[str, Any]:
        _, table, trow, kind = self.decode(row)
        eid = table.id_base + trow
        if kind == KIND_CHANGE:
            attr = self.studio.change_attr[table.name]
            old, new = self.studio.change_values(table.name, trow)
            dt = self.studio.change_types[table.name]
            return change_meta(table.name, eid, attr, dt, meta_value(dt, old), meta_value(dt, new))
        return entity_meta(table.name, eid, kind)

    def description(self, row: int) -> str:
        _, table, trow, kind = self.decode(row)
        name = self.origins[table.type_code].of(trow)[3]
        if kind == KIND_CHANGE:
            attr = self.studio.change_attr[table.name]
            return f"{table.tdef.display_name} {name!r}: changed {attr}"
        return f"{table.tdef.display_name} {name!r}: {KIND_NAMES[kind].lower()}"

    def session_uuid(self, row: int) -> str:
        return uuid_from_hash(row_hash(self.seed, 77, self.keys[row] >> 30, 0))

    def columns(self) -> dict[str, Column]:
        n = len(self.keys)
        return {name: DerivedColumn(getattr(self, name), n) for name in EVENT_FIELDS}


def entity_meta(type_name: str, entity_id: int, kind: int) -> dict[str, Any]:
    """`meta` of New/Retirement/Revival events: what and which, never values."""
    kinds = ("new_entity", "attribute_change", "entity_retirement", "entity_revival")
    return {"type": kinds[kind], "entity_type": type_name, "entity_id": entity_id}


def change_meta(
    type_name: str, entity_id: int, attr: str, data_type: str, old: Any, new: Any
) -> dict[str, Any]:
    """`meta` of a Change event: the attribute with its old and new value."""
    return {
        "type": "attribute_change",
        "attribute_name": attr,
        "entity_type": type_name,
        "entity_id": entity_id,
        "field_data_type": data_type,
        "old_value": old,
        "new_value": new,
        "in_create": False,
    }
