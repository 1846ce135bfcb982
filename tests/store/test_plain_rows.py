"""What a run stores is plain data, whatever types a user's names and numbers come in."""

from __future__ import annotations

import enum
from pathlib import Path

from fanflow import MockAdapter, PipelineBuilder, PipelineConfig, Prompt, load_run


class Model(str, enum.Enum):
    SMALL = "small-model"


class Step(str, enum.Enum):
    ASK = "ask"


async def test_a_step_name_and_model_given_as_str_enums_are_stored_as_their_text(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store.db"
    builder = PipelineBuilder(PipelineConfig(store=store, progress=False), MockAdapter(["hi"] * 2))
    builder.input([{"x": "1"}, {"x": "2"}])
    builder << Prompt(Step.ASK, "say {{x}}").set_models([Model.SMALL])
    result = await builder.build().execute()
    assert len(result.rows) == 2

    assert result.run_name is not None
    tasks = load_run(result.run_name, store=store).steps["ask"].results
    assert [task.model for task in tasks] == ["small-model", "small-model"]
    assert all(type(task.model) is str and type(task.step) is str for task in tasks)
