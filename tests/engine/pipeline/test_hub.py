"""`result.push_to_hub(...)`: the real huggingface_hub / datasets upload code, offline.

The Hub is `fanflow.testing.HubServer` on 127.0.0.1, which records every request and
commit, so the tests read back what was uploaded: the Parquet shards and the card.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
import pytest

import fanflow
from fanflow import (
    ConfigurationError,
    ExecutionError,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
)
from fanflow.testing import HubRequest, HubServer
from tests.hub_helpers import IGNORE_HTTPX_DATA, REPO, TOKEN, answer, hub_fixture, two_leaves  # noqa: F401 (the hub fixture)

pytestmark = pytest.mark.filterwarnings(IGNORE_HTTPX_DATA)


def repo_requests(hub: HubServer) -> list[HubRequest]:
    """The requests about the repository (not the LFS storage's, which needs no token)."""
    requests = [r for r in hub.requests if REPO in r.path or r.path == "/api/repos/create"]
    assert requests
    return requests


def parquet_rows(files: dict[str, bytes], folder: str) -> list[dict[str, Any]]:
    shards = sorted(path for path in files if path.startswith(f"{folder}/"))
    assert shards, f"no shard under {folder}/ in {sorted(files)}"
    return [row for path in shards for row in pq.read_table(io.BytesIO(files[path])).to_pylist()]


def test_each_leaf_is_a_config_and_the_card_describes_the_run(hub: HubServer) -> None:
    result = two_leaves()

    url = result.push_to_hub(REPO, token=TOKEN)

    assert url == f"{hub.url}/datasets/{REPO}"
    assert hub.repos[REPO].private
    files = hub.files(REPO)
    for leaf in ("short", "long"):
        assert parquet_rows(files, leaf) == list(result.subsets[leaf].rows)
    assert hub.commits[-1].summary == "fanflow: dataset card"  # the card goes last
    assert list(hub.commits[-1].added) == ["README.md"]
    card = files["README.md"].decode()
    assert "config_name: short" in card and "config_name: long" in card  # datasets' metadata
    assert "path: short/train-*" in card and "default: true" in card
    assert "- fanflow" in card
    for section in ("## Data", "## Pipeline", "## Models, tokens and cost", "## Tasks per step"):
        assert section in card
    assert "```yaml" in card and "template: short on {{ideas}}" in card  # pipeline.dump
    assert "| m1 | 2 |" in card and "| m2 | 2 |" in card  # requests per model
    assert "| ideas | 1 | 0 |" in card  # tasks per step: ok, failed, ...
    assert f"fanflow {fanflow.__version__}" in card
    assert datetime.now(timezone.utc).strftime("%Y-%m-%d") in card
    assert all(r.authorization == f"Bearer {TOKEN}" for r in repo_requests(hub))


def test_the_pushed_shards_load_back_with_datasets(hub: HubServer, tmp_path: Path) -> None:
    result = two_leaves()
    result.push_to_hub(REPO, token=TOKEN)

    for path, data in hub.files(REPO).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    shards = [str(p) for p in sorted((tmp_path / "long").glob("train-*.parquet"))]
    loaded = datasets.load_dataset("parquet", data_files={"train": shards}, split="train")
    assert loaded.to_list() == list(result.subsets["long"].rows)


def test_one_leaf_is_the_default_config(hub: HubServer) -> None:
    config = PipelineConfig(progress=False, retry=None)
    builder = PipelineBuilder(config, MockAdapter(answer)).input([{"seed": "s1"}, {"seed": "s2"}])
    builder << Prompt("say", "say {{seed}}")
    result = builder.build().run()

    result.subsets["say"].push_to_hub(REPO, private=False, token=TOKEN)

    files = hub.files(REPO)
    assert parquet_rows(files, "data") == list(result.rows)
    assert not hub.repos[REPO].private
    card = files["README.md"].decode()
    assert "config_name: default" in card and "template: say {{seed}}" in card


def test_a_pipeline_that_cannot_be_dumped_is_said_so_in_the_card(hub: HubServer) -> None:
    result = two_leaves(MockAdapter(lambda request: answer(request)))

    result.push_to_hub(REPO, token=TOKEN)

    card = hub.files(REPO)["README.md"].decode()
    assert "The pipeline cannot be written as YAML" in card and "```yaml" not in card
    assert "## Tasks per step" in card


def test_subsets_false_pushes_leaves_as_splits_only_when_their_columns_match(
    hub: HubServer,
) -> None:
    result = two_leaves()

    with pytest.raises(ConfigurationError, match="subsets=True"):
        result.push_to_hub(REPO, token=TOKEN, subsets=False)
    assert hub.requests == []  # checked before anything is sent


def test_the_token_comes_from_the_environment(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    two_leaves().push_to_hub(REPO)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in repo_requests(hub))


def test_no_token_is_a_clear_error_before_anything_is_sent(hub: HubServer) -> None:
    with pytest.raises(ConfigurationError, match="HF_TOKEN"):
        two_leaves().push_to_hub(REPO)
    assert hub.requests == []


def test_the_token_is_written_nowhere(
    hub: HubServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    result = two_leaves()
    result.push_to_hub(REPO, token=TOKEN)
    hub.refuse(r"/api/datasets/me/other/preupload/.*", 401, "bad token", echo_token=True)

    with pytest.raises(ExecutionError) as caught:
        result.push_to_hub("me/other", token=TOKEN)

    assert "401" in str(caught.value) and "me/other" in str(caught.value)
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None and len(chain) < 20:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert all(TOKEN not in str(e) for e in chain), chain
    assert all(TOKEN.encode() not in r.body for r in hub.requests)
    assert all(TOKEN.encode() not in data for data in hub.files(REPO).values())
    assert all(TOKEN not in r.getMessage() for r in caplog.records), [
        r.getMessage() for r in caplog.records if TOKEN in r.getMessage()
    ]


def test_input_rows_written_beside_the_pipeline_are_named_in_the_card(hub: HubServer) -> None:
    config = PipelineConfig(progress=False, retry=None)
    rows = [{"seed": f"s{i}"} for i in range(101)]  # more than a pipeline file holds inline
    builder = PipelineBuilder(config, MockAdapter(answer)).input(rows)
    builder << Prompt("say", "say {{seed}}")

    builder.build().run().push_to_hub(REPO, token=TOKEN)

    card = hub.files(REPO)["README.md"].decode()
    assert "path: pipeline.inputs-0.jsonl" in card
    assert "# not in this repository: pipeline.inputs-0.jsonl" in card
