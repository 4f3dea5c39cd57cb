"""How long the training course takes, part by part.

The course is cut into parts a trainee can finish in one sitting of 20-30 minutes. Each part
starts with a markdown heading ``# Part N: title`` and says its time on the next line
(``*About 25 minutes.*``); the opening cell states the total. The closing cells, from the heading
``# After the course`` on (the Monday checklist, the answer key, references), are for afterwards
and belong to no part. Those figures come from
``part_estimates``, and a test checks that the notebook says what the estimate says, so adding an
exercise without re-planning the parts fails a test instead of silently overrunning the day.

The estimate is a reading and exercise model, calibrated on the one dry run we have: issue 17's
trainee took 2.5 to 3 hours for the first course (3,340 words of text, 129 lines of code outside
the solutions, 10 exercises). With 100 words a minute for careful technical reading, four lines
of code a minute for reading and running them, and 10 minutes per exercise (tries, hints,
re-tries), that course comes to 165 minutes, the middle of the measured range.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd

#: Words of markdown a new analyst reads per minute, carefully (technical text, with the data beside it).
READING_WORDS_PER_MINUTE = 100
#: Lines of code (outside the hidden solutions) read, run and looked at per minute.
CODE_LINES_PER_MINUTE = 4
#: Minutes per exercise: reading the question, first try, the hint, the second try.
MINUTES_PER_EXERCISE = 10
#: A part a trainee finishes in one sitting.
PART_MINUTES = (20, 30)

_PART = re.compile(r"^# Part (\d+): (.+)$", re.MULTILINE)
#: The closing cells (checklist, answer key, references) are for after the last sitting.
_CLOSING = re.compile(r"^# After the course\b", re.MULTILINE)
_STATED = re.compile(r"\*About (\d+) minutes\.\*")
_TOTAL = re.compile(r"\*\*Time\*\* \| about (\d+) h (\d+) min")
_EXERCISE = re.compile(r"^answer_\d+ = None\b", re.MULTILINE)


def notebook_path() -> Path:
    """The course notebook (the package's notebooks folder points at the checkout's)."""
    return Path(__file__).resolve().parents[1] / "notebooks" / "training_rare_scheduled_tasks.ipynb"


def _code_lines(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


def part_estimates(path: str | Path | None = None) -> pd.DataFrame:
    """One row per part: its words, code lines and exercises, the estimated minutes, and the
    minutes its heading states."""
    notebook = nbformat.read(str(path or notebook_path()), as_version=4)
    rows: list[dict] = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and _CLOSING.search(cell.source):
            break
        heading = _PART.search(cell.source) if cell.cell_type == "markdown" else None
        if heading:
            stated = _STATED.search(cell.source)
            rows.append({"part": int(heading.group(1)), "title": heading.group(2).strip(), "words": 0,
                         "code_lines": 0, "exercises": 0, "stated_minutes": int(stated.group(1)) if stated else None})
        if not rows:
            continue  # the opening cells before Part 1 are the course's cover
        row = rows[-1]
        if cell.cell_type == "markdown":
            row["words"] += len(cell.source.split())
        elif "solution" not in cell.metadata.get("tags", []):
            row["code_lines"] += _code_lines(cell.source)
            row["exercises"] += len(_EXERCISE.findall(cell.source))
    frame = pd.DataFrame(rows, columns=["part", "title", "words", "code_lines", "exercises", "stated_minutes"])
    frame["minutes"] = (frame["words"] / READING_WORDS_PER_MINUTE + frame["code_lines"] / CODE_LINES_PER_MINUTE
                        + frame["exercises"] * MINUTES_PER_EXERCISE).round().astype(int)
    return frame


def stated_total_minutes(path: str | Path | None = None) -> int | None:
    """The total the opening cell states (``**Time** | about H h M min``), in minutes."""
    notebook = nbformat.read(str(path or notebook_path()), as_version=4)
    found = _TOTAL.search(notebook.cells[0].source)
    return int(found.group(1)) * 60 + int(found.group(2)) if found else None


def course_plan(path: str | Path | None = None) -> pd.DataFrame:
    """The parts with their estimated minutes, for the trainee to plan sittings."""
    frame = part_estimates(path)
    return frame.set_index("part")[["title", "exercises", "minutes"]]
