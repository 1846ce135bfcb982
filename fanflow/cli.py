"""The `fanflow` command: look at past runs, export their rows, forget stored results.

Everything here reads the store a pipeline writes (`fanflow.Store`); nothing is sent to a
model. Errors print one line saying what went wrong and how to fix it, and exit 1.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from fanflow import _cli_export as export_options
from fanflow._cli_push import push
from fanflow._exceptions import FanflowError
from fanflow._redact import RedactingFilter
from fanflow._timings_table import timings_table
from fanflow.engine.pipeline._file_load import pipeline_from_document, read_document
from fanflow.engine.pipeline._file_overrides import apply_overrides
from fanflow.engine.pipeline._history import load_run
from fanflow.store._records import RunRecord
from fanflow.store._store import Store, default_store_path

__all__ = ["app", "main"]

MAX_FAILURES = 10
PIPED_WIDTH = 200
STATUSES = ("ok", "failed", "timed_out", "skipped")
NOT_FAILED = ("ok", "filtered")  # filtered: a function step returned None for the task

app = typer.Typer(
    name="fanflow",
    help=(
        "Run pipeline files, look at past runs, export their rows, and forget stored "
        "results.\n\n"
        "Every result a pipeline gets is kept in one SQLite store: --store PATH, else the "
        "FANFLOW_STORE variable, else .fanflow/fanflow.db under the working directory.\n\n"
        "Resuming needs no command: running the same pipeline again sends only the tasks "
        "whose answers are not stored yet; `fanflow cache clear` makes them be sent again."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runs_app = typer.Typer(
    help="List past runs, newest first (`fanflow runs show NAME` for one run).",
    invoke_without_command=True,
)
cache_app = typer.Typer(help="Manage stored results (the cache that makes runs resume).")
app.add_typer(runs_app, name="runs")
app.add_typer(cache_app, name="cache")
app.command("push")(push)  # fanflow push NAME REPO: _cli_push

StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="The store file (default: $FANFLOW_STORE, else .fanflow/fanflow.db).",
    ),
]
RunArgument = Annotated[str, typer.Argument(metavar="NAME", help="The run's name or id.")]


@app.callback()
def _root(ctx: typer.Context, store: StoreOption = None) -> None:
    ctx.obj = store if store is not None else default_store_path()


@runs_app.callback()
def runs_list(ctx: typer.Context) -> None:
    """List past runs, newest first: status, when, how long, task counts, tokens, cost."""
    if ctx.invoked_subcommand is not None:
        return
    path = _store_path(ctx)
    records: list[RunRecord] = []
    if path.exists():
        with _errors(path), _opened(_existing_store(ctx)) as store:
            records = store.runs()
    if not records:
        typer.echo(f"No runs yet in {path}. Runs appear here once a pipeline has run.")
        return
    table = Table(title=f"Runs in {path}", title_justify="left", box=box.SIMPLE_HEAD)
    # On a narrow terminal the name and the time wrap; ids and numbers stay whole.
    table.add_column("name", overflow="fold")
    table.add_column("id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("started", overflow="fold")
    table.add_column("duration", no_wrap=True)
    for column in ("ok", "failed", "timed\nout", "skipped", "requests", "tokens", "cost"):
        table.add_column(column, justify="right", no_wrap=True)
    for record in records:
        stats = record.stats
        tasks = stats.get("tasks", {})
        table.add_row(
            record.name,
            record.id,
            record.status,
            _time(record.started_at, seconds=False),
            _duration(record),
            *(_count(tasks.get(status)) if stats else "-" for status in STATUSES),
            _count(stats.get("requests")),
            _tokens(stats.get("usage")),
            _cost(stats.get("cost")),
        )
    _console().print(table)


@runs_app.command("show")
def runs_show(ctx: typer.Context, name: RunArgument) -> None:
    """Show one run: status, times, each step's counts, tokens and timings, config, first
    failures."""
    path = _existing_store(ctx)
    with _errors(path), _opened(path) as store:
        record = store.find_run(name)
        failures = list(
            islice(
                (r for r in store.results(record.id) if r.status.value not in NOT_FAILED),
                MAX_FAILURES,
            )
        )
        timings = store.step_timings(record.id, record.steps)
    console = _console()
    stats = record.stats
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("run", f"{record.name} (id {record.id})")
    summary.add_row("status", record.status)
    summary.add_row("started", _time(record.started_at))
    summary.add_row("ended", "-" if record.ended_at is None else _time(record.ended_at))
    summary.add_row("duration", _duration(record))
    if stats:
        tasks = stats.get("tasks", {})
        statuses = (*STATUSES, "filtered") if tasks.get("filtered") else STATUSES
        counted = (f"{_count(tasks.get(s, 0))} {s.replace('_', ' ')}" for s in statuses)
        summary.add_row("tasks", ", ".join(counted))
        summary.add_row("requests", _count(stats.get("requests")))
        if stats.get("from_store"):
            summary.add_row("from store", _reused(stats))
        summary.add_row("tokens", _tokens_in_out(stats.get("usage")))
        summary.add_row("cost", _cost(stats.get("cost")))
        if stats.get("stopped"):
            summary.add_row("stopped", str(stats["stopped"]))
        if reasons := stats.get("finish_reasons"):  # "length": cut off at max_tokens
            shown = ", ".join(f"{_count(n)} {reason}" for reason, n in sorted(reasons.items()))
            summary.add_row("finish reasons", shown)
    else:
        summary.add_row("stats", "none recorded (the run is still going, or was killed)")
    summary.add_row("store", str(path))
    console.print(summary)

    steps = Table(title="Steps", title_justify="left", box=box.SIMPLE_HEAD)
    steps.add_column("#", justify="right")
    steps.add_column("step")
    for column in ("ok", "failed", "timed out", "skipped", "requests", "tokens in", "tokens out"):
        steps.add_column(column, justify="right")
    steps.add_column("cost", justify="right")
    counts = stats.get("steps", {})
    usage = stats.get("usage_by_step", {})
    for index, step in enumerate(record.steps):
        step_counts, step_usage = counts.get(step, {}), usage.get(step, {})
        steps.add_row(
            str(index),
            step,
            *(_count(step_counts.get(status, 0) if stats else None) for status in STATUSES),
            _count(step_usage.get("requests")),
            _count(step_usage.get("prompt_tokens")),
            _count(step_usage.get("completion_tokens")),
            _cost(step_usage.get("cost")),
        )
    console.print(steps)
    console.print(timings_table(record.steps, timings))

    config = Table(title="Config", title_justify="left", show_header=False, box=box.SIMPLE)
    config.add_column(style="bold")
    config.add_column()
    for key, value in record.config.items():
        config.add_row(key, value if isinstance(value, str) else orjson.dumps(value).decode())
    console.print(config)

    if failures:
        total = sum(stats.get("tasks", {}).get(s, 0) for s in STATUSES[1:])
        shown = str(len(failures))
        if total > len(failures) or (not stats and len(failures) == MAX_FAILURES):
            shown = f"first {len(failures)}" + (f" of {total}" if total else "")
        table = Table(title=f"Failures ({shown})", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("task", no_wrap=True)
        table.add_column("status")
        table.add_column("reason")
        for failure in failures:
            table.add_row(failure.task_id, failure.status.value, failure.error or "-")
        console.print(table)
    else:
        console.print("No failures stored.")


def _reused(stats: dict[str, Any]) -> str:
    """`4 (answered by run 'demo': 4)`: tasks taken from the store, by the run that sent them."""
    origins = ", ".join(f"{run!r}: {_count(n)}" for run, n in stats.get("from_runs", {}).items())
    return f"{_count(stats['from_store'])}" + (f" (answered by run {origins})" if origins else "")


@runs_app.command("report")
def runs_report(
    ctx: typer.Context,
    name: RunArgument,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FILE", help="Default: report-<run name>.html."),
    ] = None,
) -> None:
    """Write a run's report: one HTML file that opens offline (graph, steps, charts,
    failures, config)."""
    path = _existing_store(ctx)
    with _errors(path):
        written = load_run(name, store=path).report(out)
    typer.echo(f"Wrote the report of run {name!r} to {written}.")


@app.command("export")
def export(
    ctx: typer.Context,
    name: RunArgument,
    out: export_options.OutArgument,
    format: export_options.FormatOption = None,
    subset: export_options.SubsetOption = None,
    max_shard_size: export_options.MaxShardSizeOption = "500MB",
    compression: export_options.CompressionOption = "zstd",
    overwrite: export_options.OverwriteOption = False,
    to_format: export_options.ToFormatOption = None,
    prompt: export_options.PromptOption = None,
    completion: export_options.CompletionOption = None,
    chosen: export_options.ChosenOption = None,
    rejected: export_options.RejectedOption = None,
    system: export_options.SystemOption = None,
    conversational: export_options.ConversationalOption = False,
    on_invalid: export_options.OnInvalidOption = "skip",
) -> None:
    """Write a run's rows (its final step's ok results) to a Parquet, Arrow or JSONL
    file, or a directory of shards; with --to-format, in a trainer's shape."""
    path = _existing_store(ctx)
    columns = {"prompt": prompt, "completion": completion, "chosen": chosen}
    columns |= {"rejected": rejected, "system": system}
    options = export_options.ExportOptions(
        format, subset, max_shard_size, compression, overwrite, to_format, columns,
        conversational, on_invalid,
    )  # fmt: skip
    with _errors(path):
        exported = export_options.export_run(path, name, out, options)
    if exported.left_out is not None:
        typer.echo(f"Left out {exported.left_out}", err=True)
    rows = exported.rows
    typer.echo(f"Wrote {rows} row{'' if rows == 1 else 's'} of run {name!r} to {exported.path}.")
    if rows == 0 and exported.left_out is None:
        typer.echo("The store holds no ok final-step results for this run (were they cleared?).")


@app.command("run")
def run(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="The pipeline file (.yaml or .json).")
    ],
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", metavar="URL", help="Send to this OpenAI-compatible server."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", metavar="NAME", help="The model every step uses.")
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="STEP.PARAM=VALUE",
            help=(
                "Change a step's constructor argument (a class step's params; a prompt's "
                "template, system or schema), its workflow params (max_tokens, max_steps, "
                "max_time) or models; or config.FIELD=VALUE. VALUE is read as JSON when "
                "it is JSON, else as text. Repeat for several."
            ),
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="PATH", help="Also write the rows to a .jsonl or .parquet file."
        ),
    ] = None,
    run_name: Annotated[
        str | None, typer.Option("--run-name", metavar="NAME", help="Name this run.")
    ] = None,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run the rows as shards on Ray (pip install 'fanflow[ray]'); a local Ray "
            "starts and stops with the run unless --ray-address names a cluster.",
        ),
    ] = False,
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards", min=1, metavar="N", help="How many shards (implies --ray; default: CPUs)."
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", metavar="ADDRESS", help="auto, or ray://host:10001."),
    ] = None,
) -> None:
    """Run a pipeline file (written by `pipeline.dump(...)`), resuming what is stored."""
    store = ctx.find_root().params.get("store")
    config: dict[str, Any] = {"run_name": run_name} if run_name is not None else {}
    if ray or shards is not None or ray_address is not None:
        config["runner"] = {"shards": shards or os.cpu_count() or 1, "address": ray_address}
    if store is not None:
        config["store"] = str(store)
    with _errors(file):
        document, error = read_document(file)
        apply_overrides(
            document, error, base_url=base_url, model=model, sets=sets or (), config=config
        )
        try:
            result = pipeline_from_document(document, error, file).run()
        except KeyboardInterrupt:
            typer.echo("Interrupted: run the same command again to resume.", err=True)
            raise typer.Exit(130) from None
        if out is not None:
            with _no_progress_bars(out):
                out = result.save(out, overwrite=True)  # a rerun resumes and rewrites it
    _report_run(result, out)


def _report_run(result: Any, out: Path | None) -> None:
    stats, name = result.stats, result.run_name
    tasks = ", ".join(f"{_count(stats.tasks.get(s, 0))} {s.replace('_', ' ')}" for s in STATUSES)
    reused = f"; {_count(stats.from_store)} from the store" if stats.from_store else ""
    typer.echo(f"Run {name!r}: {tasks}{reused}.")
    rows = len(result.rows)
    if out is not None:
        typer.echo(f"Wrote {rows} row{'' if rows == 1 else 's'} to {out}.")
    elif name is not None:
        typer.echo(
            f"{rows} rows are in the store; `fanflow export {name} rows.parquet` writes them."
        )
    else:
        typer.echo(f"{rows} rows; nothing was stored (store: false); pass --out to keep them.")


@cache_app.command("clear")
def cache_clear(
    ctx: typer.Context,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            metavar="NAME",
            help="Forget only this run's results (tasks another run also answered stay cached).",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget stored results, all or one run's, so the next run sends those tasks again."""
    path = _store_path(ctx)
    if run is None and not path.exists():
        typer.echo(f"Nothing to clear: no store at {path}.")
        return
    path = _existing_store(ctx)
    with _errors(path), _opened(path) as store:
        run_id = None if run is None else store.find_run(run).id
        what = "every stored result" if run is None else f"the stored results of run {run!r}"
        if not yes and not typer.confirm(
            f"Forget {what} in {path}? Those tasks will be sent again.", default=False
        ):
            typer.echo("Nothing removed.")
            return
        removed = store.clear(run_id)
    typer.echo(
        f"Removed {removed} stored result{'' if removed == 1 else 's'}; "
        "the next run sends those tasks again."
    )


def main() -> None:
    """The `fanflow` console script (also `python -m fanflow`)."""
    _show_fanflow_logs()
    app(prog_name="fanflow")


_LOG_HANDLER = "fanflow-cli"


def _show_fanflow_logs() -> None:
    """What fanflow says through `logging` (a resume hint, warnings) shown on stderr.

    The library only logs; the command line is fanflow's own process, so it shows them.
    """
    logger = logging.getLogger("fanflow")
    if any(getattr(h, "name", None) == _LOG_HANDLER for h in logger.handlers):
        return  # main() called again in one process
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_LOG_HANDLER)
    handler.setFormatter(logging.Formatter("fanflow: %(message)s"))
    handler.addFilter(RedactingFilter())  # a handler's filter sees every fanflow.* record
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


# -- helpers ----------------------------------------------------------------------------


def _console() -> Console:
    # Made per command, so output goes to whatever sys.stdout is then (tests swap it).
    # Piped output is not cut to 80 columns; no markup or highlighting, so names and
    # error texts are shown exactly as stored.
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(width=PIPED_WIDTH if piped else None, markup=False, highlight=False, emoji=False)


def _store_path(ctx: typer.Context) -> Path:
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Path) else default_store_path()


def _existing_store(ctx: typer.Context) -> Path:
    path = _store_path(ctx)
    if not path.exists():
        _fail(f"no store at {path}; pass --store PATH or set FANFLOW_STORE to the store file")
    if not path.is_file():
        _fail(f"the store {path} is not a file; pass --store with the store's .db file")
    return path


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def _errors(path: Path) -> Iterator[None]:
    """Turn the errors a user can fix into one line and exit 1."""
    try:
        yield
    except FanflowError as exc:
        _fail(str(exc))
    except sqlite3.Error as exc:
        _fail(f"cannot read the store {path} ({exc}); is it a fanflow store? see --store")
    except OSError as exc:
        target = exc.filename if exc.filename is not None else path
        _fail(f"cannot use {target}: {exc.strerror or exc}; check the path and permissions")


@contextmanager
def _opened(path: Path) -> Iterator[Store]:
    store = Store(path)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _no_progress_bars(out: Path) -> Iterator[None]:
    """Silence `datasets`' progress bar while a .parquet file is written."""
    if out.suffix.lower() != ".parquet":
        yield
        return
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def _time(timestamp: float, seconds: bool = True) -> str:
    """Local time."""
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M" + ":%S" * seconds)


def _duration(record: RunRecord) -> str:
    seconds = record.stats.get("wall_time_s")
    if seconds is None:
        if record.ended_at is None:
            return "-"
        seconds = record.ended_at - record.started_at
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _count(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def _tokens(usage: Any) -> str:
    if not usage:
        return "-"
    return _count(usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))


def _tokens_in_out(usage: Any) -> str:
    if not usage:
        return "-"
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return f"{prompt + completion:,} ({prompt:,} in, {completion:,} out)"


def _cost(value: Any) -> str:
    return "-" if not value else f"${float(value):,.4f}"
