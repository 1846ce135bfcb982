"""The `fanflow` command, run against a real store that a tiny pipeline wrote."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import orjson
import pytest
from typer.testing import CliRunner

import fanflow
from fanflow import (
    Generation,
    GenerationRequest,
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    ProviderError,
    StepTemplate,
    Store,
    Workflow,
)
from fanflow.cli import app
from fanflow.testing import MockServerProcess

runner = CliRunner()


class Ideas(StepTemplate):
    def create_workflow(self, seed: str) -> Workflow:
        return Workflow.from_prompt("ideas for {{seed}}", seed=seed)


class Draft(StepTemplate):
    def create_workflow(self, ideas: str) -> Workflow:
        return Workflow.from_prompt("draft on {{ideas}}", ideas=ideas)


def answerer(fail: bool) -> Callable[[GenerationRequest], str]:
    """A JSON list for the scatter step, text otherwise; `fail`: drafts on "b" fail."""

    def answer(request: GenerationRequest) -> str:
        prompt = request.messages[-1].content
        if prompt.startswith("ideas for"):
            return '["a","b"]'
        if fail and prompt == "draft on b":
            raise ProviderError("the model refused: bad request", status_code=400, body="")
        return f"text about {prompt}"

    return answer


def run_pipeline(store: Path, name: str, fail: bool = False) -> MockAdapter:
    """Two seeds, two ideas each, a draft per idea: 6 tasks, 4 rows when all are ok."""
    adapter = MockAdapter(answerer(fail))
    config = PipelineConfig(progress=False, store=store, run_name=name, retry=None)
    builder = PipelineBuilder(config, adapter).input([{"seed": "s1"}, {"seed": "s2"}])
    builder << Ideas().scatter() << Draft()
    builder.build().run()
    return adapter


def cli(store: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["--store", str(store), *args], input=input)
    return result.exit_code, result.output


def stored(store: Path) -> int:
    opened = Store(store)
    try:
        return sum(1 for run in opened.runs() for _ in opened.results(run.id))
    finally:
        opened.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    run_pipeline(path, "demo", fail=True)  # 6 tasks: 4 ok, 2 failed; 2 rows
    return path


def test_help_lists_the_commands_the_store_and_resuming() -> None:
    code, output = cli(Path("unused.db"), "--help")
    assert code == 0
    for word in ("runs", "export", "cache", "FANFLOW_STORE", ".fanflow/fanflow.db", "again"):
        assert word in output
    code, output = cli(Path("unused.db"), "runs", "--help")
    assert code == 0 and "show" in output


def test_runs_lists_the_run_with_its_counts(store: Path) -> None:
    code, output = cli(store, "runs")
    assert code == 0, output
    line = next(line for line in output.splitlines() if "demo" in line)
    # 6 tasks: 4 ok, 2 failed, 0 timed out, 0 skipped; 6 requests (no retries).
    assert line.split()[-7:-3] == ["4", "2", "0", "0"]
    assert line.split()[-3] == "6"
    assert "ok" in line.split()


def test_runs_lists_newest_first(store: Path) -> None:
    run_pipeline(store, "later")
    code, output = cli(store, "runs")
    assert code == 0
    assert output.index("later") < output.index("demo")


def test_runs_on_an_empty_store_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "s.db"
    code, output = cli(missing, "runs")
    assert code == 0
    assert "No runs yet" in output and str(missing) in output
    assert not missing.parent.exists()


def test_runs_show_has_steps_counts_config_and_failures(store: Path) -> None:
    code, output = cli(store, "runs", "show", "demo")
    assert code == 0, output
    assert "4 ok, 2 failed, 0 timed out, 0 skipped" in output
    ideas = next(line for line in output.splitlines() if " ideas " in line)
    draft = next(line for line in output.splitlines() if " draft " in line)
    assert ideas.split()[2:6] == ["2", "0", "0", "0"]
    assert draft.split()[2:6] == ["2", "2", "0", "0"]
    assert "concurrency" in output and "run_name" in output
    assert "Failures (2)" in output
    assert "draft/0.1" in output and "draft/1.1" in output and "the model refused" in output


def test_runs_show_counts_answers_that_did_not_finish_with_stop(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    cut = Generation("text about", finish_reason="length")
    config = PipelineConfig(progress=False, store=path, run_name="cut", retry=None)
    builder = PipelineBuilder(config, MockAdapter(lambda request: cut)).input(ideas="s1")
    builder << Draft()
    builder.build().run()

    code, output = cli(path, "runs", "show", "cut")
    assert code == 0
    assert "finish reasons" in output and "1 length" in output


def test_runs_show_finds_a_run_by_id(store: Path) -> None:
    opened = Store(store)
    run_id = opened.runs()[0].id
    opened.close()
    code, output = cli(store, "runs", "show", run_id)
    assert code == 0 and "demo" in output


def test_export_jsonl_and_parquet(store: Path, tmp_path: Path) -> None:
    code, output = cli(store, "export", "demo", str(tmp_path / "out.jsonl"))
    assert code == 0, output
    assert "Wrote 2 rows" in output and "out.jsonl" in output
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    rows = [orjson.loads(line) for line in lines]
    assert sorted((row["seed"], row["ideas"], row["draft"]) for row in rows) == [
        ("s1", "a", "text about draft on a"),
        ("s2", "a", "text about draft on a"),
    ]

    code, output = cli(store, "export", "demo", str(tmp_path / "sub" / "out.parquet"))
    assert code == 0, output
    assert "Wrote 2 rows" in output
    dataset = datasets.Dataset.from_parquet(str(tmp_path / "sub" / "out.parquet"))
    assert len(dataset) == 2
    assert {"seed", "ideas", "draft"} <= set(dataset.column_names)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["runs", "show", "nope"], "nope"),
        (["export", "nope", "out.jsonl"], "nope"),
        (["cache", "clear", "--run", "nope", "--yes"], "nope"),
        (["export", "demo", "out.csv"], "out.csv"),
    ],
)
def test_errors_are_one_line_and_exit_1(store: Path, args: list[str], named: str) -> None:
    result = runner.invoke(app, ["--store", str(store), *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert named in result.stderr and "Traceback" not in result.output


def test_a_missing_or_unreadable_store_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    code, output = cli(missing, "runs", "show", "demo")
    assert code == 1 and str(missing) in output and "--store" in output
    assert not missing.exists()

    junk = tmp_path / "junk.db"
    junk.write_text("not a database " * 100)
    code, output = cli(junk, "runs")
    assert code == 1 and str(junk) in output and "Traceback" not in output

    code, output = cli(tmp_path, "runs")
    assert code == 1 and "not a file" in output


def test_export_to_an_unwritable_place_is_an_error(store: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, output = cli(store, "export", "demo", str(blocker / "out.jsonl"))
    assert code == 1 and "file" in output and "Traceback" not in output


def test_cache_clear_one_run_sends_everything_again(store: Path) -> None:
    code, output = cli(store, "cache", "clear", "--run", "demo", "--yes")
    assert code == 0, output
    assert "Removed 6 stored results" in output
    assert stored(store) == 0
    assert run_pipeline(store, "again").calls == 6


def test_without_clearing_a_second_run_resumes(store: Path) -> None:
    assert run_pipeline(store, "again").calls == 2  # only the two failed tasks


def test_runs_show_says_what_came_from_the_store(store: Path) -> None:
    run_pipeline(store, "again")
    code, output = cli(store, "runs", "show", "again")
    assert code == 0, output
    assert "from store" in output and "'demo': 4" in output


def test_cache_clear_of_one_run_keeps_what_other_runs_hold(store: Path) -> None:
    run_pipeline(store, "other")  # holds every answer too (4 taken from demo, 2 sent)
    code, output = cli(store, "cache", "clear", "--run", "demo", "--yes")
    assert code == 0 and "Removed 6 stored results" in output
    assert stored(store) == 6
    assert run_pipeline(store, "third").calls == 0  # "other" still answers everything
    code, output = cli(store, "export", "demo", str(store.parent / "out.jsonl"))
    assert code == 0 and "Wrote 0 rows" in output


def test_cache_clear_all_asks_first(store: Path) -> None:
    code, output = cli(store, "cache", "clear", input="n\n")
    assert code == 0
    assert "Forget every stored result" in output and "Nothing removed" in output
    assert stored(store) == 6

    code, output = cli(store, "cache", "clear", input="y\n")
    assert code == 0 and "Removed 6 stored results" in output
    assert stored(store) == 0
    assert run_pipeline(store, "again").calls == 6


def test_cache_clear_without_a_store_has_nothing_to_do(tmp_path: Path) -> None:
    code, output = cli(tmp_path / "missing.db", "cache", "clear", "--yes")
    assert code == 0 and "Nothing to clear" in output


def test_the_default_store_is_fanflow_store(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANFLOW_STORE", str(store))
    result = runner.invoke(app, ["runs"])
    assert result.exit_code == 0 and "demo" in result.output


def test_python_dash_m_fanflow_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fanflow", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: fanflow" in done.stdout
    assert "export" in done.stdout and "cache" in done.stdout


def test_the_command_line_shows_what_fanflow_logs(tmp_path: Path) -> None:
    import logging
    import subprocess
    import sys

    code = (
        "import logging, sys; from fanflow import cli; cli._show_fanflow_logs(); "
        "cli._show_fanflow_logs(); logging.getLogger('fanflow.run').warning('resume me')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.stderr == "fanflow: resume me\n"  # once, though set up twice
    assert logging.getLogger("fanflow").handlers == []  # this process was left alone


def test_runs_show_counts_filtered_tasks_apart_from_failures(tmp_path: Path) -> None:
    @fanflow.step
    def only_a(ideas: str) -> dict[str, str] | None:
        return {"ideas": ideas} if ideas == "a" else None

    path = tmp_path / "s.db"
    config = PipelineConfig(progress=False, store=path, run_name="sieve", retry=None)
    builder = PipelineBuilder(config, MockAdapter(answerer(False))).input(seed="s1")
    builder << Ideas().scatter() << only_a << Draft()
    builder.build().run()

    code, output = cli(path, "runs", "show", "sieve")
    assert code == 0, output
    assert "3 ok, 0 failed, 0 timed out, 0 skipped, 1 filtered" in output
    assert "No failures stored." in output


# -- fanflow run: pipeline files ------------------------------------------------------


def dumped_pipeline(folder: Path, network: Any) -> Path:
    """Two seeds, a draft and a polish per seed, dumped to `folder / pipeline.yaml`."""
    config = PipelineConfig(progress=False, retry=None)
    builder = PipelineBuilder(config, network).input([{"seed": "s1"}, {"seed": "s2"}])
    builder << Prompt("draft", "draft on {{seed}}") << Prompt("polish", "polish {{draft}}")
    return builder.build().dump(folder / "pipeline.yaml")


def test_run_a_pipeline_file_against_a_server_and_resume(tmp_path: Path) -> None:
    path = dumped_pipeline(tmp_path, OpenAIAdapter("http://127.0.0.1:9/v1", model="old"))
    out, store = tmp_path / "rows.parquet", tmp_path / "s.db"
    with MockServerProcess() as server:
        command = [
            sys.executable, "-m", "fanflow", "--store", str(store), "run", str(path),
            "--base-url", server.base_url, "--model", "new", "--out", str(out),
            "--run-name", "nightly", "--set", "polish.template=shine {{draft}}",
        ]  # fmt: skip
        first = subprocess.run(command, capture_output=True, text=True, timeout=120)
        again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "Run 'nightly': 4 ok, 0 failed" in first.stdout
    assert f"Wrote 2 rows to {out}." in first.stdout
    rows = datasets.Dataset.from_parquet(str(out)).to_list()
    assert [row["polish"] for row in rows] == [
        "mock answer: shine mock answer: draft on s1",
        "mock answer: shine mock answer: draft on s2",
    ]
    assert again.returncode == 0, again.stderr
    assert "4 from the store" in again.stdout  # resumed: nothing sent again


def test_run_without_out_says_where_the_rows_are(tmp_path: Path) -> None:
    path = dumped_pipeline(tmp_path, MockAdapter(echo_answer))
    code, output = cli(tmp_path / "s.db", "run", str(path), "--run-name", "local")
    assert code == 0, output
    assert "2 rows are in the store; `fanflow export local rows.parquet` writes them." in output
    code, output = cli(tmp_path / "s.db", "export", "local", str(tmp_path / "rows.jsonl"))
    assert code == 0 and "Wrote 2 rows" in output


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--set", "nosuch.max_tokens=5"], "--set: no step is named 'nosuch'"),
        (["--set", "draft.temperature=0.5"], "step 'draft' is a prompt"),
        (["--set", "draft.max_tokens=0"], "steps[0]"),
        (["--set", "config.concurrency=0"], "config"),
        (["--set", "oops"], "expected STEP.PARAM=VALUE"),
    ],
)
def test_run_with_a_bad_setting_names_it(tmp_path: Path, args: list[str], named: str) -> None:
    path = dumped_pipeline(tmp_path, MockAdapter(echo_answer))
    code, output = cli(tmp_path / "s.db", "run", str(path), *args)
    assert code == 1
    assert output.startswith("error: pipeline file") and named in output


def test_run_a_bad_file_names_the_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("fanflow: 1\nsteps:\n  - name: a\n    promt: {template: hi}\n")
    code, output = cli(tmp_path / "s.db", "run", str(path))
    assert code == 1
    assert "steps[0].promt (line 4): unknown key 'promt'" in output


def echo_answer(request: GenerationRequest) -> str:
    return f"{request.model} says {request.messages[-1].content}"


def test_run_with_another_model_and_settings(tmp_path: Path) -> None:
    from tests.engine.pipeline.file_steps import Execute, Variations, answer

    builder = PipelineBuilder(PipelineConfig(progress=False, retry=None), MockAdapter(answer))
    builder.input(instruction="a haiku")
    builder << Variations(n=3, style="short").scatter() << Execute().set_models(["small"])
    path = builder.build().dump(tmp_path / "p.json")
    args = ["run", str(path), "--model", "big", "--set", "variations.n=2", "--out"]
    code, output = cli(tmp_path / "s.db", *args, str(tmp_path / "rows.jsonl"))
    assert code == 0, output
    rows = [orjson.loads(line) for line in (tmp_path / "rows.jsonl").read_bytes().splitlines()]
    # n=2 variations instead of 3, every step asking the model "big"
    assert [row["execute"] for row in rows] == [
        "big: do s of a haiku #0",
        "big: do s of a haiku #1",
    ]
