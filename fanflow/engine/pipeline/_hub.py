"""`PipelineResult.push_to_hub`: the rows as a Hub dataset through `datasets`, then a card.

Layout: with several leaves (a pipeline ending in branches) each leaf is a config (a
subset, `load_dataset(repo, leaf)`) with one `train` split, since leaves have different
columns and the splits of one config must share theirs; the first leaf is the default
config. `subsets=False` pushes them as splits of the default config instead (their
columns must then match). One leaf is the default config's `train` split.

Each leaf's rows become a `datasets.Dataset` the way `to_dataset()` builds it (in Arrow
batches; memory-mapped from an Arrow file for a store-backed run), which `datasets` writes
to Parquet shards and uploads. The card (`_card`) goes last, so it describes every config.

The token is the argument or huggingface_hub's own (HF_TOKEN, then the saved login); it is
registered as a secret, so fanflow's errors and logs redact it, and it is only ever given
to huggingface_hub/datasets, which send it in the Authorization header.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fanflow._exceptions import ConfigurationError, ExecutionError
from fanflow._redact import get_logger, redact, register_secret
from fanflow.engine.pipeline._card import CardFacts, Dumpable, RunStats, build_card, pipeline_yaml

if TYPE_CHECKING:
    import datasets

__all__ = ["HubPush", "push_to_hub"]

logger = get_logger("fanflow.hub")  # redacts known secrets, the token among them

README = "README.md"


@dataclass(frozen=True, slots=True)
class HubPush:
    """Where and how to push (what `push_to_hub` was called with)."""

    repo_id: str
    private: bool
    token: str | None
    subsets: bool
    commit_message: str | None
    max_shard_size: int | str | None


def push_to_hub(
    push: HubPush,
    leaves: Mapping[str, Callable[[], datasets.Dataset]],
    stats: RunStats,
    run_name: str | None,
    pipeline: Dumpable | None,
) -> str:
    """Push every leaf's dataset, then the card; the repository's URL."""
    token = resolve_token(push.token)
    layout = "default" if len(leaves) == 1 else ("configs" if push.subsets else "splits")
    built = {name: make() for name, make in leaves.items()}
    if layout == "splits":
        _check_splits(built)
    failure: ExecutionError | None = None
    try:
        rows = {
            name: _push_leaf(push, token, layout, index, name, dataset)
            for index, (name, dataset) in enumerate(built.items())
        }
        _push_card(push, token, stats, run_name, pipeline, layout, rows)
    except (ConfigurationError, ExecutionError):
        raise
    except Exception as exc:  # huggingface_hub / datasets / network: one clear error
        failure = ExecutionError(
            f"push_to_hub to {push.repo_id!r} failed: {type(exc).__name__}: {redact(str(exc))}"
            " (check the repository name, that the token may write to it, and the network)"
        )
    if failure is not None:
        # Raised outside the handler, so the error has no __context__: the original
        # holds the request (its headers carry the token) and maybe a server's echo of it.
        raise failure
    return f"{_endpoint()}/datasets/{push.repo_id}"


def resolve_token(token: str | None) -> str:
    """The token to push with: the argument, else huggingface_hub's (HF_TOKEN, login)."""
    from huggingface_hub import get_token

    found = token or get_token()
    if not found:
        raise ConfigurationError(
            "push_to_hub needs a Hugging Face token with write access: pass token=..., "
            "set HF_TOKEN in the environment, or log in with `hf auth login`"
        )
    register_secret(found)  # fanflow's errors and log records redact it from now on
    return found


def _check_splits(leaves: Mapping[str, datasets.Dataset]) -> None:
    """Splits of one config must share their columns and have names the Hub takes:
    checked before anything is sent, so a push never stops half way for this."""
    first, *others = leaves
    for name in others:
        if leaves[name].features != leaves[first].features:
            raise ConfigurationError(
                f"push_to_hub(subsets=False): the final steps {first!r} and {name!r} have "
                f"different columns ({', '.join(leaves[first].column_names)} / "
                f"{', '.join(leaves[name].column_names)}), so they cannot be splits of one "
                "config; use subsets=True to push each as its own config"
            )
    for name in leaves:
        if not re.fullmatch(r"\w+(\.\w+)*", name):
            raise ConfigurationError(
                f"push_to_hub(subsets=False): {name!r} is not a split name the Hub takes "
                "(letters, digits, _ and dots); use subsets=True to push it as a config"
            )


def _push_leaf(
    push: HubPush, token: str, layout: str, index: int, name: str, dataset: datasets.Dataset
) -> int:
    config, split = {
        "default": ("default", "train"),
        "configs": (name, "train"),
        "splits": ("default", name),
    }[layout]
    logger.info("pushing %d rows of %r to %s (%s)", len(dataset), name, push.repo_id, config)
    try:
        dataset.push_to_hub(
            push.repo_id,
            config_name=config,
            set_default=True if layout == "configs" and index == 0 else None,
            split=split,
            private=push.private,
            token=token,
            max_shard_size=push.max_shard_size,
            commit_message=push.commit_message or f"fanflow: {name}",
        )
    except ValueError as exc:  # a split name the Hub refuses, columns that do not match
        raise ConfigurationError(
            f"push_to_hub: the rows of {name!r} cannot be pushed as {layout[:-1]} "
            f"{split if layout == 'splits' else config!r}: {redact(str(exc))}. With several "
            "final steps, subsets=True pushes each as its own config"
        ) from None
    return len(dataset)


def _push_card(
    push: HubPush,
    token: str,
    stats: RunStats,
    run_name: str | None,
    pipeline: Dumpable | None,
    layout: str,
    rows: Mapping[str, int],
) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi, HfFileSystem

    text, described = pipeline_yaml(pipeline)
    version = _fanflow_version()
    facts = CardFacts(push.repo_id, stats, run_name, rows, layout, text, described, version)
    # The README.md datasets wrote: read fresh (no cached listing), to keep its configs.
    files = HfFileSystem(endpoint=_endpoint(), token=token, skip_instance_cache=True)
    existing = files.read_text(f"datasets/{push.repo_id}/{README}", encoding="utf-8")
    card = build_card(existing, facts)
    api = HfApi(endpoint=_endpoint(), token=token, library_name="fanflow")
    api.create_commit(
        push.repo_id,
        [CommitOperationAdd(README, str(card).encode("utf-8"))],
        commit_message=push.commit_message or "fanflow: dataset card",
        repo_type="dataset",
    )


def _fanflow_version() -> str:
    """The installed fanflow's version (`fanflow` itself is above this layer)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fanflow")
    except PackageNotFoundError:
        return "(not installed)"


def _endpoint() -> str:
    """Where `datasets` pushes (its HF_ENDPOINT), so the card goes to the same Hub."""
    import datasets.config

    return str(datasets.config.HF_ENDPOINT).rstrip("/")
