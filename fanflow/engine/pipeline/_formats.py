"""`PipelineResult.to_format()`: rows in the shapes TRL trainers expect.

- "sft": `messages`, a list of {"role", "content"} (system, user, assistant);
- "prompt_completion": `prompt` and `completion`;
- "preference": `prompt`, `chosen` and `rejected`.
The last two are plain text, or with `conversational=True` lists of messages. Columns are
named (`prompt="question"`), or inferred where that is unambiguous: the completion is the
final step, `chosen` / `rejected` are columns of those names, and the prompt is the final
step's one text input left (in a chain topic -> question -> answer, `question`), else the
one column left; when several are left, a ConfigurationError asks for `prompt=`. A row
whose column is missing or not text is never dropped silently: it is a ConfigurationError
naming the rows, or, with `on_invalid="skip"`, left out with a warning naming them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fanflow._exceptions import ConfigurationError
from fanflow._redact import get_logger

if TYPE_CHECKING:
    import datasets

__all__ = ["FORMAT_KINDS", "FormatColumns", "FormattedRows", "to_format"]

logger = get_logger("fanflow.formats")  # redacts known secrets, like every fanflow logger

FORMAT_KINDS = {
    "sft": ("messages",),
    "prompt_completion": ("prompt", "completion"),
    "preference": ("prompt", "chosen", "rejected"),
}
SHOWN_PROBLEMS = 5  # rows named in an error or warning; the rest are counted
LINEAGE = "_lineage"

Message = dict[str, str]


@dataclass(frozen=True, slots=True)
class FormatColumns:
    """Which row column feeds each part of the format (None: not used)."""

    prompt: str
    completion: str | None = None
    chosen: str | None = None
    rejected: str | None = None
    system: str | None = None

    def used(self) -> list[str]:
        named = (self.system, self.prompt, self.completion, self.chosen, self.rejected)
        return [column for column in named if column is not None]


def to_format(
    rows: Iterable[dict[str, Any]],
    kind: str,
    leaf: str,
    named: dict[str, str | None],
    conversational: bool,
    on_invalid: str,
    leaf_inputs: Sequence[str] = (),
) -> datasets.Dataset:
    """The rows mapped to `kind`, as a `datasets.Dataset` (see the module docstring);
    `leaf_inputs`: the final step's text inputs, where the prompt is looked for first."""
    _check(kind, on_invalid)
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return _empty(kind)
    columns = _columns(kind, first, leaf, named, leaf_inputs)
    problems: list[str] = []
    mapped = _mapped(_chain(first, iterator), kind, columns, conversational, problems)
    dataset = _dataset(mapped, kind)
    _report(problems, dataset.num_rows + len(problems), on_invalid)
    return dataset


class FormattedRows:
    """The rows mapped to `kind`, read again from the start on each call (what `save()`
    streams from, so no list of rows is held). Rows that cannot be mapped are left out
    and listed in `problems` (of the last pass; `total` counts every row read), or with
    `on_invalid="raise"` fail the pass once it has read every row."""

    def __init__(
        self,
        rows: Callable[[], Iterator[dict[str, Any]]],
        kind: str,
        leaf: str,
        named: dict[str, str | None],
        conversational: bool,
        on_invalid: str,
        leaf_inputs: Sequence[str] = (),
    ) -> None:
        _check(kind, on_invalid)
        self._rows, self._kind, self._leaf, self._named = rows, kind, leaf, named
        self._leaf_inputs = leaf_inputs
        self._conversational, self._on_invalid = conversational, on_invalid
        self.problems: list[str] = []
        self.total = 0

    def __call__(self) -> Iterator[dict[str, Any]]:
        self.problems, self.total = [], 0
        iterator = self._rows()
        first = next(iterator, None)
        if first is None:
            return
        columns = _columns(self._kind, first, self._leaf, self._named, self._leaf_inputs)
        rows = _chain(first, iterator)
        for row in _mapped(rows, self._kind, columns, self._conversational, self.problems):
            self.total += 1
            yield row
        self.total += len(self.problems)
        if self._on_invalid == "raise":
            _report(self.problems, self.total, "raise")

    def describe_problems(self) -> str:
        """How many rows were left out, and the first of them."""
        return f"{len(self.problems)} of {self.total} rows: {_listing(self.problems)}"


def _check(kind: str, on_invalid: str) -> None:
    if kind not in FORMAT_KINDS:
        raise ConfigurationError(
            f"unknown format {kind!r}; use one of {', '.join(map(repr, FORMAT_KINDS))}"
        )
    if on_invalid not in ("raise", "skip"):
        raise ConfigurationError(f"on_invalid={on_invalid!r}; use 'raise' or 'skip'")


def _columns(
    kind: str,
    first: dict[str, Any],
    leaf: str,
    named: dict[str, str | None],
    leaf_inputs: Sequence[str],
) -> FormatColumns:
    available = [column for column in first if column != LINEAGE]
    if kind == "preference":
        chosen = named.get("chosen") or ("chosen" if "chosen" in available else None)
        rejected = named.get("rejected") or ("rejected" if "rejected" in available else None)
        if chosen is None or rejected is None:
            raise ConfigurationError(
                "to_format('preference') needs the columns of the chosen and rejected "
                f"answers: pass chosen=... and rejected=... (columns: {', '.join(available)})"
            )
        answers: dict[str, str | None] = {"chosen": chosen, "rejected": rejected}
    else:
        answers = {"completion": named.get("completion") or leaf, "system": named.get("system")}
    prompt = named.get("prompt") or _prompt(available, leaf, leaf_inputs, answers.values())
    if prompt is None:
        raise ConfigurationError(
            f"to_format({kind!r}) cannot tell which column is the prompt: pass prompt=... "
            f"(columns: {', '.join(available)})"
        )
    columns = FormatColumns(prompt, **answers)
    for column in columns.used():
        if column not in available:
            raise ConfigurationError(
                f"to_format({kind!r}): the rows have no column {column!r}; "
                f"they have {', '.join(available)}"
            )
    return columns


def _prompt(
    available: list[str], leaf: str, leaf_inputs: Sequence[str], taken: Iterable[str | None]
) -> str | None:
    """The final step's one text input not used otherwise, else the one column left."""
    used = {leaf, *taken}
    for candidates in (leaf_inputs, available):
        left = [column for column in candidates if column in available and column not in used]
        if len(left) == 1:
            return left[0]
    return None


def _mapped(
    rows: Iterator[dict[str, Any]],
    kind: str,
    columns: FormatColumns,
    conversational: bool,
    problems: list[str],
) -> Iterator[dict[str, Any]]:
    for index, row in enumerate(rows):
        texts, problem = _texts(row, columns)
        if problem is not None:
            lineage = ".".join(map(str, row.get(LINEAGE) or ()))
            problems.append(f"row {index} (lineage {lineage or '-'}): {problem}")
            continue
        yield _shape(kind, texts, columns, conversational)


def _texts(row: dict[str, Any], columns: FormatColumns) -> tuple[dict[str, str], str | None]:
    texts: dict[str, str] = {}
    for column in columns.used():
        value = row.get(column)
        if not isinstance(value, str):
            what = "missing" if value is None else f"not text ({type(value).__name__})"
            return texts, f"column {column!r} is {what}"
        texts[column] = value
    return texts, None


def _shape(
    kind: str, texts: dict[str, str], columns: FormatColumns, conversational: bool
) -> dict[str, Any]:
    prompt = texts[columns.prompt]
    if kind == "sft":
        system = [_message("system", texts[columns.system])] if columns.system else []
        answer = _message("assistant", texts[str(columns.completion)])
        return {"messages": [*system, _message("user", prompt), answer]}
    parts = ("completion",) if kind == "prompt_completion" else ("chosen", "rejected")
    answers = {part: texts[str(getattr(columns, part))] for part in parts}
    if not conversational:
        return {"prompt": prompt, **answers}
    chat = {name: [_message("assistant", text)] for name, text in answers.items()}
    return {"prompt": [_message("user", prompt)], **chat}


def _message(role: str, content: str) -> Message:
    return {"role": role, "content": content}


def _dataset(rows: Iterator[dict[str, Any]], kind: str) -> datasets.Dataset:
    import datasets
    import pyarrow as pa

    from fanflow.engine.pipeline._arrow import arrow_tables

    tables = list(arrow_tables(rows))
    if not tables:
        return _empty(kind)
    return datasets.Dataset(pa.concat_tables(tables, promote_options="default"))


def _empty(kind: str) -> datasets.Dataset:
    import datasets

    return datasets.Dataset.from_dict({column: [] for column in FORMAT_KINDS[kind]})


def _report(problems: list[str], total: int, on_invalid: str) -> None:
    if not problems:
        return
    listing = _listing(problems)
    if on_invalid == "skip":
        logger.warning("to_format skipped %d of %d rows: %s", len(problems), total, listing)
        return
    raise ConfigurationError(
        f"{len(problems)} of {total} rows cannot be mapped: {listing}. Name the columns to "
        "use (prompt=..., completion=...), or pass on_invalid='skip' to leave them out"
    )


def _listing(problems: list[str]) -> str:
    shown = "; ".join(problems[:SHOWN_PROBLEMS])
    more = len(problems) - SHOWN_PROBLEMS
    return shown + (f"; and {more} more" if more > 0 else "")


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest
