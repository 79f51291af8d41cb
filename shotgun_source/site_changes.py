"""What the site lost that the destination still has: notes for the run's report, never a crash.

Two schema changes a run can meet, and what it does about each (issue 18):

- a field deleted while the run reads (after the schema read, before the pages): the server
  leaves it out of the pages, so rows read after that hold no value for it; the run goes on, and
  its report says which field (`SiteSession.fields_gone`). The next run no longer reads it (with
  `fields` naming it, the next run stops at once and says to fix `fields`).
- an entity type removed between runs: with `entities` naming it, the run stops before reading
  anything ("Unknown ShotGrid entity type(s)", exit 2); with `entities = "all"`, the run goes on
  without it and its report says that table is no longer read.
"""

from typing import Any

import dlt
from dlt.common import logger
from dlt.extract import DltSource

from .errors import ShotgunError
from .resources import EntityResource
from .schema import table_name_for
from .session import SiteSession
from .site import ShotgunSite


def site_session_of(source: DltSource) -> SiteSession | None:
    """The site session a ShotGrid source reads with (None for another kind of source)."""
    for resource in source.resources.values():
        session = getattr(resource, "site_session", None) if isinstance(resource, EntityResource) else None
        if session is not None:
            return session
    return None


def tables_no_longer_on_the_site(pipeline: dlt.Pipeline, source: DltSource) -> list[str]:
    """Notes on entity tables earlier runs loaded whose type the site no longer lists.

    Costs one request (the site's type list), and only when a table earlier runs loaded has no
    resource in this source: a source narrowed on purpose (`entities`) is not a change on the site.
    """
    session = site_session_of(source)
    earlier = _tables_loaded_before(pipeline)
    missing = sorted(earlier - set(source.resources))
    if session is None or not missing:
        return []
    try:
        listed = {table_name_for(name) for name in ShotgunSite(session.site_url, session.auth).entity_types()}
    except ShotgunError:
        return []  # the note is a courtesy: the run itself will say what is wrong with the site
    return [
        f"table {table} was loaded by earlier runs, but its entity type is no longer on the site"
        " (deleted or disabled there, or these credentials lost access to it): this run did not read"
        " it, and its rows stay as the last run that read them left them."
        for table in missing
        if table not in listed
    ]


def fields_deleted_during_the_run(source: DltSource) -> list[str]:
    """Notes on fields the schema read named and the pages then lacked."""
    session = site_session_of(source)
    if session is None:
        return []
    return [
        f"{entity_type}.{field} was deleted on the site while this run read {table_name_for(entity_type)}:"
        " the rows read after that hold no value for it (rows loaded before keep theirs); the next"
        " run no longer reads it (if `fields` names it, take it out there)."
        for entity_type, fields in session.fields_gone().items()
        for field in fields
    ]


def warn(notes: list[str]) -> list[str]:
    """Log each note as a warning (orchestrators' logs), and return them for the report."""
    for note in notes:
        logger.warning(note)
    return notes


def _tables_loaded_before(pipeline: dlt.Pipeline) -> set[str]:
    """Resources of this source with a stored incremental cursor: entity tables earlier runs read."""
    resources: dict[str, Any] = pipeline.state.get("sources", {}).get("shotgun", {}).get("resources", {})
    return {name for name, state in resources.items() if isinstance(state, dict) and state.get("incremental")}
