"""Small helpers every test folder shares: the sandbox's script credentials, a stored cursor."""

from typing import Any

import dlt

from shotgun_source import ShotgunAuth


def script_auth(sandbox: Any, **overrides: Any) -> ShotgunAuth:
    """`ShotgunAuth` with the sandbox's script name and key; `overrides` change any field."""
    values = {"client_id": sandbox.script_name, "client_secret": sandbox.script_key, **overrides}
    return ShotgunAuth(**values)


def cursor_of(pipeline: dlt.Pipeline, table: str) -> Any:
    """The stored `updated_at` cursor of one resource, or None before its first load."""
    resources = pipeline.state.get("sources", {}).get("shotgun", {}).get("resources", {})
    return resources.get(table, {}).get("incremental", {}).get("updated_at", {}).get("last_value")
