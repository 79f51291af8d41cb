"""bench/removal_check.py stays able to remove what it names: each edit's snippet occurs once in
today's code, and each removal's tests exist. A refactor that moves a snippet would otherwise turn
that removal into `N/A` unnoticed until someone runs the (4-minute) check."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def removal_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("removal_check", REPO / "bench" / "removal_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


REMOVALS = removal_check().REMOVALS


@pytest.mark.parametrize("removal", REMOVALS, ids=lambda r: r.name)
def test_each_removal_still_applies_to_the_code_and_names_tests_that_exist(removal: object) -> None:
    for edit in removal.edits:  # type: ignore[attr-defined]
        text = (REPO / edit.path).read_text()
        assert text.count(edit.old) == 1, (
            f"{removal.name}: {edit.old!r} occurs {text.count(edit.old)} times in {edit.path}"
        )  # type: ignore[attr-defined]
    for node in removal.tests:  # type: ignore[attr-defined]
        path, _, name = node.partition("::")
        assert (REPO / path).exists(), f"{removal.name}: no {path}"  # type: ignore[attr-defined]
        if name:
            assert f"def {name.split('[')[0]}(" in (REPO / path).read_text(), f"{removal.name}: no {node}"  # type: ignore[attr-defined]
