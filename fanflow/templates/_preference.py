"""Preference data: answers from several models, judged pairwise, as chosen/rejected rows.

```
instruction -> preference_input (a pass-through step)
            -> [answer_<model> per model] (branches; a Route picks 2 when there are more)
            -> judge (PairwiseJudge, both orders) -> preference (a function step: the row)
```

After the UltraFeedback / distilabel recipe (Cui et al. 2023, arXiv:2310.01377) for DPO
data (Rafailov et al. 2023, arXiv:2305.18290), judged pairwise in both orders as in
MT-Bench (Zheng et al. 2023, arXiv:2306.05685).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow._values import TaskInput, TaskResult
from fanflow.callbacks import Callback, Each
from fanflow.engine import PipelineBuilder, Route
from fanflow.steps import Prompt, Workflow, step
from fanflow.templates._judge import PairwiseJudge, pairwise_verdict

__all__ = ["PreferenceJudge", "preference", "preference_input", "preference_pipeline"]

ANSWER = "{{instruction}}"


def preference_pipeline(
    builder: PipelineBuilder,
    instructions: Sequence[str | Mapping[str, Any]] | None,
    models: Sequence[str],
    judge_model: str | None = None,
    seed: int = 0,
) -> PipelineBuilder:
    """Add the preference-data steps to `builder` (and `instructions` as its input).

    `instructions`: texts or rows with an `instruction` column (None: `builder` has its
    input already). `models`: two or more model names; each answers in its own branch,
    `answer_<model>` (with more than two, a `Route` picks two per instruction,
    reproducibly from `seed` and the row's lineage). `judge_model`: the judge's model
    (None: the network's default). Each row of the result holds `prompt`, `chosen`,
    `rejected`, `chosen_model`, `rejected_model` and `rationale` (the `preference` step's
    inputs; its column is the same as a dict). An instruction whose two verdicts
    disagree is a tie and is filtered (`result.stats.filtered`), not a row.

        preference_pipeline(builder, ["Explain DNS"], models=["llama", "qwen"])
    """
    if isinstance(models, str) or len(models) < 2 or len(set(models)) != len(models):
        raise ConfigurationError(
            f"preference_pipeline needs two or more different model names, got {models!r}"
        )
    if instructions is not None:
        builder.input([_row(item) for item in instructions])
    branches = {_branch_name(model, number): model for number, model in enumerate(models)}
    # Each answer flows on under its branch's name (the judge's own parameter would
    # otherwise take it: a bare result binds to the next step's first free parameter).
    answers = [
        Prompt(name, ANSWER).set_models([model]).then(Each(key=name))
        for name, model in branches.items()
    ]
    judge = PreferenceJudge(candidates=branches)
    if judge_model is not None:
        judge.set_models([judge_model])
    fan_out: Any = answers if len(answers) == 2 else Route(answers, pick=2, seed=seed)
    # A pipeline starts with one step, so the branches hang off a pass-through step.
    builder << preference_input << fan_out << judge << preference
    return builder


@step(inline=True)
def preference_input(instruction: str) -> dict[str, str]:
    """The instruction the models answer, as it is (the branches' common parent)."""
    return {"instruction": instruction}


class PreferenceJudge(PairwiseJudge):
    """`PairwiseJudge` over answers bound by branch name: `candidates` maps each branch
    to its model; the two answers present (those the route chose) are compared in
    `candidates`' order. The flow gives the `preference` step its fields."""

    def __init__(self, candidates: Mapping[str, str], name: str | None = "judge") -> None:
        super(PairwiseJudge, self).__init__(name, candidates=dict(candidates))
        self.flow = _PreferenceFields(dict(candidates))

    def create_workflow(self, instruction: str = "", **answers: Any) -> Workflow:  # type: ignore[override]
        (_, a), (_, b) = _pair(self.params.candidates, answers, self.name)
        return super().create_workflow(instruction=instruction, response_a=a, response_b=b)


@step
def preference(
    prompt: str,
    chosen: str,
    rejected: str,
    chosen_model: str,
    rejected_model: str,
    rationale: str,
) -> dict[str, str] | None:
    """The preference row; None (filtered) for a tie, which has no chosen answer."""
    if not chosen_model:
        return None
    return {
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "chosen_model": chosen_model,
        "rejected_model": rejected_model,
        "rationale": rationale,
    }


class _PreferenceFields(Callback):
    """The judge's verdict and the two answers become the `preference` step's fields."""

    binds_target = False

    def __init__(self, candidates: dict[str, str]) -> None:
        super().__init__()
        self.candidates = candidates

    def map(self, result: TaskResult) -> TaskInput:
        fields = {**result.context, **result.inputs}
        (first, a), (second, b) = _pair(self.candidates, fields, result.step)
        verdict = pairwise_verdict(result.result)
        row = {
            "prompt": fields["instruction"],
            "rationale": verdict.rationale,
            "winner": verdict.winner,
        }
        if verdict.winner == "tie":
            return TaskInput(row, chosen="", rejected="", chosen_model="", rejected_model="")
        if verdict.winner == "b":
            (first, a), (second, b) = (second, b), (first, a)
        models = self.candidates
        return TaskInput(
            row, chosen=a, rejected=b, chosen_model=models[first], rejected_model=models[second]
        )


def _pair(
    candidates: Mapping[str, str], answers: Mapping[str, Any], where: str
) -> list[tuple[str, str]]:
    """The first two answers present, in `candidates`' order (a route gives exactly two)."""
    present = [(name, str(answers[name])) for name in candidates if answers.get(name) is not None]
    if len(present) < 2:
        raise ConfigurationError(
            f"step {where!r}: needs two answers among {list(candidates)}, got "
            f"{[name for name, _ in present]}"
        )
    return present[:2]


def _row(item: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, str):
        return {"instruction": item}
    if "instruction" not in item:
        raise ConfigurationError(
            f"preference_pipeline: a row needs an 'instruction' column, got {sorted(item)}"
        )
    return dict(item)


def _branch_name(model: str, number: int) -> str:
    """`answer_<model>` as a step name (letters, digits, underscores)."""
    cleaned = re.sub(r"\W+", "_", model).strip("_").lower()
    return f"answer_{cleaned}" if cleaned else f"answer_{number}"
