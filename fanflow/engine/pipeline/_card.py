"""The dataset card `push_to_hub` writes: what made the data, in a `huggingface_hub.DatasetCard`.

The card is written after the data, on top of the README.md `datasets` wrote for it: its
YAML metadata (`configs:`, `dataset_info:`, which the Hub reads to find the subsets) is
kept and fanflow's tags added; the text below it is fanflow's: the pipeline as YAML (as
`pipeline.dump` writes it), the models with their tokens and cost, the task counts and
failures per step, fanflow's version and the date.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fanflow._exceptions import ConfigurationError
from fanflow._redact import redact

if TYPE_CHECKING:
    from huggingface_hub import DatasetCard

    from fanflow.adapters import Usage
    from fanflow.engine.pipeline._accounting import UsageTotals

__all__ = ["CardFacts", "Dumpable", "RunStats", "build_card", "pipeline_yaml"]

TAGS = ("fanflow", "synthetic")
STATUSES = ("ok", "failed", "timed_out", "skipped", "filtered")


class Dumpable(Protocol):
    """A pipeline as `push_to_hub` needs it: something that writes itself to a file."""

    def dump(self, path: str | Path) -> Path: ...


class RunStats(Protocol):
    """What the card reads of a run's `RunStats` (which `_results` keeps: no import up)."""

    @property
    def tasks(self) -> dict[str, int]: ...
    @property
    def steps(self) -> dict[str, dict[str, int]]: ...
    @property
    def usage(self) -> Usage: ...
    @property
    def requests(self) -> int: ...
    @property
    def cost(self) -> float: ...
    @property
    def usage_by_model(self) -> dict[str, UsageTotals]: ...
    @property
    def stopped(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class CardFacts:
    """What the card says, gathered by `_hub` from the result."""

    repo_id: str
    stats: RunStats
    run_name: str | None
    rows: Mapping[str, int]  # rows pushed, by config (or split) name
    layout: str  # "configs", "splits" or "default": how the leaves were pushed
    pipeline: str  # the pipeline's YAML, or a sentence saying why there is none
    described: bool  # whether `pipeline` is YAML
    version: str


def pipeline_yaml(pipeline: Dumpable | None) -> tuple[str, bool]:
    """The pipeline as `pipeline.dump` writes it, or why it cannot be: (text, is YAML)."""
    if pipeline is None:
        return (
            "This result was not given the pipeline that made it (it was loaded from the "
            "store, for one); pass `pipeline=` to `push_to_hub` to describe it here.",
            False,
        )
    with tempfile.TemporaryDirectory(prefix="fanflow-card-") as folder:
        try:
            path = pipeline.dump(Path(folder) / "pipeline.yaml")
        except ConfigurationError as exc:  # a lambda step, a Dataset input, a secret, ...
            return f"The pipeline cannot be written as YAML: {exc}", False
        text = path.read_text(encoding="utf-8")
        # Long input lists go to files beside the pipeline file; the card names them.
        beside = sorted(p.name for p in Path(folder).iterdir() if p != path)
        if beside:
            text += f"# not in this repository: {', '.join(beside)} (the input rows)\n"
        return text, True


def build_card(existing: str | None, facts: CardFacts) -> DatasetCard:
    """The card: `existing` README.md's metadata (as `datasets` wrote it) with fanflow's
    tags, and fanflow's text."""
    from huggingface_hub import DatasetCard, DatasetCardData

    data = DatasetCard(existing).data if existing else DatasetCardData()
    tags = list(data.get("tags") or [])
    data["tags"] = tags + [tag for tag in TAGS if tag not in tags]
    body = redact("\n".join(_body(facts)))  # a key fanflow knows never reaches the Hub
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")


def _body(facts: CardFacts) -> list[str]:
    stats = facts.stats
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    run = f" (run `{facts.run_name}`)" if facts.run_name else ""
    lines = [f"# {facts.repo_id.split('/')[-1]}", ""]
    lines += [f"Generated with fanflow {facts.version}{run}; pushed on {when}.", ""]
    lines += _subsets(facts)
    lines += ["## Pipeline", ""]
    lines += ["```yaml", facts.pipeline.rstrip(), "```"] if facts.described else [facts.pipeline]
    lines += ["", "## Models, tokens and cost", ""]
    lines += _models(stats)
    lines += ["", "## Tasks per step", ""]
    lines += _tasks(stats.steps)
    failures = sum(stats.tasks.get(s, 0) for s in ("failed", "timed_out", "skipped"))
    lines += ["", f"Failures: {failures} task(s) did not end ok (not in the rows)."]
    if stats.stopped:
        lines.append(f"The run stopped early: {stats.stopped}.")
    return lines


def _subsets(facts: CardFacts) -> list[str]:
    how = {
        "configs": "Each final step of the pipeline is a config (subset) with a `train` split:",
        "splits": "Each final step of the pipeline is a split of the default config:",
        "default": "The rows are the default config's `train` split:",
    }[facts.layout]
    lines = ["## Data", "", how, ""]
    lines += [f"- `{name}`: {count} rows" for name, count in facts.rows.items()]
    return [*lines, ""]


def _models(stats: RunStats) -> list[str]:
    lines = ["| model | requests | prompt tokens | completion tokens | cost |"]
    lines.append("|---|---:|---:|---:|---:|")
    for model, used in sorted(stats.usage_by_model.items()):
        lines.append(
            f"| {model} | {used.requests} | {used.prompt_tokens} | {used.completion_tokens} "
            f"| {used.cost:.4f} |"
        )
    usage = stats.usage
    lines.append(
        f"| **total** | {stats.requests} | {usage.prompt_tokens} | {usage.completion_tokens} "
        f"| {stats.cost:.4f} |"
    )
    return lines


def _tasks(steps: Mapping[str, Mapping[str, int]]) -> list[str]:
    statuses: Sequence[str] = STATUSES
    lines = ["| step | " + " | ".join(statuses) + " |", "|---|" + "---:|" * len(statuses)]
    for step, counts in steps.items():
        lines.append(f"| {step} | " + " | ".join(str(counts.get(s, 0)) for s in statuses) + " |")
    return lines
