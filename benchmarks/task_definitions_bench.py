"""Task definitions' cost on a synthetic fleet: registrations matched to launches, per device.

    python benchmarks/task_definitions_bench.py [--devices 5000] [--launches 200000] [--registrations 20000]

Builds launches of a few hundred task programs spread over the devices, the same tasks
registered (Defender's JSON TaskContent, env vars in the command) on random devices, and runs
``task_definitions`` with every launch as ``ran_elsewhere``. Then the worst case of matching
without a device: every action of one program against every distinct run of that program, and one
hostile 100k-character command line at n and 2n (linear: about twice the time).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from hunting_lib.params import HuntParams
from hunting_lib.tasks.definitions import task_definitions
from hunting_lib.tasks.matching import action_matches, match_actions
from hunting_lib.tasks.registrations import TaskEvents

START = pd.Timestamp("2026-11-02", tz="UTC")


def fleet(devices: int, launches: int, registrations: int, programs: int = 400, seed: int = 1):
    """(rare groups, launches, registrations) of a synthetic fleet."""
    rng = np.random.default_rng(seed)
    device, kind = rng.integers(0, devices, launches), rng.integers(0, programs, launches)
    starts = pd.DataFrame({
        "Timestamp": START + pd.to_timedelta(rng.integers(86_400, 86_400 * 8, launches), unit="s"),
        "DeviceId": [f"d{d}" for d in device], "DeviceName": [f"pc{d}" for d in device], "FileName": "updater.exe",
        "FolderPath": [f"C:\\Program Files\\V{k}\\updater.exe" for k in kind],
        "ProcessCommandLine": [f'"C:\\Program Files\\V{k}\\updater.exe" /run {k}' for k in kind]})
    rare = starts.groupby(["FileName", "ProcessCommandLine", "FolderPath"], as_index=False).size().head(200)
    rare = rare.rename(columns={"size": "Count"}).assign(TaskId=lambda f: range(len(f)))
    on, task = rng.integers(0, devices, registrations), rng.integers(0, programs + programs // 8, registrations)
    content = {k: json.dumps({"Actions": {"Exec": {"Command": f"%ProgramFiles%\\V{k}\\updater.exe",
                                                   "Arguments": f"/run {k}"}}}) for k in set(task)}
    rows = pd.DataFrame({
        "Timestamp": START + pd.to_timedelta(rng.integers(0, 86_400 * 8, registrations), unit="s"),
        "DeviceId": [f"d{d}" for d in on], "DeviceName": [f"pc{d}" for d in on],
        "ActionType": "ScheduledTaskCreated", "ReportId": range(registrations),
        "InitiatingProcessFileName": "msiexec.exe", "InitiatingProcessCommandLine": "msiexec /i x.msi",
        "AdditionalFields": [json.dumps({"TaskName": f"\\V{k}", "TaskContent": content[k]}) for k in task]})
    return rare, starts, rows


def seconds(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--launches", type=int, default=200_000)
    parser.add_argument("--registrations", type=int, default=20_000)
    args = parser.parse_args()

    rare, starts, rows = fleet(args.devices, args.launches, args.registrations)
    elsewhere = starts[["FileName", "FolderPath", "ProcessCommandLine"]].drop_duplicates()
    took, (out, table) = seconds(task_definitions, rare, starts, TaskEvents(registrations=rows), HuntParams(),
                                 ran_elsewhere=elsewhere)
    print(f"task_definitions: {took:.2f} s for {len(starts):,} launches, {len(rows):,} registrations, "
          f"{args.devices:,} devices: {int(out['TaskDefinitions'].map(len).sum()):,} entries on {len(out)} groups, "
          f"{len(table)} never-ran registrations")

    actions = pd.DataFrame({"Command": "%windir%\\system32\\cmd.exe",
                            "Arguments": [f"/c echo {i} > %TEMP%\\o{i}.txt" for i in range(500)]})
    runs = pd.DataFrame({"FileName": "cmd.exe", "FolderPath": "C:\\Windows\\System32\\cmd.exe",
                         "ProcessCommandLine": [f"cmd.exe /c echo {i} > C:\\Users\\u{i % 50}\\AppData\\Local\\Temp"
                                                f"\\o{i}.txt" for i in range(5000)]})
    took, pairs = seconds(match_actions, actions, runs)
    print(f"match_actions without devices: {took:.2f} s for {len(actions) * len(runs):,} candidate pairs, "
          f"{len(pairs)} matched")

    for size in (100_000, 200_000):
        line = "cmd.exe /c " + "\\a" * (size // 2)
        took, _ = seconds(action_matches, "cmd.exe", "/c " + "\\a" * (size // 2 - 1) + "b", "C:\\cmd.exe", line)
        print(f"hostile command line of {size:,} characters: {took * 1000:.1f} ms")


if __name__ == "__main__":
    main()
