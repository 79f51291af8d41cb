"""Past one machine: one task per resource, as an orchestrator runs them, loads the same warehouse
as one run does.

dlt's Airflow helper (`PipelineTasksGroup.add_run(..., decompose="parallel-isolated")`) splits a
source with `source.decompose("scc")` and runs each part as its own task: a pipeline of its own
name (so each keeps its own state), a fresh local folder (the state comes back from the
destination), one shared dataset. This test does exactly that, on the real PostgreSQL server and
on parquet files (a DuckDB file cannot be shared between machines), twice: the first load, then
an incremental round after the site changed.
"""

from typing import Any

import dlt
import pytest
from destination_truth import assert_destination_matches_site, destination_contents, plural_slug
from warehouse_testing import Warehouse, searches_per_reader

ENTITIES = ["Shot", "Version"]


def run_as_tasks(warehouse: Warehouse, source: Any, dataset: str, round_name: str) -> dict[str, dlt.Pipeline]:
    """Each strongly connected part of the source in its own pipeline and local folder, in turn."""
    pipelines: dict[str, dlt.Pipeline] = {}
    for part in source.decompose("scc"):
        resources = sorted(part.selected_resources)
        name = "shotgun_" + "_".join(resources)  # the task (and pipeline) name dlt's helper derives
        pipeline = warehouse.pipeline(name, dataset=dataset, workdir=f"{round_name}_{name}")
        warehouse.run(pipeline, part)
        for resource in resources:
            pipelines[resource] = pipeline
    return pipelines


@pytest.mark.parametrize("warehouse", ["postgres", "filesystem"], indirect=True)
def test_one_task_per_resource_loads_what_one_run_loads(
    warehouse: Warehouse, sandbox: Any, source_for: Any
) -> None:
    site = sandbox.site
    latest = warehouse.latest_row_per_id
    one_run = warehouse.pipeline("shotgun_one_run", dataset=warehouse.dataset_name("one"))
    tasks_dataset = warehouse.dataset_name("tasks")

    def compare() -> dict[str, int]:
        # Read the tasks' tables with the full table layout. A task's own pipeline may not know it:
        # each task restores schema `shotgun` from the destination, as whichever task stored it last
        # left it, so a child table it loaded in an earlier round can be missing from its view.
        tasks = dlt.dataset(
            warehouse.destination(tasks_dataset), tasks_dataset, schema=one_run.default_schema
        )
        counts = assert_destination_matches_site(tasks, site, ENTITIES, latest_row_per_id=latest)
        assert assert_destination_matches_site(one_run, site, ENTITIES, latest_row_per_id=latest) == counts
        for entity in ENTITIES:
            assert destination_contents(tasks, site, [entity], latest) == destination_contents(
                one_run, site, [entity], latest
            ), f"{entity}: one task per resource and one run loaded different rows"
        return counts

    warehouse.run(one_run, source_for(sandbox, entities=ENTITIES))
    pipelines = run_as_tasks(warehouse, source_for(sandbox, entities=ENTITIES), tasks_dataset, "r1")
    assert {plural_slug(e) for e in ENTITIES} <= set(pipelines), "a task for every entity type"
    assert len({p.pipeline_name for p in pipelines.values()}) == len(pipelines), "one pipeline per task"
    first = compare()

    shot = site.records("Shot")[3]
    site.create("Shot", {"code": "shot_between_rounds", "project": shot["project"]})
    site.update("Shot", shot["id"], {"description": "changed between rounds"})
    site.update("Version", site.records("Version")[7]["id"], {"sg_client_approved": True, "code": "v_new"})

    sandbox.clear_requests()
    # new local folders: each task's cursor comes back from the destination, so the round is
    # incremental (a full read of versions takes 3 pages; here each reader sends one)
    run_as_tasks(warehouse, source_for(sandbox, entities=ENTITIES), tasks_dataset, "r2")
    searches = searches_per_reader(sandbox)
    assert all(n <= 1 for n in searches.values()), searches
    warehouse.run(one_run, source_for(sandbox, entities=ENTITIES))
    second = compare()
    print(f"\n{warehouse.name}: one task per resource == one run; rows compared {first}, then {second}")
