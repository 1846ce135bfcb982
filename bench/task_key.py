"""CPU per content key: `fanflow.store.task_key`, called once per task by the result sink.

Each case makes 100 workflows with distinct inputs, as the engine does for a step's tasks,
then times computing `--tasks` keys, going round them (process CPU, gc off while timing).
The engine keys a workflow right after making it, while it is still in the CPU's caches;
going round 100 keeps them there too (thousands of workflows made beforehand would not
be, and their cache misses would cost as much again as the key):

- `qa_subtopics`, `qa_question`, `qa_answer`: the cookbook's QA pipeline
  (`cookbook/qa_from_topics.py`'s three `Prompt` steps, topics and subtopics as inputs);
- `prompt_full`: a `Prompt` with a schema, a system prompt, `set_workflow_params`,
  `set_tools` and `set_generation` (so a copied config, tools and sampling parameters),
  its workflows made by the engine's `prepare_task`;
- `builder`: a two-step workflow that a `StepTemplate` subclass builds per task with
  `WorkflowBuilder` (nothing shared between tasks);
- `full_prepared`: `prompt_full`'s task made by `prepare_task` and then keyed, per task:
  the step's params and tools applied to its workflow cost more than its key.

Each round runs every tree in its own fresh process; `--tree DIR` (repeatable) adds
another checkout (for example `git worktree add /tmp/before HEAD~3`), interleaved with
this one, so a change is measured against the code before it in the same bench run.
Medians over the rounds are printed, with each tree's ratio to the first `--tree` (the
baseline).

    python bench/task_key.py --rounds 7 --tree /tmp/ff-key-base
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

Keys = Callable[[], None]
DISTINCT = 100  # workflows per case


def cases(tasks: int) -> dict[str, Keys]:
    """Each case's `tasks` key computations over its workflows (imports the tree's
    fanflow, which `main` put first on sys.path)."""
    from pydantic import BaseModel
    from qa_from_topics import ANSWER, QUESTION, SUBTOPICS

    from fanflow import Edge, Prompt, WorkflowBuilder, Write
    from fanflow.engine.pipeline._plan import StepPlan
    from fanflow.engine.pipeline._tasks import prepare_task
    from fanflow.store import task_key

    class Answer(BaseModel):
        answer: str
        confidence: float

    def look_up(city: str) -> str:
        """Look up a city's weather."""
        return city

    def timed(workflows: list[Any], model: str, sampling: Any = None) -> Keys:
        lineages = [(n // 5, n % 5) for n in range(len(workflows))]
        pairs = list(zip(workflows, lineages, strict=True)) * (tasks // len(workflows))

        def run() -> None:
            for workflow, lineage in pairs:
                task_key(workflow, model, lineage, sampling)

        return run

    topics = [f"topic number {n} of the bench" for n in range(DISTINCT)]
    subtopics = [f"subtopic {n % 5} of {topic}" for n, topic in enumerate(topics)]
    questions = [f"What is the main idea of {subtopic}, and why?" for subtopic in subtopics]
    subtopic_step = Prompt("subtopics", SUBTOPICS)
    question_step = Prompt("question", QUESTION)
    answer_step = Prompt("answer", ANSWER)
    full = Prompt("full", ANSWER, Answer, system="Be exact.").set_workflow_params(max_tokens=512)
    full.set_tools([look_up]).set_generation(temperature=0.7, seed=3)
    full_plan = StepPlan(0, full, full.parameters(), False)
    full_tasks = [
        prepare_task(full_plan, {"question": q}, {}, (n, 1)) for n, q in enumerate(questions)
    ]

    def prepared() -> None:  # what the engine does per task: its workflow, then its key
        for n, question in enumerate(questions * (tasks // DISTINCT)):
            task = prepare_task(full_plan, {"question": question}, {}, (n, 1))
            task_key(task.workflow, "m", (n, 1), task.sampling)

    def built(question: str) -> Any:
        builder = WorkflowBuilder(question=question)
        builder.generative_step(id="draft", prompt="Draft: {{question}}", outputs=[Write.new("d")])
        builder.generative_step(id="final", prompt="Improve: {{d}}", outputs=[Write.new("f")])
        builder.flow([Edge(source="draft", target="final")])
        builder.set_return_value("f")
        builder.set_max_tokens(300)
        return builder.build()

    qa_questions = zip(subtopics, topics, strict=True)
    return {
        "qa_subtopics": timed([subtopic_step.create_workflow(topic=t) for t in topics], "m"),
        "qa_question": timed(
            [question_step.create_workflow(subtopic=s, topic=t) for s, t in qa_questions], "m"
        ),
        "qa_answer": timed([answer_step.create_workflow(question=q) for q in questions], "m"),
        "prompt_full": timed([t.workflow for t in full_tasks], "m", full_tasks[0].sampling),
        "builder": timed([built(q) for q in questions], "m"),
        "full_prepared": prepared,
    }


def one_round(tasks: int, repeats: int) -> dict[str, float]:
    """Microseconds of CPU per `task_key` call for each case (the best of `repeats`)."""
    found: dict[str, float] = {}
    for name, keys in cases(tasks).items():
        keys()  # warm-up: first calls fill whatever caches the code has
        gc.collect()
        gc.disable()
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            keys()
            best = min(best, time.process_time() - start)
        gc.enable()
        found[name] = best / (tasks // DISTINCT * DISTINCT) * 1e6
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000, help="keys per case")
    parser.add_argument("--repeats", type=int, default=5, help="timings per case per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tree", action="append", default=[], help="another checkout to run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tree = Path(args.tree[0])
        sys.path[:0] = [str(tree), str(ROOT / "cookbook")]
        print(json.dumps(one_round(args.tasks, args.repeats)))
        return
    trees = [str(ROOT), *args.tree]
    rounds: dict[str, list[dict[str, float]]] = {tree: [] for tree in trees}
    for number in range(1, args.rounds + 1):
        order = trees if number % 2 else trees[::-1]  # neither tree always runs first
        for tree in order:
            rounds[tree].append(_child_round(args, tree))
            figures = ", ".join(f"{k}={v:.2f}" for k, v in rounds[tree][-1].items())
            print(f"round {number} {tree}: {figures} us/key", flush=True)
    _print_medians(args, rounds)


def _print_medians(args: argparse.Namespace, rounds: dict[str, list[dict[str, float]]]) -> None:
    medians = {
        tree: {case: statistics.median(r[case] for r in done) for case in done[0]}
        for tree, done in rounds.items()
    }
    base = medians[args.tree[0] if args.tree else str(ROOT)]
    print(f"\nmedians of {args.rounds} rounds, {args.tasks} keys per case, us CPU per key:")
    print(f"{'case':<14}" + "".join(f"{tree[-24:]:>26}" for tree in medians))
    for case in base:
        cells = [f"{m[case]:8.2f} ({m[case] / base[case]:4.2f}x)" for m in medians.values()]
        print(f"{case:<14}" + "".join(f"{cell:>26}" for cell in cells))


def _child_round(args: argparse.Namespace, tree: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", "--tree", tree]
    command += ["--tasks", str(args.tasks), "--repeats", str(args.repeats)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


if __name__ == "__main__":
    main()
