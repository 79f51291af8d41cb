"""`RunReport`: what one load did, for a person (the summary the command line prints) and for code
(an orchestrator's metadata): rows per table, step times, requests and retries, every cursor."""

from dataclasses import dataclass, field
from typing import Any

import dlt

from .transport import RequestCounts

STEPS = ("extract", "normalize", "load")


@dataclass(frozen=True)
class Cursor:
    """Where one resource stands after the run: the next run reads from here, less the lookback."""

    resource: str
    name: str
    """`updated_at` / `created_at` (the incremental cursor), or `events_read_to` (the event log)."""
    value: str


@dataclass
class RunReport:
    """What one `shotgun_source.load` run loaded, how long it took and what it asked the site."""

    pipeline_name: str
    destination: str
    dataset_name: str
    elapsed_seconds: float
    step_seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    """Rows this run loaded per table (dlt's normalize counts), dlt's own tables left out."""
    requests: RequestCounts | None = None
    """Requests this run sent to the site; None when the source was not a ShotGrid source."""
    cursors: list[Cursor] = field(default_factory=list)
    mended_load_ids: list[str] = field(default_factory=list)
    """Load packages of an earlier, interrupted run that this run mended and loaded first."""
    load_info: Any = None
    """dlt's `LoadInfo` of the run (None when it loaded nothing new)."""
    notes: list[str] = field(default_factory=list)
    """What changed on the site that the run went on without: a field deleted while it read, an
    entity type earlier runs loaded and the site no longer has (`site_changes.py`)."""

    @classmethod
    def of(
        cls,
        pipeline: dlt.Pipeline,
        elapsed_seconds: float,
        requests: RequestCounts | None,
        mended_load_ids: list[str],
        load_info: Any,
        notes: list[str] | None = None,
    ) -> "RunReport":
        trace = pipeline.last_trace
        counts = trace.last_normalize_info.row_counts if trace and trace.last_normalize_info else {}
        steps: dict[str, float] = {
            str(step.step): (step.finished_at - step.started_at).total_seconds()
            for step in (trace.steps if trace else [])
            if step.step in STEPS and step.finished_at and step.started_at
        }
        return cls(
            pipeline_name=pipeline.pipeline_name,
            destination=destination_type(pipeline),
            dataset_name=pipeline.dataset_name,
            elapsed_seconds=elapsed_seconds,
            step_seconds=steps,
            rows={table: n for table, n in sorted(counts.items()) if not table.startswith("_dlt")},
            requests=requests,
            cursors=cursors_of(pipeline),
            mended_load_ids=mended_load_ids,
            load_info=load_info,
            notes=list(notes or []),
        )

    def leave_out(self, markers: dict[str, int]) -> None:
        """Take link-table marker rows out of the row counts: they clear a record's old links and
        are never stored (dlt's own counts include them)."""
        for table, count in markers.items():
            if table in self.rows:
                self.rows[table] -= count
                if not self.rows[table]:
                    del self.rows[table]

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def render(self) -> str:
        """The run summary: where it loaded, step times, rows per table, requests, cursors."""
        steps = ", ".join(
            f"{step} {self.step_seconds[step]:.1f} s" for step in STEPS if step in self.step_seconds
        )
        lines = [
            f"Loaded pipeline {self.pipeline_name} into {self.destination or '?'},"
            f" dataset {self.dataset_name}, in {self.elapsed_seconds:.1f} s"
            + (f" ({steps})" if steps else "")
        ]
        if self.mended_load_ids:
            lines.append(
                f"First loaded what an interrupted run had read ({len(self.mended_load_ids)} package(s):"
                f" {', '.join(self.mended_load_ids)})"
            )
        width = max([len("table"), *map(len, self.rows)])
        lines.append(f"  {'table':<{width}}  {'rows':>9}")
        lines.extend(f"  {table:<{width}}  {n:>9,}" for table, n in self.rows.items())
        if not self.rows:
            lines.append("  (no new or changed rows)")
        if self.requests is not None:
            lines.append(f"Requests: {self.requests.describe()}")
        if self.cursors:
            lines.append("Cursors (the next run reads from each, less lookback_seconds):")
            name_width = max(len(c.resource) for c in self.cursors)
            cursor_width = max(len(c.name) for c in self.cursors)
            lines.extend(
                f"  {c.resource:<{name_width}}  {c.name:<{cursor_width}}  {c.value}" for c in self.cursors
            )
        lines.extend(f"Note: {note}" for note in self.notes)
        if self.destination == "filesystem":
            lines.append(
                "Note: files hold every row each run loaded (dlt merges only into delta or iceberg tables),"
                " so a changed record has one row per run that saw it: read the newest `_dlt_load_id` per id."
            )
        return "\n".join(lines)


def destination_type(pipeline: dlt.Pipeline) -> str:
    """`postgres` for `dlt.destinations.postgres`, also when the destination has a name of its own."""
    return pipeline.destination.destination_type.rsplit(".", 1)[-1] if pipeline.destination else ""


def cursors_of(pipeline: dlt.Pipeline) -> list[Cursor]:
    """Each resource's incremental cursor and how far it has read the event log, from the state."""
    resources = pipeline.state.get("sources", {}).get("shotgun", {}).get("resources", {})
    found: list[Cursor] = []
    for name, state in sorted(resources.items()):
        for cursor, values in sorted((state.get("incremental") or {}).items()):
            found.append(Cursor(name, cursor, str(values.get("last_value") or "-")))
        if "events_read_to" in state:
            found.append(Cursor(name, "events_read_to", str(state["events_read_to"] or "-")))
    return found
