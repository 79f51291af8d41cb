"""The HTTP sessions the source talks to the site with: dlt's retrying client, counted.

Every request goes through dlt's `Client` (retries on 429 and 5xx honouring `Retry-After`,
timeouts, all from dlt's `[runtime]` settings); its sessions send through a counting adapter, so
a run can say how many requests it made and how many dlt had to retry, retries included.
"""

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.sources.helpers.requests.retry import Client
from dlt.sources.helpers.rest_client import RESTClient
from requests import PreparedRequest, RequestException, Response
from requests.adapters import HTTPAdapter

from .settings import API_PREFIX, SEARCH_CONTENT_TYPE, TOKEN_PATH

if TYPE_CHECKING:
    from .auth import ShotgunAuth  # auth.py builds its own token client from this module

REQUEST_KINDS = ("token", "schema", "records", "event log", "other")


def request_kind(path: str) -> str:
    """What a ShotGrid REST request is for, by its path."""
    if path == TOKEN_PATH:
        return "token"
    if path.startswith(f"{API_PREFIX}/schema"):
        return "schema"
    if path.startswith(f"{API_PREFIX}/entity/EventLogEntry/"):
        return "event log"
    if path.startswith(f"{API_PREFIX}/entity/"):
        return "records"
    return "other"


@dataclass(frozen=True)
class RequestCounts:
    """Requests sent to the site, by kind and by answer: a snapshot, or the difference of two (one run)."""

    by_kind: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    failed_connections: int = 0

    def __sub__(self, earlier: "RequestCounts") -> "RequestCounts":
        return RequestCounts(
            self.by_kind - earlier.by_kind,
            self.by_status - earlier.by_status,
            self.failed_connections - earlier.failed_connections,
        )

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    @property
    def retryable_answers(self) -> int:
        """Answers dlt retries: 429 (rate limited) and 5xx (down, maintenance)."""
        return sum(n for status, n in self.by_status.items() if status == 429 or status >= 500)

    @property
    def retried(self) -> int:
        """Attempts that failed in a way dlt retries (each was tried again, or ended the run)."""
        return self.retryable_answers + self.failed_connections

    @property
    def renewed(self) -> int:
        """Requests answered 401 and sent again with a new token."""
        return self.by_status.get(401, 0)

    def describe(self) -> str:
        kinds = ", ".join(f"{kind} {self.by_kind[kind]:,}" for kind in REQUEST_KINDS if self.by_kind[kind])
        return (
            f"{self.total:,} to ShotGrid ({kinds or 'none'}); retried {self.retried:,}"
            f" ({self.retryable_answers:,} answers 429/5xx, {self.failed_connections:,} failed connections)"
            + (
                f"; {self.renewed:,} answered 401 and were sent again with a new token"
                if self.renewed
                else ""
            )
        )


class RequestStats:
    """Requests one source sent to the site: every attempt, so dlt's retries count too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_kind: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.failed_connections = 0
        self._reported = RequestCounts()

    def record(self, path: str, status: int | None) -> None:
        with self._lock:
            self.by_kind[request_kind(path)] += 1
            if status is None:
                self.failed_connections += 1
            else:
                self.by_status[status] += 1

    def snapshot(self) -> RequestCounts:
        with self._lock:
            return RequestCounts(Counter(self.by_kind), Counter(self.by_status), self.failed_connections)

    def since_last_report(self) -> RequestCounts:
        """The requests sent since the last call (since the first request, the first time): what one
        run of a source object asked, the reads made while building it included."""
        now = self.snapshot()
        with self._lock:
            earlier, self._reported = self._reported, now
        return now - earlier

    @property
    def total(self) -> int:
        return self.snapshot().total

    @property
    def retried(self) -> int:
        return self.snapshot().retried

    def describe(self) -> str:
        return self.snapshot().describe()


class CountingAdapter(HTTPAdapter):
    """An HTTP adapter that tells `RequestStats` about each request it sends."""

    def __init__(self, stats: RequestStats, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stats = stats

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        path = urlsplit(request.url or "").path
        try:
            response = super().send(request, *args, **kwargs)
        except RequestException:
            self.stats.record(path, None)
            raise
        self.stats.record(path, response.status_code)
        return response


class SiteClient(Client):
    """dlt's retrying client, with dlt's `[runtime]` request settings, counting into `stats`.

    Its `session` is one per thread (dlt's design), so each thread that pages gets its own.
    """

    def __init__(self, stats: RequestStats, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._adapter = CountingAdapter(stats, pool_maxsize=kwargs.get("max_connections", 50))
        self.update_from_config(resolve_configuration(RuntimeConfiguration()))


def search_client(site_url: str, auth: "ShotgunAuth") -> RESTClient:
    """A dlt `RESTClient` for the site's `_search` reads: the API prefix, the bearer auth, a counted
    retrying session (answers checked by `ResponseChecker`, so no raise here) and the vendor content
    type. Not thread-safe (its session is not): one per thread."""
    return RESTClient(
        base_url=f"{site_url}{API_PREFIX}/",
        auth=auth,
        session=SiteClient(auth.request_stats, raise_for_status=False).session,
        headers={"Content-Type": SEARCH_CONTENT_TYPE, "Accept": "application/json"},
        data_selector="data",
    )
