"""`StepTemplate.set_generation` and `set_tools`: what they keep, what they refuse when set."""

from __future__ import annotations

import threading
from typing import Any, Literal

import pytest

from fanflow import ConfigurationError, Prompt, StepTemplate, Workflow


class Answer(StepTemplate):
    def create_workflow(self, question: str) -> Workflow:
        return Workflow.from_prompt("answer {{question}}", question=question)


# -- set_generation ------------------------------------------------------------------------


def test_set_generation_keeps_the_values_given() -> None:
    template = Answer()

    same = template.set_generation(temperature=0.9, top_p=0.5, seed=7, stop=["\n"], user="me")

    assert same is template
    assert template.generation == {
        "temperature": 0.9,
        "top_p": 0.5,
        "seed": 7,
        "stop": ["\n"],
        "user": "me",
    }


def test_set_generation_calls_add_up_and_a_later_value_wins() -> None:
    template = Answer().set_generation(temperature=0.2, seed=1).set_generation(seed=5, top_p=1)

    assert template.generation == {"temperature": 0.2, "seed": 5, "top_p": 1}


def test_set_generation_max_tokens_is_the_workflow_limit() -> None:
    template = Answer().set_workflow_params(max_steps=3).set_generation(max_tokens=64)

    assert template.workflow_params == {"max_steps": 3, "max_tokens": 64}
    assert template.generation == {}
    template.set_workflow_params(max_tokens=32)
    assert template.workflow_params == {"max_steps": 3, "max_tokens": 32}


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_p": -1}, "top_p"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"stop": 3}, "stop"),
        ({"stop": ["a", 1]}, "stop"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"presence_penalty": 2.1}, "presence_penalty"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"messages": []}, "messages"),
        ({"model": "x"}, "model"),
        ({"stream": True}, "stream"),
        ({"n": 3}, "use broadcast"),
        ({"tools": []}, "tools"),
        ({"response_format": {}}, "response_format"),
        ({"logit_bias": {1: object()}}, "logit_bias"),
    ],
)
def test_set_generation_refuses_invalid_values_where_they_are_set(
    params: dict[str, Any], says: str
) -> None:
    template = Answer().set_generation(temperature=0.5)

    with pytest.raises(ConfigurationError, match=f"step 'answer': set_generation.*{says}"):
        template.set_generation(**params)
    assert template.generation == {"temperature": 0.5}
    assert template.workflow_params == {}


def test_a_prompt_takes_its_generation_parameters() -> None:
    prompt = Prompt("say", "say {{topic}}", generation={"temperature": 0.7, "seed": 3})

    assert prompt.generation == {"temperature": 0.7, "seed": 3}
    with pytest.raises(ConfigurationError, match=r"step 'say': set_generation.*top_p"):
        Prompt("say", "say {{topic}}", generation={"top_p": 9})


# -- set_tools -----------------------------------------------------------------------------


def search(query: str, limit: int = 3, lang: Literal["en", "de"] = "en") -> list[str]:
    """Search the web for `query`.

    The results are titles, best first.

    Args:
        query: what to look for.
        limit: how many results at most.
    """
    return [query] * limit


async def clock() -> str:
    return "noon"


def test_set_tools_turns_functions_into_openai_definitions() -> None:
    template = Answer().set_tools([search, clock])

    first, second = template.tool_definitions
    assert first["type"] == "function"
    function = first["function"]
    assert function["name"] == "search"
    assert function["description"] == "Search the web for `query`."
    parameters = function["parameters"]
    assert parameters["type"] == "object"
    assert parameters["required"] == ["query"]
    assert parameters["properties"]["query"]["type"] == "string"
    assert parameters["properties"]["query"]["description"] == "what to look for."
    assert parameters["properties"]["limit"]["type"] == "integer"
    assert parameters["properties"]["limit"]["default"] == 3
    assert parameters["properties"]["lang"]["enum"] == ["en", "de"]
    assert second["function"]["name"] == "clock"
    assert second["function"]["parameters"]["properties"] == {}
    assert {name: tool.__wrapped__ for name, tool in template.tools.items()} == {
        "search": search,
        "clock": clock,
    }


@pytest.mark.parametrize(
    ("tools", "says"),
    [
        ("search", "a list"),
        ([search, "clock"], "not callable"),
        ([search, search], "two tools named 'search'"),
        ([lambda query: query], "lambda"),
    ],
)
def test_set_tools_refuses_what_cannot_be_a_tool(tools: Any, says: str) -> None:
    with pytest.raises(ConfigurationError, match=f"step 'answer': set_tools.*{says}"):
        Answer().set_tools(tools)


def test_set_tools_refuses_parameters_that_cannot_be_passed_by_name() -> None:
    def positional(a: int, /) -> int:
        return a

    def star(*args: int) -> int:
        return 0

    for function in (positional, star):
        with pytest.raises(ConfigurationError, match="by name"):
            Answer().set_tools([function])


def test_set_tools_refuses_parameters_no_json_schema_describes() -> None:
    def open_file(handle: threading.Lock) -> None: ...

    def private(_secret: str) -> None: ...

    for function in (open_file, private):
        with pytest.raises(ConfigurationError, match="cannot be described as a JSON schema"):
            Answer().set_tools([function])
