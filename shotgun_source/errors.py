"""Errors the source raises for the things users get wrong or the site does wrong.

Each message names the problem and the fix; none of them ever contains a secret.
"""

from typing import Any, TypeVar

import orjson
from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigValueCannotBeCoercedException,
)
from dlt.common.exceptions import TerminalException
from requests import Response
from requests.exceptions import ChunkedEncodingError, ConnectionError, ReadTimeout, Timeout

from .settings import API_PREFIX

CREDENTIALS_HELP = (
    "Set [sources.shotgun.credentials] client_id (the script name) and client_secret (the script key)"
    " in .dlt/secrets.toml, or the environment variables SOURCES__SHOTGUN__CREDENTIALS__CLIENT_ID and"
    " SOURCES__SHOTGUN__CREDENTIALS__CLIENT_SECRET; for a user login use username and password instead."
)
RETRIED_NETWORK_ERRORS = (ConnectionError, ChunkedEncodingError, Timeout)
"""What dlt's retrying session retries besides 429 and 5xx answers."""

SITE_URL_HELP = (
    "Set [sources.shotgun] site_url in .dlt/config.toml or SOURCES__SHOTGUN__SITE_URL to your site's"
    " address, for example https://yourstudio.shotgrid.autodesk.com"
)


class ShotgunError(Exception):
    """Base of every error this package raises on purpose."""


class ShotgunConfigError(ShotgunError, ValueError, TerminalException):
    """A setting is missing or invalid; nothing was requested from the site. Terminal for dlt's
    `retry_load` and orchestrators' retries: a rerun cannot mend it."""


class ShotgunConnectionError(ShotgunError):
    """The site could not be reached at all (DNS, refused connection, TLS)."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        """"dns", "refused" or "tls"; None when it kept failing until the retries ran out."""


class ShotgunUnavailableError(ShotgunError):
    """The site kept answering 5xx or 429 until the retries ran out: down, in maintenance or
    rate limiting. Nothing is wrong with the settings; a later run will do."""


class ShotgunAuthError(ShotgunError, TerminalException):
    """The site refused the credentials or the token (terminal: fix the credentials first)."""


class ShotgunPermissionError(ShotgunError, TerminalException):
    """The credentials work but may not read what was asked for (terminal: grant it first)."""


class ShotgunPipelineBusyError(ShotgunError):
    """Another run holds the pipeline's lock. Not terminal: a later run will do."""


class ShotgunResponseError(ShotgunError):
    """The site answered, but not the way a ShotGrid site answers."""


class ShotgunAPIError(ShotgunError):
    """The site answered a request with a ShotGrid error envelope."""

    def __init__(self, message: str, status: int, code: int | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


E = TypeVar("E", bound=BaseException)


def find_in_chain(exc: BaseException, kind: type[E]) -> E | None:
    """The error of type `kind` under dlt's step failure and exception chain, if there is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        wrapped = getattr(current, "exception", None)  # PipelineStepFailed keeps the step's error here
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__ or current.__context__
    return None


def explain_missing_setting(exc: ConfigFieldMissingException) -> str:
    help_text = SITE_URL_HELP if "site_url" in exc.fields else CREDENTIALS_HELP
    return f"missing setting(s) {', '.join(exc.fields)}. {help_text}"


def explain_unreadable_setting(exc: ConfigValueCannotBeCoercedException) -> str:
    """What to write instead of a value dlt cannot read as the setting's type (the value itself is
    not repeated: it may be a secret)."""
    name = exc.field_name
    return (
        f"the setting `{name}` has a value that cannot be read as {getattr(exc.hint, '__name__', exc.hint)}."
        f' In .dlt/config.toml write a list as a TOML list ({name} = ["Shot", "Version"]); in an'
        f' environment variable as JSON (SOURCES__SHOTGUN__{name.upper()}=\'["Shot", "Version"]\').'
    )


def find_shotgun_error(exc: BaseException) -> ShotgunError | None:
    """The ShotgunError under dlt's wrapping exceptions (PipelineStepFailed, ...), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ShotgunError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def error_envelope(response: Response) -> tuple[int | None, str]:
    """The ShotGrid error code and a one-line description from an `{"errors": [...]}` body.

    Falls back to the HTTP reason when the body is not the envelope (a proxy page, say).
    """
    try:
        body: Any = orjson.loads(response.content)
        first = body["errors"][0]
        code = first.get("code")
        parts = [str(first.get("title") or "").strip(), str(first.get("detail") or "").strip()]
        text = " - ".join(p for p in parts if p and p != "None")
        return (int(code) if code is not None else None), text or response.reason
    except Exception:
        return None, str(response.reason)


def describe_request(response: Response) -> str:
    """`POST /api/v1/entity/Shot/_search` without host, query or anything else that could leak."""
    request = response.request
    path = (request.path_url or "").split("?", 1)[0] if request is not None else ""
    method = request.method if request is not None else "GET"
    return f"{method} {path or API_PREFIX}"


def body_preview(response: Response, limit: int = 80) -> str:
    """The start of a body, for messages about answers that are not JSON."""
    text = response.content[:limit].decode("utf-8", errors="replace")
    return " ".join(text.split())


def connection_failure_kind(exc: BaseException) -> str | None:
    """'dns', 'refused' or 'tls' when a connection error cannot heal by retrying; else None.

    requests wraps urllib3's errors several levels deep, so walk the whole chain.
    """
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        name = type(current).__name__
        text = str(current)
        if name == "NameResolutionError" or "Name or service not known" in text or "getaddrinfo" in text:
            return "dns"
        if isinstance(current, ConnectionRefusedError) or "Connection refused" in text:
            return "refused"
        if name in ("SSLError", "SSLCertVerificationError"):
            return "tls"
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
    return None


def connection_error(exc: BaseException, site_url: str) -> ShotgunConnectionError:
    """A message for a site that cannot be reached, by cause."""
    kind = connection_failure_kind(exc)
    if kind == "dns":
        what = "its host name does not resolve (is the site URL spelled right?)"
    elif kind == "refused":
        what = "the connection was refused (is the site URL and port right, is the server up?)"
    elif kind == "tls":
        what = "the TLS handshake failed (check the certificate or a proxy in between)"
    else:
        return ShotgunConnectionError(
            f"Cannot reach the ShotGrid site {site_url}: the connection kept failing"
            f" ({type(exc).__name__}) until the retries ran out. Run again later."
        )
    return ShotgunConnectionError(f"Cannot reach the ShotGrid site {site_url}: {what}. {SITE_URL_HELP}", kind)


def explain_failure(exc: BaseException) -> str:
    """One message for a failed run: ours when we raised it, else what dlt's retries gave up on.

    dlt reports an exhausted retry as `503 Server Error: ... for url: ...` under several layers
    of pipeline exceptions; users need to hear that the site is down and that rerunning is safe.
    """
    ours = find_shotgun_error(exc)
    if ours is not None:
        return str(ours)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, Response) and (response.status_code == 429 or response.status_code >= 500):
            return (
                f"ShotGrid kept answering {describe_request(response)} with HTTP {response.status_code}"
                f" ({response.reason}) until the retries ran out; the site is down, under maintenance"
                " or rate limiting hard. Run again later (more patience: [runtime] request_max_attempts)."
            )
        if isinstance(current, ReadTimeout):
            detail = " ".join(str(current).split())[:200]
            return (
                f"ShotGrid did not answer in time until the retries ran out ({detail}); the site is"
                " unavailable, overloaded or slowed by a proxy. Nothing was loaded. Run again later"
                " (more patience: [runtime] request_timeout, request_max_attempts)."
            )
        if isinstance(current, RETRIED_NETWORK_ERRORS) and connection_failure_kind(current) is None:
            return (
                f"The connection to the ShotGrid site kept failing ({type(current).__name__}) until"
                " the retries ran out. Run again later."
            )
        current = current.__cause__ or current.__context__
    return str(exc)


DUCKDB_FILE_LOCKED = "Could not set lock on file"
"""DuckDB's words when another process holds the database file (they name the file, and the holder's
PID when it holds the file for writing)."""


def explain_destination_failure(exc: BaseException) -> str | None:
    """One line when the destination stopped the run (down, refused, unreachable) instead of dlt's
    wall of text; None for any other failure.

    dlt reaches the destination twice: at the start (`sync`: the stored state), before anything is
    read from the site, and in the `load` step. The rows a run read are in a load package in the
    pipeline's working folder, and the next run loads that package before it reads anything new,
    so the line says whether there are such rows, and that nothing is lost or loaded twice."""
    from dlt.common.destination.exceptions import DestinationTerminalException
    from dlt.pipeline.exceptions import PipelineStepFailed

    failed = find_in_chain(exc, PipelineStepFailed)
    if failed is None or failed.step not in ("sync", "load") or find_shotgun_error(exc) is not None:
        return None
    root: BaseException = failed.exception
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    detail = " ".join(str(root).split("\n", 1)[0].split()) or type(root).__name__
    pipeline = failed.pipeline
    destination = getattr(pipeline, "destination", None)
    name = destination.destination_type.rsplit(".", 1)[-1] if destination is not None else "destination"
    what = "load into" if failed.step == "load" else "reach"
    pending = _pending_packages(pipeline)
    if pending:
        kept = (
            f"The rows read are kept ({len(pending)} load package(s) in {pipeline.working_dir}) and the"
            " next run loads them before it reads anything new: nothing is lost or loaded twice."
        )
    else:
        kept = "No records were read from ShotGrid and nothing changed."
    if DUCKDB_FILE_LOCKED in str(root):
        then = (
            "Another process has the DuckDB file open (a DuckDB shell, a notebook, a BI tool: DuckDB"
            " lets one process write a file, and none while another process holds it): close that"
            " connection, then run again."
        )
    elif find_in_chain(exc, DestinationTerminalException) is not None:
        then = f"The {name} destination refused it: a rerun fails the same way until that is fixed."
    else:
        then = f"Run again when {name} is back."
    return f"Could not {what} the {name} destination ({type(root).__name__}: {detail[:200]}). {kept} {then}"


def _pending_packages(pipeline: Any) -> list[str]:
    """Load ids extracted or normalized but not loaded yet ([] when the folder cannot be read)."""
    try:
        return [*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()]
    except Exception:
        return []
