"""Hub datasets as input: `input("hf://datasets/owner/name", split=..., streaming=True)`.

The repo is loaded through `datasets.load_dataset(repo_id, split=, streaming=, **args)`, so
configs (`name=`), `revision=`, `data_files=` and the Hub's token handling are the library's.
`streaming` defaults to True: rows are read one at a time as the run needs them and the
dataset is never downloaded whole (`streaming=False` downloads it into the `datasets` cache,
which is memory-mapped, and gives a length for progress). A `DatasetDict` (or a Hub dataset
loaded without a split) must be narrowed to one split: with one split, that one is used.
Some files of a repo, as `HfFileSystem` names them: `hf://datasets/owner/name/data/*.parquet`
(`data_files=`, one split), at a revision: `hf://datasets/owner/name@v1.0/...`; this form
also picks one split of a repo as a `fanflow.Mix` source.

Everything that can go wrong before the run (no `datasets`, an unknown repo, a repo that
cannot be reached, a missing split) is a `ConfigurationError` at `input()` saying what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fanflow._exceptions import ConfigurationError

__all__ = ["HUB_PREFIX", "REPO_FOLDERS", "is_hub_path", "load_hub", "one_split"]

HUB_PREFIX = "hf://datasets/"

REPO_FOLDERS: dict[str, str] = {}
"""repo id -> a local folder holding that repo's files, loaded in its place (the same
`load_dataset` call, given the folder): for tests and offline mirrors of a repo."""


def is_hub_path(data: Any) -> bool:
    """Whether `data` is a `hf://` address (any: a wrong kind is refused by `load_hub`)."""
    return isinstance(data, str) and data.startswith("hf://")


def load_hub(url: str, args: Mapping[str, Any]) -> Any:
    """The dataset (one split) at `url`; `args` go to `datasets.load_dataset`.

    As `HfFileSystem` names them, `hf://datasets/owner/name@revision/path/glob` is the
    repo at that revision (`revision=`) and only the files the path or glob names
    (`data_files=`, which makes one split, "train")."""
    repo_id, revision, files = _parts(url)
    datasets = _datasets(url)
    args = {"streaming": True, **args}
    for key, value in (("revision", revision), ("data_files", files)):
        if value is not None:
            if args.get(key, value) != value:
                raise ConfigurationError(
                    f"input {url} names {key} {value!r}, and {key}={args[key]!r} is given "
                    "too; give it once"
                )
            args[key] = value
    try:
        loaded = datasets.load_dataset(REPO_FOLDERS.get(repo_id, repo_id), **args)
    except ConfigurationError:
        raise
    except ConnectionError as exc:  # offline, or the Hub is not reachable
        raise ConfigurationError(
            f"input {url}: cannot reach the dataset {repo_id!r} on the Hugging Face Hub "
            f"({exc}); check the repo id and your connection, log in for a private or gated "
            "repo (`hf auth login` or HF_TOKEN), or save it locally and give the path"
        ) from exc
    except Exception as exc:  # datasets raises many kinds for a repo or argument it refuses
        raise ConfigurationError(
            f"input {url}: datasets.load_dataset({repo_id!r}) failed: "
            f"{type(exc).__name__}: {exc}; check the repo id and the arguments "
            f"({_described(args)})"
        ) from exc
    return one_split(loaded, None, url)  # a dict if no split= was given


def one_split(data: Any, split: str | None, label: str) -> Any:
    """`data` itself, or its `split` if it is a `DatasetDict` (split name -> dataset)."""
    if not isinstance(data, Mapping):
        if split is not None and getattr(data, "split", None) not in (None, split):
            raise ConfigurationError(
                f"input {label} is the split {data.split!r}; split={split!r} cannot be "
                "taken from it: give the DatasetDict, or leave split= out"
            )
        return data
    splits = list(data)
    if split is None:
        if len(splits) == 1:
            return data[splits[0]]
        raise ConfigurationError(
            f"input {label} has the splits {splits}; pick one with split=, e.g. "
            f"input(..., split={splits[0]!r}) (in a Mix, give data[{splits[0]!r}])"
        )
    if split not in data:
        raise ConfigurationError(f"input {label} has no split {split!r}; its splits are {splits}")
    return data[split]


def _parts(url: str) -> tuple[str, str | None, str | None]:
    """(repo id, revision, path inside the repo) of a `hf://datasets/...` address."""
    parts = url.removeprefix(HUB_PREFIX).strip("/").split("/", 2)
    if not url.startswith(HUB_PREFIX) or len(parts) < 2 or not all(parts):
        raise ConfigurationError(
            f"input {url!r}: a Hub dataset is written hf://datasets/owner/name, or "
            "hf://datasets/owner/name/path/*.parquet for some of its files (models and "
            "spaces cannot be inputs)"
        )
    name, _, revision = parts[1].partition("@")
    return f"{parts[0]}/{name}", revision or None, parts[2] if len(parts) == 3 else None


def _datasets(url: str) -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise ConfigurationError(
            f"input {url} needs the `datasets` library: pip install datasets"
        ) from exc
    return datasets


def _described(args: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in args.items() if key != "token")
