"""One entity type's rows: columns, liveness, id <-> row mapping and the time index.

Ids are `id_base + row`; rows are never removed (retiring only flips the state), so the
mapping is arithmetic and a keyset query on id is a slice of rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .catalog import display_field
from .columns import Column, empty_column
from .index import TimeIndex
from .schema import EntityTypeDef, FieldDef

LIVE = 0
RETIRED = 1
PENDING = 2  # an id handed out but not yet committed (late event log ids): invisible


class Table:
    """Columns of one entity type plus the per-row state and the timestamp index."""

    def __init__(self, tdef: EntityTypeDef, type_code: int, n_rows: int, columns: dict[str, Column]) -> None:
        self.tdef = tdef
        self.name = tdef.name
        self.slug = tdef.slug
        self.type_code = type_code
        self.id_base = tdef.id_base
        self.n = n_rows
        self.fields: dict[str, FieldDef] = {f.name: f for f in tdef.fields}
        missing = [f for f in self.fields if f != "id" and f not in columns]
        if missing:
            raise ValueError(f"{self.name}: no column for {missing}")
        self.columns = columns
        self.state = bytearray(n_rows)
        self.index_field = "updated_at" if "updated_at" in self.fields else "created_at"
        self.index = TimeIndex(self.columns[self.index_field].get, n_rows)
        self._name_field = display_field(self.name)
        self.before_write: Callable[[int], None] | None = None
        """Called with the row before any field of it changes: the event log keeps what its generated
        events said about the row (a real site never rewrites an event)."""

    # ids and rows -------------------------------------------------------------------
    def row_for_id(self, entity_id: int) -> int | None:
        """The row of an existing (live or retired) record, None otherwise."""
        row = entity_id - self.id_base
        if 0 <= row < self.n and self.state[row] != PENDING:
            return row
        return None

    def id_for_row(self, row: int) -> int:
        return self.id_base + row

    def is_live(self, row: int) -> bool:
        return self.state[row] == LIVE

    # values -------------------------------------------------------------------------
    def get(self, field: str, row: int) -> Any:
        if field == "id":
            return self.id_base + row
        return self.columns[field].get(row)

    def set(self, field: str, row: int, value: Any) -> None:
        if self.before_write is not None:
            self.before_write(row)
        col = self.columns[field]
        if field == self.index_field:
            old = col.get(row)
            col.set(row, value)
            self.index.changed(row, old, value)
        else:
            col.set(row, value)

    def display_name(self, row: int) -> str | None:
        """The `name` a link to this row carries, computed now (renames show up in links)."""
        if self._name_field is None:  # ApiUser: "<script name> <version>"
            first = self.columns["firstname"].get(row) or ""
            last = self.columns["lastname"].get(row) or ""
            return f"{first} {last}".strip()
        return self.columns[self._name_field].get(row)

    # growth -------------------------------------------------------------------------
    def append(self, values: dict[str, Any], state: int = LIVE) -> int:
        """Add a row; fields not in `values` get their default. Returns the new row."""
        row = self.n
        for name, col in self.columns.items():
            fd = self.fields[name]
            col.append(values.get(name, fd.default_value))
        self.state.append(state)
        self.n += 1
        self.index.add(row, self.columns[self.index_field].get(row))
        return row

    def add_field(self, fd: FieldDef) -> None:
        self.fields[fd.name] = fd
        self.tdef.fields.append(fd)
        self.columns[fd.name] = empty_column(fd.data_type, self.n, fd.default_value)

    def remove_field(self, name: str) -> None:
        del self.fields[name]
        del self.columns[name]
        self.tdef.fields = [f for f in self.tdef.fields if f.name != name]

    def live_rows(self, state: int = LIVE) -> list[int]:
        st = self.state
        return [r for r in range(self.n) if st[r] == state]
