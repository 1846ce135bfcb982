"""Pipeline files keep the input options: `mix:`, `shuffle:`, `hf://` sources, ranges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import huggingface_hub.constants
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from fanflow import (
    ConfigurationError,
    Mix,
    MockAdapter,
    Pipeline,
    PipelineBuilder,
    PipelineConfig,
    load_pipeline,
)
from fanflow.engine.pipeline import _input_hub
from tests.engine.pipeline.file_steps import Execute, answer

QUIET = {"progress": False, "store": False, "retry": None}
HUB = "hf://datasets/someone/instructions"


@pytest.fixture(autouse=True)
def hub_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hub dataset repo's files in a local folder (no test reaches the Hub)."""
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    folder = tmp_path / "hub" / "data"
    folder.mkdir(parents=True)
    table = pa.table({"instruction": [f"hub {n}" for n in range(30)]})
    pq.write_table(table, folder / "train-00000-of-00001.parquet")
    pq.write_table(table.slice(0, 3), folder / "test-00000-of-00001.parquet")
    monkeypatch.setitem(_input_hub.REPO_FOLDERS, "someone/instructions", str(folder.parent))
    return folder.parent


def _file(tmp_path: Path, name: str, count: int) -> Path:
    path = tmp_path / "data" / name
    path.parent.mkdir(exist_ok=True)
    rows = [{"text": f"{name} {n}"} for n in range(count)]
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


def _builder() -> PipelineBuilder:
    return PipelineBuilder(PipelineConfig(**QUIET), MockAdapter(answer, model="m0"))


def _rows(pipeline: Pipeline) -> list[dict[str, Any]]:
    return sorted(pipeline.run().rows, key=lambda row: row["_lineage"])


def _round_trip(pipeline: Pipeline, folder: Path, suffix: str) -> dict[str, Any]:
    """Dump, load, compare the rows and a second dump; the file's document."""
    folder.mkdir(exist_ok=True)
    path = pipeline.dump(folder / f"p{suffix}")
    loaded = load_pipeline(path)
    assert _rows(loaded) == _rows(pipeline)
    assert loaded.dump(folder / f"again{suffix}").read_text() == path.read_text()
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_mix_with_options_round_trips(tmp_path: Path, suffix: str) -> None:
    a, b = _file(tmp_path, "a.jsonl", 40), _file(tmp_path, "b.jsonl", 40)
    mix = Mix({a: 0.7, b: 0.3}, seed=4, stop="all_exhausted", limit=25)
    builder = _builder().input(mix, columns={"text": "instruction"}, shuffle={"seed": 1}, skip=2)
    builder << Execute()

    document = _round_trip(builder.build(), tmp_path / "files", suffix)

    assert document["inputs"] == [
        {
            "mix": {
                "sources": [
                    {"path": "../data/a.jsonl", "weight": 0.7},
                    {"path": "../data/b.jsonl", "weight": 0.3},
                ],
                "seed": 4,
                "stop": "all_exhausted",
                "limit": 25,
                "column": "_source",
                "names": [str(a), str(b)],
            },
            "columns": {"text": "instruction"},
            "shuffle": {"seed": 1, "buffer": 1000},
            "skip": 2,
        }
    ]


def test_hub_files_and_rows_with_options_round_trip(tmp_path: Path) -> None:
    a = _file(tmp_path, "a.jsonl", 10)
    builder = _builder()
    builder.input(HUB, split="train", shuffle={"seed": 2, "buffer": 8}, limit=5)
    builder.input(a, columns={"text": "instruction"}, skip=7)
    builder.input([{"instruction": f"row {n}"} for n in range(5)], limit=2)
    builder << Execute()

    document = _round_trip(builder.build(), tmp_path / "files", ".yaml")

    assert document["inputs"] == [
        {"path": HUB, "split": "train", "shuffle": {"seed": 2, "buffer": 8}, "limit": 5},
        {"path": "../data/a.jsonl", "columns": {"text": "instruction"}, "skip": 7},
        {"rows": [{"instruction": f"row {n}"} for n in range(5)], "limit": 2},
    ]


def test_a_hand_written_file_mixes_hub_and_file_sources(tmp_path: Path) -> None:
    _file(tmp_path, "a.jsonl", 20)
    path = tmp_path / "p.yaml"
    path.write_text(
        f"""
fanflow: 1
steps: [{{name: execute, class: "tests.engine.pipeline.file_steps:Execute"}}]
inputs:
  - mix:
      sources:
        - {{path: {HUB}, split: test, streaming: false, weight: 1}}
        - {{path: data/a.jsonl, columns: {{text: instruction}}, weight: 1}}
      seed: 0
      stop: all_exhausted
      limit: 6
      names: [hub, file]
    shuffle: {{seed: 5, buffer: 4}}
config: {{progress: false, store: false}}
network: {{adapter: MockAdapter, handler: "tests.engine.pipeline.file_steps:answer"}}
"""
    )

    rows = _rows(load_pipeline(path))

    assert len(rows) == 6
    assert {row["_source"] for row in rows} == {"hub", "file"}


@pytest.mark.parametrize(
    ("inputs", "key", "named"),
    [
        ("[{mix: {sources: [{path: data/a.jsonl}]}}]", "inputs[0].mix.sources[0]", "weight"),
        ("[{mix: {sources: [], seed: 0}}]", "inputs[0].mix", "source"),
        ("[{mix: {sources: [{path: data/a.jsonl, weight: 1}], bad: 1}}]", "inputs[0].mix.bad",
         "bad"),
        ("[{path: data/a.jsonl, shuffle: {seed: x}}]", "inputs[0]", "seed"),
        ("[{path: data/a.jsonl, split: train}]", "inputs[0].split", "split"),
        (f"[{{path: {HUB}, split: nope}}]", "inputs[0]", "nope"),
    ],
)  # fmt: skip
def test_bad_input_entries_name_the_key(tmp_path: Path, inputs: str, key: str, named: str) -> None:
    _file(tmp_path, "a.jsonl", 3)
    path = tmp_path / "p.yaml"
    path.write_text(
        "fanflow: 1\nsteps: [{name: x, class: 'tests.engine.pipeline.file_steps:Execute'}]\n"
        f"inputs: {inputs}\nnetwork: {{adapter: MockAdapter, script: [ok]}}\n"
    )

    with pytest.raises(ConfigurationError) as caught:
        load_pipeline(path)

    assert caught.value.key == key  # type: ignore[attr-defined]
    assert named in str(caught.value)


def test_a_mix_of_a_dataset_is_written_as_its_rows(tmp_path: Path) -> None:
    rows = datasets.Dataset.from_list([{"instruction": f"d{n}"} for n in range(4)])
    builder = _builder().input(Mix({rows: 1.0}, limit=3))
    builder << Execute()

    document = _round_trip(builder.build(), tmp_path / "files", ".yaml")

    assert len(document["inputs"][0]["rows"]) == 3


def test_a_mix_of_hub_files_round_trips(tmp_path: Path) -> None:
    a = _file(tmp_path, "a.jsonl", 10)
    hub = f"{HUB}/data/test-*.parquet"
    mix = Mix({hub: 1.0, a: 1.0}, limit=5, names=["hub", "a"])
    builder = _builder().input(mix, columns={"text": "instruction"})
    builder << Execute()

    document = _round_trip(builder.build(), tmp_path / "files", ".yaml")

    sources = document["inputs"][0]["mix"]["sources"]
    assert sources == [{"path": hub, "weight": 1.0}, {"path": "../data/a.jsonl", "weight": 1.0}]
