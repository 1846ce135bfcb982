"""Stopping gently: on the first cancellation, requests already sent are answered and saved.

Ctrl-C in `Pipeline.run()` cancels the run's task (asyncio's own SIGINT handling), as does
a caller cancelling `execute(drain=...)`. With a grace period, that first cancellation
only stops dispatching: the requests already on the wire get up to `grace` seconds to
come back, their answers are saved, and then the run stops as cancelled (so it is
recorded as interrupted and `run()` raises `KeyboardInterrupt`). A second cancellation
(a second Ctrl-C) stops at once. Without a grace period a cancellation stops at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fanflow._redact import get_logger

__all__ = ["run_draining"]

logger = get_logger("fanflow.run")


async def run_draining(
    run: Callable[[], Awaitable[None]],
    stop: Callable[[], int],
    grace: float | None,
) -> None:
    """Await `run()`; on cancellation call `stop()` (it returns the tasks still running)
    and give them `grace` seconds before cancelling them too."""
    if grace is None:
        await run()
        return
    task = asyncio.ensure_future(run())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await _drain(task, stop(), grace)
        raise


async def _drain(task: asyncio.Future[None], in_flight: int, grace: float) -> None:
    logger.warning(
        "stopping: no new tasks are sent; waiting up to %gs for the %d in flight to be "
        "answered and saved (interrupt again to stop at once)",
        grace,
        in_flight,
    )
    try:
        await asyncio.wait({task}, timeout=grace)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            logger.warning("while stopping, the run failed: %r", task.exception())
