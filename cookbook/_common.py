"""What the cookbook scripts share: arguments, and an offline mock server that answers
plausibly (JSON lists where a list is asked for), so every script runs without a model.

Give `--base-url` and `--model` (or FANFLOW_BASE_URL / FANFLOW_MODEL, and OPENAI_API_KEY
for a key) to run against a real OpenAI-compatible server instead.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson

from fanflow import OpenAIAdapter, PipelineResult
from fanflow.testing import MockServer

_SUBJECT_AFTER = [
    re.compile(rf"{lead}\s*([^.?(\n]{{3,60}})")
    for lead in ("Instruction:", "question:", "about", "of")
]


def parse_args(description: str, **extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--base-url", default=os.environ.get("FANFLOW_BASE_URL"))
    parser.add_argument("--model", default=os.environ.get("FANFLOW_MODEL", "mock-model"))
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", default=None, help="save the rows to this .jsonl/.parquet")
    for name, default in extra.items():
        parser.add_argument(f"--{name}", default=default)
    return parser.parse_args()


def plausible_answer(body: dict[str, Any]) -> str:
    """The mock model: a JSON list when the prompt asks for a list, else one sentence."""
    prompt = body["messages"][-1]["content"]
    subject = _subject(prompt)
    if "list" in prompt.lower():
        items = [f"{subject}: aspect {number}" for number in range(1, 6)]
        return orjson.dumps(items).decode()
    if "question" in prompt.lower() and "answer" not in prompt.lower():
        return f"What is the most important idea in {subject}?"
    return f"A short, plausible answer about {subject}."


def _subject(prompt: str) -> str:
    for pattern in _SUBJECT_AFTER:
        match = pattern.search(prompt)
        if match:
            return match.group(1).strip()
    return prompt[:40].strip()


@asynccontextmanager
async def llm(
    base_url: str | None,
    model: str,
    answer: Callable[[dict[str, Any]], str] = plausible_answer,
) -> AsyncIterator[OpenAIAdapter]:
    """An adapter for `base_url`, or for a mock server (answering with `answer`) started
    here on 127.0.0.1."""
    if base_url:
        api_key = os.environ.get("OPENAI_API_KEY")
        async with OpenAIAdapter(base_url, api_key=api_key, model=model) as adapter:
            yield adapter
        return
    async with MockServer(answer) as server:
        print(f"(offline: mock OpenAI server at {server.base_url})")
        async with OpenAIAdapter(server.base_url, model=model) as adapter:
            yield adapter


def print_result(result: PipelineResult, out: str | None, columns: list[str]) -> None:
    """A few rows, the failures and the stats; the rows saved to `out` if given."""
    for row in result.rows[:5]:
        print({name: _short(row.get(name)) for name in columns})
    for failure in result.failures[:5]:
        print(f"failed {failure.task_id}: {failure.error}")
    stats = result.stats
    print(
        f"{len(result.rows)} rows; tasks {stats.tasks}; {stats.requests} requests in "
        f"{stats.wall_time_s:.2f}s; tokens {stats.usage.prompt_tokens} in, "
        f"{stats.usage.completion_tokens} out"
    )
    if out:
        print(f"saved {result.save(out)}")


def _short(value: Any) -> Any:
    return value[:70] + "..." if isinstance(value, str) and len(value) > 73 else value
