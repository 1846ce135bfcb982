"""`input(..., shuffle={"seed": 0, "buffer": 1000})`: a buffered shuffle of any source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import orjson
import pytest

from fanflow import (
    ConfigurationError,
    GenerationRequest,
    Mix,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    StepTemplate,
    Workflow,
)

ROWS = [{"topic": f"t{n}"} for n in range(50)]


class About(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("about {{topic}}", topic=topic)


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: GenerationRequest) -> str:
        self.calls += 1
        return "ok"


async def _topics(data: Any, llm: Any = None, **options: Any) -> list[str]:
    builder = PipelineBuilder(PipelineConfig(progress=False), MockAdapter(llm or Counting()))
    builder.input(data, **options) << About()
    result = await builder.build().execute()
    return [row["topic"] for row in sorted(result.rows, key=lambda row: row["_lineage"])]


def _jsonl(path: Path) -> Path:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in ROWS))
    return path


@pytest.mark.parametrize("kind", ["list", "file", "dataset", "mix"])
async def test_shuffle_reorders_any_source_the_same_way_for_a_seed(
    kind: str, tmp_path: Path
) -> None:
    data: Any = {
        "list": ROWS,
        "file": _jsonl(tmp_path / "rows.jsonl"),
        "dataset": datasets.Dataset.from_list(ROWS),
        "mix": Mix({_jsonl(tmp_path / "rows.jsonl"): 1.0}),
    }[kind]

    once = await _topics(data, shuffle={"seed": 1, "buffer": 20})
    again = await _topics(data, shuffle={"seed": 1, "buffer": 20})
    other = await _topics(data, shuffle={"seed": 2, "buffer": 20})

    assert once == again
    assert sorted(once) == sorted(row["topic"] for row in ROWS)
    assert once != [row["topic"] for row in ROWS] and once != other


async def test_the_buffer_bounds_how_far_a_row_moves_forward() -> None:
    topics = await _topics(ROWS, shuffle={"seed": 0, "buffer": 5})

    # a row leaves the buffer only once it is full: the first out is among the first 5 read
    assert int(topics[0][1:]) < 5
    assert all(int(topic[1:]) <= position + 4 for position, topic in enumerate(topics))


async def test_shuffle_comes_before_skip_and_limit_so_ranges_do_not_overlap() -> None:
    shuffle = {"seed": 7, "buffer": 50}
    whole = await _topics(ROWS, shuffle=shuffle)
    first = await _topics(ROWS, shuffle=shuffle, limit=10)
    rest = await _topics(ROWS, shuffle=shuffle, skip=10)

    assert first == whole[:10] and rest == whole[10:]


async def test_a_shuffled_pipeline_run_again_resumes_from_the_store() -> None:
    llm = Counting()
    first = await _topics(ROWS, llm, shuffle={"seed": 3})
    sent = llm.calls
    again = await _topics(ROWS, llm, shuffle={"seed": 3})

    assert again == first and llm.calls == sent  # the same roots: nothing sent again


@pytest.mark.parametrize(
    "shuffle",
    [{"seed": "x"}, {"buffer": 0}, {"buffer": 1.5}, {"seeds": 1}, 3, True],
)
def test_bad_shuffle_options_are_refused_naming_them(shuffle: Any) -> None:
    builder = PipelineBuilder(PipelineConfig(progress=False), MockAdapter(Counting()))
    with pytest.raises(ConfigurationError, match="shuffle"):
        builder.input(ROWS, shuffle=shuffle)
