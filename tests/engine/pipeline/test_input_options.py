"""`input(..., columns=, skip=, limit=)`: renames and row ranges on any source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import orjson
import pytest

from fanflow import (
    ConfigurationError,
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    StepTemplate,
    Workflow,
)

ROWS = [{"subject": f"t{n}", "n": n} for n in range(10)]


class About(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("about {{topic}}", topic=topic)


def _builder() -> PipelineBuilder:
    def llm(request: GenerationRequest) -> str:
        return "ok"

    return PipelineBuilder(PipelineConfig(progress=False), MockAdapter(llm))


async def _topics(data: Any, **options: Any) -> list[str]:
    builder = _builder().input(data, **options)
    builder << About()
    result = await builder.build().execute()
    return sorted((row["topic"] for row in result.rows), key=lambda t: int(t[1:]))


def _jsonl(path: Path) -> Path:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in ROWS))
    return path


@pytest.mark.parametrize("kind", ["list", "dataset", "file"])
async def test_columns_skip_and_limit_apply_to_every_kind_of_source(
    kind: str, tmp_path: Path
) -> None:
    data: Any = {
        "list": ROWS,
        "dataset": datasets.Dataset.from_list(ROWS),
        "file": _jsonl(tmp_path / "rows.jsonl"),
    }[kind]

    topics = await _topics(data, columns={"subject": "topic"}, skip=2, limit=3)

    assert topics == ["t2", "t3", "t4"]


async def test_limit_alone_and_skip_alone() -> None:
    renamed = [{"topic": row["subject"]} for row in ROWS]

    assert await _topics(renamed, limit=2) == ["t0", "t1"]
    assert await _topics(renamed, skip=8) == ["t8", "t9"]


async def test_a_rename_lets_the_input_feed_a_step_that_wants_other_names() -> None:
    builder = _builder().input(ROWS)
    builder << About()
    with pytest.raises(ConfigurationError):
        builder.build()  # "topic" is not an input column without the rename

    assert len(await _topics(ROWS, columns={"subject": "topic"})) == 10


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"limit": -1}, "limit=-1"),
        ({"skip": -2}, "skip=-2"),
        ({"limit": 1.5}, "limit=1.5"),
        ({"columns": {"subject": "n"}}, "'n'"),
        ({"columns": {"subject": "x", "n": "x"}}, "'x'"),
    ],
)
def test_bad_options_are_refused_at_input_naming_them(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _builder().input(ROWS, **options)

    assert named in str(caught.value)


async def test_swapping_two_columns_is_not_a_clash() -> None:
    rows = [{"topic": "wrong", "subject": "t1"}]

    assert await _topics(rows, columns={"topic": "subject", "subject": "topic"}) == ["t1"]


def test_renaming_a_column_the_input_lacks_is_refused_naming_the_columns() -> None:
    with pytest.raises(ConfigurationError) as caught:
        _builder().input(ROWS, columns={"subjct": "topic"})

    message = str(caught.value)
    assert "'subjct'" in message and "'subject'" in message
