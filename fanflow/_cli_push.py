"""`fanflow push NAME REPO`: a stored run's rows to the Hugging Face Hub, with a card.

Registered on the app in `cli.py`; kept apart so the push options live in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
import yaml

from fanflow._exceptions import ConfigurationError, FanflowError
from fanflow.engine.pipeline._history import load_run
from fanflow.store._store import default_store_path

__all__ = ["push"]


def push(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The run's name or id.")],
    repo: Annotated[
        str, typer.Argument(metavar="REPO", help="The dataset repository: owner/name.")
    ],
    private: Annotated[
        bool,
        typer.Option("--private/--public", help="Create the repository private (default)."),
    ] = True,
    subset: Annotated[
        str | None,
        typer.Option(
            "--subset",
            metavar="NAME",
            help="For a run with several final steps: push only this one (else each is a config).",
        ),
    ] = None,
    pipeline: Annotated[
        Path | None,
        typer.Option(
            "--pipeline",
            metavar="FILE",
            help="The pipeline file (YAML or JSON) that made the run, shown in the card.",
        ),
    ] = None,
) -> None:
    """Push a run's rows to the Hugging Face Hub as a Parquet dataset with a dataset card.

    The store keeps no pipeline document, so the card shows the pipeline only when its
    file is given (`--pipeline`, as `pipeline.dump` or `fanflow run` use it). The token
    comes from HF_TOKEN or the saved `hf auth login`; it is never written."""
    root = ctx.find_root().obj
    store = root if isinstance(root, Path) else default_store_path()
    if not store.is_file():
        _fail(f"no store at {store}; pass --store PATH or set FANFLOW_STORE to the store file")
    try:
        result = load_run(name, store=store)
        if subset is not None:
            subsets = result.subsets
            if subset not in subsets:
                raise ConfigurationError(
                    f"the run has no final step {subset!r}; its subsets are {', '.join(subsets)}"
                )
            result = subsets[subset]
        described = None if pipeline is None else PipelineFile(pipeline)
        url = result.push_to_hub(repo, private=private, pipeline=described)
    except FanflowError as exc:  # token already redacted from fanflow's errors
        _fail(str(exc))
    typer.echo(f"Pushed run {name!r} to {url}")


class PipelineFile:
    """A pipeline file as the card needs it: written out again as YAML."""

    def __init__(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
            document = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise ConfigurationError(
                f"cannot read the pipeline file {path}: {exc}; give the file that "
                "`pipeline.dump` or `fanflow run` used"
            ) from None
        self._yaml = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)

    def dump(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self._yaml, encoding="utf-8")
        return target


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
