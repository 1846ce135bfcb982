"""Content keys: what makes two tasks the same request, so the second can be a cache hit.

A key covers the task's workflow (canonical JSON: prompts, memory filled with this task's
inputs, limits such as max_tokens, tools offered), the model that will answer, the
sampling parameters its step sends (temperature, seed, ...: only when there are some, so
other tasks keep their keys), and the task's lineage position, so `broadcast(3)` of one
prompt gives three samples, never one cached thrice.
A changed step changes its workflows' keys, and so the inputs and keys of everything
below it; nothing upstream changes.

The workflow is hashed as orjson writes its models' fields (nulls included), not through
pydantic's serializer: the key only has to be deterministic, and this costs half as much
per task. Fields come in declaration order however a model was made (validated, built by
`WorkflowBuilder`, copied), and memory is kept sorted, so no key sorting is needed; a
dict a user supplies (a schema) hashes in the order their code builds it. How those
bytes are made cheaply (a `Prompt`'s shared parts written once) is `steps/_fields_json.py`;
they, and so every key, are those of the first version (tests/store/test_key_stability.py).
"""

from __future__ import annotations

import hashlib

import orjson

from fanflow._values import Lineage
from fanflow.steps import SamplingParams, Workflow
from fanflow.steps._fields_json import workflow_fields_json

__all__ = ["task_key"]


def task_key(
    workflow: Workflow, model: str | None, lineage: Lineage, sampling: SamplingParams | None = None
) -> str:
    # One buffer hashed: the same digest as hashing the two parts one after the other.
    digest = hashlib.sha256(workflow_fields_json(workflow) + f"\0{model or ''}\0{lineage}".encode())
    if sampling is not None:
        params = {"temperature": sampling.temperature, **sampling.extra}
        digest.update(b"\0" + orjson.dumps(params, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()
