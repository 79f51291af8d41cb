"""Checking every answer of the site before dlt touches it, so failures read as what they are.

Without this, a maintenance page or an SSO login page answered with 200 surfaces as
"Expecting value: line 1 column 1", and a 400 for a misspelled field as "400 Client Error".
"""

from typing import Any
from urllib.parse import urljoin

import orjson
from requests import HTTPError, Response

from .errors import (
    CREDENTIALS_HELP,
    ShotgunAPIError,
    ShotgunAuthError,
    ShotgunError,
    ShotgunPermissionError,
    ShotgunResponseError,
    body_preview,
    describe_request,
    error_envelope,
)
from .site_url import same_origin


def is_transient(status: int) -> bool:
    """Statuses dlt's retrying session retries."""
    return status == 429 or status >= 500


class ResponseChecker:
    """A `requests` response hook: parse JSON once, check the envelope, explain errors.

    Runs inside dlt's retrying `send`: a 429 or 5xx raises `HTTPError` carrying the response,
    which dlt retries (honouring `Retry-After`) and re-raises once the attempts run out; any
    other failure raises an error that no retry can mend, at once.
    """

    def __init__(self, site_url: str, parse_body: bool = True) -> None:
        self.site_url = site_url
        self.parse_body = parse_body
        """False for pages the caller converts from their bytes itself (columns.PageConverter, which
        explains a body that is not JSON or has no `data` the same way)."""

    def __call__(self, response: Response, *args: Any, **kwargs: Any) -> None:
        status = response.status_code
        if is_transient(status):
            raise HTTPError(f"{status} {response.reason} for {describe_request(response)}", response=response)
        if 300 <= status < 400:
            location = urljoin(response.url, response.headers.get("Location", ""))
            if not same_origin(location, self.site_url):
                raise ShotgunResponseError(
                    f"{describe_request(response)} was redirected away from the site (HTTP {status});"
                    " refusing to follow, the bearer token must stay on the configured site."
                )
            return
        if status >= 400:
            raise api_error(response)
        if status == 204 or not self.parse_body:
            return
        body = parse_json(response)
        if not isinstance(body, dict) or "data" not in body:
            raise ShotgunResponseError(
                f"{describe_request(response)} answered JSON without `data`"
                f" ({body_preview(response)!r}); this is not the ShotGrid REST envelope."
            )
        # hand dlt the body parsed once, by a parser several times faster than json
        response.json = lambda **_: body  # type: ignore[method-assign]


def parse_json(response: Response) -> Any:
    """The body as JSON, or an error that says what came instead."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        content_type = response.headers.get("Content-Type", "no content type")
        raise ShotgunResponseError(
            f"{describe_request(response)} answered HTTP {response.status_code} with a body that is"
            f" not JSON ({content_type}, {len(response.content)} bytes, starting"
            f" {body_preview(response)!r}). The site may be showing a maintenance or login page, or"
            " the site URL may point at another server."
        ) from None


def api_error(response: Response) -> ShotgunError:
    """The right error for a 4xx answer, with the site's own words and what to do."""
    status = response.status_code
    code, text = error_envelope(response)
    what = describe_request(response)
    if status == 401:
        return ShotgunAuthError(
            f"ShotGrid rejected the bearer token for {what} even after fetching a new one"
            f" (HTTP 401: {text}). The script or user may have been disabled. {CREDENTIALS_HELP}"
        )
    if status == 403 or (status == 400 and code == 104):
        return ShotgunPermissionError(
            f"The credentials may not read this: {what} answered HTTP {status} (code {code}: {text})."
            " Grant the script or user read permission in ShotGrid, or leave this entity type out"
            " of `entities`."
        )
    if status == 404:
        return ShotgunAPIError(
            f"{what} answered HTTP 404 (code {code}: {text}): no such entity type or record on this"
            " site. Check `entities`.",
            status,
            code,
        )
    return ShotgunAPIError(f"ShotGrid refused {what} (HTTP {status}, code {code}: {text}).", status, code)
