"""Helpers and exercise checkers for the training notebook ``training_rare_scheduled_tasks.ipynb``.

The notebook stays thin: it tells the story and calls these functions. Two kinds live here:

- teaching helpers: the seed KQL cut into its steps (``kql_step``), a copy of the data as an
  export whose ``InitiatingProcessFolderPath`` holds only the folder (``folder_only_export``), the
  rare groups that left no activity (``rare_groups_without_activity``), the exclusion rules as a
  table, and a throw-away rule for the "why not contains" lesson (``naive_rule``);
- one checker per exercise, ``check_1`` ... ``check_10``. Each grades the trainee's answer against
  the answer key of the synthetic data (``scenarios.yaml``, read by ``load_answer_key``) and the
  data itself, so the expected answer is computed, never typed in: regenerate the sample with
  another seed and the checkers follow. Each prints a ``Verdict`` (with a hint when the answer is
  wrong), records it in ``RESULTS`` and returns it.

Every checker takes ``data_dir``; None means the folder chosen with ``use_data`` (by default the
kit's ``sample_data``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import yaml

from hunting_lib import clock
from hunting_lib.engine.addresses import ip_kind
from hunting_lib.engine.columns import hunt_columns
from hunting_lib.engine.correlate import task_activity_rows
from hunting_lib.engine.loader import DataFolder, load_data_folder
from hunting_lib.engine.query import seed_kql, seed_literals
from hunting_lib.engine.rarity import GROUP_KEYS, find_rare_tasks, scheduled_task_starts
from hunting_lib.params import HuntParams
from hunting_lib.result import HuntResult
from hunting_lib.schema import PROCESS_TABLE
from hunting_lib.triage.exclusions import DEFAULT_EXCLUSIONS, ExclusionRule, parse_exclusions

ANSWER_KEY_FILE = "scenarios.yaml"

# --------------------------------------------------------------------------------------------
# Where the checkers read the data

_REPO_SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
_data_dir: Path = _REPO_SAMPLE if _REPO_SAMPLE.is_dir() else Path("sample_data")


def use_data(data_dir: str | Path) -> Path:
    """Make ``data_dir`` the folder every checker grades against (unless given its own)."""
    global _data_dir
    folder = Path(data_dir)
    if not (folder / ANSWER_KEY_FILE).is_file():
        raise FileNotFoundError(f"{folder}: no {ANSWER_KEY_FILE} (the answer key of the synthetic data)")
    _data_dir = folder
    return folder


def data_dir_in_use() -> Path:
    """The folder the checkers grade against when they are not given one."""
    return _data_dir


def load_answer_key(data_dir: str | Path | None = None) -> dict[str, Any]:
    """The answer key written by ``hunting_lib.sample.generator``: the planted scenarios and how they were made."""
    folder = Path(data_dir) if data_dir is not None else _data_dir
    return yaml.safe_load((folder / ANSWER_KEY_FILE).read_text(encoding="utf-8"))


def answer_key_table(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The planted scenarios as a table, one row each (for reading after the exercises)."""
    rows = []
    for s in load_answer_key(data_dir)["scenarios"]:
        devices = s.get("devices") or [s.get("device")]
        rows.append({"id": s["id"], "kind": s["kind"], "FileName": s["FileName"], "runs": s["runs"],
                     "Devices": devices, "seed_reports_it": s["seed_reports_it"], "title": s["title"]})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Teaching helpers

#: The seed query's steps, each named and found by the first line it starts with. A step runs
#: up to the line before the next step; the first one takes the query's opening ``let`` with it.
KQL_STEPS: dict[str, str] = {
    "1 started by the Task Scheduler": r"^let RunningScheduledTasks = materialize\($",
    "2 drop Defender's scans": r"^\| where FileName != ",
    "3 outside System32, or a shell": r"^\| where FolderPath !startswith ",
    "4 count and keep the rare": r"^\| summarize count\(\) by ",
    "5 lower-cased lists of the rare": r"^\| summarize$",
    "6 find their activity": r"^union ",
    "7 summarise per process": r"^\| sort by Timestamp desc$",
}


def kql_steps() -> dict[str, str]:
    """The seed KQL cut into ``KQL_STEPS``, each a slice of ``seed_kql()``'s own lines."""
    lines = seed_kql().rstrip("\n").split("\n")
    starts = []
    for name, pattern in KQL_STEPS.items():
        found = [i for i, line in enumerate(lines) if re.match(pattern, line)]
        if len(found) != 1:
            raise ValueError(f"seed KQL: step {name!r} should start on one line matching {pattern!r}, "
                             f"found {len(found)}")
        starts.append(found[0])
    if starts != sorted(starts) or starts[0] != 0:
        raise ValueError("seed KQL: the steps are no longer in the expected order")
    ends = starts[1:] + [len(lines)]
    return {name: "\n".join(lines[a:b]) for name, a, b in zip(KQL_STEPS, starts, ends)}


def kql_step(number: int) -> str:
    """The KQL text of step ``number`` (1-7), sliced from the published query."""
    steps = list(kql_steps().values())
    if not 1 <= number <= len(steps):
        raise ValueError(f"there are {len(steps)} steps, numbered 1 to {len(steps)}")
    return steps[number - 1]


def _tables_of(data: DataFolder | dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return dict(data.tables) if isinstance(data, DataFolder) else dict(data)


def folder_only_export(data: DataFolder | dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """A copy of the tables as some exports deliver them: ``InitiatingProcessFolderPath`` holds
    the folder (``C:\\Windows\\System32``) instead of the full path of the program."""
    out = {}
    for table, frame in _tables_of(data).items():
        if "InitiatingProcessFolderPath" in frame.columns:
            folder = frame["InitiatingProcessFolderPath"].astype(object).map(
                lambda p: p.rsplit("\\", 1)[0] if isinstance(p, str) and "\\" in p else p)
            frame = frame.assign(InitiatingProcessFolderPath=folder)
        out[table] = frame
    return out


def _lowered_keys(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return pd.Series(list(zip(*(frame[c].astype(str).str.lower() for c in columns))), index=frame.index)


def rare_groups_without_activity(result: HuntResult) -> pd.DataFrame:
    """Rare groups that the seed's last step finds no event for (so its output never shows them).

    Compared as the seed compares: lower-cased name, command line and folder path of the
    initiating process. Meaningful for ``match="seed"`` results.
    """
    rare = result.rare_tasks
    rows = result.activity_rows
    seen = set(_lowered_keys(rows, ["InitiatingProcessFileName", "InitiatingProcessCommandLine",
                                    "InitiatingProcessFolderPath"]))
    quiet = ~_lowered_keys(rare, GROUP_KEYS).isin(seen)
    columns = [c for c in ["TaskId", *GROUP_KEYS, "Count", "Devices"] if c in rare.columns]
    return rare.loc[quiet, columns].reset_index(drop=True)


def exclusion_rules_table(path: str | None = None) -> pd.DataFrame:
    """Every rule of an exclusions file (the shipped one by default), enabled or not, as a table."""
    if path is None:
        text = resources.files("hunting_lib").joinpath(DEFAULT_EXCLUSIONS).read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return pd.DataFrame([{
        "id": r.id, "enabled": r.enabled, "owner": r.owner, "expires": r.expires.isoformat(),
        "when": "; ".join(f"{c.field} {c.operator} {' | '.join(c.values)}" for c in r.conditions),
        "reason": r.reason,
    } for r in parse_exclusions(text, path or DEFAULT_EXCLUSIONS)])


def naive_rule(field: str, operator: str, value: str, rule_id: str = "naive-rule") -> ExclusionRule:
    """A one-condition exclusion rule, for showing what a careless rule would hide. Not for use."""
    document = {"rules": [{
        "id": rule_id, "description": f"{field} {operator} {value}", "reason": "training example",
        "owner": "training", "expires": "2099-12-31", "when": {field: {operator: value}}}]}
    return parse_exclusions(yaml.safe_dump(document), "naive rule")[0]


#: The naive rule of exercise 10: "quiet the updaters".
NAIVE_RULE = ("FolderPath", "contains", "update")


# --------------------------------------------------------------------------------------------
# Verdicts


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


def summary() -> dict[int, bool]:
    """Print and return which exercises have been passed in this session."""
    passed = {n: RESULTS[n].correct if n in RESULTS else False for n in sorted(CHECKERS)}
    done = sum(passed.values())
    print(f"Exercises passed: {done}/{len(passed)}"
          + ("" if done == len(passed) else
             "; still open: " + ", ".join(str(n) for n, ok in passed.items() if not ok)))
    return passed


# --------------------------------------------------------------------------------------------
# Reading sloppy answers


class _Unreadable(Exception):
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
        raise _Unreadable("a DataFrame is not an answer; take the column you mean, e.g. frame['FileName']")
    if isinstance(answer, (pd.Series, pd.Index, np.ndarray)):
        return list(answer.tolist())
    if isinstance(answer, Iterable):
        return list(answer)
    return [answer]


def _texts(answer: Any, what: str, allow_empty: bool = False) -> set[str]:
    """Text items, stripped of spaces and quotes and lower-cased."""
    out = set()
    for item in _items(answer):
        if not isinstance(item, str):
            raise _Unreadable(f"expected {what} as text (a string, or a set/list of strings), got {item!r}")
        cleaned = item.strip().strip("'\"").strip().lower()
        if cleaned:
            out.add(cleaned)
    if not out and not allow_empty:
        raise _Unreadable(f"the answer is empty; expected {what}")
    return out


def _whole(item: Any) -> int:
    if isinstance(item, (bool, np.bool_)):
        raise _Unreadable(f"expected a whole number, got {item!r}")
    if isinstance(item, (int, np.integer)):
        return int(item)
    if isinstance(item, (float, np.floating)) and float(item).is_integer():
        return int(item)
    if isinstance(item, str) and item.strip().lstrip("+").isdigit():
        return int(item.strip())
    raise _Unreadable(f"expected a whole number, got {item!r}")


def _number(answer: Any) -> int:
    items = _items(answer)
    if len(items) != 1:
        raise _Unreadable("expected one whole number")
    return _whole(items[0])


def _numbers(answer: Any) -> set[int]:
    return {_whole(item) for item in _items(answer)}


def _grade(number: int, answer: Any, grade: Callable[[Any], Verdict], what: str) -> Verdict:
    """Common frame of every checker: no answer yet, unreadable answers, then the real grading."""
    if _is_missing(answer):
        return _report(Verdict(number, False,
                               f"no answer yet: set answer_{number} to {what}, then run this cell again."))
    try:
        return _report(grade(answer))
    except _Unreadable as exc:
        return _report(Verdict(number, False, f"{exc}. Expected {what}."))


def _names_text(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


# --------------------------------------------------------------------------------------------
# The facts the checkers grade against, computed once per data folder


class ExerciseData:
    """One data folder's answer key and the hunts the exercises are about, computed lazily."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @cached_property
    def key(self) -> dict[str, Any]:
        return load_answer_key(self.folder)

    @cached_property
    def scenarios(self) -> list[dict[str, Any]]:
        return list(self.key["scenarios"])

    def scenario(self, scenario_id: str) -> dict[str, Any]:
        for s in self.scenarios:
            if s["id"] == scenario_id:
                return s
        raise KeyError(f"{self.folder / ANSWER_KEY_FILE}: no scenario {scenario_id!r}")

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [s for s in self.scenarios if s["kind"] == kind]

    @staticmethod
    def group(s: dict[str, Any]) -> tuple[str, str, str]:
        return tuple(s[k] for k in GROUP_KEYS)  # type: ignore[return-value]

    @staticmethod
    def devices(s: dict[str, Any]) -> list[str]:
        return list(s.get("devices") or [s["device"]])

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(load_data_folder(self.folder, columns=hunt_columns()).tables)

    @property
    def processes(self) -> pd.DataFrame:
        return self.tables[PROCESS_TABLE]

    @cached_property
    def starts(self) -> pd.DataFrame:
        """Steps 1-3 with the seed's own parameters."""
        return scheduled_task_starts(self.processes, HuntParams(exclusions=None))

    @cached_property
    def rare(self) -> pd.DataFrame:
        """Step 4 with the seed's threshold."""
        return find_rare_tasks(self.starts, HuntParams(exclusions=None))

    @cached_property
    def rare_one_device(self) -> pd.DataFrame:
        """Step 4 with ``max_devices=1``."""
        return find_rare_tasks(self.starts, HuntParams(exclusions=None, max_devices=1))

    @cached_property
    def seed_rows(self) -> pd.DataFrame:
        """The seed's activity rows (its last step before the summary)."""
        return task_activity_rows(self.tables, self.rare, HuntParams(exclusions=None))

    def rare_groups(self, rare: pd.DataFrame | None = None) -> set[tuple[str, str, str]]:
        frame = self.rare if rare is None else rare
        return set(frame[GROUP_KEYS].itertuples(index=False, name=None))

    def starts_of(self, s: dict[str, Any]) -> pd.DataFrame:
        """The scenario's task starts that steps 1-3 kept."""
        key = self.group(s)
        mask = np.ones(len(self.starts), dtype=bool)
        for column, value in zip(GROUP_KEYS, key):
            mask &= (self.starts[column] == value).to_numpy()
        return self.starts.loc[mask]

    def step_counts(self) -> dict[str, int]:
        """How many rows steps 1-3 keep when done with one of the usual mistakes (for hints)."""
        seed = seed_literals()
        p = self.processes
        svchost = (p["InitiatingProcessFileName"] == seed.parent_file_name).to_numpy()
        parent_cs = svchost & (p["InitiatingProcessCommandLine"] == seed.parent_command_line).to_numpy()
        parent_lower = p["InitiatingProcessCommandLine"].str.lower()
        parent_ci = svchost & (parent_lower == seed.parent_command_line.lower()).to_numpy()
        names = p["FileName"].astype(str)
        scanner_cs = (names == seed.excluded_file_name).to_numpy()
        scanner_ci = (names.str.lower() == seed.excluded_file_name.lower()).to_numpy()
        outside = ~p["FolderPath"].astype(str).str.lower().str.startswith(seed.system_folder_prefix.lower()).to_numpy()
        shell = names.str.lower().isin([s.lower() for s in seed.shells]).to_numpy()
        return {
            "step 1 only": int(parent_cs.sum()),
            "steps 1-2 only": int((parent_cs & ~scanner_cs).sum()),
            "parent matched ignoring case": int((parent_ci & ~scanner_cs & (outside | shell)).sum()),
            "MpCmdRun dropped ignoring case": int((parent_cs & ~scanner_ci & (outside | shell)).sum()),
            "shells not kept": int((parent_cs & ~scanner_cs & outside).sum()),
            "System32 prefix compared with case": int((parent_cs & ~scanner_cs & (
                ~p["FolderPath"].astype(str).str.startswith(seed.system_folder_prefix).to_numpy() | shell)).sum()),
        }


@lru_cache(maxsize=8)
def _exercise_data(folder: str, stamp: int) -> ExerciseData:
    return ExerciseData(Path(folder))


def exercise_data(data_dir: str | Path | None = None) -> ExerciseData:
    """The (cached) facts of a data folder; a regenerated folder is read again."""
    folder = Path(data_dir) if data_dir is not None else _data_dir
    key_file = folder / ANSWER_KEY_FILE
    if not key_file.is_file():
        raise FileNotFoundError(f"{folder}: no {ANSWER_KEY_FILE}; the checkers need the answer key of the data")
    return _exercise_data(str(folder.resolve()), key_file.stat().st_mtime_ns)


# --------------------------------------------------------------------------------------------
# The expected answers, each computed from the answer key and the data


def _case_only_parent(d: ExerciseData) -> list[dict[str, Any]]:
    parent = seed_literals().parent_command_line
    return [s for s in d.scenarios
            if s.get("launched_by") != parent and str(s.get("launched_by", "")).lower() == parent.lower()]


def _network_rows(d: ExerciseData, report_ids: Iterable[int]) -> pd.DataFrame:
    network = d.tables["DeviceNetworkEvents"]
    return network[network["ReportId"].isin(list(report_ids))]


def default_rules(include_expired: bool = True) -> list[ExclusionRule]:
    """The shipped rules that are enabled (expired ones too unless told otherwise)."""
    text = resources.files("hunting_lib").joinpath(DEFAULT_EXCLUSIONS).read_text("utf-8")
    today = clock.today()
    return [r for r in parse_exclusions(text, DEFAULT_EXCLUSIONS)
            if r.enabled and (include_expired or r.expires >= today)]


def _covering_rules(starts: pd.DataFrame, rules: Iterable[ExclusionRule]) -> list[str]:
    """Ids of the rules that match every one of ``starts``, in file order."""
    if starts.empty:
        return []
    return [r.id for r in rules if bool(r.matches(starts).all())]


def expected_1(data_dir: str | Path | None = None) -> int:
    """Exercise 1: Task Scheduler starts that survive the seed's steps 1-3."""
    return len(exercise_data(data_dir).starts)


def expected_2(data_dir: str | Path | None = None) -> set[str]:
    """Exercise 2: FileNames of the planted malicious tasks that the seed's step 4 keeps."""
    d = exercise_data(data_dir)
    rare = d.rare_groups()
    return {s["FileName"] for s in d.of_kind("malicious") if d.group(s) in rare}


def expected_3(data_dir: str | Path | None = None) -> set[str]:
    """Exercise 3: the public IPs the encoded PowerShell task connected to."""
    d = exercise_data(data_dir)
    s = d.scenario("mal-encoded-powershell")
    ips = _network_rows(d, s["report_ids"].get("DeviceNetworkEvents", []))["RemoteIP"]
    return {ip for ip in ips if ip_kind(ip) == "public"}


def expected_4(data_dir: str | Path | None = None) -> set[str]:
    """Exercise 4: devices of the malicious tasks that only ``max_devices=1`` keeps."""
    d = exercise_data(data_dir)
    by_devices = d.rare_one_device[d.rare_one_device["RareBy"] == "devices"]
    kept = {key: devices for key, devices in zip(by_devices[GROUP_KEYS].itertuples(index=False, name=None),
                                                  by_devices["Devices"])}
    return {device for s in d.of_kind("malicious") if d.group(s) in kept for device in kept[d.group(s)]}


def expected_5(data_dir: str | Path | None = None) -> set[str]:
    """Exercise 5: FileNames of the rare groups the seed keeps but finds no activity for."""
    d = exercise_data(data_dir)
    seen = set(_lowered_keys(d.seed_rows, ["InitiatingProcessFileName", "InitiatingProcessCommandLine",
                                           "InitiatingProcessFolderPath"]))
    quiet = ~_lowered_keys(d.rare, GROUP_KEYS).isin(seen)
    return set(d.rare.loc[quiet, "FileName"])


def expected_6(data_dir: str | Path | None = None) -> set[int]:
    """Exercise 6: ReportIds of the encoded PowerShell task's network events, its descendants' included."""
    d = exercise_data(data_dir)
    return set(d.scenario("mal-encoded-powershell")["report_ids"].get("DeviceNetworkEvents", []))


def expected_7(data_dir: str | Path | None = None) -> set[str]:
    """Exercise 7: devices where a non-task process shares a rare task's strings, so that the seed
    attaches its events to the task."""
    d = exercise_data(data_dir)
    rare = d.rare_groups()
    parent_file = seed_literals().parent_file_name.lower()
    lookalikes = [s for s in d.scenarios if not str(s.get("launched_by", "")).lower().startswith(parent_file)
                  and d.group(s) in rare]
    seed_devices = set(d.seed_rows["DeviceName"])
    return {device for s in lookalikes for device in d.devices(s) if device in seed_devices}


def expected_8(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Exercise 8: the scenarios whose Schedule service command line differs from the seed's only
    in case, and which are therefore missing from steps 1-3."""
    d = exercise_data(data_dir)
    return [s for s in _case_only_parent(d) if d.starts_of(s).empty]


def expected_9(data_dir: str | Path | None = None) -> set[str]:
    """Exercise 9: the shipped rule(s) that suppress every run of the Veeam backup task."""
    d = exercise_data(data_dir)
    return set(_covering_rules(d.starts_of(d.scenario("fp-backup-veeam")), default_rules()))


def expected_10(data_dir: str | Path | None = None) -> set[str]:
    """Exercise 10: FileNames of the malicious tasks the naive 'FolderPath contains update' rule would
    suppress (every run matches it)."""
    d = exercise_data(data_dir)
    rule = naive_rule(*NAIVE_RULE)
    return {s["FileName"] for s in d.of_kind("malicious") if _covering_rules(d.starts_of(s), [rule])}


# --------------------------------------------------------------------------------------------
# The checkers


def _device_matches(given: str, device: str) -> bool:
    device = device.lower()
    return given in (device, device.split(".", 1)[0])


def _same_devices(given: set[str], expected: set[str]) -> bool:
    """Every given name is one of the expected devices (FQDN or short host name), one each."""
    return len(given) == len(expected) and all(any(_device_matches(g, e) for e in expected) for g in given)


def check_1(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """How many Task Scheduler starts survive the seed's steps 1-3 (a whole number)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        value = _number(answer)
        counts = {**d.step_counts(), "right": expected_1(data_dir)}
        if value == counts["right"]:
            return Verdict(1, True, f"{value} starts survive steps 1-3: the Schedule service's children, "
                                    "without Defender's scans, outside System32 or one of the four shells.")
        hints = {
            "step 1 only": "that is the count after step 1 alone; apply the MpCmdRun.exe and folder filters too.",
            "steps 1-2 only": "that is the count after steps 1 and 2; step 3 still drops System32 programs "
                              "that are not one of the four shells.",
            "parent matched ignoring case": "the parent command line test is ==, which is case-sensitive: "
                                            "'-s schedule' does not match '-s Schedule'.",
            "MpCmdRun dropped ignoring case": "FileName != \"MpCmdRun.exe\" is case-sensitive, so 'mpcmdrun.exe' "
                                              "is kept.",
            "shells not kept": "step 3 keeps cmd, powershell, rundll32 and regsvr32 even from System32 "
                               "(the 'or FileName =~' part).",
            "System32 prefix compared with case": "!startswith ignores case: 'c:\\windows\\system32\\' is "
                                                  "inside System32 too.",
        }
        for variant, hint in hints.items():
            if value == counts[variant] and counts[variant] != counts["right"]:
                return Verdict(1, False, f"{value} is not it: {hint}")
        rare_rows = int(d.rare["Count"].sum())
        if value in (len(d.rare), rare_rows):
            return Verdict(1, False, f"{value} counts what step 4 keeps; the question is about the rows "
                                     "before counting (after step 3).")
        direction = "too many" if value > counts["right"] else "too few"
        return Verdict(1, False, f"{value} is {direction}. Apply the three filters of steps 1-3 to "
                                 "DeviceProcessEvents (or call scheduled_task_starts) and take len().")

    return _grade(1, answer, grade, "a whole number of rows")


def check_2(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """FileNames of the planted malicious tasks that the seed reports as rare (a set of names)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _texts(answer, "a set of FileName values")
        expected = {n.lower() for n in expected_2(data_dir)}
        if given == expected:
            return Verdict(2, True, f"the seed reports {len(expected)} planted attacks as rare: "
                                    f"{_names_text(expected_2(data_dir))}.")
        missing, extra = expected - given, given - expected
        hints = []
        rare_names = {n.lower() for n in d.rare["FileName"]}
        beacon_names = {s["FileName"].lower() for s in d.of_kind("malicious")} - expected
        if extra & beacon_names:
            hints.append("a malicious task that runs 3 times or more is not rare by count_ < 3, so the seed "
                         "does not report it")
        not_rare = extra - rare_names - beacon_names
        if not_rare:
            hints.append(f"name(s) not among the seed's rare groups at all: {len(not_rare)}")
        benign = (extra & rare_names) - beacon_names
        if benign:
            hints.append(f"name(s) that belong only to benign rare tasks: {len(benign)} (backups, updates, "
                         "inventory, log housekeeping); read their command lines again")
        if missing:
            hints.append(f"malicious rare task(s) missing: {len(missing)}; look for user-writable paths, "
                         "encoded commands, URLs and recon commands among the rare groups")
        return Verdict(2, False, "not yet: " + "; ".join(hints) + ".")

    return _grade(2, answer, grade, "a set of FileName values")


def check_3(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The public IP the encoded PowerShell task downloads from (one IP address)."""
    exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _texts(answer, "an IP address")
        expected = expected_3(data_dir)
        if given == expected:
            return Verdict(3, True, f"{_names_text(expected)}: the -enc text decodes to a download cradle "
                                    "from it, and the task's network events connect to it.")
        kinds = {g: ip_kind(g) for g in given}
        if any(k == "invalid" for k in kinds.values()):
            return Verdict(3, False, "that is not an IP address. Decode the -enc argument (base64 of UTF-16LE "
                                     "text; hunting_lib.triage.indicators.decode_command_line does it) or read the "
                                     "task's RemoteIPs in result.activity.")
        if any(k == "private" for k in kinds.values()):
            return Verdict(3, False, "that is an internal address. The download comes from a public IP "
                                     "(the one in the decoded command).")
        return Verdict(3, False, "a public IP, but not this task's. Pick the rare powershell.exe group with "
                                 "-enc and read its own connections.")

    return _grade(3, answer, grade, "an IP address as text")


def check_4(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The device the hourly beacon runs on (its DeviceName; the short host name is accepted)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _texts(answer, "a DeviceName")
        expected = expected_4(data_dir)
        if _same_devices(given, expected):
            return Verdict(4, True, f"{_names_text(expected)}: the beacon runs there often (so count_ < 3 "
                                    "drops it) but on one device only, which max_devices=1 keeps.")
        others = {device.lower(): s for s in d.scenarios for device in d.devices(s)}
        for g in given:
            hit = [s for dev, s in others.items() if _device_matches(g, dev)]
            if hit and hit[0]["kind"] == "malicious" and hit[0]["seed_reports_it"]:
                return Verdict(4, False, f"{g} hosts a malicious task the seed already reports. Run the hunt "
                                         "with HuntParams(max_devices=1) and look for RareBy == 'devices'.")
        if any(g in {r.lower() for r in d.rare_one_device["FileName"]} for g in given):
            return Verdict(4, False, "that is a program name; the question asks for the device (DeviceName).")
        return Verdict(4, False, "not that device. With HuntParams(max_devices=1), the group kept only by its "
                                 "device count (RareBy == 'devices') that calls out every hour is the beacon; "
                                 "its Devices column names the machine.")

    return _grade(4, answer, grade, "a DeviceName")


def check_5(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The rare task the seed keeps in step 4 but never shows, because it left no activity (FileName)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _texts(answer, "a FileName")
        expected = expected_5(data_dir)
        if given == {n.lower() for n in expected}:
            return Verdict(5, True, f"{_names_text(expected)}: rare, but the last step finds no event whose "
                                    "initiating process is it, so the seed's output has no row for it.")
        active = {n.lower() for n in d.seed_rows["InitiatingProcessFileName"]}
        rare_names = {n.lower() for n in d.rare["FileName"]}
        if given - rare_names:
            return Verdict(5, False, f"{_names_text(given - rare_names)} is not among the seed's rare groups; "
                                     "the answer is a rare group (step 4) with no activity rows.")
        if given & active:
            return Verdict(5, False, f"{_names_text(given & active)} has activity rows in the seed's last step. "
                                     "Compare result.rare_tasks with result.activity_rows (lower-cased name, "
                                     "command line and path).")
        return Verdict(5, False, "not yet: compare the rare groups with the activity rows and keep the groups "
                                 "that have none.")

    return _grade(5, answer, grade, "a FileName")


def check_6(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """ReportIds of the encoded PowerShell task's DeviceNetworkEvents, its children's included
    (``match="process"``), as a set of numbers."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _numbers(answer)
        expected = expected_6(data_dir)
        if given == expected:
            return Verdict(6, True, f"{sorted(expected)}: with match='process' the task's own connections and "
                                    "its children's (by process identity) are attributed to the task.")
        s = d.scenario("mal-encoded-powershell")
        rows = _network_rows(d, expected)
        own = (rows["InitiatingProcessFileName"].str.lower() == s["FileName"].lower()) & (
            rows["InitiatingProcessCommandLine"].str.lower() == s["ProcessCommandLine"].lower())
        own_ids = set(rows.loc[own, "ReportId"])
        if given == own_ids and own_ids != expected:
            return Verdict(6, False, "that is the seed's view: only the task's own process. Run the hunt with "
                                     "match='process' to also get the connections of the processes it started.")
        missing, extra = expected - given, given - expected
        parts = []
        if extra:
            parts.append(f"ReportId(s) that are not this task's network events: {len(extra)}")
        if missing:
            parts.append(f"ReportId(s) missing: {len(missing)}")
        return Verdict(6, False, "not yet: " + "; ".join(parts) + ". Filter result.activity_rows (match="
                                 "'process') on the task's TaskId and Table == 'DeviceNetworkEvents'.")

    return _grade(6, answer, grade, "a set of ReportId numbers")


def check_7(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The device whose non-task events the seed attaches to the weekly reporting task (a DeviceName)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _texts(answer, "a DeviceName")
        expected = expected_7(data_dir)
        if _same_devices(given, expected):
            return Verdict(7, True, f"{_names_text(expected)}: someone ran the script by hand there with the "
                                    "task's exact command line. The seed matches by strings only, so it counts "
                                    "those events as the task's; match='process' does not.")
        report = d.scenario("fp-user-report")
        if any(_device_matches(g, dev) for g in given for dev in d.devices(report)):
            return Verdict(7, False, "that is where the reporting task really runs. Look for the same command "
                                     "line on another device in result.activity.")
        return Verdict(7, False, "not that device. In result.activity (match='seed'), find the rows with the "
                                 "report task's command line and compare their DeviceName with the task's "
                                 "Devices; then check the parent of that process.")

    return _grade(7, answer, grade, "a DeviceName")


def check_8(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The task the seed misses because the Schedule service's command line differs only in case
    (its FileName, or its scenario id)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _texts(answer, "a FileName (or scenario id)")
        expected = expected_8(data_dir)
        accepted = [{s["FileName"].lower(), s["id"].lower()} for s in expected]
        if len(given) == len(expected) and all(any(g in names for names in accepted) for g in given):
            s = expected[0]
            return Verdict(8, True, f"{s['FileName']} on {d.devices(s)[0]}: its parent reads "
                                    f"{s['launched_by']!r}, and the seed's == is case-sensitive.")
        right = {g for g in given if any(g in names for names in accepted)}
        if right:
            return Verdict(8, False, f"{_names_text(right)} is right, but drop the rest: a program that also runs "
                                     "on other devices (an updater in each user's profile) is not the planted "
                                     "task, even where it looks rare.")
        for g in given:
            for s in d.scenarios:
                if g in (s["FileName"].lower(), s["id"].lower()) and s not in expected:
                    if s["kind"] == "malicious" and not s["seed_reports_it"]:
                        return Verdict(8, False, f"{g}: the seed misses that one because it runs too often "
                                                 "(count_ >= 3), not because of its parent.")
                    launched = str(s.get("launched_by", ""))
                    if launched and launched.lower() != seed_literals().parent_command_line.lower():
                        return Verdict(8, False, f"{g}: that task's parent differs by more than letter case "
                                                 f"({launched!r}). Look for a parent that differs only in case.")
        return Verdict(8, False, "not that one. Find DeviceProcessEvents rows whose parent is svchost.exe and "
                                 "whose InitiatingProcessCommandLine equals the seed's only when lower-cased; "
                                 "then see which of those programs is rare.")

    return _grade(8, answer, grade, "a FileName (or scenario id)")


def check_9(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The exclusion rule (its id) that suppresses the Veeam backup task."""
    exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _texts(answer, "a rule id")
        expected = {r.lower() for r in expected_9(data_dir)}
        if given == expected:
            return Verdict(9, True, f"{_names_text(expected)}: anchored on the vendor folder under Program "
                                    "Files, which only administrators can write to.")
        text = resources.files("hunting_lib").joinpath(DEFAULT_EXCLUSIONS).read_text("utf-8")
        rules = {r.id.lower(): r for r in parse_exclusions(text, DEFAULT_EXCLUSIONS)}
        if any(("contains" in g or "update" in g or "backup" == g) for g in given):
            return Verdict(9, False, "a free-text 'contains' rule is exactly what not to write: an attacker's "
                                     "update.exe or backup.exe would match it. Give the id of the shipped rule.")
        unknown = given - set(rules)
        if unknown:
            return Verdict(9, False, f"no shipped rule is called {_names_text(unknown)}. The ids are: "
                                     f"{_names_text(rules)}.")
        disabled = [g for g in given if not rules[g].enabled]
        if disabled:
            return Verdict(9, False, f"{disabled[0]} is disabled, and it is about something else. Which enabled "
                                     "rule's conditions fit the Veeam task's folder and account?")
        wrong = sorted(given)[0]
        return Verdict(9, False, f"{wrong} does not match the Veeam task's runs. Check result.suppressed, or "
                                 "read the rules' 'when' conditions in exclusion_rules_table().")

    return _grade(9, answer, grade, "a rule id (text)")


def check_10(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """FileNames of the planted malicious tasks that a rule 'FolderPath contains "update"' would hide."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _texts(answer, "a set of FileName values", allow_empty=True)
        expected = {n.lower() for n in expected_10(data_dir)}
        if given == expected:
            return Verdict(10, True, f"{_names_text(expected_10(data_dir))}: a free-text 'contains' rule hides "
                                     "an attacker who simply names a folder or file after an updater. Anchor "
                                     "on a vendor folder, an exact command line, an account.")
        malicious = {s["FileName"].lower() for s in d.of_kind("malicious")}
        hints = []
        if given - malicious:
            hints.append(f"name(s) that are not planted attacks: {len(given - malicious)} (the question asks "
                         "only about malicious tasks)")
        if (given & malicious) - expected:
            hints.append("some of your attacks' folders do not contain 'update'")
        if expected - given:
            hints.append(f"attack(s) whose folder contains 'update' missing: {len(expected - given)}; "
                         "run the hunt with max_devices=1 so that every attack is a rare group")
        if not given:
            hints.append("the rule does hide at least one attack here")
        return Verdict(10, False, "not yet: " + "; ".join(hints) + ".")

    return _grade(10, answer, grade, "a set of FileName values")


#: The checkers by exercise number.
CHECKERS: dict[int, Callable[..., Verdict]] = {
    1: check_1, 2: check_2, 3: check_3, 4: check_4, 5: check_5,
    6: check_6, 7: check_7, 8: check_8, 9: check_9, 10: check_10,
}
