"""Every adapter works inside an `EndpointPool`, next to the others, in one pipeline."""

from __future__ import annotations

from fanflow import (
    AnthropicAdapter,
    OllamaAdapter,
    OpenAIAdapter,
    OpenAIBatchAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
)
from fanflow.adapters import EndpointPool
from fanflow.testing import MockServer


async def test_one_pool_of_every_adapter_runs_a_pipeline() -> None:
    async with MockServer(record=True) as server:
        root = server.base_url.removesuffix("/v1")
        adapters = [
            OpenAIAdapter(server.base_url, model="mock-model"),
            OllamaAdapter(root, model="mock-model"),
            AnthropicAdapter("key-for-the-mock", model="mock-model", base_url=server.base_url),
            OpenAIBatchAdapter(
                server.base_url, api_key="key-for-the-mock", model="mock-model",
                max_batch_size=4, max_wait=0.05, poll_interval=0.02,
            ),
        ]  # fmt: skip
        async with EndpointPool(adapters) as pool:
            config = PipelineConfig(progress=False, store=False, concurrency=16)
            builder = PipelineBuilder(config, pool).input([{"n": str(i)} for i in range(40)])
            builder << Prompt("say", "say {{n}}")
            result = await builder.build().execute()
        bodies, batches = server.request_log, server.batches.batches

    assert result.stats.tasks["ok"] == 40 and not result.failures
    assert any(body.get("stream") is False for body in bodies)  # Ollama's /api/chat
    assert any(body.get("max_tokens") == 4096 for body in bodies)  # Anthropic's default
    assert batches  # the Batch API got at least one job
    assert sorted(row["n"] for row in result.rows) == sorted(str(i) for i in range(40))
