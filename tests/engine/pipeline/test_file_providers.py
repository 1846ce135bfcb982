"""Pipeline files hold every provider's adapter (Ollama, Anthropic, the Batch API), never a
key, and the loaded pipeline answers through them with keys from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from fanflow import (
    AnthropicAdapter,
    ConfigurationError,
    Endpoint,
    EndpointPool,
    OllamaAdapter,
    OpenAIAdapter,
    OpenAIBatchAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    load_pipeline,
)
from fanflow.testing import MockServer

CANARY = "sk-canary-providers-0123456789"
QUIET = {"progress": False, "store": False, "retry": None, "concurrency": 16}


def every_provider(base_url: str) -> EndpointPool:
    root = base_url.removesuffix("/v1")
    adapters = [
        OllamaAdapter(root, model="mock-model", options={"num_ctx": 4096}, keep_alive="10m"),
        AnthropicAdapter(CANARY, model="mock-model", base_url=base_url, max_tokens=512),
        OpenAIBatchAdapter(
            base_url, api_key=CANARY, model="mock-model",
            max_batch_size=4, max_wait=0.05, poll_interval=0.02,
        ),
        OpenAIAdapter(base_url, model="mock-model", headers={"Authorization": f"Bearer {CANARY}"}),
    ]  # fmt: skip
    return EndpointPool([Endpoint(adapter) for adapter in adapters])


async def test_every_provider_is_written_without_its_key_and_answers_once_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with MockServer(record=True) as server:
        async with every_provider(server.base_url) as pool:
            builder = PipelineBuilder(PipelineConfig(**QUIET), pool)
            builder.input([{"n": str(i)} for i in range(24)]) << Prompt("say", "say {{n}}")
            text = builder.build().dump(tmp_path / "p.yaml").read_text()

        monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropic-key-from-env-42")
        monkeypatch.setenv("OPENAI_API_KEY", "openai-key-from-env-42")
        loaded = load_pipeline(tmp_path / "p.yaml")
        async with loaded.network:
            result = await loaded.execute()
        bodies = server.request_log

    assert CANARY not in text
    for kind in ("OllamaAdapter", "AnthropicAdapter", "OpenAIBatchAdapter", "OpenAIAdapter"):
        assert f"adapter: {kind}" in text
    assert "num_ctx: 4096" in text and "keep_alive: 10m" in text and "max_tokens: 512" in text
    assert "max_batch_size: 4" in text and "anthropic-version" not in text
    assert result.stats.tasks["ok"] == 24 and not result.failures
    assert any(body.get("stream") is False for body in bodies)  # Ollama's /api/chat
    assert any(body.get("max_tokens") == 512 for body in bodies)  # Anthropic's, as written
    assert loaded.dump(tmp_path / "again.yaml").read_text() == text


def test_an_anthropic_key_named_in_the_file_must_be_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = AnthropicAdapter(CANARY, model="claude-x", base_url="http://127.0.0.1:9")
    builder = PipelineBuilder(PipelineConfig(**QUIET), adapter).input(n="1")
    builder << Prompt("say", "say {{n}}")
    path = builder.build().dump(tmp_path / "p.yaml")
    path.write_text(
        path.read_text().replace("model: claude-x", "model: claude-x\n  api_key_env: MY_CLAUDE")
    )
    monkeypatch.delenv("MY_CLAUDE", raising=False)
    with pytest.raises(ConfigurationError, match=r"network\.api_key_env.*'MY_CLAUDE'.*not set"):
        load_pipeline(path)
