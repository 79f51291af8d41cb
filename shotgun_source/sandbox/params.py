"""Read parameters (page, sort, options) and the pagination links built from them.

Links are what clients follow, so they copy the server exactly: root-relative paths with
the `/api/v1` prefix as called, the query re-encoded the way Rails' `to_query` does (each
`key=value` CGI-escaped, brackets as %5B/%5D, `*` as %2A, pairs sorted), `page[number]` and
`page[size]` always filled in on `next`/`prev`, `next` always present, `prev` from page 2.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_plus

from . import errors

DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 5000
_SORT_KEY = re.compile(r"-?[A-Za-z0-9_.]+")


def to_query(params: dict[str, str]) -> str:
    return "&".join(sorted(f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}" for k, v in params.items()))


def with_query(path: str, params: dict[str, str]) -> str:
    return f"{path}?{to_query(params)}" if params else path


def page_links(path: str, query: dict[str, str], number: int, size: int) -> dict[str, str]:
    """`self` echoes the call; `next` always; `prev` only after page 1."""
    links = {"self": with_query(path, query)}
    links["next"] = with_query(path, {**query, "page[number]": str(number + 1), "page[size]": str(size)})
    if number > 1:
        links["prev"] = with_query(path, {**query, "page[number]": str(number - 1), "page[size]": str(size)})
    return links


def _int_param(raw: Any, name: str, problems: dict[str, list[str]]) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        problems[name] = [f"{name} must be an integer"]
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            pass
    problems[name] = [f"{name} must be an integer"]
    return None


def parse_page(number_raw: Any, size_raw: Any) -> tuple[int, int]:
    """Validated (page number, page size); 400 code 103 with `source.page` otherwise."""
    problems: dict[str, list[str]] = {}
    size = _int_param(size_raw, "size", problems)
    number = _int_param(number_raw, "number", problems)
    if size is not None:
        if size < 1:
            problems["size"] = ["size must be greater than 0"]
        elif size > MAX_PAGE_SIZE:
            problems["size"] = [f"size must be less than {MAX_PAGE_SIZE}"]
    if number is not None and number < 1:
        problems["number"] = ["number must be greater than 0"]
    if problems:
        raise errors.invalid_params({"page": problems})
    return (number or 1), (size or DEFAULT_PAGE_SIZE)


def parse_sort(raw: Any) -> list[tuple[str, bool]]:
    """`-updated_at,id` -> [("updated_at", True), ("id", False)]."""
    if raw is None:
        return []
    if not isinstance(raw, str):
        raise errors.invalid_params({"sort": ["sort array is not valid"]})
    if raw == "":
        raise errors.invalid_params({"sort": ["sort must be filled"]})
    keys = raw.split(",")
    if not all(_SORT_KEY.fullmatch(k) for k in keys):
        raise errors.invalid_params({"sort": ["sort list is not valid"]})
    return [(k[1:], True) if k.startswith("-") else (k, False) for k in keys]


def _bool_option(raw: Any, name: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise errors.invalid_params({"options": {name: [f"{name} must be boolean"]}})


def parse_options(return_only: Any, include_archived: Any) -> tuple[bool, bool]:
    """(retired wanted?, include archived projects?); defaults active and true."""
    if return_only is None or return_only == "active":
        retired = False
    elif return_only == "retired":
        retired = True
    else:
        raise errors.invalid_params(
            {"options": {"return_only": ["return_only must be one of: active, retired"]}}
        )
    archived = (
        True if include_archived is None else _bool_option(include_archived, "include_archived_projects")
    )
    return retired, archived
