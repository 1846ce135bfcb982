"""The collector is tuned only while runs last, and restored after the last one."""

from __future__ import annotations

import gc

from fanflow.engine._gc import YOUNG_THRESHOLD, relaxed_gc


def test_threshold_is_raised_during_runs_and_restored_after_the_last() -> None:
    before = gc.get_threshold()
    with relaxed_gc():
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
        assert gc.get_freeze_count() > 0
        with relaxed_gc():  # a second concurrent run
            pass
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_disabled_leaves_the_collector_alone() -> None:
    before = gc.get_threshold()
    with relaxed_gc(enabled=False):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
