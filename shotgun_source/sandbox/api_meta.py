"""Server info (`GET /api/v1`), preferences and the schema endpoints."""

from __future__ import annotations

from typing import Any

from . import errors
from .errors import ApiError
from .messages import Response, json_response
from .schema import field_schema_wire, type_schema_wire
from .site import Site

SERVER_VERSION = "8.26.0.0"


def server_info(site: Site) -> Response:
    """Same keys as a live site's answer; no `links`, and no authentication needed."""
    return json_response(
        200,
        {
            "data": {
                "shotgun_version": f"v{SERVER_VERSION} (build sandbox)",
                "api_version": "v1",
                "shotgun_version_number": SERVER_VERSION,
                "shotgun_build_number": "sandbox",
                "portfolio_version": SERVER_VERSION,
                "unified_login_flow_enabled": False,
                "user_authentication_method": "default",
                "site_id": str(site.seed),
                "site_name": "shotgun_source_sandbox",
            }
        },
    )


def preferences(prefix: str) -> Response:
    data: dict[str, Any] = {
        "format_date_fields": "YYYY-MM-DD",
        "date_component_order": "year_month_day",
        "format_time_hour_fields": "24 hour",
        "format_currency_fields_display_dollar_sign": False,
        "format_currency_fields_decimal_options": "$1,000.99",
        "format_currency_fields_negative_options": "- $1,000",
        "format_number_fields": "1,000",
        "format_float_fields": "9,999.99",
        "format_float_fields_rounding": "9.999999",
        "format_footage_fields": "10-05",
        "support_local_storage": True,
        "duration_units": "minutes",
        "hours_per_day": 8.0,
    }
    return json_response(200, {"data": data, "links": {"self": f"{prefix}/preferences"}})


def schema(site: Site, prefix: str, parts: list[str]) -> Response:
    """`/schema`, `/schema/{T}`, `/schema/{T}/fields`, `/schema/{T}/fields/{field}`."""
    base = f"{prefix}/schema"
    with site.lock:
        if not parts:
            data = {name: type_schema_wire(site.tables[name].tdef) for name in site.entity_types()}
            return json_response(200, {"data": data, "links": {"self": base}})
        table = site.require(parts[0])
        path = f"{base}/{parts[0]}"
        if len(parts) == 1:
            return json_response(200, {"data": type_schema_wire(table.tdef), "links": {"self": path}})
        if parts[1] != "fields" or len(parts) > 3:
            raise ApiError(404, 103, "Not Found", None, None)
        if len(parts) == 2:
            data = {name: field_schema_wire(table.name, fd) for name, fd in table.fields.items()}
            return json_response(200, {"data": data, "links": {"self": f"{path}/fields"}})
        fd = table.fields.get(parts[2])
        if fd is None:
            raise errors.unknown_field("schema_field_read", table.name, parts[2])
        return json_response(
            200, {"data": field_schema_wire(table.name, fd), "links": {"self": f"{path}/fields/{parts[2]}"}}
        )
