"""Lenient JSON parsing of model answers and the strict list check behind Scatter."""

from __future__ import annotations

from typing import Any

import pytest

from fanflow import ParseError
from fanflow.callbacks import parse_json, parse_json_list


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('["a", "b"]', ["a", "b"]),
        ('{"a": 1, "b": [true, null]}', {"a": 1, "b": [True, None]}),
        ("42", 42),
        ('```json\n["a", "b"]\n```', ["a", "b"]),
        ('```\n{"a": 1}\n```', {"a": 1}),
        ('Here are the subtopics: ["optics", "gravity"]. Hope it helps!', ["optics", "gravity"]),
        ("['optics', 'gravity']", ["optics", "gravity"]),
        ('["optics", "gravity",]', ["optics", "gravity"]),
        ('{"a": 1,}', {"a": 1}),
        ('["optics", "gravity", "ther', ["optics", "gravity", "ther"]),
    ],
    ids=[
        "plain-list",
        "plain-object",
        "plain-number",
        "json-code-fence",
        "bare-code-fence",
        "prose-around-list",
        "single-quotes",
        "trailing-comma-list",
        "trailing-comma-object",
        "truncated-list",
    ],
)
def test_parse_json_finds_the_value_leniently(text: str, expected: Any) -> None:
    assert parse_json(text) == expected


@pytest.mark.parametrize("text", ["", "   \n", "I cannot help with that.", "null"])
def test_parse_json_is_none_when_there_is_no_json_value(text: str) -> None:
    assert parse_json(text) is None


def test_parse_json_list_returns_the_list() -> None:
    assert parse_json_list('```json\n[1, {"a": 2}]\n```', "step 'x'") == [1, {"a": 2}]


def test_parse_json_list_of_an_empty_list_is_empty() -> None:
    assert parse_json_list("[]", "step 'x'") == []


def test_parse_json_list_of_an_object_names_where_what_was_found_and_the_text() -> None:
    text = 'Sure: {"topic": "optics"}'

    with pytest.raises(ParseError) as caught:
        parse_json_list(text, "step 'subtopics', task 'subtopics/0'")

    message = str(caught.value)
    assert message.startswith("step 'subtopics', task 'subtopics/0': expected a JSON list")
    assert "found a JSON dict" in message
    assert repr(text) in message
    assert caught.value.raw == text


def test_parse_json_list_of_prose_says_no_json_was_found() -> None:
    with pytest.raises(ParseError, match="found no JSON in the answer 'I cannot help'"):
        parse_json_list("I cannot help", "step 'x'")


def test_a_parse_error_shows_an_excerpt_but_keeps_the_full_raw_text() -> None:
    text = "no list here " + "x" * 1000

    with pytest.raises(ParseError) as caught:
        parse_json_list(text, "step 'x'")

    assert caught.value.raw == text
    assert text[:300] in str(caught.value)
    assert text not in str(caught.value)


def test_a_parse_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_json_list('"just a string"', "step 'x'")
