"""Entity endpoints: list/read, `_search`, `_summarize`, create, update, delete, revive.

Everything here runs under the site lock, so a page is rendered from one state; faults
that act around a request (latency, hooks, bursts) live in app.py, outside the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from . import errors
from .errors import ApiError
from .filters import Group, parse_array, parse_get_filters, parse_hash, resolve_path
from .messages import Request, Response, json_response
from .params import page_links, parse_options, parse_page, parse_sort, with_query
from .prefetch import Page, PageCache, next_keyset_spec, page_key
from .query import QuerySpec, execute, matching_rows
from .render import Renderer, parse_fields
from .site import Script, Site
from .table import LIVE, RETIRED, Table
from .tokens import Grant
from .values import wire_encoder

ARRAY = "application/vnd+shotgun.api3_array+json"
HASH = "application/vnd+shotgun.api3_hash+json"
SUMMARY_TYPES = (
    "record_count",
    "count",
    "sum",
    "maximum",
    "minimum",
    "average",
    "earliest",
    "latest",
    "percentage",
    "status_percentage",
    "status_list",
    "checked",
    "unchecked",
)


@dataclass
class Context:
    """One request's caller and the per-request fault settings handlers need."""

    site: Site
    grant: Grant
    script: Script | None
    prefix: str  # "/api/v1" or "/api/v1.1", as called
    forbidden_status: int = 400
    next_link_host: str | None = None
    drop_updated_at: bool = False
    pages: PageCache | None = None

    def user_ref(self) -> dict[str, Any]:
        return dict(self.grant.user)

    def check_access(self, table: Table, action: str = "accessed") -> None:
        if self.script is not None and table.name in self.script.denied_types:
            raise ApiError(
                self.forbidden_status,
                104,
                f"Entity of type {table.name} can not be {action} by this user. "
                f"Rule: {self.script.name} -- PermissionRule 1: DENY read FOR entity_type => {table.name}",
                {},
            )


# ---- reads -------------------------------------------------------------------------
def _renderer(ctx: Context, table: Table, fields: list[str] | None) -> Renderer:
    if ctx.drop_updated_at:
        names = [f for f in table.fields if f != "id"] if fields is None else list(fields)
        fields = [f for f in names if f != "updated_at"]
    return Renderer(ctx.site, table, fields, ctx.prefix)


def _render_page(
    ctx: Context, table: Table, spec: QuerySpec, fields: list[str] | None, links: dict[str, str]
) -> Page:
    with ctx.site.lock:
        generation = ctx.site.generation
        rows = execute(ctx.site, table, spec)
        renderer = _renderer(ctx, table, fields)
        records = b",".join([renderer.render_json(r) for r in rows])
        last_id = table.id_for_row(rows[-1]) if rows else None
    body = b'{"data":[' + records + b'],"links":' + orjson.dumps(links) + b"}"
    return body, len(rows), generation, last_id


def _page(
    ctx: Context, table: Table, spec: QuerySpec, fields: list[str] | None, req: Request, links: dict[str, str]
) -> Response:
    """One page of records; keyset pages come from, and feed, the prefetch cache."""
    if ctx.next_link_host:
        links["next"] = ctx.next_link_host.rstrip("/") + links["next"]
    cache = (
        ctx.pages if ctx.pages is not None and not ctx.next_link_host and not ctx.drop_updated_at else None
    )
    page = None
    if cache is not None:
        page = cache.take(page_key(table.name, spec, fields, req.path, req.query))
    if page is None:
        page = _render_page(ctx, table, spec, fields, links)
    body, n_rows, _, last_id = page
    if cache is not None and n_rows == spec.page_size and last_id is not None:
        nxt = next_keyset_spec(spec, last_id)
        if nxt is not None:
            key = page_key(table.name, nxt, fields, req.path, req.query)
            cache.prefetch(key, lambda: _render_page(ctx, table, nxt, fields, dict(links)))
    return Response(200, body, rows=n_rows)


def read_list(req: Request, ctx: Context, table: Table) -> Response:
    q = req.query
    ctx.check_access(table)
    number, size = parse_page(q.get("page[number]"), q.get("page[size]"))
    sort = parse_sort(q.get("sort"))
    retired, archived = parse_options(
        q.get("options[return_only]"), q.get("options[include_archived_projects]")
    )
    spec = QuerySpec(parse_get_filters(q), sort, number, size, retired, archived)
    with ctx.site.lock:
        _validate_filters(ctx, table, spec.filters)
    links = page_links(req.path, q, number, size)
    return _page(ctx, table, spec, parse_fields(q.get("fields")), req, links)


def _validate_filters(ctx: Context, table: Table, group: Group) -> None:
    """Compile once up front so filter errors are 400s even on an empty table."""
    from .filters import FilterCompiler

    FilterCompiler(ctx.site, table).compile(group)


def read_one(req: Request, ctx: Context, table: Table, entity_id: int) -> Response:
    q = req.query
    ctx.check_access(table)
    retired, _ = parse_options(q.get("options[return_only]"), q.get("options[include_archived_projects]"))
    with ctx.site.lock:
        row = table.row_for_id(entity_id)
        if row is None or table.state[row] != (RETIRED if retired else LIVE):
            raise errors.record_not_found(table.name, entity_id)
        record = _renderer(ctx, table, parse_fields(q.get("fields"))).render_json(row)
    links = orjson.dumps({"self": with_query(req.path, q)})
    return Response(200, b'{"data":' + record + b',"links":' + links + b"}", rows=1)


def _search_body(req: Request) -> dict[str, Any]:
    media = req.media_type()
    if media not in (ARRAY, HASH):
        raise ApiError(
            415,
            103,
            f"Unsupported Content-Type '{media}'",
            {"content_type": f"Content-Type must be one of: '{ARRAY}', '{HASH}'."},
        )
    body = req.json_body()
    if not isinstance(body, dict):
        raise errors.bad_request(f"Request body must be a JSON object: {req.body[:200]!r}")
    return body


def _filters(req: Request, body: dict[str, Any]) -> Group:
    raw = body.get("filters")
    return parse_hash(raw) if req.media_type() == HASH else parse_array(raw)


def search(req: Request, ctx: Context, table: Table) -> Response:
    body = _search_body(req)
    ctx.check_access(table)
    q = req.query
    page: dict[str, Any] = body["page"] if isinstance(body.get("page"), dict) else {}
    number, size = parse_page(
        page.get("number", q.get("page[number]")), page.get("size", q.get("page[size]"))
    )
    sort = parse_sort(body["sort"] if "sort" in body else q.get("sort"))
    options: dict[str, Any] = body["options"] if isinstance(body.get("options"), dict) else {}
    retired, archived = parse_options(
        options.get("return_only", q.get("options[return_only]")),
        options.get("include_archived_projects", q.get("options[include_archived_projects]")),
    )
    spec = QuerySpec(_filters(req, body), sort, number, size, retired, archived)
    with ctx.site.lock:
        _validate_filters(ctx, table, spec.filters)
    fields = parse_fields(body["fields"] if "fields" in body else q.get("fields"))
    links = page_links(req.path, q, number, size)
    return _page(ctx, table, spec, fields, req, links)


# ---- summaries ---------------------------------------------------------------------
def summarize(req: Request, ctx: Context, table: Table) -> Response:
    body = _search_body(req)
    ctx.check_access(table)
    summary_fields = body.get("summary_fields")
    if not isinstance(summary_fields, list) or not summary_fields:
        raise errors.invalid_params({"summary_fields": ["summary_fields must be filled"]})
    problems: dict[str, Any] = {}
    for i, sf in enumerate(summary_fields):
        if not isinstance(sf, dict) or sf.get("type") not in SUMMARY_TYPES:
            problems[str(i)] = {"type": ["type must be one of: " + ", ".join(SUMMARY_TYPES)]}
    if problems:
        raise errors.invalid_params({"summary_fields": problems})
    options: dict[str, Any] = body["options"] if isinstance(body.get("options"), dict) else {}
    retired, archived = parse_options(options.get("return_only"), options.get("include_archived_projects"))
    spec = QuerySpec(_filters(req, body), [], 1, 1, retired, archived)
    grouping = body.get("grouping") or []
    with ctx.site.lock:
        for sf in summary_fields:
            if sf["type"] != "record_count" and resolve_path(ctx.site, table, str(sf.get("field"))) is None:
                raise errors.unknown_field("summarize", table.name, str(sf.get("field")))
        rows = list(matching_rows(ctx.site, table, spec, "summarize"))
        data: dict[str, Any] = {"summaries": _summaries(ctx.site, table, summary_fields, rows), "groups": []}
        if grouping:
            data["groups"] = _groups(ctx.site, table, summary_fields, grouping, rows)
    return json_response(200, {"data": data})


def _summaries(
    site: Site, table: Table, summary_fields: list[dict[str, Any]], rows: list[int]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sf in summary_fields:
        name, kind = str(sf.get("field")), sf["type"]
        if kind == "record_count":
            out[name] = len(rows)
            continue
        acc = resolve_path(site, table, name)
        assert acc is not None
        values = [v for v in (acc.get(r) for r in rows) if v is not None]
        dt = acc.fd.data_type
        enc = wire_encoder(dt)
        out[name] = _aggregate(kind, dt, values, len(rows), enc)
    return out


def _aggregate(kind: str, dt: str, values: list[Any], n_rows: int, enc: Any) -> Any:
    if kind == "count":
        return len(values)
    if kind == "checked":
        return sum(1 for v in values if v)
    if kind == "unchecked":
        return n_rows - sum(1 for v in values if v)
    if kind == "percentage":
        return round(100 * len(values) / n_rows) if n_rows else 0
    if kind in ("status_list", "status_percentage"):
        counts: dict[str, int] = {}
        for v in values:
            counts[str(v)] = counts.get(str(v), 0) + 1
        if kind == "status_list":
            return counts
        return {k: round(100 * c / n_rows) for k, c in counts.items()} if n_rows else {}
    numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numeric:
        return None
    if kind in ("maximum", "latest"):
        return enc(max(numeric))
    if kind in ("minimum", "earliest"):
        return enc(min(numeric))
    if kind == "sum":
        return enc(sum(numeric)) if dt in ("float", "currency") else sum(numeric)
    return round(sum(numeric) / len(numeric), 6)


def _groups(
    site: Site, table: Table, summary_fields: list[dict[str, Any]], grouping: Any, rows: list[int]
) -> list[dict[str, Any]]:
    if not isinstance(grouping, list) or not isinstance(grouping[0], dict):
        raise errors.invalid_params({"grouping": ["grouping must be an array of hashes"]})
    name = str(grouping[0].get("field"))
    acc = resolve_path(site, table, name)
    if acc is None:
        raise errors.unknown_field("summarize", table.name, name)
    buckets: dict[Any, list[int]] = {}
    for r in rows:
        v = acc.get(r)
        buckets.setdefault(tuple(v) if isinstance(v, list) else v, []).append(r)
    enc = wire_encoder(acc.fd.data_type)
    out = []
    for key in sorted(buckets, key=lambda k: (k is None, str(k))):
        if acc.fd.data_type == "entity":
            value: Any = site.link(key) if key else None
            label = value["name"] if value else ""
        else:
            value = enc(key)
            label = "" if key is None else str(value)
        out.append(
            {
                "group_name": label,
                "group_value": value,
                "summaries": _summaries(site, table, summary_fields, buckets[key]),
            }
        )
    return out


# ---- writes ------------------------------------------------------------------------
def _write_body(req: Request) -> dict[str, Any]:
    media = req.media_type()
    if media not in ("", "application/json"):
        raise ApiError(
            415,
            103,
            f"Unsupported Content-Type '{media}'",
            {"content_type": "Content-Type must be one of: 'application/json'."},
        )
    body = req.json_body()
    if not isinstance(body, dict):
        raise errors.bad_request("Request body must be a JSON object.")
    return body


def create(req: Request, ctx: Context, table: Table) -> Response:
    attrs = _write_body(req)
    ctx.check_access(table, "created")
    with ctx.site.lock:
        row = ctx.site.create_row(table.name, attrs, user=ctx.user_ref(), strict=True)
        renderer = Renderer(ctx.site, table, None, ctx.prefix, created_style=True, only_set=True)
        record = renderer.render(row)
    return json_response(201, {"data": record}, rows=1)


def update(req: Request, ctx: Context, table: Table, entity_id: int) -> Response:
    changes = _write_body(req)
    ctx.check_access(table, "updated")
    with ctx.site.lock:
        row = table.row_for_id(entity_id)
        if row is None or table.state[row] != LIVE:
            raise errors.record_missing(table.name, entity_id)
        ctx.site.update_row(table, row, changes, user=ctx.user_ref(), strict=True)
        record = Renderer(ctx.site, table, None, ctx.prefix).render_json(row)
    return Response(200, b'{"data":' + record + b',"links":{},"status":"successful"}', rows=1)


def delete(ctx: Context, table: Table, entity_id: int) -> Response:
    ctx.check_access(table, "deleted")
    ctx.site.retire(table.name, entity_id, user=ctx.user_ref())
    return Response(204, b"", content_type=None)


def revive(req: Request, ctx: Context, table: Table, entity_id: int, type_segment: str) -> Response:
    if "revive" not in req.query:
        raise errors.invalid_params({"revive": ["revive is missing"]})
    ctx.check_access(table, "revived")
    did = ctx.site.revive(table.name, entity_id, user=ctx.user_ref())
    return json_response(
        200,
        {
            "data": {"type": table.name, "id": entity_id},
            "links": {"self": f"{ctx.prefix}/entity/{type_segment}/{entity_id}"},
            "meta": {"did_revive": did},
        },
    )
