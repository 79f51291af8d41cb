"""A dlt source for ShotGrid (Autodesk Flow Production Tracking, formerly Shotgun).

import dlt
from shotgun_source import load

pipeline = dlt.pipeline("shotgun_pipeline", destination="duckdb", dataset_name="shotgun")
report = load(pipeline)  # site_url and credentials from .dlt/ or SOURCES__SHOTGUN__...
print(report.render())

`load()` adds what a plain `pipeline.run(shotgun_source())` lacks: one run per pipeline at a time,
mending a killed run, the load file format per destination, and a report.
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
from .run import load
from .schema import table_name_for
from .source import shotgun_source

__all__ = [
    "CheckResult",
    "Cursor",
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
    "shotgun_source",
    "table_name_for",
]
