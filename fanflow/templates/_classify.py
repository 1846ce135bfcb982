"""`Classify`: a text -> one of a fixed list of labels, checked against the list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow.templates._base import PromptTemplate

__all__ = ["Classify"]

_CLASSIFY = """\
<task>Classify the text below with exactly one of these labels:
<labels>

Text:
{{text}}

Answer with a JSON object {"label": "<one of the labels, spelled exactly as listed>"} \
and nothing else."""


class Classify(PromptTemplate):
    """Input `text` -> output `{"label": ...}`, the label one of `labels`.

    `builder << Classify(labels=["positive", "negative", "neutral"])`

    The labels are sent as an `enum` in the request's JSON schema and checked when the
    answer comes back: a label not in the list is asked again once (shown the labels), and
    then fails that task with an error naming the labels. `task` is an optional sentence
    saying what the labels mean ("Classify the sentiment of a product review."). `name`
    names the step (default `classify`).
    """

    def __init__(
        self,
        labels: Sequence[str],
        task: str | None = None,
        *,
        name: str | None = None,
    ) -> None:
        checked = _checked_labels(labels)
        listed = "\n".join(f"- {label}" for label in checked)
        intro = f"{task.strip()}\n" if task else ""
        template = _CLASSIFY.replace("<task>", intro).replace("<labels>", listed)
        super().__init__(name, template, _schema(checked), labels=checked, task=task)


def _checked_labels(labels: Sequence[str]) -> list[str]:
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise ConfigurationError(
            f"Classify(labels=...) takes a list of label names, got {labels!r}"
        )
    bad = [label for label in labels if not isinstance(label, str) or not label.strip()]
    if bad or len(labels) < 2:
        raise ConfigurationError(
            f"Classify(labels=...) needs at least two non-empty label names, got {list(labels)!r}"
        )
    if len(set(labels)) != len(labels):
        raise ConfigurationError(f"Classify(labels=...) lists a label twice: {list(labels)!r}")
    return list(labels)


def _schema(labels: list[str]) -> dict[str, Any]:
    return {
        "title": "classification",
        "type": "object",
        "properties": {"label": {"type": "string", "enum": labels}},
        "required": ["label"],
        "additionalProperties": False,
    }
