"""Ready steps for the common datasets, each usable in one line of a pipeline.

- `_evolve`: `EvolveInstruct` (Evol-Instruct mutations), `EvolveQuality`.
- `_judge`: `Rate` (scores per aspect), `PairwiseJudge` (both orders, ties).
- `_magpie`: `MagPie`, a multi-turn chat made by one workflow with a loop.
- `_preference`: `preference_pipeline`, answers from several models judged into
  chosen/rejected rows.
- `_fields`: `Fields`, the flow that turns a JSON-object answer into next-step fields.

Templates sit above `steps` and `callbacks`; only `_preference` uses the pipeline builder.
"""

from __future__ import annotations

from fanflow.templates._evolve import MUTATIONS, EvolveInstruct, EvolveQuality, pick_mutation
from fanflow.templates._fields import Fields
from fanflow.templates._judge import PairwiseJudge, PairwiseVerdict, Rate, pairwise_verdict
from fanflow.templates._magpie import DEFAULT_SYSTEM_PROMPT, MagPie
from fanflow.templates._preference import PreferenceJudge, preference, preference_pipeline

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "MUTATIONS",
    "EvolveInstruct",
    "EvolveQuality",
    "Fields",
    "MagPie",
    "PairwiseJudge",
    "PairwiseVerdict",
    "PreferenceJudge",
    "Rate",
    "pairwise_verdict",
    "pick_mutation",
    "preference",
    "preference_pipeline",
]
