"""The ShotGrid error envelope and the exceptions that produce it.

Every error body is `{"errors": [{"id", "status", "code", "title", "source", "detail",
"meta"}]}` with `status` equal to the HTTP status. Codes as recorded: 102 authentication,
103 invalid request / unknown route or type, 104 missing record or permission. The data
API (`site.py`) raises the same exceptions, so a test calling `sb.site.update(...)` with a
bad field gets the message a client would get over HTTP.
"""

from __future__ import annotations

import uuid
from typing import Any


def ruby_inspect(value: Any) -> str:
    """Ruby's `inspect` of a JSON value: the server quotes filter values this way in errors."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(ruby_inspect(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{ruby_inspect(k)}=>{ruby_inspect(v)}" for k, v in value.items()) + "}"
    return repr(value)


class ApiError(Exception):
    """An error answer: HTTP status, ShotGrid code, title, optional source/detail/headers."""

    def __init__(
        self,
        status: int,
        code: int,
        title: str,
        source: Any = None,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title if detail is None else f"{title} {detail}")
        self.status = status
        self.code = code
        self.title = title
        self.source = source
        self.detail = detail
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.status, self.code, self.title, self.source, self.detail)


def error_envelope(
    status: int, code: int, title: str, source: Any = None, detail: str | None = None
) -> dict[str, Any]:
    return {
        "errors": [
            {
                "id": uuid.uuid4().hex,
                "status": status,
                "code": code,
                "title": title,
                "source": source,
                "detail": detail,
                "meta": None,
            }
        ]
    }


def unknown_type(name: str) -> ApiError:
    return ApiError(404, 103, "Not Found", None, f"Entity type '{name}' does not exist.")


def record_missing(type_name: str, entity_id: Any) -> ApiError:
    """DELETE/PUT/revive wording; GET by id uses `record_not_found`."""
    return ApiError(
        404, 104, "Not Found", None, f"Entity of type [{type_name}] with id={entity_id} does not exist."
    )


def record_not_found(type_name: str, entity_id: Any) -> ApiError:
    return ApiError(404, 104, "Not Found", None, f"{type_name}: {entity_id} not found")


def invalid_params(source: Any, title: str = "Request Parameters invalid.") -> ApiError:
    return ApiError(400, 103, title, source)


def bad_request(title: str, source: Any = None) -> ApiError:
    return ApiError(400, 103, title, {} if source is None else source)


def unknown_field(verb: str, type_name: str, field: str, condition: dict[str, Any] | None = None) -> ApiError:
    """`API read() Asset.not_existing_field doesn't exist.` (create/update use their verb)."""
    title = f"API {verb}() {type_name}.{field} doesn't exist."
    if condition is None:
        return ApiError(400, 103, title, {})
    return ApiError(
        400, 103, title, {f"{type_name}.{field}": f" does not exist. Value: {ruby_inspect(condition)}"}
    )


def not_editable(type_name: str, field: str) -> ApiError:
    return ApiError(400, 104, f"The field is not editable for this user: [{type_name}.{field}]", {})


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, 102, "Unauthorized", None, detail)
