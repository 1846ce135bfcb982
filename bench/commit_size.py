"""The store's writer CPU per result row against the number of rows per commit.

Inserts synthetic result rows shaped like the QA pipeline's (the store's own schema and
INSERT, WAL, synchronous=NORMAL) in one process, one transaction per `--sizes` rows, with
and without the content-key index, and prints the CPU per row (medians of `--rounds`).
The writer child used to commit as soon as rows arrived (about 6 rows per commit at 256
tasks in flight against a 50 ms server); since the store's log, it commits every 0.25 s
(about 1,250 rows per commit at that load). This shows what each commit size costs, and
what no key index would save (bench/README.md).

    python bench/commit_size.py --rows 22000 --sizes 6,200,1250,22000 --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from fanflow.store._store import _SCHEMA  # noqa: E402
from fanflow.store._writer_child import INSERT  # noqa: E402

KEY_INDEX = "CREATE INDEX IF NOT EXISTS results_by_key_prefix ON results (substr(key, 1, 16));"


def rows(count: int) -> list[tuple[object, ...]]:
    made = []
    for n in range(count):
        root, child = divmod(n, 11)
        made.append((
            "a" * 32, n % 3, "question", f"{root + 1:08d}.{child + 1:08d}",
            hashlib.sha256(str(n).encode()).hexdigest(), "ok",
            f"What is the answer to subtopic {n} of topic {root}? Please explain.", None,
            orjson.dumps({"subtopic": f"sub {n}", "topic": f"topic {root}"}),
            orjson.dumps({"topic": f"topic {root}", "subtopics": "[...]" * 10}),
            30, 20, 1, "bench-model", 0.0, 0, "stop", 1.0 + n, 2.0 + n, 3.0 + n, 0.05, 1,
        ))  # fmt: skip
    return made


def cpu_per_row(schema: str, count: int, size: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        connection = sqlite3.connect(Path(directory) / "fanflow.db")
        connection.executescript(schema)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        made = rows(count)
        frames = [pickle.dumps(made[i : i + size]) for i in range(0, count, size)]
        start = time.process_time()
        for frame in frames:  # as the child does: unpickle, insert, commit
            with connection:
                connection.executemany(INSERT, pickle.loads(frame))
        spent = time.process_time() - start
        connection.close()
    return spent / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=22000)
    parser.add_argument("--sizes", default="6,20,50,200")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    schemas = {"current schema": _SCHEMA, "without the key index": _SCHEMA.replace(KEY_INDEX, "")}
    for size in (int(part) for part in args.sizes.split(",")):
        figures = []
        for name, schema in schemas.items():
            runs = [cpu_per_row(schema, args.rows, size) for _ in range(args.rounds)]
            figures.append(f"{name} {statistics.median(runs):.1f} us")
        print(f"{size:4d} rows per commit: " + ", ".join(figures))


if __name__ == "__main__":
    main()
