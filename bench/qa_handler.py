"""The mock model used by bench/pipeline.py, loaded by the server's child process.

It answers like the cookbook's offline model but cheaper: a list when a list is asked for.
"""

from __future__ import annotations

from typing import Any

_LIST = '["first aspect", "second aspect", "third aspect", "fourth aspect", "fifth aspect"]'


def answer(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("List"):
        return _LIST
    if prompt.startswith("Write one clear exam question"):
        return "What is the key idea here?"
    return "A short answer."
