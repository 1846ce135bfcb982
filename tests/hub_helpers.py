"""The Hub double as a pytest fixture, and a run with two leaves to push (test_hub, CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fanflow import (
    GenerationRequest,
    MockAdapter,
    Pipeline,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
    Prompt,
)
from fanflow.testing import HubServer

# huggingface_hub's LFS upload passes raw bytes as httpx `data=`, which httpx deprecates.
IGNORE_HTTPX_DATA = "ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning"

TOKEN = "hf_fanflowTestTokenNeverWritten0123"
REPO = "me/ideas"


def answer(request: GenerationRequest) -> str:
    prompt = request.messages[-1].content
    return '["a","b"]' if prompt.startswith("ideas") else f"{request.model}: {prompt}"


@pytest.fixture(name="hub")
def hub_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubServer]:
    """The Hub double, with huggingface_hub and datasets pointed at it and no token."""
    import huggingface_hub.constants as constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    with HubServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        with server.patched():
            yield server


def two_leaves(adapter: MockAdapter | None = None) -> PipelineResult:
    return two_leaves_pipeline(adapter).run()


def two_leaves_pipeline(adapter: MockAdapter | None = None) -> Pipeline:
    config = PipelineConfig(progress=False, run_name="ideas", retry=None)
    builder = PipelineBuilder(config, adapter or MockAdapter(answer)).input([{"seed": "s1"}])
    (
        builder
        << Prompt("ideas", "ideas for {{seed}}").scatter()
        << [
            Prompt("short", "short on {{ideas}}").set_models(["m1"]),
            Prompt("long", "long on {{ideas}}").set_models(["m2"]),
        ]
    )
    return builder.build()
