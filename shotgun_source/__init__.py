"""A dlt source for ShotGrid (Autodesk Flow Production Tracking, formerly Shotgun).

import dlt
from shotgun_source import shotgun_source

pipeline = dlt.pipeline("shotgun_pipeline", destination="duckdb", dataset_name="shotgun")
pipeline.run(shotgun_source())  # site_url and credentials from .dlt/ or SOURCES__SHOTGUN__...
"""

from .auth import ShotgunAuth
from .errors import (
    ShotgunAPIError,
    ShotgunAuthError,
    ShotgunConfigError,
    ShotgunConnectionError,
    ShotgunError,
    ShotgunPermissionError,
    ShotgunResponseError,
    ShotgunUnavailableError,
)
from .paginator import ShotgunKeysetPaginator, ShotgunLinksPaginator
from .schema import table_name_for
from .source import shotgun_source

__all__ = [
    "ShotgunAPIError",
    "ShotgunAuth",
    "ShotgunAuthError",
    "ShotgunConfigError",
    "ShotgunConnectionError",
    "ShotgunError",
    "ShotgunKeysetPaginator",
    "ShotgunLinksPaginator",
    "ShotgunPermissionError",
    "ShotgunResponseError",
    "ShotgunUnavailableError",
    "shotgun_source",
    "table_name_for",
]
