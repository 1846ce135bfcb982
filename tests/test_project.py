"""Project-level promises: the public API and the README's commands."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import fanflow

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "fanflow", "fanflow.steps", "fanflow.engine", "fanflow.engine.workflow",
    "fanflow.engine.pipeline", "fanflow.store", "fanflow.adapters", "fanflow.callbacks",
    "fanflow.report",
]  # fmt: skip
WORKFLOW_LANGUAGE = [
    "Workflow", "WorkflowBuilder", "Operator", "Edge", "ConditionBuilder", "Expression",
    "Read", "Write", "Push", "Pop", "Peek", "GetAll", "Size", "String", "Config",
]  # fmt: skip


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    assert list(module.__all__) == sorted(module.__all__)
    for public in module.__all__:
        assert hasattr(module, public), f"{name}.__all__ lists {public!r}, which is missing"


def test_top_level_exports_everything_public_it_defines() -> None:
    defined = {n for n in vars(fanflow) if not n.startswith("_") and n[0].isupper()}
    assert defined <= set(fanflow.__all__)


@pytest.mark.parametrize("name", WORKFLOW_LANGUAGE)
def test_workflow_language_is_exported_from_fanflow_and_steps(name: str) -> None:
    import fanflow.steps

    assert getattr(fanflow, name) is getattr(fanflow.steps, name)


def test_ci_runs_the_readme_test_command() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    command = next(line for line in ci_lines if "pytest" in line)
    assert command in (ROOT / "README.md").read_text()


def test_package_is_typed() -> None:
    assert (ROOT / "fanflow" / "py.typed").exists()


def test_public_names_report_fanflow_as_their_module() -> None:
    import traceback

    for name in fanflow.__all__:
        public = getattr(fanflow, name)
        if isinstance(public, type) or callable(public):
            assert public.__module__ == "fanflow", name
    try:
        fanflow.StepTemplate().set_models([])
    except fanflow.ConfigurationError as exc:
        shown = "".join(traceback.format_exception_only(type(exc), exc))
    assert shown.startswith("fanflow.ConfigurationError: step 'step_template'")


def test_fanflow_never_prints_outside_the_cli_and_the_mock_servers_entry() -> None:
    allowed = {ROOT / "fanflow" / "cli.py", ROOT / "fanflow" / "testing" / "__main__.py"}
    printing = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "fanflow").rglob("*.py")
        if path not in allowed and re.search(r"(?<![\w.])print\(", path.read_text())
    ]
    assert printing == []
