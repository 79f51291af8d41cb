"""ShotGrid's field schema -> dlt table names and column hints.

Types come from the site (`/api/v1/schema/{Type}/fields`), never from guessing: floats arrive as
JSON strings, numbers and durations as ints, and a column that is null in every row of the first
load must still get its type.
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dlt.common import logger
from dlt.common.schema.typing import TColumnSchema
from dlt.common.typing import TTableNames
from dlt.extract.hints import TResourceNestedHints

from .errors import ShotgunConfigError

ENTITY = "entity"
MULTI_ENTITY = "multi_entity"

COLUMN_TYPES: dict[str, TColumnSchema] = {
    "text": {"data_type": "text"},
    "number": {"data_type": "bigint"},
    "float": {"data_type": "double"},
    "checkbox": {"data_type": "bool"},
    "date": {"data_type": "date"},
    "date_time": {"data_type": "timestamp", "timezone": True},
    "duration": {"data_type": "bigint"},  # minutes
    "percent": {"data_type": "bigint"},
    "timecode": {"data_type": "bigint"},  # milliseconds
    "currency": {"data_type": "decimal"},
    "list": {"data_type": "text"},
    "status_list": {"data_type": "text"},
    "serializable": {"data_type": "json"},
    "url": {"data_type": "json"},  # a dict: url, name, content_type, link_type...
    "image": {"data_type": "text"},  # a signed URL that expires; kept as sent
    "tag_list": {"data_type": "json"},
    "color": {"data_type": "text"},
    "uuid": {"data_type": "text"},
    "entity_type": {"data_type": "text"},
    "password": {"data_type": "text"},
    "footage": {"data_type": "text"},
    "addressing": {"data_type": "json"},
    "jsonb": {"data_type": "json"},
    # computed on the server and of varying shape: text holds a string as it is and anything
    # else as its JSON text (a json column would try to parse a plain string, and fail)
    "summary": {"data_type": "text"},
    "query": {"data_type": "text"},
    "pivot_column": {"data_type": "text"},
    "calculated": {"data_type": "text"},
}
"""How each ShotGrid data_type lands in the destination."""

UNKNOWN_TYPE_COLUMN: TColumnSchema = {"data_type": "text"}
"""A data_type this package does not know loads as text: strings as they are, anything else as its
JSON text, so no value of any shape can fail a run."""

LINK_COLUMNS: dict[str, TColumnSchema] = {
    "id": {"data_type": "bigint"},
    "type": {"data_type": "text"},
    "name": {"data_type": "text"},
}
"""An entity link `{id, type, name}` becomes `<field>__id`, `<field>__type`, `<field>__name`."""

CURSOR_CANDIDATES = ("updated_at", "created_at")

NUMERIC_STRING_TYPES = frozenset({"float"})
"""Types the REST API sends as JSON strings ("25.0") that must load as numbers."""


def table_name_for(entity_type: str) -> str:
    """The server's plural snake_case slug: Shot -> shots, HumanUser -> human_users,
    CustomEntity01 -> custom_entity01s, EventLogEntry -> event_log_entries, Status -> statuses.
    """
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", entity_type).lower()
    snake = re.sub(r"_+", "_", snake)
    if re.search(r"[^aeiou]y$", snake):
        return snake[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", snake):
        return snake + "es"
    return snake + "s"


def _unwrap(prop: Any) -> Any:
    """Schema properties come wrapped as `{"value": ..., "editable": ...}`."""
    return prop.get("value") if isinstance(prop, dict) and "value" in prop else prop


@dataclass(frozen=True)
class EntitySchema:
    """What the source needs to know about one entity type, read from the site once per run."""

    entity_type: str
    field_types: dict[str, str]
    descriptions: dict[str, str] = field(default_factory=dict)
    link_targets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Entity types each entity and multi-entity field may point at (`valid_types`)."""

    @property
    def table_name(self) -> str:
        return table_name_for(self.entity_type)

    @property
    def cursor_field(self) -> str | None:
        """`updated_at` where the type has it; else `created_at` (EventLogEntry: rows never change
        once committed); else None, and the type is read whole on every run."""
        for candidate in CURSOR_CANDIDATES:
            if self.field_types.get(candidate) == "date_time":
                return candidate
        return None

    @classmethod
    def from_fields_response(cls, entity_type: str, fields: dict[str, Any]) -> "EntitySchema":
        """Build from the `data` of `GET /api/v1/schema/{Type}/fields`."""
        field_types: dict[str, str] = {}
        descriptions: dict[str, str] = {}
        link_targets: dict[str, tuple[str, ...]] = {}
        for name, spec in fields.items():
            if not isinstance(spec, dict):
                continue
            field_types[name] = str(_unwrap(spec.get("data_type")) or "")
            if field_types[name] in (ENTITY, MULTI_ENTITY):
                properties = spec.get("properties") or {}
                valid = _unwrap(properties.get("valid_types")) if isinstance(properties, dict) else None
                link_targets[name] = tuple(str(t) for t in valid or ())
            title = str(_unwrap(spec.get("name")) or "").strip()
            text = str(_unwrap(spec.get("description")) or "").strip()
            described = ": ".join(part for part in (title, text) if part)
            if described:
                descriptions[name] = described
        return cls(entity_type, field_types, descriptions, link_targets)

    def only(self, names: Sequence[str]) -> "EntitySchema":
        """The same type restricted to some fields, so only they become columns."""
        keep = {*names, "id", *CURSOR_CANDIDATES}
        return EntitySchema(
            entity_type=self.entity_type,
            field_types={k: v for k, v in self.field_types.items() if k in keep},
            descriptions={k: v for k, v in self.descriptions.items() if k in keep},
            link_targets={k: v for k, v in self.link_targets.items() if k in keep},
        )

    def fields_of_type(self, *data_types: str) -> list[str]:
        return [name for name, kind in self.field_types.items() if kind in data_types]

    def column_hints(self) -> dict[str, TColumnSchema]:
        """Column hints for the root table; multi-entity fields go to child tables instead."""
        columns: dict[str, TColumnSchema] = {}
        for name, kind in self.field_types.items():
            description = self.descriptions.get(name)
            if kind == MULTI_ENTITY:
                continue
            if kind == ENTITY:
                for part, hint in LINK_COLUMNS.items():
                    columns[f"{name}__{part}"] = _with_description(hint, description)
                continue
            known = COLUMN_TYPES.get(kind)
            if known is None:
                logger.warning(
                    f"ShotGrid field {self.entity_type}.{name} has data_type {kind!r}, which this"
                    " source does not know; it loads as text."
                )
                known = UNKNOWN_TYPE_COLUMN
            columns[name] = _with_description(known, description)
        columns["id"] = {
            **columns.get("id", {}),
            "data_type": "bigint",
            "nullable": False,
            "primary_key": True,
        }
        return columns

    def nested_hints(self) -> dict[TTableNames, TResourceNestedHints]:
        """Child tables of multi-entity links: one row per linked record, `id`, `type`, `name`."""
        link_columns = {part: {**hint, "name": part} for part, hint in LINK_COLUMNS.items()}
        return {name: {"columns": link_columns} for name in self.fields_of_type(MULTI_ENTITY)}


def _with_description(hint: TColumnSchema, description: str | None) -> TColumnSchema:
    column: TColumnSchema = {**hint, "nullable": True}
    if description:
        column["description"] = description
    return column


def per_loaded_type(
    setting: str, values: Mapping[Any, Any], schemas: Sequence[EntitySchema]
) -> Iterator[tuple[EntitySchema, Any]]:
    """Each entry of a per-type setting (`fields`, `history_fields`) with the loaded type it names,
    by entity type (any case) or table name; a type that is not loaded is refused, naming the
    setting."""
    by_key = {key: schema for schema in schemas for key in (schema.entity_type.lower(), schema.table_name)}
    for key, value in values.items():
        schema = by_key.get(str(key).lower())
        if schema is None:
            raise ShotgunConfigError(
                f"`{setting}` names the entity type {key!r}, which is not among the loaded entities"
                f" ({', '.join(s.entity_type for s in schemas)})."
            )
        yield schema, value


def check_known_fields(setting: str, schema: EntitySchema, names: Sequence[Any]) -> None:
    """Refuse field names the type does not have: the server silently drops a name it does not
    know, so a typo would load as an empty column forever."""
    unknown = sorted(set(map(str, names)) - set(schema.field_types))
    if unknown:
        raise ShotgunConfigError(
            f"`{setting}` for {schema.entity_type} names unknown field(s): {', '.join(unknown)}."
            f" Valid fields: {', '.join(sorted(schema.field_types))}."
        )
