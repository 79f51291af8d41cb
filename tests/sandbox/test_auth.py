"""The token endpoint and bearer checks, over real HTTP."""

from __future__ import annotations

import base64
import json
from typing import Any

import requests

from shotgun_source.sandbox import Sandbox

from .helpers import Client, error

TOKEN_PATH = "/api/v1/auth/access_token"


def post_token(sb: Sandbox, data: dict[str, str] | str | None = None, **kwargs: Any) -> requests.Response:
    return requests.post(f"{sb.url}{TOKEN_PATH}", data=data, timeout=10, **kwargs)


def script_grant(sb: Sandbox) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": sb.script_name, "client_secret": sb.script_key}


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def data_call(sb: Sandbox, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(
        f"{sb.url}/api/v1/entity/projects", params={"fields": "name"}, headers=headers, timeout=10
    )


def test_client_credentials_in_form_body(shared_sandbox: Sandbox) -> None:
    r = post_token(shared_sandbox, script_grant(shared_sandbox))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    body = r.json()
    assert list(body) == ["token_type", "access_token", "expires_in", "refresh_token"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    c = claims(body["access_token"])
    assert {"iss", "aud", "exp", "iat", "jti", "user", "sudo_as_login", "auth_type"} <= set(c)
    assert c["exp"] - c["iat"] == 600
    assert c["user"]["type"] == "ApiUser" and c["sudo_as_login"] is None
    header = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "=="))
    assert header["alg"] == "HS256"
    assert data_call(shared_sandbox, body["access_token"]).status_code == 200


def test_credentials_in_query_string_with_empty_body(shared_sandbox: Sandbox) -> None:
    r = requests.post(
        f"{shared_sandbox.url}{TOKEN_PATH}",
        params=script_grant(shared_sandbox),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["expires_in"] == 600


def test_password_grant(shared_sandbox: Sandbox) -> None:
    sb = shared_sandbox
    r = post_token(sb, {"grant_type": "password", "username": sb.login, "password": sb.password})
    assert r.status_code == 200
    c = claims(r.json()["access_token"])
    assert c["user"]["type"] == "HumanUser" and c["auth_type"] == "password"


def test_bad_credentials_are_400_code_102(shared_sandbox: Sandbox) -> None:
    sb = shared_sandbox
    r = post_token(sb, {**script_grant(sb), "client_secret": "wrong"})
    assert r.status_code == 400
    err = error(r)
    assert err["code"] == 102 and err["title"] == f"Can't authenticate script '{sb.script_name}'."
    assert set(err) == {"id", "status", "code", "title", "source", "detail", "meta"} and err["status"] == 400
    r = post_token(sb, {"grant_type": "password", "username": sb.login, "password": "nope"})
    assert r.status_code == 400 and error(r)["title"] == f"Can't authenticate user '{sb.login}'."
    r = post_token(sb, {"grant_type": "password", "username": "ghost", "password": "nope"})
    assert r.status_code == 400 and error(r)["code"] == 102


def test_missing_arguments_and_unsupported_grant(shared_sandbox: Sandbox) -> None:
    sb = shared_sandbox
    r = post_token(sb, {"grant_type": "client_credentials", "client_id": sb.script_name})
    assert r.status_code == 400 and error(r)["title"] == "Missing or invalid authentication arguments"
    r = post_token(sb, {"grant_type": "authorization_code"})
    assert r.status_code == 400
    assert error(r)["title"] == "Unsupported grant_type" and error(r)["code"] == 103
    assert post_token(sb, {}).status_code == 400


def test_content_types(shared_sandbox: Sandbox) -> None:
    sb = shared_sandbox
    r = post_token(sb, data="x=1", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and error(r)["title"] == "Unsupported Content-Type 'text/plain'"
    r = post_token(sb, data="", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error(r)["title"] == "Invalid JSON body"
    r = post_token(
        sb, script_grant(sb), headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    )
    assert r.status_code == 200


def test_refresh_tokens_work_once_under_both_spellings(shared_sandbox: Sandbox) -> None:
    sb = shared_sandbox
    first = post_token(sb, script_grant(sb)).json()
    second = post_token(sb, {"grant_type": "refresh", "refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert data_call(sb, second.json()["access_token"]).status_code == 200
    again = post_token(sb, {"grant_type": "refresh", "refresh_token": first["refresh_token"]})
    assert again.status_code == 401 and error(again)["title"] == "Unauthorized"
    third = post_token(sb, {"grant_type": "refresh_token", "refresh_token": second.json()["refresh_token"]})
    assert third.status_code == 200
    assert post_token(sb, {"grant_type": "refresh_token", "refresh_token": "a.b.c"}).status_code == 401


def test_sudo_as_login(shared_sandbox: Sandbox) -> None:
    sb = shared_sandbox
    r = post_token(sb, {**script_grant(sb), "scope": f"sudo_as_login:{sb.login}"})
    assert r.status_code == 200 and claims(r.json()["access_token"])["sudo_as_login"] == sb.login
    r = post_token(sb, {**script_grant(sb), "scope": "sudo_as_login:nobody.here"})
    assert r.status_code == 400
    assert error(r) | {"id": "x"} == {
        "id": "x",
        "status": 400,
        "code": 102,
        "title": "Cannot 'sudo' - unknown or retired user: 'nobody.here'",
        "source": {},
        "detail": None,
        "meta": None,
    }
    inactive = next(u for u in sb.site.records("HumanUser") if u["sg_status_list"] == "dis")
    r = post_token(sb, {**script_grant(sb), "scope": f"sudo_as_login:{inactive['login']}"})
    assert r.status_code == 400 and "inactive user account" in error(r)["title"]


def test_missing_invalid_and_tampered_bearer_is_401(shared_sandbox: Sandbox) -> None:
    sb = shared_sandbox
    r = data_call(sb, None)
    assert r.status_code == 401 and error(r)["code"] == 102 and error(r)["status"] == 401
    assert data_call(sb, "not-a-token").status_code == 401
    token = post_token(sb, script_grant(sb)).json()["access_token"]
    head, payload, sig = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["exp"] += 3600
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    assert data_call(sb, f"{head}.{forged_payload}.{sig}").status_code == 401
    r = requests.get(
        f"{sb.url}/api/v1/entity/projects", headers={"Authorization": f"Token {token}"}, timeout=10
    )
    assert r.status_code == 401
    assert requests.get(f"{sb.url}/api/v1", timeout=10).status_code == 200  # server info needs no token


def test_tokens_expire_with_the_site_clock(sandbox: Sandbox) -> None:
    client = Client(sandbox)
    assert data_call(sandbox, client.token).status_code == 200
    sandbox.site.advance_clock(601)
    r = data_call(sandbox, client.token)
    assert r.status_code == 401 and error(r)["detail"] == "The access token has expired."


def test_token_lifetime_knob_and_constructor() -> None:
    with Sandbox(seed=1, scale=0.1, expires_in=30) as sb:
        body = post_token(sb, script_grant(sb)).json()
        assert body["expires_in"] == 30
        sb.faults.token_lifetime = 5
        short = post_token(sb, script_grant(sb)).json()
        assert (
            short["expires_in"] == 5
            and claims(short["access_token"])["exp"] - claims(short["access_token"])["iat"] == 5
        )
        sb.site.advance_clock(6)
        assert data_call(sb, short["access_token"]).status_code == 401
        assert data_call(sb, body["access_token"]).status_code == 200
        sb.faults.reset()
        assert post_token(sb, script_grant(sb)).json()["expires_in"] == 30


def test_revoke_all_tokens(sandbox: Sandbox) -> None:
    body = post_token(sandbox, script_grant(sandbox)).json()
    sandbox.faults.revoke_all_tokens()
    r = data_call(sandbox, body["access_token"])
    assert r.status_code == 401 and error(r)["detail"] == "The access token has been revoked."
    assert (
        post_token(sandbox, {"grant_type": "refresh", "refresh_token": body["refresh_token"]}).status_code
        == 401
    )
    assert (
        data_call(sandbox, post_token(sandbox, script_grant(sandbox)).json()["access_token"]).status_code
        == 200
    )


def test_token_error_burst(sandbox: Sandbox) -> None:
    sandbox.faults.token_error_burst(2, status=429)
    first = post_token(sandbox, script_grant(sandbox))
    assert first.status_code == 429 and first.headers["Retry-After"] == "1"
    assert post_token(sandbox, script_grant(sandbox)).status_code == 429
    assert post_token(sandbox, script_grant(sandbox)).status_code == 200


def test_token_requests_are_logged_without_secrets(sandbox: Sandbox) -> None:
    sandbox.clear_requests()
    post_token(sandbox, script_grant(sandbox))
    requests.post(f"{sandbox.url}{TOKEN_PATH}", params=script_grant(sandbox), timeout=10)
    records = [r for r in sandbox.requests if r.kind == "token"]
    assert len(records) == 2
    assert records[0].body["grant_type"] == "client_credentials"
    assert records[0].body["client_secret"] == "***" and records[1].query["client_secret"] == "***"
    assert sandbox.script_key not in repr(sandbox.requests)
