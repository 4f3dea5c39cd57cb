"""The expected answer of each exercise, computed from the answer key of the synthetic data and
the data itself, never typed in: regenerate the sample with another seed and they follow."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from hunting_lib import clock
from hunting_lib.engine.addresses import ip_kind
from hunting_lib.engine.query import seed_literals
from hunting_lib.engine.rarity import GROUP_KEYS
from hunting_lib.training.data import ExerciseData, exercise_data
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


def expected_2(data_dir: str | Path | None = None) -> set[str]:
    """Exercise 2: FileNames of the planted malicious tasks that the seed's step 4 keeps."""
    d = exercise_data(data_dir)
    rare = d.rare_groups()
    return {s["FileName"] for s in d.of_kind("malicious") if d.group(s) in rare}


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


def expected_5(data_dir: str | Path | None = None) -> set[str]:
    """Exercise 5: FileNames of the rare groups the seed keeps but finds no activity for."""
    d = exercise_data(data_dir)
    seen = set(lowered_keys(d.seed_rows, ["InitiatingProcessFileName", "InitiatingProcessCommandLine",
                                          "InitiatingProcessFolderPath"]))
    quiet = ~lowered_keys(d.rare, GROUP_KEYS).isin(seen)
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
