"""The progress display counts every task event and stays off where it cannot be seen."""

from __future__ import annotations

from fanflow.engine._progress import ProgressDisplay
from fanflow.steps import TaskResult, TaskStatus


def result(status: TaskStatus) -> TaskResult:
    return TaskResult("step", (0,), {}, {}, status=status)


def test_counts_created_running_done_and_failed_per_step() -> None:
    display = ProgressDisplay(["a", "b"], enabled=False)
    for _ in range(3):
        display.event("created", 1, None)
        display.event("started", 1, None)
    display.event("finished", 1, result(TaskStatus.OK))
    display.event("finished", 1, result(TaskStatus.TIMED_OUT))
    counts = display.counts[1]
    assert (counts.created, counts.running, counts.done, counts.failed) == (3, 1, 2, 1)
    assert display.counts[0].created == 0


def test_is_off_when_not_asked_for_or_not_on_a_terminal() -> None:
    assert not ProgressDisplay(["a"], enabled=False).enabled
    # pytest captures stderr, so this is not a terminal even when asked for.
    assert not ProgressDisplay(["a"], enabled=True).enabled
