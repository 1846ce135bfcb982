"""Hub datasets as input: `input("hf://datasets/owner/name", split=...)` and `datasets` objects.

No test reaches the Hub: a repo id is mapped to a local parquet folder
(`_input_hub.REPO_FOLDERS`, the hook for tests and mirrors), which the real
`datasets.load_dataset` then reads as it would the repo's files; the Hub is offline.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import huggingface_hub.constants
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

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
from fanflow.engine.pipeline import _input_hub

REPO = "hf://datasets/someone/topics"


class About(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("about {{topic}}", topic=topic)


def llm(request: GenerationRequest) -> str:
    return "ok"


def _builder() -> PipelineBuilder:
    return PipelineBuilder(PipelineConfig(progress=False), MockAdapter(llm))


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dataset repo's files, as the Hub holds them: parquet files named by split."""
    folder = tmp_path / "someone-topics"
    (folder / "data").mkdir(parents=True)
    train = pa.table({"topic": [f"t{n}" for n in range(20)], "n": list(range(20))})
    pq.write_table(train, folder / "data" / "train-00000-of-00001.parquet")
    test = pa.table({"topic": ["v0", "v1"], "n": [0, 1]})
    pq.write_table(test, folder / "data" / "test-00000-of-00001.parquet")
    monkeypatch.setitem(_input_hub.REPO_FOLDERS, "someone/topics", str(folder))
    return folder


async def _topics(data: Any, **options: Any) -> list[str]:
    builder = _builder().input(data, **options)
    builder << About()
    result = await builder.build().execute()
    return [row["topic"] for row in sorted(result.rows, key=lambda row: row["_lineage"])]


async def test_a_hub_dataset_is_read_by_repo_id_and_split(repo: Path) -> None:
    assert await _topics(REPO, split="test") == ["v0", "v1"]
    assert await _topics(REPO, split="train", streaming=False, limit=3) == ["t0", "t1", "t2"]


async def test_load_arguments_pass_through_to_load_dataset(repo: Path) -> None:
    only = str(repo / "data" / "test-00000-of-00001.parquet")

    assert await _topics(REPO, split="train", data_files={"train": only}) == ["v0", "v1"]


async def test_a_streamed_hub_dataset_is_read_lazily(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []
    original = datasets.IterableDataset.__iter__

    def counting(self: datasets.IterableDataset) -> Iterator[Any]:
        for row in original(self):
            read.append(row["n"])
            yield row

    monkeypatch.setattr(datasets.IterableDataset, "__iter__", counting)

    assert await _topics(REPO, split="train", streaming=True, limit=2) == ["t0", "t1"]
    assert max(read) < 5  # build() reads the first row, the run two: never all 20


async def test_datasets_objects_are_inputs(repo: Path) -> None:
    whole = datasets.load_dataset(str(repo))
    streamed = datasets.load_dataset(str(repo), split="test", streaming=True)

    assert await _topics(whole, split="test") == ["v0", "v1"]
    assert await _topics(streamed) == ["v0", "v1"]
    assert await _topics(whole["test"]) == ["v0", "v1"]


async def test_a_dataset_is_a_mix_source(repo: Path) -> None:
    other = datasets.Dataset.from_list([{"topic": f"o{n}"} for n in range(50)])
    streamed = datasets.load_dataset(str(repo), split="train", streaming=True)
    mix = Mix({other: 1.0, streamed: 1.0}, seed=3, limit=10)

    topics = await _topics(mix)

    assert len(topics) == 10
    assert {t[0] for t in topics} == {"o", "t"}


@pytest.mark.parametrize(
    ("data", "options", "named"),
    [
        (REPO, {"split": "validation"}, "validation"),
        (REPO, {}, "split="),
        ("hf://datasets/nobody/nothing", {"split": "train"}, "nobody/nothing"),
        ("hf://datasets/", {}, "hf://datasets/owner/name"),
        ("hf://models/x/y", {}, "hf://datasets/"),
    ],
)
def test_bad_hub_inputs_are_configuration_errors_saying_what_to_do(
    repo: Path, data: str, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _builder().input(data, **options)

    assert named in str(caught.value)


def test_a_dataset_dict_needs_a_split(repo: Path) -> None:
    whole = datasets.load_dataset(str(repo))
    with pytest.raises(ConfigurationError, match=r"split=.*train"):
        _builder().input(whole)
    with pytest.raises(ConfigurationError, match="nope"):
        _builder().input(whole, split="nope")


def test_load_arguments_are_refused_for_other_inputs() -> None:
    with pytest.raises(ConfigurationError, match="either data or keyword columns"):
        _builder().input([{"topic": "a"}], split="train")


def test_without_datasets_a_hub_input_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets fails

    with pytest.raises(ConfigurationError, match="pip install"):
        _builder().input(REPO, split="train")


def test_a_token_is_used_but_never_shown_nor_written(repo: Path, tmp_path: Path) -> None:
    token = "hf_canary0123456789abcdefghij"
    builder = _builder().input(REPO, split="test", token=token)
    builder << About()
    pipeline = builder.build()

    text = pipeline.dump(tmp_path / "p.yaml").read_text()

    assert token not in text
    assert yaml.safe_load(text)["inputs"] == [{"path": REPO, "split": "test"}]
    assert all(token not in source.label for source in pipeline.sources)


async def test_files_inside_a_repo_are_named_by_their_path(repo: Path) -> None:
    tests = f"{REPO}/data/test-*.parquet"  # as HfFileSystem names them: data_files=

    assert await _topics(tests) == ["v0", "v1"]
    mix = Mix({tests: 1.0, f"{REPO}/data/train-*.parquet": 1.0}, stop="all_exhausted")
    assert sorted(await _topics(mix))[:2] == ["t0", "t1"]
    assert len(await _topics(mix)) >= 22


def test_a_revision_is_named_after_at(repo: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"v9.*v8"):
        _builder().input(f"{REPO}@v9/data/test-*.parquet", revision="v8")
