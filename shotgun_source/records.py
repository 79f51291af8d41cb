"""One ShotGrid record (`attributes` + `relationships`) -> one flat row for dlt.

Attributes become columns. A single entity link stays a `{id, type, name}` dict, which dlt's
normalizer turns into `<field>__id`, `<field>__type`, `<field>__name`; a multi-entity link stays a
list, which becomes a child table. Floats arrive as strings and are turned into numbers here.
"""

from typing import Any

from .errors import ShotgunResponseError
from .schema import NUMERIC_STRING_TYPES, EntitySchema


class RecordFlattener:
    """A dlt map step for one entity type: called once per record, so it does as little as it can."""

    def __init__(self, schema: EntitySchema, marks: dict[str, Any] | None = None) -> None:
        self.entity_type = schema.entity_type
        self.float_fields = tuple(schema.fields_of_type(*NUMERIC_STRING_TYPES))
        self.cursor_field = schema.cursor_field
        self.marks = marks or {}  # constant columns every row carries (the live-row retirement flag)

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        try:
            row: dict[str, Any] = record["attributes"]
            record_id = record["id"]
        except (KeyError, TypeError):
            raise ShotgunResponseError(
                f"The site sent a {self.entity_type} record without `id` or `attributes`:"
                f" {str(record)[:120]!r}. This is not the ShotGrid REST record shape."
            ) from None
        row["id"] = record_id
        row.update(self.marks)
        for name in self.float_fields:
            value = row.get(name)
            if type(value) is str:
                row[name] = float(value)
        for name, link in (record.get("relationships") or {}).items():
            data = link.get("data") if isinstance(link, dict) else None
            if data is not None:  # an empty link leaves its typed __id/__type/__name columns null
                row[name] = data
        if self.cursor_field and row.get(self.cursor_field) is None:
            raise ShotgunResponseError(
                f"The site sent {self.entity_type} {record_id} without `{self.cursor_field}`, the"
                " incremental cursor; the load stops so no cursor moves past unread rows."
            )
        return row
