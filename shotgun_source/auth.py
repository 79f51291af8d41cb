"""ShotgunAuth: the OAuth bearer token dance of ShotGrid's REST API, safe for parallel resources.

dlt's `OAuth2ClientCredentials` refreshes only when the token has already expired, never on a 401,
and without a lock, so parallel resources each fetch a token and a retried request (dlt re-sends
the same prepared request after `Retry-After`) goes out with a dead token. ShotGrid tokens live
600 s, so long runs meet all three. This class refreshes ahead of expiry, once more on a 401, under
one lock, and sends the token to the configured site only.
"""

import threading
import time
from email.utils import parsedate_to_datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
from dlt.common.configuration.specs.base_configuration import NotResolved, configspec
from dlt.common.typing import TSecretStrValue
from dlt.sources.helpers.rest_client.auth import AuthConfigBase
from requests import PreparedRequest, Response
from requests.exceptions import ChunkedEncodingError, ConnectionError, Timeout

from .errors import (
    CREDENTIALS_HELP,
    ShotgunAuthError,
    ShotgunConfigError,
    ShotgunResponseError,
    ShotgunUnavailableError,
    body_preview,
    connection_error,
    connection_failure_kind,
    error_envelope,
)
from .settings import TOKEN_PATH, TOKEN_REFRESH_MARGIN_SECONDS
from .site_url import normalize_site_url, same_origin
from .transport import RequestStats, SiteClient


class _TokenState:
    """What one ShotgunAuth learns at run time: token bookkeeping, lock and HTTP client.

    Kept out of the configspec fields and shared by copies, because dlt deep-copies the rest_api
    config (auth included) while validating it, and a lock cannot be copied.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clock_lock = threading.Lock()
        self.refresh_token: str | None = None
        self.expires_at = 0.0  # time.monotonic() when the current token dies
        self.lifetime = 0.0
        self.token_requests = 0
        # the site's clock, from the token answer's Date header: its time then, and our monotonic time
        self.clock_anchor = (time.time(), time.monotonic())
        self.clock_last = 0.0  # the last site time handed out: the clock never runs backwards
        self.http: SiteClient | None = None
        self.stats = RequestStats()  # every request the source makes, through this auth's clients
        self.origin: str | None = None  # the one site tokens are fetched from and sent to
        self.bind_lock = threading.Lock()

    def __deepcopy__(self, memo: dict[int, Any]) -> "_TokenState":
        return self


def _retry_transient_connection_errors(response: Response | None, exc: BaseException | None) -> bool:
    """Retry a dropped connection, not a misspelled host or a closed port: those do not heal."""
    return isinstance(exc, ConnectionError) and connection_failure_kind(exc) is None


@configspec
class ShotgunAuth(AuthConfigBase):
    """Bearer auth for a ShotGrid site from a script key (client_credentials) or a user login.

    Configure under `[sources.shotgun.credentials]`: `client_id` (script name) and
    `client_secret` (script key), or `username` and `password`; optional `sudo_as_login`.

    Bound to one site (`bind(site_url)`), or, when nobody bound it (a rest_api config that names it,
    `"auth": "shotgun"`), to the origin of the first request it signs: the config's `base_url`.
    Either way the token is fetched from and sent to that origin only; a request anywhere else
    (a link, a redirect, a path with another host) goes out without it.
    """

    client_id: str | None = None
    client_secret: TSecretStrValue | None = None
    username: str | None = None
    password: TSecretStrValue | None = None
    sudo_as_login: str | None = None
    refresh_margin_seconds: float = TOKEN_REFRESH_MARGIN_SECONDS
    access_token: Annotated[TSecretStrValue | None, NotResolved()] = None
    site_url: Annotated[str | None, NotResolved()] = None
    token_state: Annotated[_TokenState | None, NotResolved()] = None
    """Run-time state shared by every copy: dlt copies a configspec passed to a source, and the
    caller's instance must still see the token, the clock and the request counts."""

    def __post_init__(self) -> None:
        if self.token_state is None:
            self.token_state = _TokenState()

    @property
    def _state(self) -> _TokenState:
        assert self.token_state is not None
        return self.token_state

    # -- configuration -----------------------------------------------------------------------

    def bind(self, site_url: str) -> "ShotgunAuth":
        """Tie the auth to one site: tokens are fetched from and sent to that origin only.

        Binding to another site than before starts over (no token, no counts), so a token of one
        site is never offered to another."""
        origin = normalize_site_url(site_url)
        self.check_credentials()
        if self._state.origin not in (None, origin):
            self.token_state = _TokenState()
            self.access_token = None
        self._state.origin = self.site_url = origin
        return self

    def _bound_site(self, request_url: str) -> str:
        """The site this auth is bound to; unbound, it binds to the origin of `request_url`, the first
        request it is asked to sign. The origin lives in the state every copy shares, so copies dlt
        makes of a config cannot bind to two sites."""
        state = self._state
        if state.origin is None:
            with state.bind_lock:
                if state.origin is None:
                    parts = urlsplit(request_url)
                    origin = normalize_site_url(f"{parts.scheme}://{parts.netloc}")
                    self.check_credentials()
                    state.origin = origin
        self.site_url = state.origin
        assert self.site_url is not None
        return self.site_url

    def check_credentials(self) -> None:
        """Fail before any request when neither a script key nor a login is configured."""
        has_script = bool(self.client_id) and bool(self.client_secret)
        has_login = bool(self.username) and bool(self.password)
        if not has_script and not has_login:
            partial = (self.client_id and "client_secret is missing") or (
                self.username and "password is missing"
            )
            detail = f" ({partial})" if partial else ""
            raise ShotgunConfigError(f"ShotGrid credentials are not configured{detail}. {CREDENTIALS_HELP}")

    @property
    def request_stats(self) -> RequestStats:
        """Every request made with this auth's credentials: token, schema, records, event log."""
        return self._state.stats

    @property
    def token_requests(self) -> int:
        """How many token requests this auth has made, for run summaries and tests."""
        return self._state.token_requests

    def site_now(self) -> float:
        """The site's clock as a Unix time, from the Date header of the last token answer.

        Never runs backwards within a process (a later token answer may set the clock a little
        back): each read's window ends at or after the one before."""
        state = self._state
        site_then, monotonic_then = state.clock_anchor
        now = site_then + (time.monotonic() - monotonic_then)
        with state.clock_lock:
            state.clock_last = max(now, state.clock_last + 1e-6)
            return state.clock_last

    # -- requests' AuthBase ------------------------------------------------------------------

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        site = self._bound_site(request.url or "")
        if not same_origin(request.url or "", site):
            # never hand the bearer token to another host, whatever link or redirect led there
            request.headers.pop("Authorization", None)
            return request
        token = self.current_token()
        request.headers["Authorization"] = f"Bearer {token}"
        request.register_hook("response", self._on_response)
        return request

    def current_token(self) -> str:
        """A token with at least the refresh margin left, fetching one if needed."""
        if self._expiring(self.access_token):
            self._renew(stale=self.access_token)
        assert self.access_token is not None
        return self.access_token

    def _expiring(self, token: str | None) -> bool:
        # a quarter of the lifetime for short-lived tokens, so a 2 s token is not renewed per request
        state = self._state
        margin = min(self.refresh_margin_seconds, state.lifetime / 4)
        return token is None or token != self.access_token or time.monotonic() >= state.expires_at - margin

    def _renew(self, stale: str | None) -> None:
        """Fetch a new token unless another thread already replaced `stale` with a live one."""
        with self._state.lock:
            if self.access_token != stale and not self._expiring(self.access_token):
                return
            self._obtain_token()

    def _on_response(self, response: Response, **kwargs: Any) -> Response:
        """Keep the bearer token of this request alive across dlt's retries.

        dlt retries by re-sending the same prepared request after the wait (`Retry-After`), old
        token included; so a retryable answer gets the request re-stamped with a live token, and a
        401 (expired, revoked, or an old token re-sent) gets one renewal and one re-send.
        """
        request = response.request
        status = response.status_code
        if status == 401 and not getattr(request, "_shotgun_retried", False):
            return self._resend_with_new_token(response, **kwargs)
        if status == 429 or status >= 500:
            request.headers["Authorization"] = f"Bearer {self.current_token()}"
        return response

    def _resend_with_new_token(self, response: Response, **kwargs: Any) -> Response:
        request = response.request
        used = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        self._renew(stale=used)
        request.headers["Authorization"] = f"Bearer {self.access_token}"  # for later retries too
        retry = request.copy()
        retry._shotgun_retried = True  # type: ignore[attr-defined]
        response.close()
        new_response: Response = response.connection.send(retry, **kwargs)
        new_response.history.append(response)
        new_response.request = retry
        return new_response

    # -- the token endpoint ------------------------------------------------------------------

    def _grant(self) -> dict[str, str]:
        if self.client_id and self.client_secret:
            data = {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }
        else:
            data = {
                "grant_type": "password",
                "username": self.username or "",
                "password": self.password or "",
            }
        if self.sudo_as_login:
            data["scope"] = f"sudo_as_login:{self.sudo_as_login}"
        return data

    def _http(self) -> SiteClient:
        state = self._state
        if state.http is None:
            state.http = SiteClient(
                state.stats,
                raise_for_status=False,
                exceptions=(Timeout, ChunkedEncodingError),
                retry_condition=_retry_transient_connection_errors,
            )
        return state.http

    def _post_token_request(self, data: dict[str, str]) -> Response:
        """POST the grant as a form body (never the query string, which ends up in logs)."""
        site = self._state.origin
        if site is None:
            raise ShotgunConfigError("ShotgunAuth is not bound to a site; call bind(site_url) first.")
        url = f"{site}{TOKEN_PATH}"
        self._state.token_requests += 1
        try:
            return self._http().session.post(
                url,
                data=data,
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                allow_redirects=False,
            )
        except ConnectionError as exc:
            raise connection_error(exc, site) from None

    def _obtain_token(self) -> None:
        state = self._state
        if state.refresh_token:
            refresh = {"grant_type": "refresh", "refresh_token": state.refresh_token}
            if self.sudo_as_login:
                refresh["scope"] = f"sudo_as_login:{self.sudo_as_login}"
            state.refresh_token = None  # single use, whatever happens next
            response = self._post_token_request(refresh)
            if response.status_code == 200:
                self._accept(response)
                return
            # an expired or rejected refresh token: the credentials themselves still work
        self._accept(self._post_token_request(self._grant()))

    def _accept(self, response: Response) -> None:
        """Store the token from a token answer, or explain why there is none."""
        site = self.site_url
        if response.status_code != 200:
            code, text = error_envelope(response)
            if code == 102 or response.status_code in (400, 401, 403) and code is not None:
                who = "script key" if self.client_id else "user login"
                raise ShotgunAuthError(
                    f"ShotGrid at {site} refused the {who} (HTTP {response.status_code}, code {code}:"
                    f" {text}). {CREDENTIALS_HELP}"
                )
            if response.status_code >= 500 or response.status_code == 429:
                raise ShotgunUnavailableError(
                    f"ShotGrid at {site} could not issue a token (HTTP {response.status_code}: {text});"
                    " the site may be down or under maintenance. Run again later."
                )
            raise ShotgunResponseError(
                f"{site} does not answer like a ShotGrid site: POST {TOKEN_PATH} gave HTTP"
                f" {response.status_code} ({body_preview(response)!r}). Check the site URL."
            )
        try:
            body = orjson.loads(response.content)
            token = body["access_token"]
            lifetime = float(body.get("expires_in") or 600)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise ShotgunResponseError(
                f"{site} does not answer like a ShotGrid site: its token answer is not a token"
                f" ({response.headers.get('Content-Type', 'no content type')},"
                f" {len(response.content)} bytes). Check the site URL."
            ) from None
        if not isinstance(token, str) or not token:
            raise ShotgunResponseError(f"{site} answered the token request without an access_token.")
        state = self._state
        state.refresh_token = body.get("refresh_token") or None
        state.lifetime = lifetime
        state.expires_at = time.monotonic() + lifetime
        state.clock_anchor = (time.time() + _clock_offset(response), time.monotonic())
        self.access_token = token


def _clock_offset(response: Response) -> float:
    """Site clock minus local clock, from the HTTP Date header (0 when absent or unreadable).

    The header holds whole seconds, so the site's clock was on average half a second past it."""
    header = response.headers.get("Date")
    if not header:
        return 0.0
    try:
        return parsedate_to_datetime(header).timestamp() + 0.5 - time.time()
    except (TypeError, ValueError):
        return 0.0
