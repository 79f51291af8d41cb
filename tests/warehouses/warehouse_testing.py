"""Helpers of the warehouse tests: destinations as the pipeline script loads them, request counts."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from postgres_server import PostgresServer

from shotgun_source.load_settings import load_settings_for, loader_file_format

DESTINATIONS = ("duckdb", "postgres", "filesystem")
FIVE = ["Project", "Shot", "Task", "Asset", "Version"]
TYPED = ["Version", "CustomEntity01"]
"""Between them every ShotGrid data type the sandbox serves: float, date, date_time, checkbox, url,
serializable, tag_list, currency, percent, duration, timecode, list, color, uuid, footage, links."""


@dataclass
class Warehouse:
    """One destination of one test, and how the pipeline script loads it."""

    name: str
    tmp_path: Path
    dataset: str
    postgres: PostgresServer | None = None
    pipelines: list[dlt.Pipeline] = field(default_factory=list)

    @property
    def merges(self) -> bool:
        """False for parquet files: dlt merges only into delta/iceberg tables and appends otherwise."""
        return self.name != "filesystem"

    @property
    def latest_row_per_id(self) -> bool:
        """How to read what a merge would have left: the newest load's row of each id."""
        return not self.merges

    def destination(self, dataset: str) -> Any:
        if self.name == "duckdb":
            return dlt.destinations.duckdb(str(self.tmp_path / f"warehouse_{dataset}.duckdb"))
        if self.name == "postgres":
            assert self.postgres is not None
            return dlt.destinations.postgres(self.postgres.dlt_credentials())
        return dlt.destinations.filesystem(bucket_url=str(self.tmp_path / "shotgun_data"))

    def dataset_name(self, suffix: str = "") -> str:
        return f"{self.dataset}_{suffix}" if suffix else self.dataset

    def pipeline(
        self, name: str = "shotgun_test", dataset: str | None = None, workdir: str = ""
    ) -> dlt.Pipeline:
        """A pipeline into this destination; `workdir` names a fresh local working folder, as an
        orchestrator's task gets (its state then comes back from the destination)."""
        dataset = dataset or self.dataset
        pipeline = dlt.pipeline(
            pipeline_name=name,
            pipelines_dir=str(self.tmp_path / "pipelines" / workdir),
            destination=self.destination(dataset),
            dataset_name=dataset,
        )
        self.pipelines.append(pipeline)
        return pipeline

    def run(self, pipeline: dlt.Pipeline, source: Any) -> Any:
        """Load with the file format and the settings `shotgun_source.load()` uses for the destination
        (for PostgreSQL: csv files, copied by the job that keeps empty texts)."""
        with load_settings_for(pipeline):
            return pipeline.run(source, loader_file_format=loader_file_format(pipeline, arrow_items=True))


def searches_per_reader(sandbox: Any) -> dict[str, int]:
    """`_search` requests per reader: an entity type, or an event log read for one type's events."""
    counts: dict[str, int] = {}
    for request in sandbox.requests:
        if request.kind != "search":
            continue
        key = str(request.entity_type)
        filters = request.body.get("filters", []) if isinstance(request.body, dict) else []
        for event_types in _event_type_lists(filters):
            key += f" {sorted(event_types)}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _event_type_lists(filters: Any) -> list[list[str]]:
    """The `event_type in [...]` lists of array or (nested) hash filters."""
    if isinstance(filters, dict):
        return [found for c in filters.get("conditions") or [] for found in _event_type_lists([c])]
    found: list[list[str]] = []
    for condition in filters or []:
        if isinstance(condition, dict):
            found.extend(_event_type_lists(condition))
        elif isinstance(condition, list) and condition[:2] == ["event_type", "in"]:
            found.append(list(condition[2]))
    return found


def loaded_rows(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows per data table that the pipeline's last run loaded."""
    trace = pipeline.last_trace
    assert trace is not None and trace.last_normalize_info is not None
    return {t: n for t, n in trace.last_normalize_info.row_counts.items() if not t.startswith("_dlt")}
