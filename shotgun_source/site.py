"""The reads the source makes before paging: which entity types exist and their fields."""

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from requests.exceptions import ConnectionError, HTTPError

from .auth import ShotgunAuth
from .errors import (
    ShotgunConfigError,
    ShotgunError,
    ShotgunUnavailableError,
    connection_error,
    explain_failure,
)
from .responses import ResponseChecker
from .schema import EntitySchema, table_name_for
from .settings import API_PREFIX
from .transport import SiteClient

SCHEMA_READ_THREADS = 8
"""Field schemas are one request per entity type; a site has dozens, each ~0.3 s away."""


class ShotgunSite:
    """A thin client for the schema endpoints, sharing the source's auth and retry settings."""

    def __init__(self, site_url: str, auth: ShotgunAuth) -> None:
        self.site_url = site_url
        self.auth = auth
        self._check = ResponseChecker(site_url)
        self._client = SiteClient(auth.request_stats, raise_for_status=True)

    def get_json(self, path: str) -> Any:
        """GET `/api/v1/<path>`; the answer's JSON, checked."""
        url = f"{self.site_url}{API_PREFIX}/{path.lstrip('/')}"
        try:
            response = self._client.session.get(
                url, auth=self.auth, headers={"Accept": "application/json"}, hooks={"response": [self._check]}
            )
        except ConnectionError as exc:
            raise connection_error(exc, self.site_url) from None
        except HTTPError as exc:  # dlt's retries gave up on a 5xx or 429
            raise ShotgunUnavailableError(explain_failure(exc)) from None
        return response.json()

    def entity_types(self) -> list[str]:
        """Every entity type the credentials can read, from `GET /api/v1/schema`."""
        data = self.get_json("schema").get("data") or {}
        return sorted(data) if isinstance(data, dict) else []

    def resolve_entity_types(
        self, requested: Sequence[str] | str, available: Sequence[str] | None = None
    ) -> list[str]:
        """Schema names for what the user asked for: names, slugs (any case), or "all".

        `requested` may also be one string: "Shot,Version", "all", or a JSON list as environment
        variables carry lists. Fails before any data is read when a name is unknown, listing the
        valid ones. `available` saves the type-list request when the caller has it already.
        """
        available = list(available) if available is not None else self.entity_types()
        names = requested_names(requested)
        if names is None:
            return available
        by_key = {name.lower(): name for name in available}
        by_key.update({table_name_for(name): name for name in available})
        resolved: list[str] = []
        unknown: list[str] = []
        for name in names:
            match = by_key.get(str(name).strip().lower())
            if match is None:
                unknown.append(str(name))
            elif match not in resolved:
                resolved.append(match)
        if unknown:
            raise ShotgunConfigError(
                f"Unknown ShotGrid entity type(s): {', '.join(unknown)}. These credentials can read:"
                f' {", ".join(available)}. Fix `entities` (names like Shot or slugs like shots, or "all").'
            )
        if not resolved:
            raise ShotgunConfigError('`entities` is empty: name at least one entity type, or "all".')
        return resolved

    def entity_schema(self, entity_type: str) -> EntitySchema:
        return EntitySchema.from_fields_response(entity_type, self._fields(entity_type))

    def requested_schemas(self, requested: Sequence[str] | str) -> list[EntitySchema]:
        """The field schemas of the entity types asked for (as `resolve_entity_types` takes them),
        in two round trips, not three, when no name is "all".

        The type list is needed to check and resolve the names, but each name asked for most
        likely names a type as it is (the site takes a type's name or its slug in the path): so the
        list and those names' field schemas are read at once, and only a type whose guess failed
        has its schema read after the list. A real site answers in about 0.3 s: that is one such
        wait less on every run. A guess that fails (no such type, no permission) costs its request
        and nothing else: the names are judged by the list, as before."""
        names = requested_names(requested)
        if names is None:
            return self.entity_schemas(self.resolve_entity_types(requested))
        guesses = list(dict.fromkeys(str(name).strip() for name in names))
        self.auth.current_token()  # one token for all threads, fetched before they start
        with ThreadPoolExecutor(max_workers=min(SCHEMA_READ_THREADS, len(guesses) + 1)) as pool:
            listed = pool.submit(self.entity_types)
            guessed = {name: pool.submit(self._fields_or_none, name) for name in guesses}
            available = listed.result()
            resolved = self.resolve_entity_types(names, available)
            found: dict[str, EntitySchema] = {}
            for guess, answer in guessed.items():
                fields = answer.result()
                if fields is not None:
                    (entity_type,) = self.resolve_entity_types([guess], available)
                    found.setdefault(entity_type, EntitySchema.from_fields_response(entity_type, fields))
        missing = [name for name in resolved if name not in found]
        found.update(zip(missing, self.entity_schemas(missing), strict=True))
        return [found[name] for name in resolved]

    def _fields(self, entity_type: str) -> Any:
        """The `data` of `GET /api/v1/schema/{Type}/fields`."""
        return self.get_json(f"schema/{entity_type}/fields").get("data") or {}

    def _fields_or_none(self, entity_type: str) -> Any:
        try:
            return self._fields(entity_type)
        except ShotgunError:  # judged by the type list; read again if the list names this type
            return None

    def entity_schemas(self, entity_types: Sequence[str]) -> list[EntitySchema]:
        """Field schemas of several types, read in parallel (a constant number of requests per run)."""
        if len(entity_types) <= 1:
            return [self.entity_schema(t) for t in entity_types]
        self.auth.current_token()  # one token for all threads, fetched before they start
        with ThreadPoolExecutor(max_workers=min(SCHEMA_READ_THREADS, len(entity_types))) as pool:
            return list(pool.map(self.entity_schema, entity_types))


def requested_names(requested: Sequence[str] | str) -> list[str] | None:
    """The names in an `entities` setting: a list, "Shot,Version", or a JSON list as environment
    variables carry lists; None for "all"."""
    if not isinstance(requested, str):
        return [str(name) for name in requested]
    text = requested.strip()
    if text.lower() == "all":
        return None
    if text.startswith("["):
        try:
            return [str(name) for name in json.loads(text)]
        except (ValueError, TypeError):
            raise ShotgunConfigError(f"`entities` is not a valid JSON list: {text!r}.") from None
    return [part for part in text.replace(",", " ").split() if part]
