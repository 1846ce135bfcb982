"""What a run returns: rows with lineage, failures, stats, a Dataset and saved files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import orjson
import pytest

from fanflow import ConfigurationError, PipelineResult, StepResults, Usage
from fanflow.steps import TaskResult, TaskStatus


def _result(step: str, lineage: tuple[int, ...], **fields: Any) -> TaskResult:
    fields.setdefault("inputs", {})
    fields.setdefault("context", {})
    return TaskResult(step=step, lineage=lineage, **fields)


def _two_step_run(wall_time_s: float = 2.0) -> PipelineResult:
    """`subtopics` (one ok, one failed) scattered into `question` (two ok, one timed out)."""
    subtopics = StepResults(
        "subtopics",
        [
            _result(
                "subtopics",
                (0,),
                inputs={"topic": "physics"},
                result='["optics", "gravity"]',
                usage=Usage(10, 5),
                requests=1,
            ),
            _result(
                "subtopics",
                (1,),
                inputs={"topic": "chemistry"},
                status=TaskStatus.FAILED,
                error="provider said no",
                requests=3,
            ),
        ],
    )
    context = {"topic": "physics", "subtopics": '["optics", "gravity"]'}
    question = StepResults(
        "question",
        [
            _result(
                "question",
                (0, 0),
                inputs={"subtopic": "optics"},
                context=context,
                result="Why is the sky blue?",
                usage=Usage(7, 3),
                requests=1,
            ),
            _result(
                "question",
                (0, 1),
                inputs={"subtopic": "gravity"},
                context=context,
                status=TaskStatus.TIMED_OUT,
                error="task took longer than 1s",
                requests=1,
            ),
            _result(
                "question",
                (0, 2),
                inputs={"subtopic": "gravity"},
                context=context,
                result="Why do apples fall?",
                usage=Usage(8, 4),
                requests=2,
            ),
        ],
    )
    return PipelineResult([subtopics, question], wall_time_s)


# -- StepResults --------------------------------------------------------------------------


def test_step_results_split_ok_and_failed_and_list_inputs() -> None:
    step = _two_step_run().steps["question"]

    assert [r.lineage for r in step.ok] == [(0, 0), (0, 2)]
    assert step.output == step.ok
    assert [r.lineage for r in step.failures] == [(0, 1)]
    assert step.inputs == [{"subtopic": "optics"}, {"subtopic": "gravity"}, {"subtopic": "gravity"}]


def test_steps_are_keyed_by_name_in_pipeline_order() -> None:
    assert list(_two_step_run().steps) == ["subtopics", "question"]


# -- rows ---------------------------------------------------------------------------------


def test_rows_come_only_from_ok_results_of_the_final_step() -> None:
    rows = _two_step_run().rows

    assert [row["question"] for row in rows] == ["Why is the sky blue?", "Why do apples fall?"]


def test_a_row_holds_ancestor_context_inputs_result_by_step_name_and_lineage() -> None:
    row = _two_step_run().rows[0]

    assert row == {
        "topic": "physics",
        "subtopics": '["optics", "gravity"]',
        "subtopic": "optics",
        "question": "Why is the sky blue?",
        "_lineage": [0, 0],
    }


def test_duplicate_rows_are_kept_apart_by_their_lineage() -> None:
    same = {"inputs": {"q": "x"}, "result": "same answer"}
    result = PipelineResult(
        [StepResults("answer", [_result("answer", (0,), **same), _result("answer", (1,), **same)])],
        1.0,
    )

    assert [row["_lineage"] for row in result.rows] == [[0], [1]]


# -- failures -----------------------------------------------------------------------------


def test_failures_gather_non_ok_results_of_every_step_with_their_error() -> None:
    failures = _two_step_run().failures

    assert [(f.task_id, f.status, f.error) for f in failures] == [
        ("subtopics/1", TaskStatus.FAILED, "provider said no"),
        ("question/0.1", TaskStatus.TIMED_OUT, "task took longer than 1s"),
    ]


def test_a_run_without_failures_has_none() -> None:
    result = PipelineResult([StepResults("answer", [_result("answer", (0,), result="a")])], 1.0)

    assert result.failures == []


# -- stats --------------------------------------------------------------------------------


def test_stats_count_every_status_including_zeros() -> None:
    stats = _two_step_run().stats

    assert stats.tasks == {"ok": 3, "failed": 1, "timed_out": 1, "skipped": 0}


def test_stats_count_statuses_per_step() -> None:
    stats = _two_step_run().stats

    assert stats.steps == {
        "subtopics": {"ok": 1, "failed": 1},
        "question": {"ok": 2, "timed_out": 1},
    }


def test_stats_sum_usage_and_requests_of_all_results() -> None:
    stats = _two_step_run().stats

    assert stats.usage == Usage(prompt_tokens=25, completion_tokens=12)
    assert stats.requests == 8


def test_requests_per_second_divides_requests_by_wall_time() -> None:
    stats = _two_step_run(wall_time_s=2.0).stats

    assert stats.wall_time_s == 2.0
    assert stats.requests_per_s == pytest.approx(4.0)


def test_requests_per_second_is_zero_when_no_time_passed() -> None:
    assert _two_step_run(wall_time_s=0.0).stats.requests_per_s == 0.0


def test_repr_shows_rows_and_task_counts() -> None:
    text = repr(_two_step_run())

    assert text.startswith("PipelineResult(rows=2, tasks={")
    assert "'timed_out': 1" in text


# -- to_dataset ---------------------------------------------------------------------------


def test_to_dataset_holds_the_rows() -> None:
    result = _two_step_run()

    dataset = result.to_dataset()

    assert isinstance(dataset, datasets.Dataset)
    assert dataset.to_list() == result.rows


def test_to_dataset_keeps_columns_that_the_first_row_lacks() -> None:
    result = PipelineResult(
        [
            StepResults(
                "answer",
                [
                    _result("answer", (0,), inputs={"q": "a"}, result="1"),
                    _result("answer", (1,), inputs={"q": "b", "hint": "h"}, result="2"),
                ],
            )
        ],
        1.0,
    )

    dataset = result.to_dataset()

    assert set(dataset.column_names) == {"q", "hint", "answer", "_lineage"}
    assert dataset["hint"] == [None, "h"]


def test_to_dataset_of_a_run_without_rows_is_empty() -> None:
    result = PipelineResult([StepResults("answer")], 1.0)

    assert len(result.to_dataset()) == 0


# -- save ---------------------------------------------------------------------------------


def test_save_jsonl_writes_one_json_row_per_line(tmp_path: Path) -> None:
    result = _two_step_run()

    written = result.save(tmp_path / "out.jsonl")

    assert written == tmp_path / "out.jsonl"
    lines = written.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == result.rows


def test_save_parquet_round_trips_through_datasets(tmp_path: Path) -> None:
    result = _two_step_run()

    written = result.save(tmp_path / "out.parquet")

    loaded = datasets.Dataset.from_parquet(str(written), cache_dir=str(tmp_path / "cache"))
    assert isinstance(loaded, datasets.Dataset)
    assert loaded.to_list() == result.rows


def test_save_creates_missing_parent_directories(tmp_path: Path) -> None:
    written = _two_step_run().save(str(tmp_path / "a" / "b" / "out.jsonl"))

    assert written.is_file()


@pytest.mark.parametrize("name", ["out.csv", "out.json"])
def test_save_rejects_other_suffixes_without_creating_anything(tmp_path: Path, name: str) -> None:
    target = tmp_path / "new" / name

    with pytest.raises(ConfigurationError, match=r"use \.parquet, \.arrow or \.jsonl"):
        _two_step_run().save(target)
    assert not (tmp_path / "new").exists()
