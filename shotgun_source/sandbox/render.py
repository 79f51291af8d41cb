"""Records on the wire: `{type, attributes, relationships, id, links}`.

Scalar fields go to `attributes`, entity and multi-entity fields only to `relationships` as
`{"data": ..., "links": {"self", "related"?}}`, and link `name`s are read from the target
at render time. Dotted paths (`entity.Shot.code`) come back flat under their literal key
in `attributes`. A renderer is built once per request for its field list, so the per-row
work is a loop over prepared (name, getter, encoder) triples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from .filters import resolve_path
from .schema import LINK_TYPES
from .values import _same, wire_encoder

if TYPE_CHECKING:
    from .site import Site
    from .table import Table


def parse_fields(raw: Any) -> list[str] | None:
    """`fields` from a query string ('a,b' or '*') or a JSON body (str or list); None = all."""
    if raw is None:
        return None
    if isinstance(raw, str):
        names = [f.strip() for f in raw.split(",") if f.strip()]
    elif isinstance(raw, list):
        names = [str(f).strip() for f in raw if str(f).strip()]
    else:
        return None
    if not names or "*" in names:
        return None
    return names


class Renderer:
    """Turns rows of one table into wire records for one field selection."""

    def __init__(
        self,
        site: Site,
        table: Table,
        fields: list[str] | None,
        prefix: str = "/api/v1",
        created_style: bool = False,
        only_set: bool = False,
    ) -> None:
        self.site = site
        self.table = table
        self.prefix = prefix
        self.entity_prefix = f"{prefix}/entity/{table.slug}/"
        self.only_set = only_set
        self.slugs = {t.name: t.slug for t in site.tables.values()}
        self.attrs: list[tuple[str, Callable[[int], Any], Callable[[Any], Any] | None]] = []
        self._links: dict[int, tuple[dict[str, Any], str]] = {}
        self._links_b: dict[int, tuple[bytes, bytes]] = {}
        self.rels: list[tuple[str, Callable[[int], Any], bool]] = []
        names = [f for f in table.fields if f != "id"] if fields is None else fields
        seen = set()
        for name in names:
            if name in seen or name in ("id", "type"):
                continue
            seen.add(name)
            acc = resolve_path(site, table, name)
            if acc is None:
                continue  # unknown fields are silently dropped
            dt = acc.fd.data_type
            if "." not in name and dt in LINK_TYPES:
                self.rels.append((name, acc.get, dt == "multi_entity"))
            elif dt in LINK_TYPES:
                self.attrs.append((name, acc.get, self._dotted_link(acc.multi or dt == "multi_entity")))
            else:
                enc = wire_encoder(dt, created_style)
                if acc.multi:
                    self.attrs.append((name, acc.get, lambda vs, e=enc: [e(v) for v in vs]))  # type: ignore[misc]
                else:
                    self.attrs.append((name, acc.get, None if enc is _same else enc))

        self.entity_prefix_b = self.entity_prefix.encode()
        self.head = b'{"type":' + orjson.dumps(table.name) + b',"attributes":'
        self.rels_b = [
            (b'"' + name.encode() + b'":{"data":', f"/relationships/{name}".encode(), get, multi)
            for name, get, multi in self.rels
        ]

    def _dotted_link(self, multi: bool) -> Callable[[Any], Any]:
        link = self.site.link

        def one(v: Any) -> Any:
            if isinstance(v, tuple):
                return [link(x) for x in v]
            return link(v) if v else None

        if multi:
            return lambda vs: [one(v) for v in vs]
        return one

    def _link_bytes(self, ref: int) -> tuple[bytes, bytes]:
        """(link data as JSON, related path) for a target, cached for this request."""
        hit = self._links_b.get(ref)
        if hit is None:
            d, related = self._link(ref)
            hit = (orjson.dumps(d), related.encode())
            self._links_b[ref] = hit
        return hit

    def render_json(self, row: int) -> bytes:
        """The same record as `render`, serialized directly (the hot path of every page).

        Relationship blocks are assembled from cached per-target JSON instead of building
        three dicts per link; `tests/sandbox/test_render.py` checks both paths agree.
        """
        rid = self.table.id_base + row
        self_link = self.entity_prefix_b + str(rid).encode()
        attrs: dict[str, Any] = {}
        if self.only_set:
            return orjson.dumps(self.render(row))
        for name, get, enc in self.attrs:
            attrs[name] = get(row) if enc is None else enc(get(row))
        out = [self.head, orjson.dumps(attrs), b',"relationships":{']
        link = self._link_bytes
        first = True
        for opening, suffix, get, multi in self.rels_b:
            v = get(row)
            if not first:
                out.append(b",")
            first = False
            out.append(opening)
            if multi:
                if v:
                    out.append(b"[" + b",".join([link(x)[0] for x in v]) + b"]")
                else:
                    out.append(b"[]")
                out += (b',"links":{"self":"', self_link, suffix, b'"}}')
            elif v:
                data, related = link(v)
                out += (data, b',"links":{"self":"', self_link, suffix, b'","related":"', related, b'"}}')
            else:
                out += (b'null,"links":{"self":"', self_link, suffix, b'"}}')
        out += (b'},"id":', str(rid).encode(), b',"links":{"self":"', self_link, b'"}}')
        return b"".join(out)

    def _link(self, ref: int) -> tuple[dict[str, Any], str]:
        """(link data, related path) for a target, cached for this request."""
        hit = self._links.get(ref)
        if hit is None:
            d = self.site.link(ref)
            hit = (d, f"{self.prefix}/entity/{self.slugs[d['type']]}/{d['id']}")
            self._links[ref] = hit
        return hit

    def render(self, row: int) -> dict[str, Any]:
        rid = self.table.id_base + row
        self_link = f"{self.entity_prefix}{rid}"
        attrs: dict[str, Any] = {}
        if self.only_set:
            for name, get, enc in self.attrs:
                v = get(row)
                if v is not None and v is not False:
                    attrs[name] = v if enc is None else enc(v)
        else:
            for name, get, enc in self.attrs:
                attrs[name] = get(row) if enc is None else enc(get(row))
        rels: dict[str, Any] = {}
        link = self._link
        for name, get, multi in self.rels:
            v = get(row)
            rel_self = f"{self_link}/relationships/{name}"
            if multi:
                rels[name] = {"data": [link(x)[0] for x in v] if v else [], "links": {"self": rel_self}}
            elif v:
                d, related = link(v)
                rels[name] = {"data": d, "links": {"self": rel_self, "related": related}}
            elif not self.only_set:
                rels[name] = {"data": None, "links": {"self": rel_self}}
        return {
            "type": self.table.name,
            "attributes": attrs,
            "relationships": rels,
            "id": rid,
            "links": {"self": self_link},
        }
