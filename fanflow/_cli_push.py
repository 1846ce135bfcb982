"""`fanflow push NAME REPO`: a stored run's rows to the Hugging Face Hub, with a card.

Registered on the app in `cli.py`; kept apart so the push options live in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
) -> None:
    """Push a run's rows to the Hugging Face Hub as a Parquet dataset with a dataset card.

    The token comes from HF_TOKEN or the saved `hf auth login`; it is never written."""
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
        url = result.push_to_hub(repo, private=private)
    except FanflowError as exc:  # token already redacted from fanflow's errors
        _fail(str(exc))
    typer.echo(f"Pushed run {name!r} to {url}")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
