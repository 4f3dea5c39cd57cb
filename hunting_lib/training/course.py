"""The training notebook's library, ``training_rare_scheduled_tasks.ipynb``: one import for it all.

The notebook stays thin: it tells the story and calls these functions. It imports this module
(``from hunting_lib.training import course as training``); the code lives in modules by topic:

- ``lessons``: teaching helpers: the seed KQL cut into its steps (``kql_step``), a copy of the
  data as an export whose ``InitiatingProcessFolderPath`` holds only the folder
  (``folder_only_export``), the rare groups that left no activity (``rare_groups_without_activity``),
  the exclusion rules as a table, and a throw-away rule for the "why not contains" lesson
  (``naive_rule``);
- ``data``: which data folder the checkers grade against (``use_data``), its answer key
  (``scenarios.yaml``, read by ``load_answer_key``) and the facts the exercises are about;
- ``answers``: the expected answer of each exercise (``expected_1`` ... ``expected_10``), computed
  from the answer key and the data, never typed in: regenerate the sample with another seed and
  the checkers follow;
- ``grading``: the ``Verdict`` of an answer, the session's ``RESULTS``, reading sloppy answers;
- ``checks``: one checker per exercise of the query's mechanics, ``check_1`` ... ``check_10``. Each
  grades the trainee's answer, prints a ``Verdict`` (with a hint when the answer is wrong), records
  it in ``RESULTS`` and returns it; ``summary`` (here) says which exercises are passed;
- ``kql_sandbox`` and ``kql_exercises``: exercises 11-13, whose answers are KQL the trainee writes,
  run with duckdb-kql on the data and compared row by row (``run_kql``, ``check_11`` ...);
- ``triage_practice`` and ``triage_track``: exercises 14-20, one finding walked from rare group to
  verdict, the hand-off's dry run and the exported rule, in a throw-away history;
- ``pacing``: the minutes of each part of the course (``course_plan``).

Answers that name rare groups are read per group (``grading.read_groups``), never by file name.
The course pins its own date (``pin_today``), so its answers do not change as rules expire.

Every checker takes ``data_dir``; None means the folder chosen with ``use_data`` (by default the
kit's ``sample_data``).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Callable

from hunting_lib import clock
from hunting_lib.training import checks, kql_exercises, triage_track
from hunting_lib.training.answers import (
    VEEAM_WHY,
    default_rules,
    expected_1,
    expected_2,
    expected_3,
    expected_4,
    expected_5,
    expected_6,
    expected_7,
    expected_8,
    expected_9,
    expected_10,
    why_choices,
)
from hunting_lib.training.checks import (
    check_1,
    check_2,
    check_3,
    check_4,
    check_5,
    check_6,
    check_7,
    check_8,
    check_9,
    check_10,
)
from hunting_lib.training.data import (
    ANSWER_KEY_FILE,
    ExerciseData,
    answer_key_table,
    exercise_data,
    load_answer_key,
    use_data,
)
from hunting_lib.training.grading import RESULTS, Verdict, read_groups
from hunting_lib.training.kql_exercises import (
    NotGraded,
    Window,
    check_11,
    check_12,
    check_13,
    expected_11,
    expected_12,
    expected_13,
    model_kql,
    scaffold_kql,
    window_13,
)
from hunting_lib.training.kql_sandbox import KqlRun, run_kql
from hunting_lib.training.lessons import (
    KQL_STEPS,
    NAIVE_RULE,
    exclusion_rules_table,
    folder_only_export,
    kql_step,
    kql_steps,
    naive_rule,
    rare_groups_without_activity,
    shipped_rules,
)
from hunting_lib.training.pacing import course_plan
from hunting_lib.training.triage_practice import (
    definitions_table,
    detection_groups,
    expected_14,
    expected_15,
    expected_16,
    expected_17,
    expected_18,
    expected_19,
    expected_20,
    export_rule_dry_run,
    genuine_program,
    handoff_dry_run,
    practice_history,
    practice_hunt,
    practice_verdicts,
    record_practice_verdict,
    track_groups,
    track_hunt,
    watchlist_preview,
    write_findings,
)
from hunting_lib.training.triage_track import check_14, check_15, check_16, check_17, check_18, check_19, check_20

__all__ = [
    "ANSWER_KEY_FILE", "CHECKERS", "KQL_STEPS", "NAIVE_RULE", "RESULTS", "VEEAM_WHY", "ExerciseData", "Verdict",
    "course_today", "pin_today", "read_groups", "why_choices", "course_plan",
    "check_11", "check_12", "check_13", "expected_11", "expected_12", "expected_13", "model_kql", "scaffold_kql",
    "window_13", "Window", "NotGraded", "KqlRun", "run_kql",
    "check_14", "check_15", "check_16", "check_17", "check_18", "check_19", "check_20", "expected_14",
    "expected_15", "expected_16", "expected_17", "expected_18", "expected_19", "expected_20", "definitions_table", "detection_groups",
    "export_rule_dry_run", "genuine_program", "handoff_dry_run", "practice_history", "practice_hunt",
    "practice_verdicts", "record_practice_verdict", "track_groups", "track_hunt", "watchlist_preview",
    "write_findings",
    "answer_key_table", "check_1", "check_2", "check_3", "check_4", "check_5", "check_6", "check_7", "check_8",
    "check_9", "check_10", "default_rules", "exclusion_rules_table", "exercise_data", "expected_1", "expected_2",
    "expected_3", "expected_4", "expected_5", "expected_6", "expected_7", "expected_8", "expected_9",
    "expected_10", "folder_only_export", "kql_step", "kql_steps", "load_answer_key", "naive_rule",
    "rare_groups_without_activity", "shipped_rules", "summary", "use_data",
]


#: Every exercise's checker, by number: the query's mechanics (1-10), KQL the trainee writes and
#: the triage track.
CHECKERS: dict[int, Callable[..., Verdict]] = {**checks.CHECKERS, **kql_exercises.CHECKERS, **triage_track.CHECKERS}


def course_today(data_dir: str | Path | None = None) -> dt.date:
    """The course's "today": the day the sample's window ends (its answer key says when)."""
    window_end = str(load_answer_key(data_dir)["window"]["end"])
    return dt.datetime.fromisoformat(window_end.replace("Z", "+00:00")).date()


def pin_today(today: str | dt.date | None = None, data_dir: str | Path | None = None) -> dt.date:
    """Pin the kit's clock for this kernel to the course's date, so that rule expiry, verdict
    expiry and everything the exercises compute behave the same in any year. ``None`` takes the
    sample's own date (``course_today``)."""
    if today is None:
        date = course_today(data_dir)
    elif isinstance(today, dt.date):
        date = today
    else:
        date = dt.date.fromisoformat(str(today).strip())
    os.environ[clock.PIN_VARIABLE] = date.isoformat()
    return clock.today()


def summary() -> dict[int, bool]:
    """Print and return which exercises have been passed in this session."""
    passed = {n: RESULTS[n].correct if n in RESULTS else False for n in sorted(CHECKERS)}
    done = sum(passed.values())
    print(f"Exercises passed: {done}/{len(passed)}"
          + ("" if done == len(passed) else
             "; still open: " + ", ".join(str(n) for n, ok in passed.items() if not ok)))
    return passed
