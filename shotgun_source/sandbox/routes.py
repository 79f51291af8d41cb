"""URL routing: which endpoint a request is, and dispatch to it.

`classify` is separate from `dispatch` because the request log and the fault layer need
to know a request's kind (token, search, read, write, ...) and entity type before it runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import api_auth, api_entity, api_meta, errors
from .api_entity import Context
from .errors import ApiError
from .messages import Request, Response
from .prefetch import PageCache
from .site import Site
from .table import Table
from .tokens import TokenIssuer

_PREFIX = re.compile(r"^(/api/v1(?:\.1)?)(/.*)?$")
DATA_KINDS = frozenset({"read", "search", "summarize", "schema", "write", "preferences"})


@dataclass
class Route:
    kind: str
    prefix: str = ""
    parts: tuple[str, ...] = ()
    entity_type: str | None = None


def classify(req: Request, site: Site) -> Route:
    if req.path.startswith("/_sandbox/"):
        return Route("admin")
    m = _PREFIX.match(req.path)
    if m is None:
        return Route("other")
    prefix = m.group(1)
    parts = tuple(p for p in (m.group(2) or "").split("/") if p)
    if not parts:
        return Route("info", prefix)
    head = parts[0]
    if head == "auth" and parts[1:] == ("access_token",):
        return Route("token", prefix, parts)
    if head == "preferences":
        return Route("preferences", prefix, parts)
    if head == "schema":
        table = site.table(parts[1]) if len(parts) > 1 else None
        return Route("schema", prefix, parts, table.name if table else None)
    if head == "entity" and len(parts) >= 2:
        table = site.table(parts[1])
        name = table.name if table else None
        if len(parts) == 3 and parts[2] == "_search":
            return Route("search", prefix, parts, name)
        if len(parts) == 3 and parts[2] == "_summarize":
            return Route("summarize", prefix, parts, name)
        kind = "read" if req.method == "GET" else "write"
        return Route(kind, prefix, parts, name)
    return Route("other", prefix, parts)


class Router:
    """Dispatches classified requests to the endpoint functions."""

    def __init__(self, site: Site, tokens: TokenIssuer) -> None:
        self.site = site
        self.tokens = tokens
        self.pages = PageCache(site)

    def dispatch(
        self,
        req: Request,
        route: Route,
        *,
        token_lifetime: float,
        forbidden_status: int = 400,
        next_link_host: str | None = None,
        drop_updated_at: bool = False,
    ) -> Response:
        if route.kind == "token":
            if req.method != "POST":
                raise ApiError(404, 103, "Not Found", None, None)
            return api_auth.token_endpoint(req, self.site, self.tokens, token_lifetime)
        if route.kind == "info":
            return api_meta.server_info(self.site)
        if route.kind == "other":
            raise ApiError(404, 103, "Not Found", None, None)
        grant = api_auth.bearer_grant(req, self.tokens)
        script = None
        if grant.user["type"] == "ApiUser":
            script = next((s for s in self.site.scripts.values() if s.api_user_id == grant.user["id"]), None)
        ctx = Context(
            self.site,
            grant,
            script,
            route.prefix,
            forbidden_status,
            next_link_host,
            drop_updated_at,
            self.pages,
        )
        if route.kind == "preferences":
            return api_meta.preferences(route.prefix)
        if route.kind == "schema":
            return api_meta.schema(self.site, route.prefix, list(route.parts[1:]))
        return self._entity(req, route, ctx)

    def _entity(self, req: Request, route: Route, ctx: Context) -> Response:
        if "vnd+shotgun" in req.headers.get("accept", ""):
            # the vendor types select the filter syntax of a request body; as Accept they are refused
            return Response(406, b"", content_type=None)
        segment = route.parts[1]
        table = self.site.table(segment)
        if table is None:
            raise errors.unknown_type(segment)
        rest = route.parts[2:]
        if route.kind == "search":
            return self._post_only(req, lambda: api_entity.search(req, ctx, table))
        if route.kind == "summarize":
            return self._post_only(req, lambda: api_entity.summarize(req, ctx, table))
        if not rest:
            if req.method == "GET":
                return api_entity.read_list(req, ctx, table)
            if req.method == "POST":
                return api_entity.create(req, ctx, table)
            raise ApiError(405, 103, "Method Not Allowed", None, None)
        if len(rest) != 1:
            raise ApiError(404, 103, "Not Found", None, None)
        entity_id = _entity_id(table, rest[0])
        if req.method == "GET":
            return api_entity.read_one(req, ctx, table, entity_id)
        if req.method == "PUT":
            return api_entity.update(req, ctx, table, entity_id)
        if req.method == "DELETE":
            return api_entity.delete(ctx, table, entity_id)
        if req.method == "POST":
            return api_entity.revive(req, ctx, table, entity_id, segment)
        raise ApiError(405, 103, "Method Not Allowed", None, None)

    @staticmethod
    def _post_only(req: Request, handler: Callable[[], Response]) -> Response:
        if req.method != "POST":
            raise ApiError(405, 103, "Method Not Allowed", None, None)
        return handler()


def _entity_id(table: Table, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise errors.record_not_found(table.name, raw) from None
