"""Preference pairs (distilabel's best-known example): questions, three models answer each
one as branches, a judge picks the best and the worst answer, and each question becomes a
preference row: prompt, chosen, rejected.

    topic -> questions (scatter) -> [llama, qwen, mistral] -> judge -> prompt/chosen/rejected

    python cookbook/preference_pairs.py --topics "sql,dns"
    python cookbook/preference_pairs.py --base-url http://127.0.0.1:8000/v1 \\
        --models "llama-3.1-8b,qwen2.5-7b,mistral-7b" --out pairs.jsonl

Without --base-url it runs offline against fanflow's mock OpenAI server (whose judge
picks by a rule, not by reading the answers).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import orjson
from _common import llm, parse_args, plausible_answer
from pydantic import BaseModel

from fanflow import PipelineBuilder, PipelineConfig, PipelineResult, Prompt

QUESTIONS = "List 5 questions a student might ask about {{topic}}. Reply with a JSON list."
ANSWER = "Answer this question: {{question}}"
JUDGE = (
    "Question: {{question}}\n\nAnswer A (llama): {{llama}}\n\nAnswer B (qwen): {{qwen}}\n\n"
    "Answer C (mistral): {{mistral}}\n\nWhich answer is best and which is worst? Reply "
    'with a JSON object {"best": "llama" | "qwen" | "mistral", "worst": ...}.'
)
BRANCHES = ("llama", "qwen", "mistral")


class Verdict(BaseModel):
    best: str
    worst: str


def build_pipeline(builder: PipelineBuilder, topics: list[str], models: list[str]) -> None:
    builder.input([{"topic": topic} for topic in topics])
    # A list is a set of branches: each answers every question with its own model, and
    # the judge after it is a join: one task per question, once the three have answered,
    # with each answer bound under its branch's name.
    answers = [
        Prompt(name, ANSWER).set_models([model])
        for name, model in zip(BRANCHES, models, strict=True)
    ]
    (
        builder
        << Prompt("questions", QUESTIONS).scatter()
        << answers
        << Prompt("judge", JUDGE, Verdict)
    )


def preference_rows(result: PipelineResult) -> list[dict[str, Any]]:
    """One row per judged question: the prompt, the best answer and the worst one."""
    rows = []
    for row in result.rows:
        verdict = orjson.loads(row["judge"])
        rows.append({
            "prompt": row["question"],
            "chosen": row[verdict["best"]],
            "rejected": row[verdict["worst"]],
            "chosen_model": verdict["best"],
            "rejected_model": verdict["worst"],
        })  # fmt: skip
    return rows


def offline_answer(body: dict[str, Any]) -> str:
    """The mock model: each model answers in its own words; the judge picks by a rule."""
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("Question:"):
        best = BRANCHES[len(prompt) % 3]
        worst = BRANCHES[(len(prompt) + 1) % 3]
        return json.dumps({"best": best, "worst": worst})
    answer = plausible_answer(body)
    return answer if prompt.startswith("List") else f"({body['model']}) {answer}"


async def run(
    base_url: str | None, models: list[str], topics: list[str], **config: Any
) -> tuple[PipelineResult, list[dict[str, Any]]]:
    """The pipeline against `base_url` (offline when None): its result and the pairs."""
    async with llm(base_url, models[0], offline_answer) as network:
        builder = PipelineBuilder(PipelineConfig(**config), network)
        build_pipeline(builder, topics, models)
        result = await builder.build().execute()
    return result, preference_rows(result)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], topics="sql,dns", models="llama,qwen,mistral")
    topics = [topic.strip() for topic in args.topics.split(",") if topic.strip()]
    models = [model.strip() for model in args.models.split(",")]
    result, pairs = asyncio.run(run(args.base_url, models, topics, concurrency=args.concurrency))
    for pair in pairs[:3]:
        print({key: str(value)[:60] for key, value in pair.items()})
    for failure in result.failures[:5]:
        print(f"failed {failure.task_id}: {failure.error}")
    print(f"{len(pairs)} preference pairs; {result.stats.requests} requests")
    if args.out:
        out = Path(args.out)
        out.write_bytes(b"".join(orjson.dumps(p, option=orjson.OPT_APPEND_NEWLINE) for p in pairs))
        print(f"saved {out}")
