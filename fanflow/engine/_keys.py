"""Content keys: what makes two tasks the same request, so the second can be a cache hit.

A key covers the task's workflow (canonical JSON: prompts, memory filled with this task's
inputs, limits such as max_tokens), the model that will answer, and the task's lineage
position, so `broadcast(3)` of one prompt gives three samples, never one cached thrice.
A changed step changes its workflows' keys, and so the inputs and keys of everything
below it; nothing upstream changes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fanflow.steps import Lineage, Workflow

__all__ = ["default_model", "task_key"]


def task_key(workflow: Workflow, model: str | None, lineage: Lineage) -> str:
    digest = hashlib.sha256(workflow.canonical_json())
    digest.update(f"\0{model or ''}\0{lineage}".encode())
    return digest.hexdigest()


def default_model(adapter: Any) -> str | None:
    """The model an adapter answers with when a request names none, looking through
    wrappers (`RetryingAdapter`, `RateLimiter` expose the adapter they wrap)."""
    for _ in range(8):
        model = getattr(adapter, "model", None)
        if isinstance(model, str):
            return model
        adapter = getattr(adapter, "adapter", None)
        if adapter is None:
            return None
    return None
