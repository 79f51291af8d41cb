"""A dlt source for ShotGrid (Autodesk Flow Production Tracking, formerly Shotgun).

import dlt
from shotgun_source import load

pipeline = dlt.pipeline("shotgun_pipeline", destination="duckdb", dataset_name="shotgun")
report = load(pipeline)  # site_url and credentials from .dlt/ or SOURCES__SHOTGUN__...
print(report.render())

`load()` adds what a plain `pipeline.run(shotgun_source())` lacks: one run per pipeline at a time,
mending a killed run, the load file format per destination, and a report.

`shotgun_rest_api_config()` gives the same reads as a dlt rest_api config, for users who want the
declarative form; importing the package registers `ShotgunAuth` ("shotgun") and the paginators
("shotgun_keyset", "shotgun_links") with rest_api by name.
"""

from .auth import ShotgunAuth
from .check import CheckResult, check_site
from .errors import (
    ShotgunAPIError,
    ShotgunAuthError,
    ShotgunConfigError,
    ShotgunConnectionError,
    ShotgunError,
    ShotgunPermissionError,
    ShotgunPipelineBusyError,
    ShotgunResponseError,
    ShotgunUnavailableError,
)
from .paginator import ShotgunKeysetPaginator, ShotgunLinksPaginator
from .report import Cursor, RunReport
from .rest_api_config import CursorWindow, register_rest_api_names, shotgun_rest_api_config
from .run import load
from .schema import table_name_for
from .source import shotgun_source

register_rest_api_names()  # "shotgun", "shotgun_keyset", "shotgun_links" in rest_api configs

__all__ = [
    "CheckResult",
    "Cursor",
    "CursorWindow",
    "RunReport",
    "ShotgunAPIError",
    "ShotgunAuth",
    "ShotgunAuthError",
    "ShotgunConfigError",
    "ShotgunConnectionError",
    "ShotgunError",
    "ShotgunKeysetPaginator",
    "ShotgunLinksPaginator",
    "ShotgunPermissionError",
    "ShotgunPipelineBusyError",
    "ShotgunResponseError",
    "ShotgunUnavailableError",
    "check_site",
    "load",
    "shotgun_rest_api_config",
    "shotgun_source",
    "table_name_for",
]
