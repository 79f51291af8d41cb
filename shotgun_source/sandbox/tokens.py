"""JWT-shaped bearer and refresh tokens that the sandbox issues and verifies itself.

Real sites issue HS256 JWTs whose `exp` the official node client decodes to decide when to
refresh, so the sandbox does the same: three base64url segments, claims iss/aud/exp/iat/
jti/user/sudo_as_login/auth_type/session_uuid, and a signature checked on every request.
Tokens also live in a registry so they can be revoked, and so a refresh token works once.
Expiry follows the site clock, so `site.advance_clock(601)` expires a 600 s token at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import unauthorized

REFRESH_LIFETIME = 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Grant:
    """Who a token speaks for: the user claim, an optional sudo login, and how it was got."""

    user: dict[str, Any]
    sudo_as_login: str | None
    auth_type: str


class TokenIssuer:
    """Issues, verifies, refreshes and revokes tokens for one sandbox."""

    def __init__(self, secret: bytes, issuer: str, clock: Callable[[], float]) -> None:
        self._secret = secret
        self.issuer = issuer
        self._clock = clock
        self._lock = threading.Lock()
        self._live: dict[str, tuple[str, float]] = {}  # jti -> (kind, expires_at)

    def _sign(self, claims: dict[str, Any]) -> str:
        header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
        payload = _b64(orjson.dumps(claims))
        mac = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(mac)}"

    def _mint(self, grant: Grant, kind: str, lifetime: float) -> str:
        now = self._clock()
        jti = uuid.uuid4().hex
        claims = {
            "iss": self.issuer,
            "aud": self.issuer,
            "exp": int(now + lifetime),
            "iat": int(now),
            "jti": jti,
            "user": grant.user,
            "sudo_as_login": grant.sudo_as_login,
            "auth_type": grant.auth_type,
            "session_uuid": None,
            "typ": kind,
        }
        with self._lock:
            self._live[jti] = (kind, now + lifetime)
        return self._sign(claims)

    def issue(self, grant: Grant, lifetime: float) -> dict[str, Any]:
        """The token endpoint's answer: exactly the four keys a real site returns."""
        return {
            "token_type": "Bearer",
            "access_token": self._mint(grant, "access", lifetime),
            "expires_in": int(lifetime),
            "refresh_token": self._mint(grant, "refresh", REFRESH_LIFETIME),
        }

    def _decode(self, token: str, kind: str) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise unauthorized("The access token is malformed.")
        header, payload, signature = parts
        mac = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        try:
            valid = hmac.compare_digest(_unb64(signature), mac)
            claims: dict[str, Any] = orjson.loads(_unb64(payload)) if valid else {}
        except (ValueError, orjson.JSONDecodeError):
            valid = False
        if not valid or claims.get("typ") != kind:
            raise unauthorized("The access token is invalid.")
        with self._lock:
            entry = self._live.get(claims["jti"])
        if entry is None:
            raise unauthorized("The access token has been revoked.")
        if self._clock() >= entry[1]:
            raise unauthorized("The access token has expired.")
        return claims

    def verify(self, token: str) -> Grant:
        claims = self._decode(token, "access")
        return Grant(claims["user"], claims["sudo_as_login"], claims["auth_type"])

    def redeem_refresh(self, token: str) -> Grant:
        """Check a refresh token and spend it: each one works exactly once."""
        try:
            claims = self._decode(token, "refresh")
        except Exception as exc:
            raise unauthorized("Unauthorized") from exc
        with self._lock:
            if self._live.pop(claims["jti"], None) is None:
                raise unauthorized("Unauthorized")
        return Grant(claims["user"], claims["sudo_as_login"], claims["auth_type"])

    def revoke_all(self) -> None:
        with self._lock:
            self._live.clear()

    def live_count(self) -> int:
        with self._lock:
            return len(self._live)
