"""Helpers of the field-history tests: the site's own Change events (ground truth, from the
sandbox's data API), the README's time-in-status query, and the history rows a destination holds."""

import datetime as dt
import re
from pathlib import Path
from typing import Any

import dlt

README = Path(__file__).resolve().parents[1] / "README.md"
HISTORY_COLUMNS = ["event_id", "entity_id", "field", "changed_at", "old_value", "new_value", "user__id"]


def site_changes(
    site: Any, entity_type: str, fields: set[str], since: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The site's committed Change events of these fields, oldest first (held or uncommitted ones
    are not among them)."""
    return [
        event
        for event in site.records("EventLogEntry")
        if event["event_type"] == f"Shotgun_{entity_type}_Change"
        and event["attribute_name"] in fields
        and (since is None or event["created_at"] >= since)
    ]


def history_rows(pipeline: dlt.Pipeline, table: str = "shots_field_changes") -> list[dict[str, Any]]:
    """Every row of a history table, by event id (on parquet files: every row the files hold)."""
    relation = pipeline.dataset()[table].select(*HISTORY_COLUMNS)
    rows = [dict(zip(HISTORY_COLUMNS, row, strict=True)) for row in relation.fetchall()]
    return sorted(rows, key=lambda row: row["event_id"])


def time_in_status_sql(dataset: str, table: str = "shots_field_changes") -> str:
    """The README's time-in-status query, pointed at `dataset` (the README names `shotgun`)."""
    block = re.search(
        r"<!-- time_in_status:start -->\s*```sql\n(.*?)```\s*<!-- time_in_status:end -->",
        README.read_text(),
        re.S,
    )
    assert block, "README.md has no time_in_status block"
    return block.group(1).replace("shotgun.shots_field_changes", f"{dataset}.{table}")


def utc(value: Any) -> dt.datetime:
    """A timestamp from any destination as an aware UTC datetime (PostgreSQL gives the session's zone)."""
    assert isinstance(value, dt.datetime), value
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
