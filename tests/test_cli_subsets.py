"""`fanflow export --subset NAME` for a run that ends in several steps."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from fanflow import GenerationRequest, MockAdapter, PipelineBuilder, PipelineConfig, Prompt
from fanflow.cli import app


def answer(request: GenerationRequest) -> str:
    prompt = request.messages[-1].content
    return '["a","b"]' if prompt.startswith("ideas") else f"{request.model}: {prompt}"


def test_export_one_subset_of_a_run_with_two_leaves(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    config = PipelineConfig(progress=False, store=store, run_name="two", retry=None)
    builder = PipelineBuilder(config, MockAdapter(answer)).input([{"seed": "s1"}])
    (
        builder
        << Prompt("ideas", "ideas for {{seed}}").scatter()
        << [
            Prompt("short", "short on {{ideas}}").set_models(["m1"]),
            Prompt("long", "long on {{ideas}}").set_models(["m2"]),
        ]
    )
    builder.build().run()
    runner = CliRunner()

    out = tmp_path / "long.jsonl"
    result = runner.invoke(
        app, ["--store", str(store), "export", "two", str(out), "--subset", "long"]
    )
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert sorted(row["long"] for row in rows) == ["m2: long on a", "m2: long on b"]

    result = runner.invoke(app, ["--store", str(store), "export", "two", str(out)])
    assert result.exit_code == 1 and "subsets" in result.output

    result = runner.invoke(app, ["--store", str(store), "export", "two", str(out), "--subset", "x"])
    assert result.exit_code == 1 and "short, long" in result.output
