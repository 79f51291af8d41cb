"""The HTTP sessions the source talks to the site with: dlt's retrying client, counted.

Every request goes through dlt's `Client` (retries on 429 and 5xx honouring `Retry-After`,
timeouts, all from dlt's `[runtime]` settings); its sessions send through a counting adapter, so
a run can say how many requests it made and how many dlt had to retry, retries included.

The adapter also reads each answer's body against a deadline: dlt's `request_timeout` is a
per-read timeout in `requests`, so a site that sends its headers and then a byte a second never
trips it and a run would hang for hours on one page. A body not read within `request_timeout`
of the request going out raises `ReadTimeout`, which dlt retries like any timeout.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.sources.helpers.requests.retry import Client
from dlt.sources.helpers.requests.session import Session
from dlt.sources.helpers.rest_client import RESTClient
from requests import PreparedRequest, RequestException, Response
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError, ContentDecodingError, ReadTimeout
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import SSLError as RequestsSSLError
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.util import Timeout as Urllib3Timeout

from .errors import describe_request
from .settings import API_PREFIX, SEARCH_CONTENT_TYPE, TOKEN_PATH

if TYPE_CHECKING:
    from .auth import ShotgunAuth  # auth.py builds its own token client from this module

REQUEST_KINDS = ("token", "schema", "records", "event log", "other")
BODY_CHUNK = 1 << 20
"""Bytes asked of the socket per read of a body (a read returns what has arrived, up to this)."""


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

    def send(  # type: ignore[override]  # the keyword form requests' Session.send uses
        self, request: PreparedRequest, stream: bool = False, timeout: Any = None, **kwargs: Any
    ) -> Response:
        path = urlsplit(request.url or "").path
        started = time.monotonic()
        try:
            response = super().send(request, stream=stream, timeout=timeout, **kwargs)
            limit = total_seconds(timeout)
            if not stream and limit is not None:
                read_body_by(response, started + limit, limit)
        except RequestException:
            self.stats.record(path, None)
            raise
        self.stats.record(path, response.status_code)
        return response


def total_seconds(timeout: Any) -> float | None:
    """The read part of a requests timeout (a number, a (connect, read) pair or urllib3's Timeout):
    how long one answer may take in all; None for no limit."""
    if isinstance(timeout, tuple):
        timeout = timeout[1] if len(timeout) > 1 else timeout[0]
    elif isinstance(timeout, Urllib3Timeout):
        timeout = timeout.read_timeout
    return float(timeout) if isinstance(timeout, int | float) and timeout > 0 else None


def read_body_by(response: Response, deadline: float, limit: float) -> None:
    """Read the body now, as `Session.send` would, but give up at `deadline` (monotonic clock).

    `read1` returns what has arrived (one socket read), so a trickling body is checked against the
    clock after every byte it sends. urllib3's errors become requests' ones, as `iter_content`
    makes them, so dlt retries them the same way."""
    raw = response.raw
    chunks: list[bytes] = []
    try:
        while True:
            if time.monotonic() > deadline:
                response.close()  # the connection is half-read: never back to the pool
                raise ReadTimeout(
                    f"{describe_request(response)}: the answer's body was not complete {limit:g} s after"
                    " the request (the site sends it too slowly); [runtime] request_timeout",
                    request=response.request,
                    response=response,
                )
            chunk = raw.read1(BODY_CHUNK, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
    except ProtocolError as exc:
        raise ChunkedEncodingError(exc) from exc
    except DecodeError as exc:
        raise ContentDecodingError(exc) from exc
    except ReadTimeoutError as exc:
        raise RequestsConnectionError(exc) from exc
    except Urllib3SSLError as exc:
        raise RequestsSSLError(exc) from exc
    response._content = b"".join(chunks)
    response._content_consumed = True  # type: ignore[attr-defined]


class SiteClient(Client):
    """dlt's retrying client, with dlt's `[runtime]` request settings, counting into `stats`.

    Its `session` is one per thread (dlt's design): the schema reads' threads each get their own;
    each `_search` client (`search_client`) gets a session of its own (`new_session`), all sharing
    this client's connection pool, and is lent to one request at a time (`session.ClientPool`).
    """

    def __init__(
        self, stats: RequestStats, runtime: RuntimeConfiguration | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._adapter = CountingAdapter(stats, pool_maxsize=kwargs.get("max_connections", 50))
        self.update_from_config(runtime if runtime is not None else runtime_settings())

    def new_session(self) -> Session:
        """A session of its own, with this client's retries and counting adapter: dlt gives one per
        thread (`session`), a `_search` client lent from thread to thread needs one per client."""
        return self._make_session()


def runtime_settings() -> RuntimeConfiguration:
    """dlt's `[runtime]` settings (request timeout, retries), resolved now, in this thread.

    Resolved once, on the thread that builds the source, for the clients made on reader threads:
    wherever Airflow is installed, dlt 1.31 reads each setting through Airflow Variables inside
    `contextlib.redirect_stdout`, which is not thread-safe; lookups from several threads at once
    left the process's `sys.stdout` a `StringIO`, and the run report printed after it vanished."""
    return resolve_configuration(RuntimeConfiguration())


def search_client(
    site_url: str, auth: "ShotgunAuth", http: SiteClient, runtime: RuntimeConfiguration
) -> RESTClient:
    """A dlt `RESTClient` for the site's `_search` reads: the API prefix, the bearer auth, a new
    session of `http` (counted, retrying; answers checked by `ResponseChecker`, so `http` must not
    raise) and the vendor content type, with `runtime`'s settings: nothing is resolved here, on
    the reader thread that makes it. Not thread-safe (its session is not): one user at a time
    (`session.ClientPool` lends them)."""
    return RESTClient(
        base_url=f"{site_url}{API_PREFIX}/",
        auth=auth,
        session=http.new_session(),
        headers={"Content-Type": SEARCH_CONTENT_TYPE, "Accept": "application/json"},
        data_selector="data",
        config=runtime,
    )
