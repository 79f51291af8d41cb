"""Render the next keyset page while the client is still parsing this one.

A keyset client (sort by id, `id greater_than <last id>`, page 1) cannot ask for page N+1
before it has parsed page N, so without help the server idles while the client parses and
the client idles while the server renders. After a full keyset page the sandbox renders
the predicted next page in a background thread; when that request arrives it is answered
from this cache.

The cache can never serve stale data: an entry records the site's write generation, every
write bumps it, and a hit is only served if the generation still matches (checked under
the site lock). A key is the request's parsed meaning, so a request the cache did not
predict simply misses.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import orjson

from .filters import Condition, Group
from .query import QuerySpec

if TYPE_CHECKING:
    from .site import Site

_CLOCK_RELATIONS = ("in_last", "not_in_last", "in_next", "not_in_next", "in_calendar_")
Page = tuple[bytes, int, int, int | None]  # (body, rows, site generation, id of the last row)


def _canonical(item: Condition | Group) -> Any:
    if isinstance(item, Group):
        return [item.op, [_canonical(i) for i in item.items]]
    return [item.path, item.relation, item.value]


def _clock_free(item: Condition | Group) -> bool:
    """Filters whose answer does not depend on the current time."""
    if isinstance(item, Group):
        return all(_clock_free(i) for i in item.items)
    return not item.relation.startswith(_CLOCK_RELATIONS)


def page_key(
    table: str, spec: QuerySpec, fields: list[str] | None, path: str, query: dict[str, str]
) -> bytes:
    return orjson.dumps(
        [
            table,
            _canonical(spec.filters),
            spec.sort,
            spec.page_number,
            spec.page_size,
            spec.retired,
            spec.include_archived_projects,
            fields,
            path,
            sorted(query.items()),
        ],
        default=str,
    )


def next_keyset_spec(spec: QuerySpec, last_id: int) -> QuerySpec | None:
    """The spec a keyset client sends next: the same, with `id greater_than last_id`."""
    if spec.page_number != 1 or spec.sort not in ([], [("id", False)]) or not _clock_free(spec.filters):
        return None
    group = spec.filters
    if group.op != "and" and len(group.items) != 1:
        return None
    nxt = copy.deepcopy(spec)
    for item in nxt.filters.items:
        if isinstance(item, Condition) and item.path == "id" and item.relation == "greater_than":
            item.value = last_id
            return nxt
    return None


class PageCache:
    """A few recently predicted pages, keyed by request meaning."""

    def __init__(self, site: Site, max_entries: int = 4, enabled: bool = True) -> None:
        self.site = site
        self.enabled = enabled
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._pages: OrderedDict[bytes, Future[Page]] = OrderedDict()
        self._threads: set[threading.Thread] = set()
        self.hits = 0
        self.misses = 0  # predicted pages that were asked for but had gone stale

    def take(self, key: bytes) -> Page | None:
        """The predicted page for `key` if it is still current (waits if it is being rendered)."""
        if not self.enabled:
            return None
        with self._lock:
            fut = self._pages.pop(key, None)
        if fut is None:
            return None
        try:
            page = fut.result(timeout=60)
        except Exception:
            return None
        with self.site.lock:
            fresh = page[2] == self.site.generation
        with self._lock:
            if fresh:
                self.hits += 1
            else:
                self.misses += 1
        return page if fresh else None

    def prefetch(self, key: bytes, render: Callable[[], Page]) -> None:
        """Render a predicted page in the background (unless it is already cached)."""
        if not self.enabled:
            return
        with self._lock:
            if key in self._pages:
                return
            fut: Future[Page] = Future()
            self._pages[key] = fut
            while len(self._pages) > self.max_entries:
                self._pages.popitem(last=False)

        def run() -> None:
            try:
                fut.set_result(render())
            except BaseException as exc:  # surfaced as a miss by take()
                fut.set_exception(exc)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        t = threading.Thread(target=run, daemon=True, name="sandbox-prefetch")
        with self._lock:
            self._threads.add(t)
        t.start()

    def close(self) -> None:
        """Forget every page and wait for renders in flight (the sandbox is stopping)."""
        with self._lock:
            self._pages.clear()
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=30)
