"""One workflow: the interpreter that runs a `Workflow` against an LLM adapter.

- `_executor`: `run_workflow`, the task loop: operators, routing, fallbacks, limits.
- `_memory`: the workflow's memory (cache and stacks) and `{{var}}` templating.
- `_conditions`: edge conditions and the return value.
- `_operators`: generation, function calling, search, sample.
- `_structured`: structured output, validated, with one repair retry.
- `_time_limit`: `max_time`.
- `_meter`: what one task spent (tokens, requests, finish reason).
- `_answers`: answers that cannot be used (no content, filtered, tool calls unasked).

Pure and deterministic given the adapter's answers; knows nothing of pipelines.
"""

from __future__ import annotations

from fanflow.engine.workflow._executor import WorkflowResult, run_workflow
from fanflow.engine.workflow._meter import UsageMeter

__all__ = ["UsageMeter", "WorkflowResult", "run_workflow"]
