"""`SiteSession`: what one run shares with the site, in one object the readers are given.

The origin, the bearer auth (one token for every thread), the request counts, the site's clock and
the request slots belong to the run, not to one reader: the window reads, the event-log reads and the
id reconciliation all page through `search` here, under the same `max_concurrent_requests` limit.

It also notices a field deleted on the site while the run reads: the server answers `fields: "*"`
with every field of the type and drops unknown names from a list at 200, so a field the schema
read named and a page lacks is gone. `fields_gone()` lists them for the run's report.
"""

import copy
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from dlt.sources.helpers.rest_client import RESTClient
from requests import Response

from .auth import ShotgunAuth
from .paginator import ShotgunKeysetPaginator, keyset_body, next_keyset_cursor, set_keyset_cursor
from .reads import content_type_of, search_path
from .responses import ResponseChecker
from .settings import SHOTGRID_TIME_FORMAT
from .transport import RequestStats, SiteClient, runtime_settings, search_client

__all__ = ["SHOTGRID_TIME_FORMAT", "RequestSlots", "SiteSession"]  # the format lives in settings.py


class ConvertedPage(Protocol):
    """What keyset paging needs to know of a converted page."""

    @property
    def row_count(self) -> int: ...

    @property
    def last_id(self) -> int | None: ...


P = TypeVar("P", bound=ConvertedPage)


class ClientPool:
    """`_search` clients, each lent to one request (or one paging generator) at a time.

    dlt's sessions are not thread-safe, so a read needs a client of its own; but reader threads come
    and go (each id-range read has its own thread pool): one client per thread made about 23 in a
    full load of the five default types. Lent per request, the pool makes only as many as were ever
    in use at once, each a new session of the one `SiteClient` the site session made, with the
    runtime settings it resolved."""

    def __init__(self, make: Callable[[], RESTClient]) -> None:
        self._make = make
        self._free: list[RESTClient] = []
        self._lock = threading.Lock()
        self.made = 0

    @contextmanager
    def lent(self) -> Iterator[RESTClient]:
        with self._lock:
            client = self._free.pop() if self._free else None
            if client is None:
                self.made += 1
        if client is None:
            client = self._make()
        try:
            yield client
        finally:
            with self._lock:
                self._free.append(client)


RECORD_KEYS = frozenset({"id", "type"})
"""Fields a record carries at its top level, not under `attributes` or `relationships`."""


class RequestSlots:
    """How many requests may be in flight at once, for all entity types of a source together:
    parallel enough to hide the site's latency, polite enough not to be rate limited."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)

    def __enter__(self) -> "RequestSlots":
        self._semaphore.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._semaphore.release()


class SiteSession:
    """One run's connection to one site: origin, auth, counts, clock and request slots."""

    def __init__(self, site_url: str, auth: ShotgunAuth, max_concurrent_requests: int) -> None:
        self.site_url = site_url
        self.auth = auth
        self.slots = RequestSlots(max_concurrent_requests)
        self.check = ResponseChecker(site_url)
        self.check_unparsed = ResponseChecker(site_url, parse_body=False)
        # made here, not on the reader threads that make the clients (`runtime_settings` says why)
        runtime = runtime_settings()
        http = SiteClient(auth.request_stats, runtime, raise_for_status=False)
        self.clients = ClientPool(lambda: search_client(self.site_url, self.auth, http, runtime))
        self._markers_lock = threading.Lock()
        self._markers: Counter[str] = Counter()
        self.empty_tables: set[str] = set()
        """Tables the destination holds no rows of, as a runner found before this run
        (`shotgun_source.load`): a first load may append to them instead of merging."""
        self._fields_lock = threading.Lock()
        self._expected_fields: dict[str, frozenset[str]] = {}
        self._fields_gone: dict[str, set[str]] = {}

    def count_markers(self, table: str, rows: int) -> None:
        """Marker rows handed to dlt for `table` (they clear old links and are never stored)."""
        if rows:
            with self._markers_lock:
                self._markers[table] += rows

    def take_markers(self) -> Counter[str]:
        """The marker rows counted since the last call: a run's report leaves them out of its rows."""
        with self._markers_lock:
            taken, self._markers = self._markers, Counter()
        return taken

    def expect_fields(self, entity_type: str, names: Iterable[str]) -> None:
        """The fields the site's schema named for `entity_type` when the source was built."""
        self._expected_fields[entity_type] = frozenset(names) - RECORD_KEYS

    def fields_gone(self) -> dict[str, list[str]]:
        """Fields that pages lacked although the schema read named them (deleted during the run)."""
        with self._fields_lock:
            return {entity_type: sorted(names) for entity_type, names in sorted(self._fields_gone.items())}

    def field_gone(self, entity_type: str, name: str) -> None:
        """A page of `entity_type` came without `name`, which the schema read named."""
        with self._fields_lock:
            self._fields_gone.setdefault(entity_type, set()).add(name)

    def _note_missing_fields(self, entity_type: str, body: dict[str, Any], record: Any) -> None:
        expected = self._expected_fields.get(entity_type)
        if not expected or not isinstance(record, dict):
            return
        asked = body.get("fields")
        wanted = (
            expected
            if asked == "*" or (isinstance(asked, list) and "*" in asked)
            else expected & set(asked or ())
        )
        present = set(record.get("attributes") or {}) | set(record.get("relationships") or {})
        missing = wanted - present
        if missing:
            with self._fields_lock:
                self._fields_gone.setdefault(entity_type, set()).update(missing)

    @property
    def stats(self) -> RequestStats:
        """Every request sent to the site with these credentials, retries included."""
        return self.auth.request_stats

    def window_end(self) -> str:
        """Where a read that starts now ends, as ShotGrid writes it: now by the site's clock (from the
        Date header of the token answer, to half a second). A change stamped in that second while
        the run pages is read again by the next run, which starts at least a second before its
        cursor (`reads.overlap_seconds`)."""
        return time.strftime(SHOTGRID_TIME_FORMAT, time.gmtime(self.auth.site_now()))

    def search(
        self, entity_type: str, body: dict[str, Any], page_size: int, start_after: int = 0
    ) -> Iterator[list[dict[str, Any]]]:
        """Keyset pages of `POST entity/{type}/_search` (ids above `start_after`), each request
        holding a slot while it is in flight. Hash filters (a dict) get their own content type."""
        with self.clients.lent() as client:  # for the whole paging: its paginator lives in it
            pages = client.paginate(
                search_path(entity_type),
                method="POST",
                json=body,
                headers={"Content-Type": content_type_of(body)},
                paginator=ShotgunKeysetPaginator(page_size, start_after=start_after),
                hooks={"response": [self.check]},
            )
            while True:
                with self.slots:
                    page = next(pages, None)
                if page is None:
                    return
                records = list(page)
                if records:
                    self._note_missing_fields(entity_type, body, records[0])
                yield records

    def converted_pages(
        self,
        entity_type: str,
        body: dict[str, Any],
        page_size: int,
        convert: Callable[[bytes], P],
        start_after: int = 0,
    ) -> Iterator[P]:
        """Keyset pages of a `_search`, each converted from its bytes by `convert` (no JSON parse in
        between): the columnar path. A page's conversion tells its size and last id (`row_count`,
        `last_id`), which the next request needs. The slot is held while a request is in flight,
        not while its page converts."""
        body = keyset_body(copy.deepcopy(body), page_size)
        after = start_after
        while True:
            set_keyset_cursor(body, after)
            with self.slots, self.clients.lent() as client:
                content = client.post(
                    search_path(entity_type),
                    json=body,
                    headers={"Content-Type": content_type_of(body)},
                    hooks={"response": [self.check_unparsed]},
                ).content
            page = convert(content)
            yield page
            if page.row_count < page_size:
                return
            after = next_keyset_cursor(after, page.last_id)

    def post_search(self, entity_type: str, body: dict[str, Any]) -> Response:
        """One `_search` request (no paging), under a slot."""
        with self.slots, self.clients.lent() as client:
            return client.post(
                search_path(entity_type),
                json=body,
                headers={"Content-Type": content_type_of(body)},
                hooks={"response": [self.check]},
            )
