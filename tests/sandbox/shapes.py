"""Shape checks for ShotGrid responses, written from the recordings, not from the sandbox code.

Each check returns a list of problems (empty = conforms), so the conformance test can
report every difference of an exchange at once.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

RECORD_KEYS = {"type", "attributes", "relationships", "id", "links"}
ERROR_KEYS = {"id", "status", "code", "title", "source", "detail", "meta"}
TOKEN_KEYS = {"token_type", "access_token", "expires_in", "refresh_token"}
LINK_DATA_KEYS = {"id", "name", "type"}
DATETIME_READ = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DATETIME_CREATED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
DECIMAL = re.compile(r"^-?\d+\.\d+(e[-+]?\d+)?$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
LINK_TYPES = {"entity", "multi_entity"}


def value_problem(data_type: str, value: Any, created: bool = False) -> str | None:
    """Why `value` is not a valid wire value of `data_type` (None if it is)."""
    if value is None:
        return "checkbox is never null" if data_type == "checkbox" else None
    ok: bool
    if data_type in ("text", "list", "status_list", "color", "uuid", "image", "footage", "entity_type"):
        ok = isinstance(value, str)
    elif data_type in ("number", "duration", "percent", "timecode"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif data_type in ("float", "currency"):
        ok = isinstance(value, str) and bool(DECIMAL.match(value))
    elif data_type == "checkbox":
        ok = isinstance(value, bool)
    elif data_type == "date":
        ok = isinstance(value, str) and bool(DATE.match(value))
    elif data_type == "date_time":
        ok = isinstance(value, str) and bool((DATETIME_CREATED if created else DATETIME_READ).match(value))
    elif data_type == "url":
        ok = isinstance(value, dict)
    elif data_type == "serializable":
        ok = isinstance(value, dict | list)
    elif data_type == "tag_list":
        ok = isinstance(value, list) and all(isinstance(t, str) for t in value)
    elif data_type == "summary":
        ok = isinstance(value, int | float | str | dict)
    else:
        ok = True  # a data type nobody documents: any JSON value
    return None if ok else f"{data_type} value {value!r}"


def relationship_problems(name: str, rel: Any, self_prefix: str) -> list[str]:
    out: list[str] = []
    if not isinstance(rel, dict) or set(rel) != {"data", "links"}:
        return [f"relationship {name}: keys {sorted(rel) if isinstance(rel, dict) else rel!r}"]
    data, links = rel["data"], rel["links"]
    if links.get("self") != f"{self_prefix}/relationships/{name}":
        out.append(f"relationship {name}: self link {links.get('self')!r}")
    if isinstance(data, list):
        if set(links) != {"self"}:
            out.append(f"relationship {name}: multi links {sorted(links)}")
        for d in data:
            if not isinstance(d, dict) or set(d) != LINK_DATA_KEYS:
                out.append(f"relationship {name}: item {d!r}")
    elif data is None:
        if set(links) != {"self"}:
            out.append(f"relationship {name}: null data with links {sorted(links)}")
    elif isinstance(data, dict):
        if set(data) != LINK_DATA_KEYS:
            out.append(f"relationship {name}: data keys {sorted(data)}")
        related = links.get("related", "")
        if set(links) != {"self", "related"} or not re.fullmatch(r"/api/v1/entity/[a-z0-9_]+/\d+", related):
            out.append(f"relationship {name}: links {links!r}")
        elif not related.endswith(f"/{data.get('id')}"):
            out.append(f"relationship {name}: related {related!r} does not point at {data.get('id')}")
    else:
        out.append(f"relationship {name}: data {data!r}")
    return out


def record_problems(
    rec: Any, types: dict[str, str], slug: str, created: bool = False, only: set[str] | None = None
) -> list[str]:
    """A record: keys, self link, attributes typed by the schema, links only in relationships."""
    if not isinstance(rec, dict) or set(rec) != RECORD_KEYS:
        return [f"record keys {sorted(rec) if isinstance(rec, dict) else rec!r}"]
    out: list[str] = []
    rid = rec["id"]
    self_link = f"/api/v1/entity/{slug}/{rid}"
    if not isinstance(rid, int) or rec["links"] != {"self": self_link}:
        out.append(f"record links {rec['links']!r} / id {rid!r}")
    for name, value in rec["attributes"].items():
        kind = types.get(name)
        if kind is None:
            out.append(f"attribute {name} not in the schema")
        elif kind in LINK_TYPES:
            out.append(f"link field {name} in attributes")
        elif (p := value_problem(kind, value, created)) is not None:
            out.append(f"attribute {name}: {p}")
    for name, rel in rec["relationships"].items():
        if types.get(name) not in LINK_TYPES:
            out.append(f"relationship {name} is a {types.get(name)} field")
        out.extend(relationship_problems(name, rel, self_link))
    if only is not None:
        got = set(rec["attributes"]) | set(rec["relationships"])
        if got != only:
            out.append(f"fields {sorted(got)} != requested {sorted(only)}")
    return out


def error_problems(body: Any, status: int) -> list[str]:
    if not isinstance(body, dict) or set(body) != {"errors"} or not isinstance(body["errors"], list):
        return [f"error body {body!r}"]
    out = []
    for err in body["errors"]:
        if set(err) != ERROR_KEYS:
            out.append(f"error keys {sorted(err)}")
        elif err["status"] != status or not HEX32.match(err["id"]) or not isinstance(err["code"], int):
            out.append(f"error values {err!r}")
    return out


def rails_query(pairs: list[tuple[str, str]]) -> str:
    """How the server re-encodes a query (Rails to_query): escaped pairs, sorted."""
    return "&".join(sorted(f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}" for k, v in pairs))


def split_link(link: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(link)
    return parts.path, parse_qsl(parts.query, keep_blank_values=True)


def link_form_problems(links: Any, page_number: int) -> list[str]:
    """Top-level links: root-relative, /api/v1, encoded brackets, next always, prev from page 2."""
    if not isinstance(links, dict):
        return [f"links {links!r}"]
    out = []
    expected = {"self", "next"} | ({"prev"} if page_number > 1 else set())
    if set(links) != expected:
        out.append(f"link keys {sorted(links)} != {sorted(expected)}")
    for name, link in links.items():
        if not isinstance(link, str) or not link.startswith("/api/v1/") or "[" in link or "]" in link:
            out.append(f"link {name}: {link!r}")
    return out
