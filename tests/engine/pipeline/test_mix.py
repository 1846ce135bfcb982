"""`fanflow.Mix`: inputs drawn by weight, reproducibly for a seed, lazily, tagged."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
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


class About(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("about {{topic}}", topic=topic)


def _builder() -> PipelineBuilder:
    def llm(request: GenerationRequest) -> str:
        return "ok"

    return PipelineBuilder(PipelineConfig(progress=False), MockAdapter(llm))


def _rows(prefix: str, count: int) -> list[dict[str, Any]]:
    return [{"topic": f"{prefix}{n}"} for n in range(count)]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


async def _run(mix: Mix) -> list[dict[str, Any]]:
    builder = _builder().input(mix)
    builder << About()
    result = await builder.build().execute()
    return sorted(result.rows, key=lambda row: row["_lineage"])


async def test_rows_come_from_each_source_in_proportion_and_are_tagged(tmp_path: Path) -> None:
    a = _jsonl(tmp_path / "a.jsonl", _rows("a", 2000))
    b = datasets.Dataset.from_list(_rows("b", 2000))

    rows = await _run(Mix([(str(a), 0.7), (b, 0.3)], seed=0, limit=1000))

    counts = Counter(row["_source"] for row in rows)
    assert sum(counts.values()) == 1000
    assert 640 <= counts[str(a)] <= 760  # 0.7 of 1000, a wide margin for the draw
    assert set(counts) == {str(a), "datasets.Dataset"}
    assert all(row["topic"].startswith("a") for row in rows if row["_source"] == str(a))


async def test_the_same_seed_gives_the_same_rows_in_the_same_order() -> None:
    def mix(seed: int) -> Mix:
        return Mix([(_rows("a", 50), 1), (_rows("b", 50), 1)], seed=seed, limit=40)

    first, again, other = await _run(mix(3)), await _run(mix(3)), await _run(mix(4))

    assert [r["topic"] for r in first] == [r["topic"] for r in again]
    assert [r["topic"] for r in first] != [r["topic"] for r in other]


async def test_first_exhausted_stops_when_the_smallest_source_runs_out() -> None:
    rows = await _run(Mix([(_rows("a", 3), 1), (_rows("b", 1000), 1)], seed=0))

    topics = [row["topic"] for row in rows]
    assert {"a0", "a1", "a2"} <= set(topics)
    assert len(topics) < 100


async def test_all_exhausted_reads_every_source_to_its_end_oversampling_the_small() -> None:
    mix = Mix([(_rows("a", 3), 1), (_rows("b", 30), 1)], seed=0, stop="all_exhausted")

    topics = [row["topic"] for row in await _run(mix)]

    assert {f"b{n}" for n in range(30)} <= set(topics)
    assert sum(t.startswith("a") for t in topics) > 3  # started again


async def test_sources_are_read_lazily() -> None:
    read = Counter[str]()

    def big(name: str) -> Iterator[dict[str, Any]]:
        for n in range(1_000_000):
            read[name] += 1
            yield {"topic": f"{name}{n}"}

    streams = [
        datasets.IterableDataset.from_generator(big, gen_kwargs={"name": name})
        for name in ("a", "b")
    ]
    rows = await _run(Mix([(streams[0], 1), (streams[1], 1)], seed=0, limit=20))

    assert len(rows) == 20
    assert sum(read.values()) < 10_000  # far from the 2,000,000 rows there are


async def test_a_zero_weight_source_is_never_read() -> None:
    rows = await _run(Mix([(_rows("a", 20), 1), (_rows("b", 20), 0)], seed=0))

    assert {row["_source"] for row in rows} == {"list of 20 rows[0]"}


@pytest.mark.parametrize(
    ("weights", "said"),
    [
        ({"a": -1, "b": 1}, "-1"),
        ({"a": 0, "b": 0}, "every weight is 0"),
        ({"a": "much", "b": 1}, "'much'"),
    ],
)
def test_bad_weights_are_a_configuration_error(
    weights: dict[str, Any], said: str, tmp_path: Path
) -> None:
    paths = {name: str(_jsonl(tmp_path / f"{name}.jsonl", _rows(name, 2))) for name in weights}

    with pytest.raises(ConfigurationError) as caught:
        builder = _builder().input(Mix({paths[n]: w for n, w in weights.items()}))
        builder << About()
        builder.build()

    assert said in str(caught.value)


def test_a_missing_file_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    there = str(_jsonl(tmp_path / "a.jsonl", _rows("a", 2)))
    missing = str(tmp_path / "missing.jsonl")

    with pytest.raises(ConfigurationError) as caught:
        builder = _builder().input(Mix({there: 0.5, missing: 0.5}))
        builder << About()
        builder.build()

    assert missing in str(caught.value)


def test_a_bad_stop_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="first_exhausted"):
        Mix({"a.jsonl": 1}, stop="never")  # type: ignore[arg-type]


async def test_input_options_apply_to_a_mix() -> None:
    rows = [{"subject": f"s{n}"} for n in range(10)]
    builder = _builder().input(Mix([(rows, 1)]), columns={"subject": "topic"}, limit=4)
    builder << About()

    result = await builder.build().execute()

    assert len(result.rows) == 4


def test_a_seed_that_is_not_a_whole_number_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="seed"):
        Mix({"a.jsonl": 1}, seed="x")  # type: ignore[arg-type]


async def test_names_tag_the_rows_in_place_of_labels() -> None:
    mix = Mix([(_rows("a", 20), 1), (_rows("b", 20), 1)], seed=0, names=["web", "books"])

    rows = await _run(mix)

    assert {row["_source"] for row in rows} == {"web", "books"}
    assert all(row["topic"][0] == {"web": "a", "books": "b"}[row["_source"]] for row in rows)


@pytest.mark.parametrize("names", [["one"], ["same", "same"], ["", "b"]])
def test_bad_names_are_refused(names: list[str]) -> None:
    with pytest.raises(ConfigurationError, match="names"):
        Mix({"a.jsonl": 1, "b.jsonl": 1}, names=names)
