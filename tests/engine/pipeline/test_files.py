"""Pipelines as files: `Pipeline.dump` and `fanflow.load_pipeline` give the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import orjson
import pytest
import yaml

import fanflow
from fanflow import (
    ConfigurationError,
    Endpoint,
    EndpointPool,
    MockAdapter,
    OpenAIAdapter,
    Pipeline,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    RateLimiter,
    RetryingAdapter,
    RetryPolicy,
    load_pipeline,
)
from tests.engine.pipeline.file_steps import (
    Execute,
    Pick,
    Polish,
    Tagged,
    Variations,
    Verdict,
    answer,
    count_words,
    keep_short,
)

CANARY = "sk-canary-0123456789abcdef"
QUIET = {"progress": False, "store": False, "retry": None}


def prompt_pipeline() -> Pipeline:
    builder = PipelineBuilder(PipelineConfig(**QUIET), MockAdapter(answer, model="m0"))
    builder.input([{"instruction": "write a haiku"}, {"instruction": "name a cat"}])
    vary = Prompt("variations", "list 3 variations of:\n{{instruction}}").scatter(key="instruction")
    score = Prompt("score", "rate {{instruction}}", schema=Verdict, system="Be fair.")
    builder << vary << score.set_models(["a", "b"]).set_workflow_params(max_tokens=64)
    return builder.build()


def class_pipeline() -> Pipeline:
    builder = PipelineBuilder(PipelineConfig(**QUIET), MockAdapter(answer, model="m0"))
    builder.input(instruction="write a haiku")
    builder << Variations(n=2, style="short").scatter() << Execute().broadcast(2) \
        << Execute(name="again").then(Tagged("v", key="instruction")) \
        << Execute(name="third").aggregate() << Pick(limit=3).custom() << Polish()  # fmt: skip
    return builder.build()


def schema_pipeline() -> Pipeline:
    """A JSON schema given as a dict, and a network that retries by itself."""
    network = RetryingAdapter(MockAdapter(answer, model="m0"), RetryPolicy(attempts=2))
    builder = PipelineBuilder(PipelineConfig(**QUIET), network)
    builder.input(instruction="write a haiku")
    builder << Prompt("score", "rate {{instruction}}", schema=Verdict.model_json_schema())
    return builder.build()


def function_pipeline() -> Pipeline:
    """A function step, sampling parameters and a tool."""
    builder = PipelineBuilder(PipelineConfig(**QUIET), MockAdapter(answer, model="m0"))
    builder.input(instruction="write a haiku")
    vary = Prompt("variations", "list 3 of {{instruction}}", generation={"seed": 3})
    execute = Execute().set_generation(temperature=0.5, top_p=0.9).set_tools([count_words])
    builder << vary.scatter(key="instruction") << keep_short << execute
    return builder.build()


def rows(pipeline: Pipeline) -> list[dict[str, Any]]:
    return list(pipeline.run().rows)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize(
    "make", [prompt_pipeline, class_pipeline, schema_pipeline, function_pipeline]
)
def test_a_dumped_pipeline_loads_and_gives_the_same_rows(
    tmp_path: Path, suffix: str, make: Any
) -> None:
    pipeline = make()
    path = pipeline.dump(tmp_path / f"pipeline{suffix}")
    loaded = load_pipeline(path)
    expected = rows(pipeline)
    assert expected and rows(loaded) == expected
    assert loaded.dump(tmp_path / f"again{suffix}").read_text() == path.read_text()


def test_the_yaml_file_reads_as_written(tmp_path: Path) -> None:
    text = class_pipeline().dump(tmp_path / "p.yaml").read_text()
    assert "class: tests.engine.pipeline.file_steps:Variations" in text
    assert "params:\n    n: 2\n    style: short" in text
    assert "class: tests.engine.pipeline.file_steps:Pick\n  params:\n    limit: 3" in text
    assert "callback:\n    type: custom" in text
    assert "handler: tests.engine.pipeline.file_steps:answer" in text
    prompt = prompt_pipeline().dump(tmp_path / "q.yaml").read_text()
    assert "template: |-\n      list 3 variations of:\n      {{instruction}}" in prompt
    assert "schema: tests.engine.pipeline.file_steps:Verdict" in prompt


def test_the_config_round_trips_field_by_field(tmp_path: Path) -> None:
    config = PipelineConfig(
        concurrency=7, task_timeout=30, on_error="raise", progress=False, tune_gc=False,
        store=str(tmp_path / "s.db"), run_name="nightly", retry=RetryPolicy(attempts=2),
        prices={"m0": (0.1, 0.2)}, max_cost=5.0, max_tokens_total=1000, preflight=False,
        drain=1.5,
    )  # fmt: skip
    builder = PipelineBuilder(config, MockAdapter(answer, model="m0")).input(instruction="x")
    builder << Execute()
    loaded = load_pipeline(builder.build().dump(tmp_path / "p.json"))
    assert loaded.config == config


def test_the_network_is_written_without_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = EndpointPool(
        [
            Endpoint(OpenAIAdapter("http://127.0.0.1:9/v1", api_key=CANARY, model="m0"),
                     models=["m0"], max_in_flight=3),
            RateLimiter(OpenAIAdapter("http://127.0.0.1:10/v1", model="m0",
                                      headers={"x-api-key": CANARY, "x-team": "data"}),
                        requests_per_minute=60),
        ],
        probe_after=2.0,
    )  # fmt: skip
    builder = PipelineBuilder(PipelineConfig(**QUIET), pool).input(instruction="x")
    builder << Execute()
    path = builder.build().dump(tmp_path / "p.yaml")
    text = path.read_text()
    assert CANARY not in text
    assert "base_url: http://127.0.0.1:9/v1" in text and "x-team: data" in text
    assert "requests_per_minute: 60" in text
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-42")
    loaded = load_pipeline(path)
    assert loaded.dump(tmp_path / "again.yaml").read_text() == text


def test_a_key_named_in_the_file_comes_from_that_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = OpenAIAdapter("http://127.0.0.1:9/v1", model="m0")
    builder = PipelineBuilder(PipelineConfig(**QUIET), adapter).input(instruction="x")
    builder << Execute()
    path = builder.build().dump(tmp_path / "p.yaml")
    path.write_text(path.read_text().replace("model: m0", "model: m0\n  api_key_env: AZURE_KEY"))
    monkeypatch.delenv("AZURE_KEY", raising=False)
    with pytest.raises(ConfigurationError, match=r"network\.api_key_env.*'AZURE_KEY'.*not set"):
        load_pipeline(path)
    monkeypatch.setenv("AZURE_KEY", "azure-key-0123456789")
    assert load_pipeline(path).config.progress is False


def test_a_password_in_the_base_url_is_left_out(tmp_path: Path) -> None:
    adapter = OpenAIAdapter("http://user:pw-0123456789@127.0.0.1:9/v1?api-version=1", model="m")
    builder = PipelineBuilder(PipelineConfig(**QUIET), adapter).input(instruction="x")
    builder << Execute()
    text = builder.build().dump(tmp_path / "p.yaml").read_text()
    assert "base_url: http://127.0.0.1:9/v1?api-version=1" in text
    assert "pw-0123456789" not in text and "user" not in text


def test_a_secret_anywhere_in_the_pipeline_is_never_written(tmp_path: Path) -> None:
    OpenAIAdapter("http://127.0.0.1:9/v1", api_key=CANARY)  # fanflow now knows the key
    builder = PipelineBuilder(PipelineConfig(**QUIET), MockAdapter(answer, model="m0"))
    builder.input(instruction="x") << Variations(n=1, style=CANARY)
    with pytest.raises(ConfigurationError, match=r"steps\[0\]\.params\.style holds a secret"):
        builder.build().dump(tmp_path / "p.yaml")
    assert not (tmp_path / "p.yaml").exists()


def test_inputs_inline_beside_or_by_path(tmp_path: Path) -> None:
    data = tmp_path / "data" / "rows.jsonl"
    data.parent.mkdir()
    data.write_text('{"instruction": "from a file"}\n')
    many = [{"instruction": f"row {i}"} for i in range(150)]
    builder = PipelineBuilder(PipelineConfig(**QUIET), MockAdapter(answer, model="m0"))
    builder.input(many).input(str(data)).input(instruction="inline")
    builder << Execute()
    pipeline = builder.build()
    folder = tmp_path / "files"
    folder.mkdir()
    document = orjson.loads(pipeline.dump(folder / "p.json").read_bytes())
    assert document["inputs"] == [
        {"path": "p.inputs-0.jsonl"},
        {"path": "../data/rows.jsonl"},
        {"rows": [{"instruction": "inline"}]},
    ]
    assert rows(load_pipeline(folder / "p.json")) == rows(pipeline)


def test_a_dataset_input_cannot_be_dumped(tmp_path: Path) -> None:
    builder = PipelineBuilder(PipelineConfig(**QUIET), MockAdapter(answer, model="m0"))
    builder.input(datasets.Dataset.from_list([{"instruction": "x"}])) << Execute()
    with pytest.raises(ConfigurationError, match=r"datasets\.Dataset.*to_json"):
        builder.build().dump(tmp_path / "p.yaml")


def test_a_step_made_inside_a_function_cannot_be_dumped(tmp_path: Path) -> None:
    class Local(Execute):
        pass

    builder = PipelineBuilder(PipelineConfig(**QUIET), MockAdapter(answer, model="m0"))
    builder.input(instruction="x") << Local()
    with pytest.raises(ConfigurationError, match=r"step 'local'.*top level of a module"):
        builder.build().dump(tmp_path / "p.yaml")


def test_a_network_given_to_load_replaces_the_files(tmp_path: Path) -> None:
    path = prompt_pipeline().dump(tmp_path / "p.yaml")
    other = MockAdapter(lambda request: '["only"]' if "list" in request.messages[-1].content
                        else '{"score": 1}')  # fmt: skip
    loaded = rows(load_pipeline(path, network=other))
    assert [row["score"] for row in loaded] == ['{"score":1}'] * 2


BAD_FILES = [
    ("fanflow: 1\nsteps: []\n", r"steps \(line 2\): expected a list of steps"),
    ("fanflow: 2\n", r"fanflow \(line 1\): expected the format version 1"),
    ("fanflow: 1\nstepz: []\n", r"stepz \(line 2\): unknown key 'stepz'"),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    prompt: {template: hi}\n    colback: x\n",
        r"steps\[0\]\.colback \(line 5\): unknown key 'colback'",
    ),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    prompt: {template: hi}\n"
        "    callback: {type: scatterr}\n",
        r"steps\[0\]\.callback\.type \(line 5\): expected one of",
    ),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    class: no_such_module_x:Step\n",
        r"steps\[0\]\.class \(line 4\): cannot import 'no_such_module_x'",
    ),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    class: tests.engine.pipeline.file_steps:Nope\n",
        r"steps\[0\]\.class \(line 4\): module .* has no 'Nope'",
    ),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    class: tests.engine.pipeline.file_steps:Pick\n"
        "    params: {limt: 3}\n",
        r"steps\[0\]\.params\.limt \(line 5\): unknown argument 'limt'; "
        r"it takes \['limit', 'name'\]",
    ),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    prompt:\n      template: hi\n"
        "      schema: tests.engine.pipeline.file_steps:answer\n",
        r"steps\[0\]\.prompt\.schema \(line 6\): .*:answer is not a pydantic model",
    ),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    prompt: {template: hi}\n    route: {pick: 0}\n"
        "  - name: b\n    prompt: {template: '{{a}}'}\n"
        "inputs: [{rows: [{q: 1}]}]\nnetwork: {adapter: MockAdapter, script: [x]}\n",
        r"steps\[0\]\.route \(line 5\): Route\(pick=0\): pick must be a whole number",
    ),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    function: {ref: 'os:no_such_function'}\n",
        r"steps\[0\]\.function\.ref \(line 4\): module 'os' has no 'no_such_function'",
    ),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    prompt: {template: hi}\n"
        "inputs: [{rows: [{x: 1}]}]\nconfig: {concurrency: 0}\n",
        r"config \(line 6\): .*concurrency",
    ),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    prompt: {template: hi}\ninputs: [{rows: [{x: 1}]}]\n",
        r"network: the file names no network",
    ),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    prompt: {template: hi}\n"
        "inputs: [{rows: [{x: 1}]}]\nnetwork: {adapter: OpenAIAdapter, base: x}\n",
        r"network\.base \(line 6\): unknown key 'base'",
    ),
    (
        "fanflow: 1\nsteps:\n  - name: a\n    prompt: {template: hi}\n  - name: b\n"
        "    prompt: {template: '{{a}}'}\nedges: [[b, a]]\n",
        r"edges \(line 7\): no path from the first step 'a' to \['b', 'a'\]",
    ),
    ("fanflow: 1\nsteps: [\n", r"not valid YAML at line 3"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_a_bad_file_is_an_error_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_pipeline(path)
    assert str(path) in str(caught.value)
    key = getattr(caught.value, "key", None)  # also as attributes: key, line
    assert key is None or key in str(caught.value)


def test_a_bad_json_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"fanflow": 1, "steps": [{"name": "a", "prompt": {"templat": "x"}}]}')
    with pytest.raises(ConfigurationError, match=r"steps\[0\]\.prompt\.templat: unknown key"):
        load_pipeline(path)
    path.write_text("{")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_pipeline(path)


def test_a_loaded_pipeline_resumes_from_the_originals_answers(tmp_path: Path) -> None:
    config = PipelineConfig(progress=False, retry=None, store=str(tmp_path / "s.db"))
    builder = PipelineBuilder(config, MockAdapter(answer, model="m0"))
    builder.input(instruction="write a haiku") << Variations(n=2, style="odd").scatter()
    builder << Execute()
    pipeline = builder.build()
    first = pipeline.run()
    again = load_pipeline(pipeline.dump(tmp_path / "p.yaml")).run()
    assert again.stats.from_store == 3 and again.stats.requests == 0
    assert list(again.rows) == list(first.rows)


def test_a_network_the_format_cannot_hold_is_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class OwnAdapter(MockAdapter):
        pass

    builder = PipelineBuilder(PipelineConfig(**QUIET), OwnAdapter(answer, model="m0"))
    builder.input(instruction="x") << Execute()
    pipeline = builder.build()
    with caplog.at_level("WARNING", logger="fanflow"):
        path = pipeline.dump(tmp_path / "p.yaml")
    assert "network (OwnAdapter) is not written" in caplog.text
    with pytest.raises(ConfigurationError, match=r"network \(line \d+\): the file names no"):
        load_pipeline(path)
    assert rows(load_pipeline(path, network=MockAdapter(answer, model="m0"))) == rows(pipeline)


def test_function_steps_generation_and_tools_are_written_by_reference(tmp_path: Path) -> None:
    text = function_pipeline().dump(tmp_path / "p.yaml").read_text()
    assert "function:\n    ref: tests.engine.pipeline.file_steps:keep_short" in text
    assert "tools:\n  - tests.engine.pipeline.file_steps:count_words" in text
    assert "generation:\n    temperature: 0.5\n    top_p: 0.9" in text


def branch_pipeline() -> Pipeline:
    """Two branches and a join."""
    builder = PipelineBuilder(PipelineConfig(**QUIET), MockAdapter(answer, model="m0"))
    builder.input(instruction="write a haiku")
    builder << Prompt("ask", "{{instruction}}") << [
        Prompt("left", "left {{ask}}"),
        Prompt("right", "right {{ask}}"),
    ] << Prompt("join", "{{left}} / {{right}}")  # fmt: skip
    return builder.build()


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_pipeline_with_branches_and_a_join_round_trips(tmp_path: Path, suffix: str) -> None:
    pipeline = branch_pipeline()
    path = pipeline.dump(tmp_path / f"p{suffix}")
    document = (
        orjson.loads(path.read_text()) if suffix == ".json" else yaml.safe_load(path.read_text())
    )
    assert document["edges"] == [
        ["ask", "left"],
        ["ask", "right"],
        ["left", "join"],
        ["right", "join"],
    ]
    loaded = load_pipeline(path)
    assert rows(loaded) == rows(pipeline)
    (row,) = rows(loaded)
    assert "left" in row["join"] and "right" in row["join"]


def pick_right(result: object) -> str:
    """A Route's chooser, by import path."""
    return "right"


@pytest.mark.parametrize("how", [{"pick": 1, "seed": 5}, {"by": pick_right}])
def test_a_pipeline_with_a_route_round_trips(tmp_path: Path, how: dict[str, Any]) -> None:
    builder = PipelineBuilder(PipelineConfig(**QUIET), MockAdapter(answer, model="m0"))
    builder.input([{"instruction": f"write haiku {n}"} for n in range(6)])
    routed = [Prompt("left", "left {{ask}}"), Prompt("right", "right {{ask}}")]
    builder << Prompt("ask", "{{instruction}}") << fanflow.Route(routed, **how)
    pipeline = builder.build()

    path = pipeline.dump(tmp_path / "p.yaml")
    document = yaml.safe_load(path.read_text())
    (ask,) = [step for step in document["steps"] if step["name"] == "ask"]
    expected = how if "pick" in how else {"by": "tests.engine.pipeline.test_files:pick_right"}
    assert ask["route"] == expected
    loaded = load_pipeline(path)
    assert loaded.run().subsets.keys() == pipeline.run().subsets.keys() == {"left", "right"}
    for name in ("left", "right"):
        assert list(loaded.run().subsets[name].rows) == list(pipeline.run().subsets[name].rows)
