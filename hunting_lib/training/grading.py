"""How the training course grades: the ``Verdict`` of an answer, the session's ``RESULTS``, and
reading sloppy answers (a single value or any collection, quoted, padded, in any case) before the
checkers compare them with the expected ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Verdict:
    """The grade of one answer: right or not, and what to look at next when not."""

    exercise: int
    correct: bool
    message: str

    def __str__(self) -> str:
        mark = "PASS" if self.correct else "TRY AGAIN"
        return f"[{mark}] Exercise {self.exercise}: {self.message}"


#: The latest verdict of each exercise in this Python session.
RESULTS: dict[int, Verdict] = {}


def _report(verdict: Verdict) -> Verdict:
    RESULTS[verdict.exercise] = verdict
    print(verdict)
    return verdict


class Unreadable(Exception):
    """The answer's shape is wrong (the message says what shape is expected)."""


def _is_missing(answer: Any) -> bool:
    if answer is None or answer is ...:
        return True
    return isinstance(answer, str) and answer.strip() == ""


def _items(answer: Any) -> list[Any]:
    """A single value or any collection (set, list, tuple, Series, array, dict keys) as a list."""
    if isinstance(answer, (str, bytes, int, np.integer)):
        return [answer]
    if isinstance(answer, pd.DataFrame):
        raise Unreadable("a DataFrame is not an answer; take the column you mean, e.g. frame['FileName']")
    if isinstance(answer, (pd.Series, pd.Index, np.ndarray)):
        return list(answer.tolist())
    if isinstance(answer, Iterable):
        return list(answer)
    return [answer]


def read_texts(answer: Any, what: str, allow_empty: bool = False) -> set[str]:
    """Text items, stripped of spaces and quotes and lower-cased."""
    out = set()
    for item in _items(answer):
        if not isinstance(item, str):
            raise Unreadable(f"expected {what} as text (a string, or a set/list of strings), got {item!r}")
        cleaned = item.strip().strip("'\"").strip().lower()
        if cleaned:
            out.add(cleaned)
    if not out and not allow_empty:
        raise Unreadable(f"the answer is empty; expected {what}")
    return out


def _whole(item: Any) -> int:
    if isinstance(item, (bool, np.bool_)):
        raise Unreadable(f"expected a whole number, got {item!r}")
    if isinstance(item, (int, np.integer)):
        return int(item)
    if isinstance(item, (float, np.floating)) and float(item).is_integer():
        return int(item)
    if isinstance(item, str) and item.strip().lstrip("+").isdigit():
        return int(item.strip())
    raise Unreadable(f"expected a whole number, got {item!r}")


def read_number(answer: Any) -> int:
    items = _items(answer)
    if len(items) != 1:
        raise Unreadable("expected one whole number")
    return _whole(items[0])


def read_numbers(answer: Any) -> set[int]:
    return {_whole(item) for item in _items(answer)}


def graded(number: int, answer: Any, grade: Callable[[Any], Verdict], what: str) -> Verdict:
    """Common frame of every checker: no answer yet, unreadable answers, then the real grading."""
    if _is_missing(answer):
        return _report(Verdict(number, False,
                               f"no answer yet: set answer_{number} to {what}, then run this cell again."))
    try:
        return _report(grade(answer))
    except Unreadable as exc:
        return _report(Verdict(number, False, f"{exc}. Expected {what}."))


def names_text(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def device_matches(given: str, device: str) -> bool:
    device = device.lower()
    return given in (device, device.split(".", 1)[0])


def same_devices(given: set[str], expected: set[str]) -> bool:
    """Every given name is one of the expected devices (FQDN or short host name), one each."""
    return len(given) == len(expected) and all(any(device_matches(g, e) for e in expected) for g in given)


GroupTriple = tuple[str, str, str]
_GROUP_COLUMNS = ["FileName", "ProcessCommandLine", "FolderPath"]
_GROUP_FORMS = ("a row of the rare-groups table (e.g. rare.loc[[3, 7]]), its TaskId, its GroupKey ('gk-...') "
                "or the exact (FileName, ProcessCommandLine, FolderPath) tuple")


def _triples_of(frame: pd.DataFrame) -> list[GroupTriple]:
    return [tuple(str(v) for v in row) for row in frame[_GROUP_COLUMNS].itertuples(index=False, name=None)]


def read_groups(answer: Any, reference: pd.DataFrame, what: str = "rare groups") -> set[GroupTriple]:
    """The exact (FileName, ProcessCommandLine, FolderPath) groups an answer names.

    Groups, never file names: ``CMD.EXE`` running an inventory script and ``cmd.exe`` running
    atexec's ``whoami`` are different groups, and grading by lower-cased file name once let a
    trainee who flagged the wrong one pass. An answer may be rows of a table (any frame with the
    three key columns, or with a ``TaskId``/``GroupKey`` column), one row (a Series), the exact
    key tuple, a GroupKey, a TaskId of ``reference`` (the table the exercise names), or a
    collection of those. A plain name is refused with a hint.
    """
    from hunting_lib.engine.group_key import group_keys

    keyed = reference if "GroupKey" in reference.columns else group_keys(reference)
    by_key = dict(zip(keyed["GroupKey"].astype(str), _triples_of(keyed)))
    by_task = dict(zip(keyed["TaskId"].astype(int), _triples_of(keyed))) if "TaskId" in keyed.columns else {}
    file_names = {str(n).lower() for n in reference["FileName"]}

    def one(item: Any) -> list[GroupTriple]:
        if isinstance(item, pd.DataFrame):
            if set(_GROUP_COLUMNS) <= set(item.columns):
                return _triples_of(item)
            for column in ("GroupKey", "TaskId"):
                if column in item.columns:
                    return [t for value in item[column] for t in one(value)]
            raise Unreadable(f"the table has no FileName, ProcessCommandLine and FolderPath columns; give {what} as "
                             f"{_GROUP_FORMS}")
        if isinstance(item, pd.Series):
            if set(_GROUP_COLUMNS) <= set(item.index):
                return [tuple(str(item[c]) for c in _GROUP_COLUMNS)]  # type: ignore[list-item]
            return [t for value in item.tolist() for t in one(value)]
        if isinstance(item, tuple) and len(item) == 3 and all(isinstance(v, str) for v in item) and not (
                item not in by_key.values() and all(v.strip().lower() in file_names for v in item)):
            return [item]  # type: ignore[list-item]
        if isinstance(item, (bool, np.bool_)):
            raise Unreadable(f"expected {what}, got {item!r}")
        if isinstance(item, (int, np.integer)) or (isinstance(item, str) and item.strip().isdigit()):
            task = int(item)
            if task not in by_task:
                raise Unreadable(f"no rare group has TaskId {task} in the table this exercise is about")
            return [by_task[task]]
        if isinstance(item, str):
            text = item.strip().strip("'\"").strip()
            if text.lower().startswith("gk-"):
                if text.lower() not in by_key:
                    raise Unreadable(f"no rare group has GroupKey {text!r} in the table this exercise is about")
                return [by_key[text.lower()]]
            if text.lower() in file_names:
                raise Unreadable(f"{text!r} is a file name, and a file name can name several groups (CMD.EXE and "
                                 f"cmd.exe, or three powershell.exe tasks, are different groups); give {_GROUP_FORMS}")
            raise Unreadable(f"{text!r} names no rare group; give {_GROUP_FORMS}")
        if isinstance(item, (dict, set, frozenset, list, tuple, np.ndarray, pd.Index)):
            values = item.keys() if isinstance(item, dict) else item
            return [t for value in values for t in one(value)]
        raise Unreadable(f"expected {what} as {_GROUP_FORMS}, got {item!r}")

    groups = set(one(answer))
    if not groups:
        raise Unreadable(f"the answer is empty; expected {what}")
    return groups


def groups_text(groups: Iterable[GroupTriple], limit: int = 3) -> str:
    """Groups for a hint: file name and the start of the command line, a few at most."""
    listed = sorted(groups)
    shown = [f"{name} ({command[:60]}{'...' if len(command) > 60 else ''})" for name, command, _ in listed[:limit]]
    more = len(listed) - limit
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
