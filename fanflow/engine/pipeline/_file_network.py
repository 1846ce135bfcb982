"""The network of a pipeline file: adapter classes, base URLs and model names, never a key.

Written by `network_entry`, made again by `network_from_entry` (keys for the format are in
`_file_format`): the HTTP adapters (`_file_http`, whose keys come from the environment
when loaded), `MockAdapter` with a handler by import path or a script of answers, and the
wrappers around them (`RateLimiter`, `RetryingAdapter`, `EndpointPool`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow._redact import get_logger
from fanflow.adapters import LLMAdapter, MockAdapter, RateLimiter, RetryingAdapter, RetryPolicy
from fanflow.engine.pipeline._file_format import (
    FileError,
    expect_keys,
    expect_mapping,
    import_ref,
    resolve_ref,
)
from fanflow.engine.pipeline._file_http import HTTP_KEYS, http_adapter, http_entry

__all__ = ["network_entry", "network_from_entry"]

logger = get_logger("fanflow.pipeline_file")

_LIMITER_DEFAULTS = {
    "max_in_flight": None,
    "requests_per_minute": None,
    "tokens_per_minute": None,
    "use_headers": True,
    "max_pause": 300.0,
}
_KEYS = {
    **HTTP_KEYS,
    "MockAdapter": ("adapter", "handler", "script", "latency", "model"),
    "RateLimiter": ("adapter", "wrapped", *_LIMITER_DEFAULTS),
    "RetryingAdapter": ("adapter", "wrapped", "policy"),
    "EndpointPool": ("adapter", "endpoints", "failure_threshold", "probe_after", "failover"),
}  # fmt: skip
_ENDPOINT_KEYS = ("adapter", "models", "name", "max_in_flight")


def network_entry(adapter: Any) -> dict[str, Any] | None:
    """`adapter` as data; None (with a warning) for an adapter this format cannot hold."""
    kind = type(adapter).__name__  # exact types: a subclass may behave otherwise
    if (entry := http_entry(adapter)) is not None:
        return entry
    if type(adapter) is MockAdapter:
        return _mock_entry(adapter)
    if type(adapter) is RateLimiter:
        settings = {name: getattr(adapter, name) for name in _LIMITER_DEFAULTS}
        return _wrapping(kind, settings, adapter.wrapped)
    if type(adapter) is RetryingAdapter:
        return _wrapping(kind, {"policy": dataclasses.asdict(adapter.policy)}, adapter.wrapped)
    if kind == "EndpointPool" and type(adapter).__module__.startswith("fanflow"):
        return _pool_entry(adapter)
    logger.warning(
        "the pipeline's network (%s) is not written to the pipeline file; give one when "
        "loading it: load_pipeline(path, network=...) or `fanflow run --base-url URL`",
        kind,
    )
    return None


def _wrapping(kind: str, settings: dict[str, Any], wrapped: Any) -> dict[str, Any] | None:
    inner = network_entry(wrapped)
    return None if inner is None else {"adapter": kind, **settings, "wrapped": inner}


def _mock_entry(adapter: MockAdapter) -> dict[str, Any]:
    entry: dict[str, Any] = {"adapter": "MockAdapter"}
    if adapter.handler is not None:
        entry["handler"] = import_ref(adapter.handler, "network: MockAdapter handler")
    else:
        script = list(adapter._script)
        if not all(isinstance(answer, str) for answer in script):
            raise ConfigurationError(
                "network: a MockAdapter script that holds Generations or exceptions cannot "
                "be written to a pipeline file; use a handler function"
            )
        entry["script"] = script
    entry["latency"], entry["model"] = adapter.latency, adapter.model
    return entry


def _pool_entry(pool: Any) -> dict[str, Any]:
    members = pool._members  # the pool's own record of what it was given
    endpoints = []
    for member in members:
        adapter = member.adapter
        if isinstance(adapter, RateLimiter) and _is_default_limiter(adapter):
            adapter = adapter.wrapped  # the pool adds this one itself
        endpoints.append(
            {
                "adapter": network_entry(adapter),
                "models": None if member.models is None else sorted(member.models),
                "name": member.name,
                "max_in_flight": member.limit,
            }
        )
    health = members[0].health
    return {
        "adapter": "EndpointPool",
        "endpoints": endpoints,
        "failure_threshold": health.threshold,
        "probe_after": health.probe_after,
        "failover": pool._failover,
    }


def _is_default_limiter(limiter: RateLimiter) -> bool:
    return all(getattr(limiter, k) == v for k, v in _LIMITER_DEFAULTS.items())


def network_from_entry(
    entry: Any, error: FileError, path: list[Any], search: Sequence[Path]
) -> LLMAdapter:
    """The adapter an entry describes; `ConfigurationError` naming the key when wrong."""
    entry = expect_mapping(entry, error, path)
    kind = entry.get("adapter")
    if kind not in _KEYS:
        raise error([*path, "adapter"], f"expected one of {list(_KEYS)}, got {kind!r}")
    expect_keys(entry, _KEYS[kind], error, path)
    settings = {k: v for k, v in entry.items() if k not in ("adapter", "wrapped")}
    try:
        if kind in HTTP_KEYS:
            return http_adapter(kind, settings, error, path)
        if kind == "MockAdapter":
            return _mock(settings, error, path, search)
        if kind == "EndpointPool":
            return _pool(settings, error, path, search)
        wrapped = network_from_entry(entry.get("wrapped"), error, [*path, "wrapped"], search)
        if kind == "RateLimiter":
            return RateLimiter(wrapped, **settings)
        return RetryingAdapter(wrapped, RetryPolicy(**settings.get("policy") or {}))
    except ConfigurationError as exc:
        raise error(path, str(exc)) from None
    except TypeError as exc:
        raise error(path, f"bad settings for {kind}: {exc}") from None


def _mock(
    settings: dict[str, Any], error: FileError, path: list[Any], search: Sequence[Path]
) -> LLMAdapter:
    handler = settings.pop("handler", None)
    script = settings.pop("script", None)
    if (handler is None) == (script is None):
        raise error(path, "a MockAdapter needs exactly one of handler: module:function, script")
    if handler is not None:
        return MockAdapter(resolve_ref(handler, search, error, [*path, "handler"]), **settings)
    if not isinstance(script, list):
        raise error([*path, "script"], f"expected a list of answers, got {script!r}")
    return MockAdapter(script, **settings)


def _pool(
    settings: dict[str, Any], error: FileError, path: list[Any], search: Sequence[Path]
) -> LLMAdapter:
    from fanflow.adapters import Endpoint, EndpointPool

    given = settings.pop("endpoints", None)
    if not isinstance(given, list) or not given:
        raise error([*path, "endpoints"], "an EndpointPool needs a list of endpoints")
    endpoints = []
    for i, item in enumerate(given):
        where = [*path, "endpoints", i]
        item = expect_mapping(item, error, where)
        expect_keys(item, _ENDPOINT_KEYS, error, where)
        adapter = network_from_entry(item.get("adapter"), error, [*where, "adapter"], search)
        rest: Mapping[str, Any] = {k: v for k, v in item.items() if k != "adapter"}
        endpoints.append(Endpoint(adapter, **rest))
    return EndpointPool(endpoints, **settings)
