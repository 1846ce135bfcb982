"""The exception tree: builtin parents, attributes, pickling, and context prefixes."""

from __future__ import annotations

import pickle

import pytest

from fanflow import (
    AdapterError,
    ConfigurationError,
    ExecutionError,
    FanflowError,
    ParseError,
    ProviderError,
    RateLimited,
    StepFailed,
    TransportError,
    WorkflowTimeout,
)

EXAMPLES: list[tuple[FanflowError, dict[str, object]]] = [
    (FanflowError("base"), {}),
    (ConfigurationError("bad workflow"), {}),
    (ExecutionError("run failed"), {}),
    (AdapterError("no answer", endpoint="http://e1"), {"endpoint": "http://e1"}),
    (TransportError("reset", endpoint="http://e2"), {"endpoint": "http://e2"}),
    (
        RateLimited("slow down", endpoint="http://e3", retry_after=1.5),
        {"endpoint": "http://e3", "retry_after": 1.5},
    ),
    (
        ProviderError("bad gateway", endpoint="http://e4", status_code=502, body="<html>"),
        {"endpoint": "http://e4", "status_code": 502, "body": "<html>"},
    ),
    (ParseError("not json", raw="{oops"), {"raw": "{oops"}),
    (WorkflowTimeout("too slow"), {}),
    (StepFailed("task broke", task_id="judge"), {"task_id": "judge"}),
]
IDS = [type(error).__name__ for error, _ in EXAMPLES]


@pytest.mark.parametrize(("error", "attributes"), EXAMPLES, ids=IDS)
def test_every_exception_pickles_with_its_attributes(
    error: FanflowError, attributes: dict[str, object]
) -> None:
    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    for name, value in attributes.items():
        assert getattr(copy, name) == value


@pytest.mark.parametrize(("error", "attributes"), EXAMPLES, ids=IDS)
def test_with_context_keeps_class_and_attributes(
    error: FanflowError, attributes: dict[str, object]
) -> None:
    led = error.with_context("task 'a': ")

    assert type(led) is type(error)
    assert str(led) == f"task 'a': {error}"
    for name, value in attributes.items():
        assert getattr(led, name) == value
    assert str(pickle.loads(pickle.dumps(led))) == str(led)


def test_attributes_default_when_not_given() -> None:
    assert RateLimited("429").retry_after is None
    assert RateLimited("429").endpoint is None
    provider = ProviderError("500")
    assert (provider.status_code, provider.body, provider.endpoint) == (None, "", None)
    assert ParseError("x").raw == ""
    assert StepFailed("x").task_id is None


@pytest.mark.parametrize(
    ("child", "parents"),
    [
        (ConfigurationError, (FanflowError, ValueError)),
        (ExecutionError, (FanflowError, RuntimeError)),
        (AdapterError, (ExecutionError,)),
        (TransportError, (AdapterError, ConnectionError)),
        (RateLimited, (AdapterError,)),
        (ProviderError, (AdapterError,)),
        (ParseError, (ExecutionError, ValueError)),
        (WorkflowTimeout, (ExecutionError, TimeoutError)),
        (StepFailed, (ExecutionError,)),
    ],
)
def test_subclass_relations(child: type[FanflowError], parents: tuple[type, ...]) -> None:
    for parent in parents:
        assert issubclass(child, parent)


def test_configuration_errors_are_not_execution_errors() -> None:
    assert not issubclass(ConfigurationError, ExecutionError)
    assert not issubclass(ExecutionError, ValueError)


def test_existing_builtin_except_clauses_catch_fanflow_errors() -> None:
    with pytest.raises(ConnectionError):
        raise TransportError("connection refused")
    with pytest.raises(TimeoutError):
        raise WorkflowTimeout("max_time")
    with pytest.raises(ValueError):
        raise ConfigurationError("bad")
    with pytest.raises(ValueError):
        raise ParseError("bad", raw="x")


def test_every_class_has_a_one_line_docstring() -> None:
    for error, _ in EXAMPLES:
        doc = type(error).__doc__
        assert doc
        assert "\n" not in doc.strip()
