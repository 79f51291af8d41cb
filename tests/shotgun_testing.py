"""Small helpers every test folder shares: the sandbox's script credentials, a stored cursor, the
rows a first load holds, the generated rest_api config for a sandbox."""

import datetime as dt
from typing import Any

import dlt
from destination_truth import HISTORY_DAYS, expected_row_counts, first_load_flags, plural_slug

from shotgun_source import ShotgunAuth, shotgun_rest_api_config
from shotgun_source.settings import DEFAULT_LOOKBACK_SECONDS

SETTLE_SECONDS = 2
"""How far the site's clock moves before a run of the generated rest_api config is configured."""


def script_auth(sandbox: Any, **overrides: Any) -> ShotgunAuth:
    """`ShotgunAuth` with the sandbox's script name and key; `overrides` change any field."""
    values = {"client_id": sandbox.script_name, "client_secret": sandbox.script_key, **overrides}
    return ShotgunAuth(**values)


def cursor_of(pipeline: dlt.Pipeline, table: str) -> Any:
    """The stored `updated_at` cursor of one resource, or None before its first load."""
    resources = pipeline.state.get("sources", {}).get("shotgun", {}).get("resources", {})
    return resources.get(table, {}).get("incremental", {}).get("updated_at", {}).get("last_value")


def events_read_to(pipeline: dlt.Pipeline, table: str) -> Any:
    """How far one resource has read the event log (its run's window end), or None."""
    resources = pipeline.state.get("sources", {}).get("shotgun", {}).get("resources", {})
    return resources.get(table, {}).get("events_read_to")


def first_load_counts(
    site: Any,
    pipeline: dlt.Pipeline,
    entity_types: list[str],
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS,
) -> dict[str, int]:
    """Rows per table after a first load with soft deletes: the live records, the ones retired
    within the lookback before the run's window end (its event-log read starts there, flagging them),
    and the status changes of the last HISTORY_DAYS before it (the field history's backfill)."""
    window_end = events_read_to(pipeline, plural_slug(entity_types[-1]))
    flags = first_load_flags(site, entity_types, window_end, lookback_seconds)
    start = dt.datetime.strptime(window_end, "%Y-%m-%dT%H:%M:%SZ") - dt.timedelta(days=HISTORY_DAYS)
    return expected_row_counts(site, entity_types, flags, history=(start.replace(tzinfo=dt.UTC), window_end))


def later_history(pipeline: dlt.Pipeline, table: str) -> tuple[Any, Any]:
    """The history window of the run after this pipeline's last one: status changes made after the
    last run's window end (those within its lookback were applied by it) until now."""
    after = dt.datetime.strptime(events_read_to(pipeline, table), "%Y-%m-%dT%H:%M:%SZ") + dt.timedelta(
        seconds=1
    )
    return after.replace(tzinfo=dt.UTC), dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def rest_api_config_for(sandbox: Any, **kwargs: Any) -> Any:
    """The generated rest_api config for a sandbox, built a moment after the site last changed.

    Its window ends a second before the site's now (the site's clock is known to within half a
    second), so a change in that last second belongs to the next run; the site's clock moves on
    `SETTLE_SECONDS` first, as it does between a user's changes and a scheduled run. Built before
    each run, as a scheduled run builds it (a new token reads the site's clock again). The sandbox's
    script credentials unless `credentials` is given."""
    sandbox.site.advance_clock(SETTLE_SECONDS)
    kwargs.setdefault("credentials", script_auth(sandbox))
    return shotgun_rest_api_config(site_url=sandbox.url, **kwargs)
