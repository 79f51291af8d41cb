"""Defaults of the ShotGrid source, in one place so the source, the CLI and the README agree."""

from typing import Final

DEFAULT_ENTITIES: Final[tuple[str, ...]] = ("Project", "Shot", "Task", "Asset", "Version")
"""The design card's five entity types, loaded when no `entities` setting is given."""

API_PREFIX: Final[str] = "/api/v1"
"""Every REST path starts here; the server's own links are root-relative and include it."""

TOKEN_PATH: Final[str] = f"{API_PREFIX}/auth/access_token"

SHOTGRID_TIME_FORMAT: Final[str] = "%Y-%m-%dT%H:%M:%SZ"
"""How ShotGrid writes and filters date_time values: UTC, whole seconds."""

SEARCH_CONTENT_TYPE: Final[str] = "application/vnd+shotgun.api3_array+json"
"""`_search` picks the filter shape from the content type; plain JSON is refused with 415."""

DEFAULT_PAGE_SIZE: Final[int] = 2000
"""Rows per request; the server's own default is 500 and its maximum 5000. bench/speed.py, 200k
rows at 0.1 s a request: 500 a page 39.7 s and 614 requests, 2000 31.9 s and 116, 5000 32.2 s and
56 with 40 MB more memory than 2000. A real site answers a page in about 0.3 s whatever its size,
so four times fewer requests weigh more there than on the sandbox."""

MAX_PAGE_SIZE: Final[int] = 5000

DEFAULT_LOOKBACK_SECONDS: Final[int] = 300
"""Re-read this much before the stored cursor: `updated_at` has one-second resolution and rows
commit late, so a run that started mid-second or mid-transaction must not lose them. Five minutes
is the commit-lag allowance ShotGrid's own event daemon uses."""

DEFAULT_INITIAL_UPDATED_AT: Final[str] = "1970-01-01T00:00:00Z"
"""Lower bound of the first run: everything."""

TOKEN_REFRESH_MARGIN_SECONDS: Final[float] = 60.0
"""Refresh the 600 s bearer token this long before it expires, so a page request that waits
in a retry does not go out with a token about to die."""

DEFAULT_MAX_CONCURRENT_REQUESTS: Final[int] = 8
"""Page requests in flight at once, for the whole source: hides the site's latency without
inviting its rate limiter."""

DEFAULT_PARALLEL_RANGES: Final[int] = 8
"""Threads one large entity type's id ranges are read on."""

DEFAULT_LOCK_TIMEOUT_SECONDS: Final[float] = 60.0
"""How long a run waits while another run of the same pipeline holds it: long enough for a run that
is finishing its load, short enough that a scheduler's next slot is not lost to a hung one."""
