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
