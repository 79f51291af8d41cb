"""Query execution: candidate rows, visibility, order and one page.

Plans, cheapest first:
- order by id (the default, and what keyset clients ask for): walk the id range the filter
  allows and stop as soon as the page is full; or, when the timestamp window is much
  narrower than the id range, take the window from the index and sort it by id;
- order by the index field (`updated_at`, then id): walk the index in order;
- anything else: collect all matches, sort them, slice the page.

Every candidate still passes the full predicate, so a plan only decides how many rows are
looked at, never which rows match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from .filters import Compiled, FilterCompiler, Group, resolve_path
from .table import LIVE, RETIRED, Table

if TYPE_CHECKING:
    from .site import Site

UNSORTABLE = frozenset(
    {"multi_entity", "url", "serializable", "summary", "pivot_column", "tag_list", "jsonb"}
)


@dataclass
class QuerySpec:
    """What one read asks for, already validated by the HTTP layer."""

    filters: Group
    sort: list[tuple[str, bool]]  # (path, descending)
    page_number: int = 1
    page_size: int = 500
    retired: bool = False
    include_archived_projects: bool = True


def visibility(site: Site, table: Table, retired: bool, include_archived: bool) -> Callable[[int], bool]:
    """Row -> visible: the wanted liveness, and not in an archived project when asked."""
    st = table.state
    want = RETIRED if retired else LIVE
    archived: set[int] = set() if include_archived else site.archived_project_ids()
    if archived:
        if table.name == "Project":
            base = table.id_base
            return lambda r: st[r] == want and (base + r) not in archived
        if "project" in table.columns:
            code = site.codes["Project"]
            refs = {(code << 40) | pid for pid in archived}
            proj = table.columns["project"].get
            return lambda r: st[r] == want and proj(r) not in refs
    return lambda r: st[r] == want


def matcher(
    site: Site, table: Table, spec: QuerySpec, verb: str = "read"
) -> tuple[Callable[[int], bool], Compiled]:
    compiled = FilterCompiler(site, table, verb).compile(spec.filters)
    visible = visibility(site, table, spec.retired, spec.include_archived_projects)
    pred = compiled.pred
    if pred is None:
        return visible, compiled
    return (lambda r: visible(r) and pred(r)), compiled


def _row_bounds(table: Table, c: Compiled) -> tuple[int, int]:
    """Inclusive row range allowed by the id hints (may be empty: lo > hi)."""
    lo = 0 if c.id_lo is None else max(0, c.id_lo - table.id_base)
    hi = table.n - 1 if c.id_hi is None else min(table.n - 1, c.id_hi - table.id_base)
    return lo, hi


def candidates_by_id(table: Table, c: Compiled, descending: bool) -> Iterable[int]:
    """Candidate rows in id order, from whichever source (id range or index) is smaller."""
    lo, hi = _row_bounds(table, c)
    if c.id_set is not None:
        rows = sorted(r for i in c.id_set if lo <= (r := i - table.id_base) <= hi)
        return reversed(rows) if descending else rows
    if lo > hi:
        return ()
    span = hi - lo + 1
    if c.ts_lo is not None or c.ts_hi is not None:
        in_window = table.index.count(c.ts_lo, c.ts_hi)
        if in_window * 4 < span:
            rows = sorted(r for r in table.index.rows(c.ts_lo, c.ts_hi) if lo <= r <= hi)
            return reversed(rows) if descending else rows
    return range(hi, lo - 1, -1) if descending else range(lo, hi + 1)


def all_candidates(table: Table, c: Compiled) -> Iterable[int]:
    return candidates_by_id(table, c, False)


def _sort_key(site: Site, table: Table, path: str) -> Callable[[int], Any] | None:
    acc = resolve_path(site, table, path)
    if acc is None or acc.multi or acc.fd.data_type in UNSORTABLE:
        return None
    get, dt = acc.get, acc.fd.data_type
    if dt == "entity":
        link = site.link

        def entity_key(r: int) -> Any:
            v = get(r)
            if not v:
                return None
            name = link(v)["name"]
            return ((name or "").casefold(), v)

        return entity_key
    if dt in ("text", "list", "status_list", "footage", "color", "uuid", "image"):

        def text_key(r: int) -> Any:
            v = get(r)
            return None if v is None else (v.casefold(), v)

        return text_key
    return get


def normalize_sort(table: Table, sort: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Drop what cannot change the order: unknown/unsortable keys, anything after id."""
    out: list[tuple[str, bool]] = []
    for path, desc in sort:
        if any(p == path for p, _ in out):
            continue
        out.append((path, desc))
        if path == "id":
            break
    if out and out[-1] == ("id", False):
        out.pop()
    return out


def execute(site: Site, table: Table, spec: QuerySpec) -> list[int]:
    """Rows of the requested page, in order."""
    match, compiled = matcher(site, table, spec)
    sort = [(p, d) for p, d in spec.sort if p == "id" or _sort_key(site, table, p) is not None]
    sort = normalize_sort(table, sort)
    offset = (spec.page_number - 1) * spec.page_size
    ordered: Iterable[int]
    if not sort or sort == [("id", True)]:
        ordered = candidates_by_id(table, compiled, descending=bool(sort))
        stream: Iterator[int] = (r for r in ordered if match(r))
        return list(islice(stream, offset, offset + spec.page_size))
    if sort == [(table.index_field, False)]:
        lo, hi = _row_bounds(table, compiled)
        window = table.index.count(compiled.ts_lo, compiled.ts_hi)
        if compiled.id_set is None and (hi - lo + 1) * 4 >= window:
            stream = (
                r for r in table.index.rows(compiled.ts_lo, compiled.ts_hi) if lo <= r <= hi and match(r)
            )
            return list(islice(stream, offset, offset + spec.page_size))
    rows = [r for r in all_candidates(table, compiled) if match(r)]
    for path, desc in reversed(sort):
        key = (lambda r: r) if path == "id" else _sort_key(site, table, path)
        assert key is not None
        rows.sort(key=_null_last(key, desc), reverse=desc)
    return rows[offset : offset + spec.page_size]


def _null_last(key: Callable[[int], Any], desc: bool) -> Callable[[int], Any]:
    """Nulls sort last ascending and first descending, as PostgreSQL does."""

    def k(r: int) -> Any:
        v = key(r)
        return (1, 0) if v is None else (0, v)

    return k


def matching_rows(site: Site, table: Table, spec: QuerySpec, verb: str = "read") -> Iterator[int]:
    """Every matching row in id order (for summaries)."""
    match, compiled = matcher(site, table, spec, verb)
    return (r for r in all_candidates(table, compiled) if match(r))
