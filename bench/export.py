"""What exporting a big run costs: `fanflow export` of stored rows to sharded Parquet.

A small real run (topic -> question -> answer on a `MockAdapter`, stored) gives the shape
of real result rows; its final step's results are then copied, with fresh lineages,
inputs and answers, into the store until it holds ROWS of them (straight into SQLite
through the store's own row encoding: 1M model calls would measure the engine, not the
export). Each round runs `fanflow export RUN DIR --max-shard-size SIZE` (or, with
`--api`, `fanflow.load_run(RUN).save(DIR, ...)`) in a child process and reads its wall
time and peak RSS (`os.wait4`; the store is filled by another child, so the parent
stays small: a forked child's peak RSS counts its parent's pages until it execs).
Medians over `--runs` rounds are printed for 100,000 and for 1,000,000 rows, so the RSS
ratio shows whether memory stays bounded.

    python bench/export.py --runs 3
    python bench/export.py --sizes 100000 1000000 --max-shard-size 100MB --api
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

if TYPE_CHECKING:
    from fanflow import GenerationRequest
    from fanflow.steps import TaskResult

RUN = "bench-export"
TEMPLATE_ROWS = 50
INSERT_CHUNK = 20_000
SAVE_SCRIPT = (
    "import sys, fanflow; "
    "fanflow.load_run(sys.argv[1], store=sys.argv[2]).save("
    "sys.argv[3], max_shard_size=sys.argv[4], overwrite=True)"
)


def answer(request: GenerationRequest) -> str:
    prompt = request.messages[-1].content
    if prompt.startswith("Ask"):
        return f"What is the most surprising fact about {prompt[8:]}, and why does it matter?"
    return (f"A careful answer to: {prompt}. " * 6).strip()


def template_store(path: Path) -> list[TaskResult]:
    """Run the small real pipeline into `path`; its final step's stored results."""
    from fanflow import MockAdapter, PipelineBuilder, PipelineConfig, Prompt, Store

    config = PipelineConfig(progress=False, retry=None, store=path, run_name=RUN)
    builder = PipelineBuilder(config, MockAdapter(answer))
    builder.input([{"topic": f"topic number {n}"} for n in range(TEMPLATE_ROWS)])
    builder << Prompt("question", "Ask about {{topic}}") << Prompt("answer", "{{question}}")
    asyncio.run(builder.build().execute())
    store = Store(path)
    try:
        run = store.find_run(RUN)
        return list(store.results(run.id, step_index=1, ok_only=True))
    finally:
        store.close()


def fill(path: Path, rows: int) -> None:
    """A store holding `rows` final-step results shaped like the template run's."""
    from fanflow import Store

    templates = template_store(path)
    store = Store(path)
    run_id = store.find_run(RUN).id
    store.close()
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("DELETE FROM results WHERE run_id=? AND step_index=1", (run_id,))
        for start in range(0, rows, INSERT_CHUNK):
            chunk = [
                _copy(templates, n, run_id) for n in range(start, min(rows, start + INSERT_CHUNK))
            ]
            connection.executemany(f"INSERT INTO results VALUES ({','.join('?' * 17)})", chunk)
            connection.commit()
    finally:
        connection.close()


def _copy(templates: list[TaskResult], n: int, run_id: str) -> tuple[object, ...]:
    from fanflow.store._records import result_row

    template = templates[n % len(templates)]
    topic = f"topic number {n}"
    question = f"What is the most surprising fact about {topic}, and why does it matter?"
    result = dataclasses.replace(
        template,
        lineage=(n, 0),
        inputs={"question": question},
        context={"topic": topic},
        result=(f"A careful answer to: {question}. " * 6).strip(),
    )
    return result_row(run_id, 1, f"{n:064x}", result)


def export_once(store: Path, out: Path, size: str, api: bool, timeout: float) -> dict[str, float]:
    """One export in a child process: wall seconds, peak RSS (MB), shard count."""
    if api:
        command = [sys.executable, "-c", SAVE_SCRIPT, RUN, str(store), str(out), size]
    else:
        command = [sys.executable, "-m", "fanflow", "--store", str(store), "export", RUN,
                   str(out), "--max-shard-size", size, "--overwrite"]  # fmt: skip
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    timer = threading.Timer(timeout, lambda: os.kill(child.pid, signal.SIGKILL))
    timer.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    timer.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    errors = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"export failed ({child.returncode}, timeout {timeout}s): {errors}")
    shards = len(list(out.glob("data-*.parquet")))
    return {"wall": wall, "rss_mb": usage.ru_maxrss / 1024, "shards": shards}


def measure(rows: int, runs: int, size: str, api: bool, timeout: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="fanflow-bench-export-") as directory:
        store, out = Path(directory) / "s.db", Path(directory) / "out"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--fill", str(store), str(rows)], check=True, timeout=1800
        )
        print(f"{rows:>9,} rows stored in {time.perf_counter() - started:.1f}s", flush=True)
        results = []
        for number in range(1, runs + 1):
            result = export_once(store, out, size, api, timeout)
            results.append(result)
            print(
                f"  round {number}: {result['wall']:.1f}s, peak RSS {result['rss_mb']:.0f} MB, "
                f"{result['shards']:.0f} shards",
                flush=True,
            )
            shutil.rmtree(out)
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def main() -> None:
    if sys.argv[1:2] == ["--fill"]:  # the child that fills a store
        fill(Path(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-shard-size", default="100MB")
    parser.add_argument("--api", action="store_true", help="result.save() instead of the CLI")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per export")
    args = parser.parse_args()
    how = "result.save()" if args.api else "fanflow export"
    medians = {rows: measure(rows, args.runs, args.max_shard_size, args.api, args.timeout)
               for rows in args.sizes}  # fmt: skip
    print(f"\n{how} to Parquet shards of {args.max_shard_size}; medians of {args.runs} rounds:")
    for rows, median in medians.items():
        print(
            f"  {rows:>9,} rows: {median['wall']:6.1f}s wall, {rows / median['wall']:>9,.0f} "
            f"rows/s, peak RSS {median['rss_mb']:5.0f} MB, {median['shards']:.0f} shards"
        )
    if len(medians) > 1:
        low, high = min(medians), max(medians)
        ratio = medians[high]["rss_mb"] / medians[low]["rss_mb"]
        print(
            f"  peak RSS {high:,} rows / {low:,} rows: {ratio:.2f}x for {high / low:.0f}x the rows"
        )


if __name__ == "__main__":
    main()
