"""Field and entity-type definitions, and their wire form under `/api/v1/schema`.

The definitions are plain data so the studio catalog (`catalog.py`) reads like a site's
schema page. The wire rendering wraps every property as `{"value": ..., "editable": bool}`
in the key order the recorded schema responses use, because clients that map ShotGrid
data types to column types read exactly these keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Data types whose values live in `relationships` on the wire, never in `attributes`.
LINK_TYPES = frozenset({"entity", "multi_entity"})

# Storage families: every data type is stored as one of these (see columns.py).
INT_TYPES = frozenset({"number", "duration", "percent", "timecode", "date_time", "date"})
FLOAT_TYPES = frozenset({"float", "currency"})

# Fields every entity type carries and nobody may write over HTTP.
SYSTEM_FIELDS = frozenset({"id", "created_at", "updated_at", "created_by", "updated_by"})

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def slug_for(type_name: str) -> str:
    """Plural snake_case slug the server emits in record links (`HumanUser` -> `human_users`).

    ShotGrid pluralises like Rails: `EventLogEntry` -> `event_log_entries`, and custom
    entities keep their digits (`CustomEntity01` -> `custom_entity01s`).
    """
    snake = _CAMEL_BOUNDARY.sub("_", type_name).lower().replace("__", "_")
    if snake.endswith("y") and len(snake) > 1 and snake[-2] not in "aeiou":
        return snake[:-1] + "ies"
    if snake.endswith(("s", "x", "ch", "sh")):
        return snake + "es"
    return snake + "s"


@dataclass
class FieldDef:
    """One field of one entity type, as the schema endpoints describe it."""

    name: str
    data_type: str
    display_name: str = ""
    description: str = ""
    editable: bool = True
    mandatory: bool = False
    unique: bool = False
    visible: bool = True
    valid_types: tuple[str, ...] = ()
    valid_values: tuple[str, ...] = ()
    display_values: dict[str, str] | None = None
    default_value: Any = None
    extra_properties: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.display_name:
            self.display_name = self.name.removeprefix("sg_").replace("_", " ").title()


@dataclass
class EntityTypeDef:
    """One entity type: its schema name, slug, id range start and fields in display order."""

    name: str
    display_name: str
    id_base: int
    fields: list[FieldDef]
    slug: str = ""

    def __post_init__(self) -> None:
        if not self.slug:
            self.slug = slug_for(self.name)

    def field(self, name: str) -> FieldDef | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


def _wrap(value: Any, editable: bool) -> dict[str, Any]:
    return {"value": value, "editable": editable}


def field_properties(fd: FieldDef) -> dict[str, Any]:
    """The `properties` block of a field, unwrapped; keys depend on the data type."""
    props: dict[str, Any] = {"default_value": fd.default_value, "summary_default": "none"}
    dt = fd.data_type
    if dt in LINK_TYPES:
        props["valid_types"] = list(fd.valid_types)
    elif dt == "text":
        props["regex_validation"] = ""
        props["regex_validation_enabled"] = None
    elif dt == "list":
        props["valid_values"] = list(fd.valid_values)
    elif dt == "status_list":
        props["summary_default"] = "status_list"
        props["valid_values"] = list(fd.valid_values)
        props["display_values"] = dict(fd.display_values or {v: v for v in fd.valid_values})
        props["hidden_values"] = []
    elif dt == "image":
        props["image_sorts"] = None
        props["image_use_query"] = False
        props["render_method"] = None
        props["allowed_render_methods"] = None
    elif dt == "url":
        props["open_in_new_window"] = True
    elif dt == "checkbox":
        props["default_value"] = bool(fd.default_value)
    props.update(fd.extra_properties)
    return props


# Which properties a site admin can change in the UI; the rest are fixed by the server.
_EDITABLE_PROPERTIES = frozenset(
    {"summary_default", "valid_types", "valid_values", "regex_validation", "regex_validation_enabled"}
)


def field_schema_wire(entity_type: str, fd: FieldDef) -> dict[str, Any]:
    """`/schema/{Type}/fields/{field}` data for one field, every property wrapped."""
    props = field_properties(fd)
    return {
        "name": _wrap(fd.display_name, True),
        "description": _wrap(fd.description, True),
        "custom_metadata": _wrap("", True),
        "entity_type": _wrap(entity_type, False),
        "data_type": _wrap(fd.data_type, False),
        "editable": _wrap(fd.editable, False),
        "mandatory": _wrap(fd.mandatory, False),
        "unique": _wrap(fd.unique, False),
        "properties": {k: _wrap(v, k in _EDITABLE_PROPERTIES) for k, v in props.items()},
        "visible": _wrap(fd.visible, False),
        "ui_value_displayable": _wrap(True, False),
    }


def field_schema_plain(entity_type: str, fd: FieldDef) -> dict[str, Any]:
    """The same facts unwrapped, for tests that read `sb.site.fields(...)`."""
    return {
        "name": fd.display_name,
        "description": fd.description,
        "entity_type": entity_type,
        "data_type": fd.data_type,
        "editable": fd.editable,
        "mandatory": fd.mandatory,
        "unique": fd.unique,
        "visible": fd.visible,
        "properties": field_properties(fd),
    }


def type_schema_wire(tdef: EntityTypeDef) -> dict[str, Any]:
    """`/schema/{Type}` data: the type's display name and visibility."""
    return {"name": _wrap(tdef.display_name, False), "visible": _wrap(True, False)}
