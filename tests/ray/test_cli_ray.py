"""`fanflow run pipeline.yaml --ray --shards N`: a pipeline file run as shards on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

import fanflow
from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig
from fanflow.cli import app
from fanflow.testing import MockServerProcess
from tests.branch_steps import Answer, Questions


def test_fanflow_run_with_ray_shards_runs_the_file_on_ray(ray_cluster: Any, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    with MockServerProcess(handler="tests.ray.ray_steps:server_handler") as server:
        config = PipelineConfig(progress=False, store=str(store), concurrency=8)
        builder = PipelineBuilder(config, OpenAIAdapter(server.base_url, model="mock-model"))
        builder.input([{"topic": f"t{n}"} for n in range(6)])
        builder << Questions().scatter() << Answer()
        path = builder.build().dump(tmp_path / "qa.yaml")

        command = ["--store", str(store), "run", str(path), "--ray", "--shards", "3"]
        out = CliRunner().invoke(app, [*command, "--run-name", "sharded"])

    assert out.exit_code == 0, out.output
    record = fanflow.load_run("sharded", store=store)
    assert len(record.rows) == 18
    (run,) = fanflow.runs(store)
    assert run.config["runner"]["shards"] == 3


def test_shards_without_ray_or_below_one_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("steps: []\n")
    out = CliRunner().invoke(app, ["run", str(path), "--shards", "0"])
    assert out.exit_code != 0 and "--shards" in out.output and "1" in out.output
    assert "No such option" not in out.output
