"""A minimal HTTP client for the sandbox tests (real requests over 127.0.0.1, no mocks)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests

from shotgun_source.sandbox import Sandbox

ARRAY = "application/vnd+shotgun.api3_array+json"
HASH = "application/vnd+shotgun.api3_hash+json"


class Client:
    """Authenticated session against one sandbox."""

    def __init__(self, sb: Sandbox, **grant: str) -> None:
        self.sb = sb
        self.session = requests.Session()
        self.token = self.authenticate(**grant)

    def authenticate(self, **grant: str) -> str:
        data = grant or {
            "grant_type": "client_credentials",
            "client_id": self.sb.script_name,
            "client_secret": self.sb.script_key,
        }
        r = self.session.post(f"{self.sb.url}/api/v1/auth/access_token", data=data, timeout=10)
        assert r.status_code == 200, r.text
        token = str(r.json()["access_token"])
        self.session.headers["Authorization"] = f"Bearer {token}"
        return token

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.sb.url}{path}", params=params or None, timeout=30)

    def search(
        self,
        entity: str,
        filters: Any = None,
        content_type: str = ARRAY,
        params: dict[str, Any] | None = None,
        **body: Any,
    ) -> requests.Response:
        payload = dict(body)
        if filters is not None:
            payload["filters"] = filters
        return self.session.post(
            f"{self.sb.url}/api/v1/entity/{entity}/_search",
            json=payload,
            headers={"Content-Type": content_type},
            params=params,
            timeout=30,
        )

    def ids(self, entity: str, filters: Any = None, content_type: str = ARRAY, **body: Any) -> list[int]:
        body.setdefault("fields", "id")
        body.setdefault("page", {"size": 5000})
        r = self.search(entity, filters, content_type, **body)
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()["data"]]


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wire(kind: str, value: Any) -> Any:
    """Ground truth -> the wire form a real site sends (written independently of the sandbox)."""
    if value is None:
        return False if kind == "checkbox" else None
    if kind == "date_time":
        return iso(value)
    if kind == "date":
        return value.isoformat()
    if kind in ("float", "currency"):
        return str(round(float(value), 6))
    return value


def record(sb: Sandbox, entity: str, entity_id: int) -> dict[str, Any]:
    """Ground truth of one record that must exist."""
    found = sb.site.get(entity, entity_id)
    assert found is not None, (entity, entity_id)
    return found


def error(r: requests.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1, body
    return dict(body["errors"][0])
