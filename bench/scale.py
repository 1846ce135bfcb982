"""Peak memory at scale: a run of many tasks with the store, then reading its results.

One step (`say {{topic}}`) over `--tasks` input rows read from a JSONL file, answered by a
`MockAdapter` (no HTTP; its list of every request received is emptied as it goes, as it
would grow by ~300 bytes a task), with a SQLite store in a temporary folder. Every figure is the
peak RSS (`ru_maxrss`) of a fresh child process doing one thing:

- `import`: importing fanflow and opening the finished run (`load_run`), the floor;
- `import_arrow`: the same plus `datasets` and `pyarrow.parquet`, the floor of the two
  measurements that use Arrow;
- `run`: the whole run (the store's writer is another process and is not counted);
- `resume`: the same pipeline again (under another run name), every task a cache hit;
  with how much the store's file grew (a reference per task, not a copy of the answer);
- `failures`: `len(result.failures)` and iterating them (the run has none);
- `rows`: `len(result.rows)` and iterating every row;
- `to_dataset`: `result.to_dataset()` and its length;
- `save_parquet`, `save_jsonl`: `result.save(...)`;
- `rows_resumed`: `rows` of the resumed run, read through its references.

All but the last read the first run.

    python bench/scale.py --tasks 1000000
    python bench/scale.py --tasks 100000 --tree /tmp/before   # also an older checkout

`--tree DIR` runs the same measurements with the fanflow of another checkout (for
example `git archive HEAD~3 | tar -x -C /tmp/before`), each tree on its own run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
READS = ("failures", "rows", "to_dataset", "save_parquet", "save_jsonl", "rows_resumed")
RUN_NAME, RESUMED_NAME = "scale", "scale-resumed"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(store: Path, inputs: Path, concurrency: int, name: str) -> dict[str, Any]:
    from fanflow import (
        GenerationRequest,
        MockAdapter,
        PipelineBuilder,
        PipelineConfig,
        StepTemplate,
        Workflow,
    )

    class Say(StepTemplate):
        def create_workflow(self, topic: str) -> Workflow:
            return Workflow.from_prompt("say {{topic}}", topic=topic)

    def answer(request: GenerationRequest) -> str:
        adapter.requests.clear()  # a test double keeps every request; this bench must not
        return f"{request.messages[-1].content}, said once"

    adapter = MockAdapter(answer)
    config = PipelineConfig(
        concurrency=concurrency, progress=False, store=store, run_name=name, tune_gc=True
    )
    builder = PipelineBuilder(config, adapter).input(str(inputs))
    builder << Say(name="say")
    started = time.perf_counter()
    result = await builder.build().execute()
    return {"tasks_ok": result.stats.tasks["ok"], "wall_s": time.perf_counter() - started}


def read(what: str, store: Path, out: Path) -> dict[str, Any]:
    from fanflow import load_run

    result = load_run(RESUMED_NAME if what == "rows_resumed" else RUN_NAME, store=store)
    if what == "import":
        return {}
    if what == "import_arrow":
        import datasets  # noqa: F401
        import pyarrow.parquet  # noqa: F401

        return {}
    started = time.perf_counter()
    if what in ("failures", "rows", "rows_resumed"):
        items = result.failures if what == "failures" else result.rows
        length, seen = len(items), sum(1 for _ in items)
        if length != seen:
            raise SystemExit(f"{what}: len() says {length}, iterating gave {seen}")
        figures: dict[str, Any] = {"items": seen}
    elif what == "to_dataset":
        figures = {"items": len(result.to_dataset())}
    else:
        written = result.save(out / ("rows.parquet" if what == "save_parquet" else "rows.jsonl"))
        figures = {"bytes": written.stat().st_size}
    return {**figures, "wall_s": time.perf_counter() - started}


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, args.tree)
    store, work = Path(args.store), Path(args.store).parent
    if args.child in ("run", "resume"):
        name = RUN_NAME if args.child == "run" else RESUMED_NAME
        figures = asyncio.run(run(store, work / "inputs.jsonl", args.concurrency, name))
    else:
        figures = read(args.child, store, work)
    print(json.dumps({**figures, "peak_rss_mb": peak_rss_mb()}))


def measure(what: str, tree: str, store: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", what, "--tree", tree, "--store", str(store)]
    command += ["--concurrency", str(args.concurrency)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed in {tree}:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _store_bytes(store: Path) -> int:
    """The store's size on disk once its write-ahead log is checkpointed into it."""
    if not store.exists():
        return 0
    with closing(sqlite3.connect(store)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return store.stat().st_size


def write_inputs(path: Path, tasks: int) -> None:
    with path.open("w") as handle:
        for n in range(tasks):
            handle.write(f'{{"topic": "topic number {n}"}}\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--tree", action="append", default=[], help="another checkout to run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.tree = args.tree[0]
        child(args)
        return
    print(f"{args.tasks} tasks, concurrency {args.concurrency}; peak RSS per child process:")
    for tree in [str(ROOT), *args.tree]:
        with tempfile.TemporaryDirectory(prefix="fanflow-scale-") as directory:
            store = Path(directory) / "fanflow.db"
            write_inputs(Path(directory) / "inputs.jsonl", args.tasks)
            print(tree)
            for what in ("run", "resume", "import", "import_arrow", *READS):
                size = _store_bytes(store)
                figures = measure(what, tree, store, args)
                if what in ("run", "resume"):
                    figures["store_grew_mb"] = (_store_bytes(store) - size) / 2**20
                rss = figures.pop("peak_rss_mb")
                details = ", ".join(f"{k}={v:.3g}" for k, v in figures.items())
                print(f"  {what:<13} {rss:7.1f} MB   {details}", flush=True)


if __name__ == "__main__":
    main()
