"""OpenAIBatchAdapter against the mock server's /v1/files and /v1/batches."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fanflow import (
    ChatMessage,
    ConfigurationError,
    GenerationRequest,
    OpenAIBatchAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    ProviderError,
)
from fanflow.store import SubmittedBatches
from fanflow.testing import Faults, MockServer

pytestmark = pytest.mark.timeout(60)

FAST = {"max_wait": 0.01, "poll_interval": 0.01}


def say(n: int) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", f"say {n}"),))


def refuse_sevens(body: dict[str, Any]) -> str:
    text = body["messages"][-1]["content"]
    if text.endswith("7"):
        raise ValueError("seven is refused")
    return "ok " + text


def pipeline(adapter: OpenAIBatchAdapter, rows: int) -> PipelineBuilder:
    settings = PipelineConfig(progress=False, store=False, concurrency=rows)
    builder = PipelineBuilder(settings, adapter).input([{"n": str(i)} for i in range(rows)])
    builder << Prompt("say", "say {{n}}")
    return builder


async def test_a_pipeline_through_batches_gives_every_row() -> None:
    async with (
        MockServer(lambda body: "ok " + body["messages"][-1]["content"]) as server,
        OpenAIBatchAdapter(server.base_url, api_key="k", model="mock-model", **FAST) as adapter,
    ):
        result = await pipeline(adapter, 40).build().execute()

    assert sorted(row["say"] for row in result.rows) == sorted(f"ok say {i}" for i in range(40))
    assert result.stats.tasks["ok"] == 40
    assert server.batches.batches  # the answers came through the Batch API
    assert server.arrivals == []  # and no request went to /v1/chat/completions directly


async def test_a_failed_line_fails_only_its_task() -> None:
    async with (
        MockServer(refuse_sevens) as server,
        OpenAIBatchAdapter(server.base_url, model="mock-model", **FAST) as adapter,
    ):
        answers = await asyncio.gather(
            *(adapter.generate(say(n)) for n in range(10)), return_exceptions=True
        )

    failed = [n for n, answer in enumerate(answers) if isinstance(answer, BaseException)]
    assert failed == [7]
    assert isinstance(answers[7], ProviderError)
    assert "seven is refused" in str(answers[7])
    assert answers[3].text == "ok say 3"  # type: ignore[union-attr]
    assert answers[3].usage.prompt_tokens > 0  # type: ignore[union-attr]


async def test_batches_are_split_by_max_batch_size() -> None:
    async with (
        MockServer() as server,
        OpenAIBatchAdapter(
            server.base_url, model="mock-model", max_batch_size=4, max_wait=60, poll_interval=0.01
        ) as adapter,
    ):
        answers = await asyncio.gather(*(adapter.generate(say(n)) for n in range(8)))

    assert [answer.text for answer in answers] == [f"mock answer: say {n}" for n in range(8)]
    counts = [batch["request_counts"]["total"] for batch in server.batches.batches.values()]
    assert counts == [4, 4]


async def test_an_expired_batch_is_sent_again() -> None:
    async with (
        MockServer() as server,
        OpenAIBatchAdapter(server.base_url, model="mock-model", **FAST) as adapter,
    ):
        server.batches.expire_next = 1
        answers = await asyncio.gather(*(adapter.generate(say(n)) for n in range(3)))

    assert [answer.text for answer in answers] == [f"mock answer: say {n}" for n in range(3)]
    statuses = [batch["status"] for batch in server.batches.batches.values()]
    assert statuses == ["expired", "completed"]


async def test_a_batch_failing_every_time_fails_its_tasks_after_max_resubmits() -> None:
    async with (
        MockServer() as server,
        OpenAIBatchAdapter(server.base_url, model="mock-model", max_resubmits=1, **FAST) as adapter,
    ):
        server.batches.fail_next = 5
        with pytest.raises(ProviderError, match="ended 'failed'"):
            await adapter.generate(say(1))

    assert len(server.batches.batches) == 2


async def test_without_a_model_generate_says_so() -> None:
    async with OpenAIBatchAdapter("http://127.0.0.1:9/v1", **FAST) as adapter:
        with pytest.raises(ConfigurationError, match="model"):
            await adapter.generate(say(1))


def test_limits_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="max_batch_size"):
        OpenAIBatchAdapter("http://127.0.0.1:9/v1", model="m", max_batch_size=0)


async def test_the_official_openai_client_reads_the_mock_batch_api() -> None:
    openai = pytest.importorskip("openai")
    line = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", '
    line += b'"body": {"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}}\n'
    async with MockServer() as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        uploaded = await client.files.create(file=("in.jsonl", line), purpose="batch")
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        while batch.status not in ("completed", "failed", "expired", "cancelled"):
            await asyncio.sleep(0.01)
            batch = await client.batches.retrieve(batch.id)
        assert batch.output_file_id is not None
        output = await client.files.content(batch.output_file_id)
        await client.close()

    answered = output.json()
    assert answered["custom_id"] == "a"
    assert answered["response"]["body"]["choices"][0]["message"]["content"] == "mock answer: hi"


async def test_a_restarted_process_collects_a_submitted_batch_instead_of_paying_twice(
    tmp_path: Path,
) -> None:
    log = SubmittedBatches(tmp_path / "fanflow.db")
    async with MockServer() as server:
        server.batches.hold = True
        first = OpenAIBatchAdapter(server.base_url, model="mock-model", batch_log=log, **FAST)
        killed = [asyncio.ensure_future(first.generate(say(n))) for n in range(3)]
        for _ in range(1000):  # until the batch is submitted and recorded
            if log.find(first.base_url, _key_of(first, 0)):
                break
            await asyncio.sleep(0.01)
        await first.aclose()  # the process dies while its batch runs
        await asyncio.gather(*killed, return_exceptions=True)

        server.batches.release()
        async with OpenAIBatchAdapter(
            server.base_url, model="mock-model", batch_log=log, **FAST
        ) as second:
            answers = await asyncio.gather(*(second.generate(say(n)) for n in range(4)))

    assert [answer.text for answer in answers] == [f"mock answer: say {n}" for n in range(4)]
    totals = [batch["request_counts"]["total"] for batch in server.batches.batches.values()]
    assert totals == [3, 1]  # only the request never submitted went in a new batch
    assert log.find(second.base_url, _key_of(second, 0)) == []
    log.close()


def _key_of(adapter: OpenAIBatchAdapter, n: int) -> str:
    from fanflow.adapters._openai import _payload
    from fanflow.adapters._openai_batch import _content_key

    return _content_key(adapter._url, _payload(say(n), "mock-model"))


async def test_in_a_pipeline_a_failed_line_fails_only_its_row() -> None:
    settings = PipelineConfig(progress=False, store=False, concurrency=10, retry=None)
    async with (
        MockServer(refuse_sevens) as server,
        OpenAIBatchAdapter(server.base_url, model="mock-model", **FAST) as adapter,
    ):
        builder = PipelineBuilder(settings, adapter).input([{"n": str(i)} for i in range(10)])
        builder << Prompt("say", "say {{n}}")
        result = await builder.build().execute()

    assert result.stats.tasks["ok"] == 9
    assert [failure.inputs["n"] for failure in result.failures] == ["7"]
    assert len(server.batches.batches) == 1


async def test_fault_knobs_hit_batch_lines_and_the_pipeline_retries_them_in_later_batches() -> None:
    settings = PipelineConfig(progress=False, store=False, concurrency=20)
    faults = Faults(server_error=0.2, rate_limit=0.1, drop=0.05, seed=1)
    async with (
        MockServer(lambda body: "ok " + body["messages"][-1]["content"], faults=faults) as server,
        OpenAIBatchAdapter(server.base_url, model="mock-model", **FAST) as adapter,
    ):
        builder = PipelineBuilder(settings, adapter).input([{"n": str(i)} for i in range(20)])
        builder << Prompt("say", "say {{n}}")
        result = await builder.build().execute()
        applied = dict(server.faults_applied)

    assert sum(applied.values()) > 0  # some lines were faulted
    assert result.stats.tasks["ok"] == 20 and not result.failures  # retried, nothing lost
    assert len(server.batches.batches) > 1  # the faulted lines went into later batches
