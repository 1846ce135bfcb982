"""Content keys: equal for the same request, different for any change that matters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fanflow import Workflow, WorkflowBuilder, Write
from fanflow.store import task_key

PROMPT = "Answer: {{question}}"


def workflow(
    question: str = "2+2?", prompt: str = PROMPT, max_tokens: int | None = None
) -> Workflow:
    builder = WorkflowBuilder(question=question)
    builder.generative_step(id="answer", prompt=prompt, outputs=[Write.new("answer")])
    builder.set_return_value("answer")
    if max_tokens is not None:
        builder.set_max_tokens(max_tokens)
    return builder.build()


def test_the_same_workflow_built_twice_or_loaded_from_json_has_the_same_key() -> None:
    built = workflow()
    loaded = Workflow.model_validate_json(built.model_dump_json())
    assert task_key(built, "m", (0, 1)) == task_key(workflow(), "m", (0, 1))
    assert task_key(loaded, "m", (0, 1)) == task_key(built, "m", (0, 1))


def test_prompt_memory_limits_model_and_lineage_each_change_the_key() -> None:
    base = task_key(workflow(), "m", (0, 1))
    changed = [
        task_key(workflow(prompt="Reply: {{question}}"), "m", (0, 1)),
        task_key(workflow(question="3+3?"), "m", (0, 1)),
        task_key(workflow(max_tokens=10), "m", (0, 1)),
        task_key(workflow(), "other", (0, 1)),
        task_key(workflow(), None, (0, 1)),
        task_key(workflow(), "m", (0, 2)),
        task_key(workflow(), "m", (0, 1, 0)),
    ]
    assert base not in changed
    assert len(set(changed)) == len(changed)


def test_the_key_is_the_same_in_another_process() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "from test_keys import workflow; from fanflow.store import task_key; "
        "print(task_key(workflow(), 'm', (3, 1)))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == task_key(workflow(), "m", (3, 1))


def test_a_copy_with_changed_limits_has_the_key_of_a_workflow_built_with_them() -> None:
    built = workflow()
    config = built.config.model_copy(update={"max_tokens": 10})
    copied = built.model_copy(update={"config": config})  # as set_workflow_params does
    assert task_key(copied, "m", (0,)) == task_key(workflow(max_tokens=10), "m", (0,))
