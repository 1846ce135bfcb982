"""A long QA pipeline in its own process, for `test_crash.py` to kill and run again.

    python tests/integration/crash_pipeline.py BASE_URL STORE CONCURRENCY [TOPICS]

TOPICS topics (default 200) -> 5 subtopics each (scatter) -> a question -> an answer:
11 tasks per topic, 2,200 by default, stored in STORE under the run name "crash".
Prints the number of rows at the end.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for `tests.engine`

from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig, RetryPolicy
from tests.engine.pipeline.pipeline_steps import Answer, Question, Subtopics

RUN_NAME = "crash"


async def main(base_url: str, store: str, concurrency: int, topics: int) -> int:
    config = PipelineConfig(
        progress=False,
        concurrency=concurrency,
        store=store,
        run_name=RUN_NAME,
        retry=RetryPolicy(attempts=1),  # every request the server counts is one task
    )
    async with OpenAIAdapter(base_url, model="m") as adapter:
        builder = PipelineBuilder(config, adapter)
        builder.input([{"topic": f"t{i}"} for i in range(topics)])
        builder << Subtopics().scatter() << Question() << Answer()
        result = await builder.build().execute()
    return len(result.rows)


if __name__ == "__main__":
    url, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    print(f"rows {asyncio.run(main(url, path, limit, count))}", flush=True)
