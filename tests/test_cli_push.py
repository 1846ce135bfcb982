"""`fanflow push NAME REPO`: a stored run to the (local double of the) Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fanflow.cli import app
from fanflow.testing import HubServer
from tests.hub_helpers import IGNORE_HTTPX_DATA, TOKEN, hub_fixture, two_leaves  # noqa: F401 (the hub fixture)

pytestmark = pytest.mark.filterwarnings(IGNORE_HTTPX_DATA)


def test_push_one_subset_of_a_stored_run_public(
    hub: HubServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    result = two_leaves()
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    store = tmp_path / "fanflow.db"  # where the conftest keeps this test's runs

    out = CliRunner().invoke(
        app, ["--store", str(store), "push", "ideas", "me/long", "--public", "--subset", "long"]
    )

    assert out.exit_code == 0, out.output
    assert f"{hub.url}/datasets/me/long" in out.output
    assert not hub.repos["me/long"].private
    files = hub.files("me/long")
    assert sorted(p for p in files if p.endswith(".parquet")) == [
        "data/train-00000-of-00001.parquet"
    ]
    card = files["README.md"].decode()
    assert "## Tasks per step" in card
    assert "not given the pipeline" in card  # a stored run has no pipeline file
    assert len(list(result.subsets["long"].rows)) == 2


def test_push_without_a_token_or_with_an_unknown_subset_fails_clearly(
    hub: HubServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    two_leaves()
    store = str(tmp_path / "fanflow.db")
    runner = CliRunner()

    out = runner.invoke(app, ["--store", store, "push", "ideas", "me/x"])
    assert out.exit_code == 1 and "HF_TOKEN" in out.output

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    out = runner.invoke(app, ["--store", store, "push", "ideas", "me/x", "--subset", "nope"])
    assert out.exit_code == 1 and "short, long" in out.output
    assert hub.requests == []


def test_push_describes_the_pipeline_from_the_file_given(
    hub: HubServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from tests.hub_helpers import two_leaves_pipeline

    pipeline = two_leaves_pipeline()
    pipeline.run()
    written = pipeline.dump(tmp_path / "ideas.json")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    store = str(tmp_path / "fanflow.db")

    out = CliRunner().invoke(
        app, ["--store", store, "push", "ideas", "me/ideas", "--pipeline", str(written)]
    )

    assert out.exit_code == 0, out.output
    card = hub.files("me/ideas")["README.md"].decode()
    assert "not given the pipeline" not in card
    assert "template: short on {{ideas}}" in card  # the file, as YAML
    assert TOKEN not in card

    missing = ["--store", store, "push", "ideas", "me/x", "--pipeline", str(tmp_path / "no.yaml")]
    out = CliRunner().invoke(app, missing)
    assert out.exit_code == 1 and "no.yaml" in out.output
