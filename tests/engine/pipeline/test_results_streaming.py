"""A store-backed run's results stream from the store: rows, failures, datasets, files.

Each store-backed run is compared with the same pipeline run in memory (`store=False`),
whose results are lists: what the store gives must be equal, only read as it is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pytest

import fanflow
from fanflow import (
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
    StepTemplate,
    Workflow,
)

ROWS = 2600  # more than one Arrow batch of rows (2048)


class Echo(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("say {{topic}}", topic=topic)


def answer(request: GenerationRequest) -> str:
    prompt = request.messages[-1].content
    if prompt.endswith("7"):
        raise ValueError(f"the model refuses {prompt!r}")
    return prompt.upper()


def input_rows() -> list[dict[str, Any]]:
    """Columns that change after the first batch: `extra` is null, then text; `late` is
    missing, then there."""
    rows: list[dict[str, Any]] = []
    for n in range(ROWS):
        row: dict[str, Any] = {"topic": f"t{n}", "extra": None if n < 2100 else f"x{n}"}
        if n >= 2200:
            row["late"] = n
        rows.append(row)
    return rows


async def run(store: bool) -> PipelineResult:
    config = PipelineConfig(progress=False, retry=None, store=None if store else False)
    builder = PipelineBuilder(config, MockAdapter(answer)).input(input_rows())
    builder << Echo(name="echo")
    return await builder.build().execute()


@pytest.fixture
async def both() -> tuple[PipelineResult, PipelineResult]:
    """(in memory, from the store) of the same pipeline."""
    return await run(store=False), await run(store=True)


async def test_rows_are_a_sequence_read_from_the_store_equal_to_the_in_memory_rows(
    both: tuple[PipelineResult, PipelineResult],
) -> None:
    memory, stored = both
    expected = list(memory.rows)
    rows = stored.rows

    assert not isinstance(rows, list)
    assert len(rows) == len(expected) == ROWS - ROWS // 10
    assert rows == expected and list(rows) == expected
    assert rows[0] == expected[0] and rows[-1] == expected[-1] and rows[1500] == expected[1500]
    assert rows[10:13] == expected[10:13] and rows[-3:] == expected[-3:]
    assert rows[::1000] == expected[::1000]
    with pytest.raises(IndexError):
        rows[len(expected)]
    assert list(fanflow.load_run(stored.run_name or "").rows) == expected


async def test_failures_are_a_sequence_read_from_the_store(
    both: tuple[PipelineResult, PipelineResult],
) -> None:
    memory, stored = both
    failures = stored.failures

    assert not isinstance(failures, list)
    assert len(failures) == ROWS // 10
    described = [(f.task_id, f.status, f.error) for f in failures]
    assert described == [(f.task_id, f.status, f.error) for f in memory.failures]
    assert failures[0].task_id == "echo/7" and failures[-1].task_id == f"echo/{ROWS - 3}"


async def test_rows_and_failures_read_the_store_each_time_they_are_used() -> None:
    stored = await run(store=True)
    rows, failures = stored.rows, stored.failures
    assert len(rows) > 0 and len(failures) > 0

    store = fanflow.Store()
    try:
        store.clear()
    finally:
        store.close()

    assert len(rows) == 0 and list(rows) == [] and rows == []
    assert len(failures) == 0 and failures == []


async def test_a_run_without_failures_has_an_empty_sequence_of_them() -> None:
    config = PipelineConfig(progress=False, retry=None)
    builder = PipelineBuilder(config, MockAdapter(lambda r: "ok")).input([{"topic": "a"}])
    builder << Echo(name="echo")
    result = await builder.build().execute()

    assert result.failures == [] and len(result.failures) == 0
    assert not result.failures[:5]


async def test_to_dataset_streams_to_a_file_and_merges_columns_as_in_memory(
    both: tuple[PipelineResult, PipelineResult],
) -> None:
    memory, stored = both
    expected = memory.to_dataset()

    dataset = stored.to_dataset()

    assert dataset.cache_files  # memory-mapped from a file, not built in memory
    assert dataset.features == expected.features
    assert dataset.to_list() == expected.to_list()
    assert len(dataset) == len(stored.rows)
    assert stored.to_dataset().to_list() == dataset.to_list()  # written again, the same


async def test_save_parquet_writes_the_same_rows_as_in_memory(
    both: tuple[PipelineResult, PipelineResult], tmp_path: Path
) -> None:
    memory, stored = both

    saved = stored.save(tmp_path / "rows.parquet")

    reread = datasets.Dataset.from_parquet(str(saved))
    assert isinstance(reread, datasets.Dataset)
    assert reread.to_list() == memory.to_dataset().to_list()
    memory_saved = memory.save(tmp_path / "memory.parquet")
    assert datasets.Dataset.from_parquet(str(memory_saved)).to_list() == reread.to_list()


async def test_a_run_with_no_rows_gives_an_empty_dataset_and_file(tmp_path: Path) -> None:
    config = PipelineConfig(progress=False, retry=None)
    builder = PipelineBuilder(config, MockAdapter(answer)).input([{"topic": "7"}])
    builder << Echo(name="echo")
    result = await builder.build().execute()

    assert len(result.to_dataset()) == 0
    assert result.save(tmp_path / "none.parquet").exists()
