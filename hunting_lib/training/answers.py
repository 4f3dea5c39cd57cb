"""The expected answer of each exercise, computed from the answer key of the synthetic data and
the data itself, never typed in: regenerate the sample with another seed and they follow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from hunting_lib import clock
from hunting_lib.engine.addresses import ip_kind
from hunting_lib.engine.query import seed_literals
from hunting_lib.engine.rarity import GROUP_KEYS
from hunting_lib.training.data import ExerciseData, exercise_data
from hunting_lib.training.grading import GroupTriple
from hunting_lib.training.lessons import NAIVE_RULE, lowered_keys, naive_rule, shipped_rules
from hunting_lib.triage.exclusions import ExclusionRule


def _case_only_parent(d: ExerciseData) -> list[dict[str, Any]]:
    parent = seed_literals().parent_command_line
    return [s for s in d.scenarios
            if s.get("launched_by") != parent and str(s.get("launched_by", "")).lower() == parent.lower()]


def network_rows(d: ExerciseData, report_ids: Iterable[int]) -> pd.DataFrame:
    network = d.tables["DeviceNetworkEvents"]
    return network[network["ReportId"].isin(list(report_ids))]


def default_rules(include_expired: bool = True) -> list[ExclusionRule]:
    """The shipped rules that are enabled (expired ones too unless told otherwise)."""
    today = clock.today()
    return [r for r in shipped_rules() if r.enabled and (include_expired or r.expires >= today)]


def _covering_rules(starts: pd.DataFrame, rules: Iterable[ExclusionRule]) -> list[str]:
    """Ids of the rules that match every one of ``starts``, in file order."""
    if starts.empty:
        return []
    return [r.id for r in rules if bool(r.matches(starts).all())]


def expected_1(data_dir: str | Path | None = None) -> int:
    """Exercise 1: Task Scheduler starts that survive the seed's steps 1-3."""
    return len(exercise_data(data_dir).starts)


def log_clearing(d: ExerciseData) -> list[dict[str, Any]]:
    """The planted event-log clearing tasks (published false positive 5). Clearing a log is also
    how intruders hide (T1070.001), so the course treats each one as a finding to escalate to its
    owner, never as housekeeping to close unasked."""
    return [s for s in d.scenarios if s.get("seed_false_positive") == LOG_CLEARING_FALSE_POSITIVE]


#: The published false positive "System-Generated Task for Event Log Cleanup" is number 5.
LOG_CLEARING_FALSE_POSITIVE = 5


def expected_2(data_dir: str | Path | None = None) -> set[GroupTriple]:
    """Exercise 2: the rare groups (step 4) to escalate: the planted attacks, and the log clearing
    task, which stays a finding until its owner confirms it."""
    d = exercise_data(data_dir)
    rare = d.rare_groups()
    return {d.group(s) for s in [*d.of_kind("malicious"), *log_clearing(d)] if d.group(s) in rare}


def expected_3(data_dir: str | Path | None = None) -> set[str]:
    """Exercise 3: the public IPs the encoded PowerShell task connected to."""
    d = exercise_data(data_dir)
    s = d.scenario("mal-encoded-powershell")
    ips = network_rows(d, s["report_ids"].get("DeviceNetworkEvents", []))["RemoteIP"]
    return {ip for ip in ips if ip_kind(ip) == "public"}


def expected_4(data_dir: str | Path | None = None) -> set[str]:
    """Exercise 4: devices of the malicious tasks that only ``max_devices=1`` keeps."""
    d = exercise_data(data_dir)
    by_devices = d.rare_one_device[d.rare_one_device["RareBy"] == "devices"]
    kept = {key: devices for key, devices in zip(by_devices[GROUP_KEYS].itertuples(index=False, name=None),
                                                  by_devices["Devices"])}
    return {device for s in d.of_kind("malicious") if d.group(s) in kept for device in kept[d.group(s)]}


def expected_5(data_dir: str | Path | None = None) -> set[GroupTriple]:
    """Exercise 5: the rare groups the seed keeps but finds no activity for."""
    d = exercise_data(data_dir)
    seen = set(lowered_keys(d.seed_rows, ["InitiatingProcessFileName", "InitiatingProcessCommandLine",
                                          "InitiatingProcessFolderPath"]))
    quiet = ~lowered_keys(d.rare, GROUP_KEYS).isin(seen)
    return d.rare_groups(d.rare.loc[quiet])


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


@dataclass(frozen=True)
class Choice:
    """One answer of a multiple-choice "why" question, and what to say when it is picked."""

    text: str
    correct: bool
    feedback: str


#: Exercise 9's "why": why the Veeam rule is a vendor folder and not "command line contains backup".
VEEAM_WHY: dict[str, Choice] = {
    "a": Choice("Only administrators can write under Program Files, so a program installed there can be trusted.",
                False, "registering a task that runs as SYSTEM already takes administrator rights, and an "
                       "administrator can write under Program Files too: the folder narrows a rule, it proves nothing "
                       "about who wrote the binary."),
    "b": Choice("'Command line contains backup' would also match an attacker's backup.exe in any folder; the vendor "
                "folder narrows the rule to where the agent is installed, and only the binary's signer or hash "
                "shows that it is the vendor's program.", True,
                "narrow rules, and trust anchored on the signer or the hash (a verdict binds to the SHA1)."),
    "c": Choice("Folder rules are evaluated faster than command-line rules.", False,
                "speed has nothing to do with it; every condition is a vectorised string test."),
    "d": Choice("FolderPath is the only field an exclusion rule can test.", False,
                "rules can test FileName, ProcessCommandLine, Arguments, FolderPath and AccountName; read the "
                "header of hunting_lib/config/exclusions.yaml."),
}


def why_choices() -> pd.DataFrame:
    """Exercise 9's choices, as a table to read (the feedback is not in it)."""
    return pd.DataFrame({"why": [c.text for c in VEEAM_WHY.values()]}, index=list(VEEAM_WHY))


def expected_10(data_dir: str | Path | None = None) -> set[GroupTriple]:
    """Exercise 10: the malicious tasks' groups that the naive 'FolderPath contains update' rule would
    suppress (every run matches it)."""
    d = exercise_data(data_dir)
    rule = naive_rule(*NAIVE_RULE)
    return {d.group(s) for s in d.of_kind("malicious") if _covering_rules(d.starts_of(s), [rule])}
