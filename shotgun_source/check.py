"""`check_site()`: do the site and the credentials work, and may they read what a pipeline loads?

Signs in, lists the entity types, reads one record of each type the pipeline would load (and of the
event log, which retirements and renames are read from), and stops at the first failure with a kind
that says what to fix. Loads nothing and creates no pipeline; each request is tried twice, 10 s each,
so a check answers in seconds where a run would be patient. The command line's `--check` prints the
lines and exits with `CheckResult.status`; a monitor or an orchestrator's sensor can call it too.
"""

import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import dlt
import requests
from dlt.common.configuration import known_sections, with_config
from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigValueCannotBeCoercedException,
)

from .auth import ShotgunAuth
from .errors import (
    SITE_URL_HELP,
    ShotgunAPIError,
    ShotgunAuthError,
    ShotgunConfigError,
    ShotgunConnectionError,
    ShotgunError,
    ShotgunPermissionError,
    ShotgunResponseError,
    ShotgunUnavailableError,
    explain_failure,
    explain_missing_setting,
    explain_unreadable_setting,
)
from .session import SiteSession
from .settings import DEFAULT_ENTITIES
from .site import ShotgunSite
from .site_url import normalize_site_url

CHECK_EXIT = {
    "ok": 0,
    "unavailable": 1,
    "setting": 2,
    "dns": 3,
    "refused": 4,
    "connection": 5,
    "not_shotgrid": 6,
    "credentials": 7,
    "permission": 8,
}
"""One exit status per failure kind, so a script or a monitor can tell them apart:
1 the site answers 5xx/429 or not in time (try later), 2 a setting is missing or invalid,
3 the host name does not resolve, 4 nothing listens at the address (refused or no answer to connect),
5 the connection broke after it opened (TLS), 6 the server is not a ShotGrid site,
7 the site refused the credentials, 8 the credentials may not read an entity type the pipeline loads."""
CHECK_RUNTIME = {
    "RUNTIME__REQUEST_MAX_ATTEMPTS": "2",
    "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.5",
    "RUNTIME__REQUEST_MAX_RETRY_DELAY": "2",
    "RUNTIME__REQUEST_TIMEOUT": "10",
}
"""A check answers in seconds: two tries per request, 10 s each, instead of the run's patient retries."""
CONNECT_TIMEOUT_SECONDS = 5.0
PROBE_THREADS = 8
EVENT_LOG = "EventLogEntry"


@dataclass
class CheckResult:
    """What a check found: `kind` "ok" or the first failure, its exit status and message, and the
    lines of what was checked."""

    kind: str
    message: str
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    @property
    def status(self) -> int:
        return CHECK_EXIT[self.kind]


class CheckFailed(Exception):
    """A step of the check failed: its kind and what to do."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class CheckSettings:
    site_url: str
    credentials: ShotgunAuth
    entities: Sequence[str] | str | None
    deletes: str


@with_config(sections=(known_sections.SOURCES, "shotgun", "shotgun"))
def configured_check_settings(
    site_url: str = dlt.config.value,
    credentials: ShotgunAuth = dlt.secrets.value,
    entities: Sequence[str] | str | None = None,
    deletes: str = "soft",
) -> CheckSettings:
    """The settings `shotgun_source()` would resolve, from the same places (.dlt/, SOURCES__SHOTGUN__*)."""
    return CheckSettings(site_url, credentials, entities, deletes)


def check_site(
    site_url: str | None = None,
    credentials: ShotgunAuth | None = None,
    entities: Sequence[str] | str | None = None,
    deletes: str | None = None,
    on_line: Callable[[str], None] | None = None,
) -> CheckResult:
    """Check a site and credentials; what is not given comes from the configuration, as for
    `shotgun_source()`. `on_line` gets each line as it is found (the command line prints them)."""
    started = time.monotonic()
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if on_line is not None:
            on_line(line)

    try:
        with quick_retries():
            if site_url is None or credentials is None:
                configured = configured_check_settings()
                site_url = site_url or configured.site_url
                credentials = credentials or configured.credentials
                entities = entities if entities is not None else configured.entities
                deletes = deletes if deletes is not None else configured.deletes
            run_check(CheckSettings(site_url, credentials, entities, deletes or "soft"), say)
    except ConfigFieldMissingException as exc:
        return CheckResult("setting", explain_missing_setting(exc), lines, time.monotonic() - started)
    except ConfigValueCannotBeCoercedException as exc:
        return CheckResult("setting", explain_unreadable_setting(exc), lines, time.monotonic() - started)
    except CheckFailed as exc:
        return CheckResult(exc.kind, str(exc), lines, time.monotonic() - started)
    elapsed = time.monotonic() - started
    return CheckResult(
        "ok", f"the site and the credentials work ({elapsed:.1f} s). Nothing was loaded.", lines, elapsed
    )


@contextmanager
def quick_retries() -> Iterator[None]:
    """dlt's retry settings for a check, restored afterwards."""
    saved = {key: os.environ.get(key) for key in CHECK_RUNTIME}
    os.environ.update(CHECK_RUNTIME)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_check(settings: CheckSettings, say: Callable[[str], None]) -> None:
    try:
        site_url = normalize_site_url(settings.site_url)
        auth = settings.credentials.bind(site_url)
    except ShotgunConfigError as exc:
        raise CheckFailed("setting", str(exc)) from None
    who = f"script {auth.client_id}" if auth.client_id else f"user {auth.username}"
    say(f"Checking ShotGrid site {site_url} as {who}")
    check_network(site_url, say)
    with site_step():
        auth.current_token()
    say("  sign-in     token issued")
    site = ShotgunSite(site_url, auth)
    with site_step():
        available = site.entity_types()
    say(f"  schema      {len(available)} entity types: {', '.join(available)}")
    try:
        wanted = site.resolve_entity_types(
            settings.entities if settings.entities else list(DEFAULT_ENTITIES), available
        )
    except ShotgunConfigError as exc:
        raise CheckFailed("setting", str(exc)) from None
    if settings.deletes != "ignore" and EVENT_LOG not in wanted:
        wanted.append(EVENT_LOG)  # retirements and renames are read from the event log
    denied = probe_reads(SiteSession(site_url, auth, PROBE_THREADS), wanted)
    readable = [t for t in wanted if t not in denied]
    if readable:
        say(f"  reads       one record of each: {', '.join(readable)}")
    if denied:
        event_log = (
            ' The event log is read for deletes and renames: grant it, or set deletes = "ignore".'
            if EVENT_LOG in denied
            else ""
        )
        raise CheckFailed(
            "permission",
            f"the credentials may not read {', '.join(denied)}, which this pipeline loads.{event_log}"
            f" {next(iter(denied.values()))}",
        )


def check_network(site_url: str, say: Callable[[str], None]) -> None:
    """Resolve the host and open a TCP connection, to tell DNS from a closed port from what comes
    after. Skipped behind a proxy, where only the proxy is dialled."""
    parts = urlsplit(site_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if requests.utils.get_environ_proxies(site_url):
        say(f"  network     through a proxy (not checked directly): {host}:{port}")
        return
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CheckFailed(
            "dns",
            f"the host name {host} does not resolve ({exc.strerror}). Is the site URL spelled right?"
            f" {SITE_URL_HELP}",
        ) from None
    address = addresses[0][4][0]
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except ConnectionRefusedError:
        raise CheckFailed(
            "refused",
            f"{host} ({address}) refused the connection on port {port}: no server listens there."
            " Check the port in the site URL, or whether the server is up.",
        ) from None
    except OSError as exc:
        raise CheckFailed(
            "refused",
            f"could not connect to {host} ({address}) port {port} within {CONNECT_TIMEOUT_SECONDS:g} s"
            f" ({exc.strerror or type(exc).__name__}): a firewall, a proxy that must be set"
            " (HTTPS_PROXY), or the server is down.",
        ) from None
    say(f"  network     {host} resolves to {address}, port {port} accepts connections")


@contextmanager
def site_step() -> Iterator[None]:
    """Turn what the source raises into the check's failure kinds."""
    try:
        yield
    except ShotgunAuthError as exc:
        raise CheckFailed("credentials", str(exc)) from None
    except ShotgunPermissionError as exc:
        raise CheckFailed("permission", str(exc)) from None
    except ShotgunConfigError as exc:
        raise CheckFailed("setting", str(exc)) from None
    except ShotgunConnectionError as exc:
        # after a TCP connection worked: TLS, or DNS and refusals seen through a proxy
        kind = {"dns": "dns", "refused": "refused"}.get(str(getattr(exc, "kind", "")), "connection")
        raise CheckFailed(kind, str(exc)) from None
    except (ShotgunResponseError, ShotgunAPIError) as exc:
        raise CheckFailed("not_shotgrid", str(exc)) from None
    except ShotgunUnavailableError as exc:
        raise CheckFailed("unavailable", str(exc)) from None
    except ShotgunError as exc:
        raise CheckFailed("not_shotgrid", str(exc)) from None
    except requests.RequestException as exc:
        raise CheckFailed("unavailable", explain_failure(exc)) from None


def probe_reads(session: SiteSession, entity_types: Sequence[str]) -> dict[str, str]:
    """Read one record of each type, in parallel; the types the credentials may not read, and why.

    The schema lists every type whatever the permissions: only a read tells."""

    def probe(entity_type: str) -> str | None:
        body: dict[str, Any] = {"filters": [], "fields": ["id"], "page": {"number": 1, "size": 1}}
        try:
            with site_step():
                session.post_search(entity_type, body)
        except CheckFailed as exc:
            if exc.kind == "permission":
                return str(exc)
            raise
        return None

    with ThreadPoolExecutor(max_workers=min(PROBE_THREADS, len(entity_types))) as pool:
        answers = list(pool.map(probe, entity_types))
    return {t: why for t, why in zip(entity_types, answers, strict=True) if why is not None}
