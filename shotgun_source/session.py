"""`SiteSession`: what one run shares with the site, in one object the readers are given.

The origin, the bearer auth (one token for every thread), the request counts, the site's clock and
the request slots belong to the run, not to one reader: the window reads, the event-log reads and the
id reconciliation all page through `search` here, under the same `max_concurrent_requests` limit.

It also notices a field deleted on the site while the run reads: the server answers `fields: "*"`
with every field of the type and drops unknown names from a list at 200, so a field the schema
read named and a page lacks is gone. `fields_gone()` lists them for the run's report.
"""

import datetime as dt
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from dlt.sources.helpers.rest_client import RESTClient
from requests import Response

from .auth import ShotgunAuth
from .paginator import ShotgunKeysetPaginator
from .responses import ResponseChecker
from .settings import SEARCH_CONTENT_TYPE
from .transport import RequestStats, search_client

SHOTGRID_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""How ShotGrid writes and filters date_time values: UTC, whole seconds."""
HASH_FILTERS_CONTENT_TYPE = "application/vnd+shotgun.api3_hash+json"
RECORD_KEYS = frozenset({"id", "type"})
"""Fields a record carries at its top level, not under `attributes` or `relationships`."""
"""`_search` with nested and/or groups takes hash filters, announced by this content type."""


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
        self._local = threading.local()
        self._fields_lock = threading.Lock()
        self._expected_fields: dict[str, frozenset[str]] = {}
        self._fields_gone: dict[str, set[str]] = {}

    def expect_fields(self, entity_type: str, names: Iterable[str]) -> None:
        """The fields the site's schema named for `entity_type` when the source was built."""
        self._expected_fields[entity_type] = frozenset(names) - RECORD_KEYS

    def fields_gone(self) -> dict[str, list[str]]:
        """Fields that pages lacked although the schema read named them (deleted during the run)."""
        with self._fields_lock:
            return {entity_type: sorted(names) for entity_type, names in sorted(self._fields_gone.items())}

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

    def now(self) -> str:
        """Now by the site's clock (from the Date header of the token answer), as ShotGrid writes it."""
        return time.strftime(SHOTGRID_TIME_FORMAT, time.gmtime(self.auth.site_now()))

    def read_time(self) -> dt.datetime:
        """Now by the site's clock, to the microsecond: when a page was read. Strictly increasing,
        so a page read after another carries a later time."""
        return dt.datetime.fromtimestamp(self.auth.site_now(), tz=dt.UTC)

    def client(self) -> RESTClient:
        """This thread's client: dlt's sessions are not shared across threads."""
        client: RESTClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = search_client(self.site_url, self.auth)
        return client

    def search(
        self, entity_type: str, body: dict[str, Any], page_size: int, start_after: int = 0
    ) -> Iterator[list[dict[str, Any]]]:
        """Keyset pages of `POST entity/{type}/_search` (ids above `start_after`), each request
        holding a slot while it is in flight. Hash filters (a dict) get their own content type."""
        pages = self.client().paginate(
            f"entity/{entity_type}/_search",
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

    def post_search(self, entity_type: str, body: dict[str, Any]) -> Response:
        """One `_search` request (no paging), under a slot."""
        with self.slots:
            return self.client().post(
                f"entity/{entity_type}/_search",
                json=body,
                headers={"Content-Type": content_type_of(body)},
                hooks={"response": [self.check]},
            )


def content_type_of(body: dict[str, Any]) -> str:
    return HASH_FILTERS_CONTENT_TYPE if isinstance(body.get("filters"), dict) else SEARCH_CONTENT_TYPE
