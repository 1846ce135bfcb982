"""`fanflow export NAME PATH`: a run's rows to Parquet, Arrow or JSONL, optionally in a
trainer's shape (`--to-format`). The options are declared here so `cli.py` stays short;
the command itself is registered there, beside the others."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from fanflow._exceptions import ConfigurationError
from fanflow.engine.pipeline._formats import FORMAT_KINDS, FormattedRows
from fanflow.engine.pipeline._history import load_run
from fanflow.engine.pipeline._results import PipelineResult
from fanflow.engine.pipeline._save import output_format, save_rows

__all__ = ["ExportOptions", "export_run"]

OutArgument = Annotated[
    Path,
    typer.Argument(
        metavar="PATH",
        help="Where to write: a .parquet, .arrow, .jsonl (.jsonl.gz, .jsonl.zst) file, "
        "or a directory of shards.",
    ),
]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="parquet, arrow or jsonl (default: from PATH's suffix; parquet without one).",
    ),
]
SubsetOption = Annotated[
    str | None,
    typer.Option("--subset", metavar="NAME", help="For a run with several final steps: which one."),
]
MaxShardSizeOption = Annotated[
    str,
    typer.Option(
        "--max-shard-size",
        metavar="SIZE",
        help="Shards of at most SIZE (500MB, 1GB, bytes); a directory of "
        "data-00000-of-0000N.<ext> files when the rows need several.",
    ),
]
CompressionOption = Annotated[
    str,
    typer.Option(
        "--compression",
        metavar="CODEC",
        help="Parquet or Arrow codec: zstd, none (Parquet also snappy, gzip, brotli, lz4; "
        "Arrow lz4). JSONL is compressed as PATH says: .jsonl.gz, .jsonl.zst.",
    ),
]
OverwriteOption = Annotated[
    bool, typer.Option("--overwrite", help="Replace PATH if it exists (else an error).")
]
ToFormatOption = Annotated[
    str | None,
    typer.Option(
        "--to-format",
        metavar="KIND",
        help=f"Rows in a trainer's shape (TRL): {', '.join(FORMAT_KINDS)}.",
    ),
]


def _column_option(part: str, default: str) -> Any:
    return typer.Option(f"--{part}", metavar="COLUMN", help=f"--to-format: {default}.")


PromptOption = Annotated[
    str | None, _column_option("prompt", "the prompt's column (default: the first column)")
]
CompletionOption = Annotated[
    str | None,
    _column_option("completion", "the answer's column (default: the final step's)"),
]
ChosenOption = Annotated[
    str | None, _column_option("chosen", "preference: the chosen answer's column")
]
RejectedOption = Annotated[
    str | None, _column_option("rejected", "preference: the rejected answer's column")
]
SystemOption = Annotated[
    str | None, _column_option("system", "sft: a column holding a system message")
]
ConversationalOption = Annotated[
    bool,
    typer.Option(
        "--conversational",
        help="--to-format prompt_completion/preference: lists of {role, content} messages.",
    ),
]
OnInvalidOption = Annotated[
    str,
    typer.Option(
        "--on-invalid",
        metavar="skip|raise",
        help="--to-format: leave out rows that cannot be mapped, listing them (skip), "
        "or fail and write nothing (raise).",
    ),
]


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What `fanflow export` was asked for, besides the run and the path."""

    format: str | None = None
    subset: str | None = None
    max_shard_size: str = "500MB"
    compression: str = "zstd"
    overwrite: bool = False
    to_format: str | None = None
    columns: dict[str, str | None] | None = None
    conversational: bool = False
    on_invalid: str = "skip"


@dataclass(slots=True)
class Exported:
    """What an export wrote: where, how many rows, and the rows it left out."""

    path: Path
    rows: int
    left_out: str | None = None


def export_run(store: Path, name: str, out: Path, options: ExportOptions) -> Exported:
    """Write run `name`'s rows (or one subset's) to `out` as `options` say."""
    result = _leaf(load_run(name, store=store), options.subset)
    from fanflow.engine.pipeline._shards import existing_output  # imports pyarrow

    fmt, codec = output_format(out, options.format, options.compression)
    if not options.overwrite and (existing := existing_output(out, fmt, codec)) is not None:
        raise ConfigurationError(f"{existing} already exists; pass --overwrite to replace it")
    rows: _Counted | FormattedRows = _Counted(result.iter_rows)
    if options.to_format is not None:
        leaf = next(iter(result.subsets))
        rows = FormattedRows(
            result.iter_rows,
            options.to_format,
            leaf,
            options.columns or {},
            options.conversational,
            options.on_invalid,
            result._leaf_text_inputs(),
        )
    written = save_rows(
        rows, out, options.format, True, options.compression, options.max_shard_size
    )
    if isinstance(rows, _Counted):
        return Exported(written, rows.count)
    kept = rows.total - len(rows.problems)
    return Exported(written, kept, rows.describe_problems() if rows.problems else None)


class _Counted:
    """The rows, counting those read by the last pass (a save may read them twice)."""

    def __init__(self, rows: Any) -> None:
        self._rows = rows
        self.count = 0

    def __call__(self) -> Iterator[dict[str, Any]]:
        self.count = 0
        for row in self._rows():
            self.count += 1
            yield row


def _leaf(result: PipelineResult, name: str | None) -> PipelineResult:
    subsets = result.subsets
    if name is None:
        if len(subsets) > 1:
            raise ConfigurationError(
                f"the run has {len(subsets)} subsets, one per final step "
                f"({', '.join(subsets)}); pick one with --subset NAME"
            )
        return result
    if name not in subsets:
        raise ConfigurationError(
            f"the run has no final step {name!r}; its subsets are {', '.join(subsets)}"
        )
    return subsets[name]
