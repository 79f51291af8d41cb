"""`POST /api/v1/auth/access_token` and bearer checks on data calls.

Parameters come from the form body or the query string (recorded clients put them in the
query with an empty body); a form body wins over the query. Error wording follows what
live sites answer: 400 code 102 for credentials, 400 code 103 for an unknown grant, 415 for
a non-form media type, 400 for a JSON body, 401 for a bad refresh token.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson

from . import errors
from .errors import ApiError
from .messages import Request, Response, json_response
from .site import Script, Site
from .table import LIVE
from .tokens import Grant, TokenIssuer

FORM = "application/x-www-form-urlencoded"


def token_params(req: Request) -> dict[str, str]:
    """Merged query + form parameters of a token request (form body wins)."""
    media = req.media_type()
    if media == "application/json":
        # the body is parsed as JSON (and an empty one is invalid), then no grant is found
        try:
            orjson.loads(req.body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, 103, "Invalid JSON body", {"body": f"{exc}"}) from exc
        raise ApiError(400, 102, "Missing or invalid authentication arguments", {})
    if media not in ("", FORM):
        raise ApiError(
            415,
            103,
            f"Unsupported Content-Type '{media}'",
            {"content_type": f"Content-Type must be one of: '{FORM}'."},
        )
    params = dict(req.query)
    if req.body:
        params.update(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _cant(what: str, name: str) -> ApiError:
    return ApiError(400, 102, f"Can't authenticate {what} '{name}'.", {})


def _missing() -> ApiError:
    return ApiError(400, 102, "Missing or invalid authentication arguments", {})


def authenticate(site: Site, params: dict[str, str], tokens: TokenIssuer) -> Grant:
    """Check a grant's credentials; returns who the new token speaks for."""
    grant_type = params.get("grant_type", "")
    if grant_type == "client_credentials":
        name, key = params.get("client_id"), params.get("client_secret")
        if not name or not key:
            raise _missing()
        script = site.scripts.get(name)
        if script is None or script.key != key or not _api_user_live(site, script):
            raise _cant("script", name)
        grant = Grant({"type": "ApiUser", "id": script.api_user_id}, None, "api_key")
    elif grant_type == "password":
        login, password = params.get("username"), params.get("password")
        if not login or not password:
            raise _missing()
        row = site.human_user_row(login)
        if row is None or site.passwords.get(login) != password or not _person_active(site, row):
            raise _cant("user", login)
        grant = Grant({"type": "HumanUser", "id": site.tables["HumanUser"].id_for_row(row)}, None, "password")
    elif grant_type in ("refresh", "refresh_token"):
        token = params.get("refresh_token")
        if not token:
            raise errors.unauthorized("Unauthorized")
        return tokens.redeem_refresh(token)
    elif grant_type == "session_token":
        token = params.get("session_token")
        if not token:
            raise _missing()
        raise ApiError(400, 102, f"Can't authenticate session token ending with '{token[-4:]}'", {})
    else:
        raise ApiError(400, 103, "Unsupported grant_type", {})
    scope = params.get("scope", "")
    if scope.startswith("sudo_as_login:"):
        grant.sudo_as_login = _sudo_target(site, scope.removeprefix("sudo_as_login:"))
    return grant


def _api_user_live(site: Site, script: Script) -> bool:
    users = site.tables["ApiUser"]
    row = users.row_for_id(script.api_user_id)
    return row is not None and users.state[row] == LIVE


def _person_active(site: Site, row: int) -> bool:
    users = site.tables["HumanUser"]
    return users.state[row] == LIVE and users.get("sg_status_list", row) == "act"


def _sudo_target(site: Site, login: str) -> str:
    row = site.human_user_row(login)
    users = site.tables["HumanUser"]
    if row is None or users.state[row] != LIVE:
        raise ApiError(400, 102, f"Cannot 'sudo' - unknown or retired user: '{login}'", {})
    if users.get("sg_status_list", row) != "act":
        raise ApiError(400, 102, f"Cannot 'sudo' - inactive user account: '{login}'", {})
    return login


def token_endpoint(req: Request, site: Site, tokens: TokenIssuer, lifetime: float) -> Response:
    params = token_params(req)
    with site.lock:
        grant = authenticate(site, params, tokens)
    return json_response(200, tokens.issue(grant, lifetime))


def bearer_grant(req: Request, tokens: TokenIssuer) -> Grant:
    """The caller of a data request; 401 when the bearer is missing, bad, expired or revoked."""
    header = req.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise errors.unauthorized("Missing Authorization header.")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.unauthorized("The Authorization header must be 'Bearer <access token>'.")
    return tokens.verify(token.strip())
