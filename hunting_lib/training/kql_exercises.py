"""Exercises 11-13: KQL the trainee writes, run locally with duckdb-kql and compared row by row.

- 11: the published steps 1-4 with the case rules fixed (``=~``, ``!~``, ``in~`` where letter
  case must not matter), returning the rare groups;
- 12: each ``ScheduledTaskCreated`` registration with its device, task name and the account
  that registered it;
- 13: the published steps 1-4 over a time window (the sample's last seven days, half-open).

Expected rows come from the kit's own code (``engine.kql_ops`` operators, ``engine.rarity``,
``tasks.registrations``), never from duckdb-kql: the trainee's query and the kit are two
independent answers that must agree. The answer is compared as a set of exact tuples of the
exercise's key columns (``CMD.EXE`` and ``cmd.exe`` are different groups); a mismatch names how
many rows are missing and extra, with examples, and a hint when it matches a known mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from hunting_lib.engine.kql_ops import equals_ci, equals_cs, in_ci, in_cs, startswith_ci
from hunting_lib.engine.query import seed_literals
from hunting_lib.engine.rarity import GROUP_KEYS, find_rare_tasks, scheduled_task_starts
from hunting_lib.params import HuntParams
from hunting_lib.tasks.registrations import CREATED, registration_rows, task_events_from_tables
from hunting_lib.training.data import exercise_data
from hunting_lib.training.grading import Unreadable, Verdict, graded
from hunting_lib.training.kql_sandbox import KqlRun, run_kql

Row = tuple[str, ...]
REGISTRATION_KEYS = ["DeviceName", "TaskName", "RegisteredBy"]
WHAT = "a KQL query as text (answer_{n} = \"\"\"...\"\"\")"
#: Examples shown per side of a mismatch, and the characters shown of each value.
EXAMPLES, VALUE_CHARS = 3, 60


@dataclass(frozen=True)
class NotGraded(Verdict):
    """Valid KQL the local engine cannot run: not wrong, just not gradable here."""

    def __str__(self) -> str:
        return f"[NOT GRADED] Exercise {self.exercise}: {self.message}"


# --------------------------------------------------------------------------------------------
# Expected rows, and the rows of the usual mistakes (for hints)


def _starts(processes: pd.DataFrame, parent: str = "ci", scanner: str = "ci", shells: str = "ci",
            mask: np.ndarray | None = None) -> pd.DataFrame:
    """Steps 1-3, each case rule chosen: ``ci`` ignores case (=~, !~, in~), ``cs`` is the
    published operator (==, !=, in)."""
    seed = seed_literals()
    p = processes if mask is None else processes.loc[mask]
    names = p["FileName"]
    same = {"ci": equals_ci, "cs": equals_cs}
    kept = same[parent](p["InitiatingProcessFileName"], seed.parent_file_name)
    kept &= same[parent](p["InitiatingProcessCommandLine"], seed.parent_command_line)
    kept &= ~same[scanner](names, seed.excluded_file_name)
    is_shell = (in_ci if shells == "ci" else in_cs)(names, seed.shells)
    kept &= ~startswith_ci(p["FolderPath"], seed.system_folder_prefix) | is_shell
    return p.loc[kept]


def _rare(starts: pd.DataFrame, below: int | None = None, at_most: int | None = None) -> set[Row]:
    """Step 4 as tuples: groups with ``count_ < below`` (or ``<= at_most``)."""
    counts = starts.groupby(GROUP_KEYS, sort=False, dropna=False, observed=True).size()
    keep = counts < below if at_most is None else counts <= at_most
    return {tuple(str(v) for v in key) for key in counts[keep].index}


def _rows(frame: pd.DataFrame, keys: list[str]) -> set[Row]:
    return set(frame[keys].astype(str).itertuples(index=False, name=None))


def expected_11(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The rare groups of steps 1-4 with letter case ignored where it should be."""
    d = exercise_data(data_dir)
    starts = _starts(d.processes)
    counts = starts.groupby(GROUP_KEYS, sort=False, observed=True).size().rename("count_").reset_index()
    return counts[counts["count_"] < seed_literals().threshold].reset_index(drop=True)


def _mistakes_11(data_dir: str | Path | None) -> list[tuple[set[Row], str]]:
    d = exercise_data(data_dir)
    p, below = d.processes, seed_literals().threshold
    return [
        (_rare(_starts(p, parent="cs", scanner="cs", shells="cs"), below),
         "this is the published query's answer, case rules unchanged: == on the parent, != on MpCmdRun.exe"),
        (_rare(_starts(p, parent="cs"), below),
         "the groups you miss were started by a Schedule service written '-s schedule': compare the parent's "
         "command line with =~, not =="),
        (_rare(_starts(p, scanner="cs"), below),
         "FileName != \"MpCmdRun.exe\" keeps 'mpcmdrun.exe': drop Defender's scanner with !~"),
        (_rare(_starts(p, shells="cs"), below),
         "the four shells are matched ignoring case: use in~ (a System32 'CMD.EXE' is cmd.exe too)"),
        (_rare(_starts(p), at_most=below),
         f"a group seen {below} times is not rare: keep count_ < {below}, not <= {below}"),
        (_rare(_starts(p), below=10**12),
         f"the groups seen {below} times or more are still there: end with | where count_ < {below}"),
    ]


@dataclass(frozen=True)
class Window:
    """Exercise 13's time window: ``start`` inclusive, ``end`` exclusive (whole UTC days)."""

    start: pd.Timestamp
    end: pd.Timestamp

    @staticmethod
    def literal(stamp: pd.Timestamp) -> str:
        """A KQL datetime literal, with the fraction (to Kusto's 100 ns ticks) when there is one."""
        stamp = stamp.tz_convert("UTC") if stamp.tzinfo else stamp
        ticks = (stamp.value % 10**9) // 100
        fraction = f".{ticks:07d}".rstrip("0") if ticks else ""
        return f"datetime({stamp.strftime('%Y-%m-%dT%H:%M:%S')}{fraction}Z)"

    @property
    def start_kql(self) -> str:
        return self.literal(self.start)

    @property
    def end_kql(self) -> str:
        return self.literal(self.end)

    def __str__(self) -> str:
        return f"Timestamp >= {self.start_kql} and Timestamp < {self.end_kql}"


def window_13(data_dir: str | Path | None = None, days: int = 7) -> Window:
    """The data's last ``days`` whole days: from midnight ``days`` days before the day after the
    last process event, to that midnight."""
    times = exercise_data(data_dir).processes["Timestamp"]
    end = times.max().tz_convert("UTC").floor("D") + pd.Timedelta(days=1)
    return Window(end - pd.Timedelta(days=days), end)


def _published_in(data_dir: str | Path | None, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    """The published steps 1-4 with ``HuntParams``' window (inclusive at both ends)."""
    d = exercise_data(data_dir)
    params = HuntParams.published(start=start, end=end)
    return find_rare_tasks(scheduled_task_starts(d.processes, params), params)


def expected_13(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The published rare groups of launches at or after ``start`` and before ``end``."""
    w = window_13(data_dir)
    # HuntParams' window is inclusive (KQL's between); one nanosecond less makes it half-open
    rare = _published_in(data_dir, w.start, w.end - pd.Timedelta(1, "ns"))
    return rare[GROUP_KEYS + ["Count"]].rename(columns={"Count": "count_"})


def _mistakes_13(data_dir: str | Path | None) -> list[tuple[set[Row], str]]:
    d, w = exercise_data(data_dir), window_13(data_dir)
    times, below = d.processes["Timestamp"], seed_literals().threshold
    day = pd.Timedelta(days=1)
    return [
        (_rows(_published_in(data_dir, w.start, w.end), GROUP_KEYS),
         f"the window's end is exclusive: Timestamp < {w.end_kql} (between and <= also count a launch at the end)"),
        (_rows(_published_in(data_dir, None, None), GROUP_KEYS),
         "that is the whole data set: filter Timestamp to the window before counting"),
        (_rows(_published_in(data_dir, w.start - day, w.end - pd.Timedelta(1, "ns")), GROUP_KEYS),
         f"the window starts at {w.start_kql}, a day later than yours"),
        (_rare(_starts(d.processes, mask=((times >= w.start) & (times < w.end)).to_numpy()), below),
         "exercise 13 asks for the published steps as published (== on the parent, != on MpCmdRun.exe), "
         "only windowed"),
    ]


def expected_12(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Each ``ScheduledTaskCreated`` event: device, task name and who registered it, read with the
    kit's own parser (``RegisteredBy``: the Subject account of the event, else the process's)."""
    d = exercise_data(data_dir)
    registrations = task_events_from_tables(d.tables).registrations
    created = registrations[registrations["ActionType"].eq(CREATED).to_numpy()]
    return registration_rows(created)[REGISTRATION_KEYS].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Comparing a result with the expected rows


def _short(row: Row) -> str:
    cut = [v if len(v) <= VALUE_CHARS else v[:VALUE_CHARS - 1] + "…" for v in row]
    return "(" + ", ".join(repr(v) for v in cut) + ")"


def _examples(rows: set[Row]) -> str:
    shown = sorted(rows)[:EXAMPLES]
    return "; ".join(_short(r) for r in shown) + (" ..." if len(rows) > EXAMPLES else "")


def result_rows(run: KqlRun, keys: list[str]) -> tuple[set[Row], int]:
    """The result's key columns as exact text tuples, and how many rows repeat a tuple.

    Raises ``Unreadable`` naming a missing column (and a near miss in another letter case)."""
    frame = run.frame
    columns = [str(c) for c in frame.columns]
    for key in keys:
        if key not in columns:
            near = [c for c in columns if c.lower() == key.lower()]
            said = (f"it has {near[0]!r}: column names are case-sensitive" if near
                    else "it has " + ", ".join(columns[:8]) + (" ..." if len(columns) > 8 else ""))
            raise Unreadable(f"the result has no column {key!r} ({said}); the exercise needs {', '.join(keys)}")
    values = frame[keys].astype(object).where(frame[keys].notna(), "").astype(str)
    tuples = list(values.itertuples(index=False, name=None))
    return set(tuples), len(tuples) - len(set(tuples))


def _case_hint(missing: set[Row], extra: set[Row]) -> str | None:
    lowered = {tuple(v.lower() for v in r) for r in missing}
    if any(tuple(v.lower() for v in r) in lowered for r in extra):
        return ("some rows differ from the expected ones only in letter case: group and return the columns as "
                "they are (tolower() is for comparing, not for the result)")
    return None


def explain(number: int, given: set[Row], expected: set[Row], mistakes: list[tuple[set[Row], str]],
            what_rows: str, otherwise: str = "") -> Verdict:
    """``[PASS]`` when the sets agree, else what is missing and extra, and a hint: the known
    mistake whose rows account for the whole mismatch (the closest one), else ``otherwise``."""
    missing, extra = expected - given, given - expected
    if not missing and not extra:
        return Verdict(number, True, f"your query returns exactly the {len(expected)} expected {what_rows}.")
    parts = [f"{len(missing)} of the {len(expected)} expected {what_rows} missing, {len(extra)} extra"]
    if missing:
        parts.append(f"missing e.g. {_examples(missing)}")
    if extra:
        parts.append(f"extra e.g. {_examples(extra)}")
    # a mistake explains the answer when every missing row is one it loses and every extra row
    # one it adds; of those, the one whose rows are closest to the answer
    explaining = [(len(given ^ rows), hint) for rows, hint in mistakes
                  if rows != expected and missing <= expected - rows and extra <= rows - expected]
    hints = [min(explaining)[1]] if explaining else []
    case = _case_hint(missing, extra)
    if case:
        hints.insert(0, case)
    if not hints and otherwise:
        hints.append(otherwise)
    if hints:
        parts.append("Hint: " + "; also, ".join(hints))
    return Verdict(number, False, ". ".join(parts) + ".")


def _run(number: int, answer: Any, data_dir: str | Path | None) -> KqlRun | Verdict:
    """The trainee's query run, or the verdict that says why it could not be compared."""
    if not isinstance(answer, str):
        raise Unreadable(f"expected the query as text, got {type(answer).__name__}")
    run = run_kql(answer, data_dir)
    note = f" ({run.notes[0]})" if run.notes else ""
    if run.kind == "unsupported":
        return NotGraded(number, False, f"{run.problem}. Your query may well be right; it cannot be run here, so it "
                                        f"is not graded. Write it with operators the local engine knows{note}.")
    if run.kind == "syntax":
        return Verdict(number, False, f"the query is not valid KQL: {run.problem}{note}.")
    if run.kind == "error":
        return Verdict(number, False, f"the query did not run: {run.problem}{note}.")
    if run.truncated:
        return Verdict(number, False, f"the result has more than {len(run.frame)} rows: the exercise wants a few "
                                      "rows; finish the query (a where, a summarize) before comparing.")
    return run


def _check_groups(number: int, answer: Any, data_dir: str | Path | None, expected: pd.DataFrame,
                  mistakes: Callable[[], list[tuple[set[Row], str]]], otherwise: str) -> Verdict:
    def grade(answer: Any) -> Verdict:
        run = _run(number, answer, data_dir)
        if isinstance(run, Verdict):
            return run
        given, repeated = result_rows(run, GROUP_KEYS)
        if repeated:
            return Verdict(number, False, f"{repeated} rows repeat a group: return one row per (FileName, "
                                          "ProcessCommandLine, FolderPath), e.g. | summarize count() by the three.")
        return explain(number, given, _rows(expected, GROUP_KEYS), mistakes(), "rare groups", otherwise)

    return graded(number, answer, grade, WHAT.format(n=number))


def check_11(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """Steps 1-4 with case-insensitive operators where case must not matter: the rare groups
    (columns FileName, ProcessCommandLine, FolderPath; more columns are fine)."""
    return _check_groups(11, answer, data_dir, expected_11(data_dir), lambda: _mistakes_11(data_dir),
                         "go through the steps one by one: each text test ignores case (=~, !~, in~; startswith "
                         "already does), the counting is by the three columns as they are, and count_ < 3 stays")


def check_13(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The published steps 1-4 over ``window_13``: the rare groups (FileName, ProcessCommandLine,
    FolderPath)."""
    w = window_13(data_dir)
    return _check_groups(13, answer, data_dir, expected_13(data_dir), lambda: _mistakes_13(data_dir),
                         f"check the window: Timestamp >= {w.start_kql} and Timestamp < {w.end_kql}, on "
                         "DeviceProcessEvents before the summarize, then the published steps unchanged")


def _account_forms(accounts: pd.Series) -> pd.DataFrame:
    """``domain\\name`` and ``name`` alone, lower case: either names the account."""
    full = accounts.astype(str).str.strip().str.lstrip("\\").str.lower()
    return pd.DataFrame({"full": full, "name": full.str.rsplit("\\", n=1).str[-1]})


def _normalise_accounts(given: set[Row], expected: pd.DataFrame) -> set[Row]:
    """The trainee's rows with an account that names the expected one (any case, domain or not)
    written as the expected row writes it."""
    forms = _account_forms(expected["RegisteredBy"])
    accepted = {}
    for (device, task, written), full, name in zip(expected.itertuples(index=False, name=None),
                                                   forms["full"], forms["name"]):
        accepted[(device, task, full)] = accepted[(device, task, name)] = written
    out = set()
    for device, task, account in given:
        text = account.strip().lstrip("\\").lower()
        out.add((device, task, accepted.get((device, task, text), account)))
    return out


def check_12(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """Each ScheduledTaskCreated event with DeviceName, TaskName and RegisteredBy (the account
    that registered the task; domain\\name or name, any case)."""
    expected = expected_12(data_dir)

    def grade(answer: Any) -> Verdict:
        run = _run(12, answer, data_dir)
        if isinstance(run, Verdict):
            return run
        rows, _ = result_rows(run, REGISTRATION_KEYS)
        given = _normalise_accounts(rows, expected)
        wanted = _rows(expected, REGISTRATION_KEYS)
        keyed = {r[:2] for r in wanted}
        other_account = {r for r in given - wanted if r[:2] in keyed}
        otherwise = ("one row per ScheduledTaskCreated event, TaskName as AdditionalFields holds it"
                     if not other_account else "")
        verdict = explain(12, given, wanted, _mistakes_12(data_dir), "registrations", otherwise)
        if other_account and not verdict.correct:
            hint = (f" {len(other_account)} of your rows name the right task with another account: the account "
                    "of the process that wrote the task is not always the caller (a task registered over the "
                    "network is written by the Schedule service as SYSTEM); AdditionalFields' SubjectDomainName "
                    "and SubjectUserName name the caller.")
            return Verdict(12, False, verdict.message + hint)
        return verdict

    return graded(12, answer, grade, WHAT.format(n=12))


def _mistakes_12(data_dir: str | Path | None) -> list[tuple[set[Row], str]]:
    d = exercise_data(data_dir)
    registrations = task_events_from_tables(d.tables).registrations
    every = registration_rows(registrations)[REGISTRATION_KEYS]
    return [(_rows(every, REGISTRATION_KEYS),
             "list only ActionType == \"ScheduledTaskCreated\" (Updated and Deleted are later events of a task)")]


CHECKERS: dict[int, Callable[..., Verdict]] = {11: check_11, 12: check_12, 13: check_13}


# --------------------------------------------------------------------------------------------
# Model answers and scaffolds (the notebook prints them; the literals come from the seed and the data)


def _steps(parent_op: str, scanner_op: str, shells_op: str, window: str = "") -> str:
    seed = seed_literals()
    shells = ", ".join(f'"{s}"' for s in seed.shells)
    return "\n".join([
        "DeviceProcessEvents",
        *([f"| where {window}"] if window else []),
        f'| where InitiatingProcessFileName {parent_op} @"{seed.parent_file_name}"',
        f'| where InitiatingProcessCommandLine {parent_op} @"{seed.parent_command_line}"',
        f'| where FileName {scanner_op} @"{seed.excluded_file_name}"',
        f'| where FolderPath !startswith @"{seed.system_folder_prefix}" or FileName {shells_op} ({shells})',
        "| summarize count() by FileName, ProcessCommandLine, FolderPath",
        f"| where count_ < {seed.threshold}",
    ])


_MODEL_12 = "\n".join([
    "DeviceEvents",
    '| where ActionType == "ScheduledTaskCreated"',
    "| extend Fields = parse_json(AdditionalFields)",
    "| extend TaskName = tostring(Fields.TaskName), Caller = tostring(Fields.SubjectUserName)",
    "| extend RegisteredBy = iff(isempty(Caller),",
    '    strcat(InitiatingProcessAccountDomain, @"\\", InitiatingProcessAccountName),',
    '    strcat(tostring(Fields.SubjectDomainName), @"\\", Caller))',
    "| project Timestamp, DeviceName, TaskName, RegisteredBy",
])

_SCAFFOLD_12 = "\n".join([
    "DeviceEvents",
    '| where ActionType == "..."',
    "| extend Fields = parse_json(...)",
    "| extend TaskName = tostring(Fields....), Caller = tostring(Fields....)",
    "| extend RegisteredBy = iff(isempty(Caller), ..., strcat(..., @\"\\\", Caller))",
    "| project DeviceName, TaskName, RegisteredBy",
])


def model_kql(number: int, data_dir: str | Path | None = None) -> str:
    """The model answer of exercise 11, 12 or 13 (13's window comes from the data)."""
    if number == 11:
        return _steps("=~", "!~", "in~")
    if number == 12:
        return _MODEL_12
    if number == 13:
        return _steps("==", "!=", "in~", window=str(window_13(data_dir)))
    raise KeyError(f"no KQL exercise {number} (they are 11, 12 and 13)")


def scaffold_kql(number: int, data_dir: str | Path | None = None) -> str:
    """The query's skeleton with ``...`` where the trainee decides."""
    seed = seed_literals()
    if number == 11:
        return "\n".join([
            "DeviceProcessEvents",
            f'| where InitiatingProcessFileName ... @"{seed.parent_file_name}"',
            f'| where InitiatingProcessCommandLine ... @"{seed.parent_command_line}"',
            f'| where FileName ... @"{seed.excluded_file_name}"',
            f'| where FolderPath !startswith @"{seed.system_folder_prefix}" or FileName ... ("cmd.exe", ...)',
            "| summarize count() by ...",
            "| where ...",
        ])
    if number == 12:
        return _SCAFFOLD_12
    if number == 13:
        w = window_13(data_dir)
        return "\n".join([
            "DeviceProcessEvents",
            f"| where Timestamp ... {w.start_kql} and Timestamp ... {w.end_kql}",
            "| ...  // the published steps 1-4, as published",
        ])
    raise KeyError(f"no KQL exercise {number} (they are 11, 12 and 13)")
