"""Transport-neutral request and response objects, so routing is testable without sockets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .errors import ApiError

JSON = "application/json; charset=utf-8"


@dataclass
class Request:
    method: str
    path: str  # as called, without the query string
    query_string: str
    query: dict[str, str]  # decoded; a repeated key keeps its last value
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def media_type(self) -> str:
        """The Content-Type without parameters, lower case ('' when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def json_body(self) -> Any:
        """The body parsed as JSON; an empty body is an empty object."""
        if not self.body.strip():
            return {}
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, 103, "Invalid JSON body", {"body": str(exc)}) from exc


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = JSON
    headers: dict[str, str] = field(default_factory=dict)
    rows: int = 0  # records served, for the request log
    drop: bool = False  # send headers and half the body, then close the connection
    trickle: float = 0.0  # seconds between two body bytes (0: the body at once)


def json_response(status: int, payload: Any, rows: int = 0) -> Response:
    return Response(status, orjson.dumps(payload), rows=rows)


def error_response(err: ApiError) -> Response:
    resp = json_response(err.status, err.envelope())
    resp.headers.update(err.headers)
    return resp


def html_response(status: int, title: str, text: str) -> Response:
    head = f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>"
    body = f"{head}<body><h1>{title}</h1><p>{text}</p></body></html>\n"
    return Response(status, body.encode(), "text/html; charset=utf-8")
