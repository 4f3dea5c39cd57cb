"""Steps 1-4 of the seed: the processes the Task Scheduler started, and the rare ones.

Each filter is the seed's operator with its own case rule (see ``kql_ops``):

1. ``InitiatingProcessFileName == "svchost.exe"`` and the parent command line ``==`` the
   Schedule service's: exact and case-sensitive, so ``-s schedule`` is *not* matched.
2. ``FileName != "MpCmdRun.exe"``: case-sensitive, so ``mpcmdrun.exe`` is kept.
3. ``FolderPath !startswith @"C:\\Windows\\System32\\"`` (case-insensitive) or ``FileName =~`` one
   of the four shells (case-insensitive).
4. ``summarize count() by FileName, ProcessCommandLine, FolderPath | where count_ < threshold``.

On top of the seed, each group gets its fleet prevalence (devices, accounts, first and last
run), and ``max_devices`` can keep groups that are frequent but confined to few machines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hunting_lib.engine.columns import GROUP_KEYS, TASK_START_COLUMNS  # noqa: F401 (part of this module's API)
from hunting_lib.engine.kql_ops import equals_ci, equals_cs, in_cs, startswith_ci
from hunting_lib.engine.query import seed_literals
from hunting_lib.params import HuntParams


def window_mask(timestamps: pd.Series, params: HuntParams) -> np.ndarray:
    """Rows inside ``Timestamp between (start .. end)``; both ends inclusive, as in KQL."""
    mask = np.ones(len(timestamps), dtype=bool)
    if params.start is not None:
        mask &= (timestamps >= params.start).to_numpy(dtype=bool, na_value=False)
    if params.end is not None:
        mask &= (timestamps <= params.end).to_numpy(dtype=bool, na_value=False)
    return mask


def scheduled_task_starts(processes: pd.DataFrame, params: HuntParams) -> pd.DataFrame:
    """Steps 1-3: the process starts by the Schedule service that the seed looks at."""
    seed = seed_literals()
    started_by_scheduler = equals_cs(
        processes["InitiatingProcessFileName"], seed.parent_file_name
    ) & in_cs(processes["InitiatingProcessCommandLine"], params.parent_command_lines)
    kept = started_by_scheduler & window_mask(processes["Timestamp"], params)
    tasks = processes.loc[kept]
    file_names = tasks["FileName"]
    not_scanner = ~equals_cs(file_names, seed.excluded_file_name)
    outside_system32 = ~startswith_ci(tasks["FolderPath"], seed.system_folder_prefix)
    is_shell = np.zeros(len(tasks), dtype=bool)
    for shell in seed.shells:
        is_shell |= equals_ci(file_names, shell)
    columns = [c for c in TASK_START_COLUMNS if c in tasks.columns]
    return tasks.loc[not_scanner & (outside_system32 | is_shell), columns]


RARE_COLUMNS: list[str] = ["TaskId", "FileName", "ProcessCommandLine", "FolderPath", "Count", "DeviceCount",
                           "Devices", "Accounts", "FirstSeen", "LastSeen", "RunsPerDay", "RareBy"]


def _keep_rare(stats: pd.DataFrame, params: HuntParams) -> pd.DataFrame:
    """The groups whose Count is below the threshold or whose DeviceCount is small enough."""
    by_count = stats["Count"] < params.threshold
    by_devices = (
        stats["DeviceCount"] <= params.max_devices
        if params.max_devices is not None
        else pd.Series(False, index=stats.index)
    )
    stats = stats.assign(RareBy=np.select(
        [by_count & by_devices, by_count, by_devices], ["count,devices", "count", "devices"], ""))
    return stats[by_count | by_devices].reset_index(drop=True)


def _finish(rare: pd.DataFrame) -> pd.DataFrame:
    """Runs per day, a stable order, and a ``TaskId`` that activity rows and pivots refer to."""
    span_days = (rare["LastSeen"] - rare["FirstSeen"]).dt.total_seconds() / 86400.0
    rare = rare.assign(RunsPerDay=(rare["Count"] / span_days.clip(lower=1.0)).round(2))
    rare = rare.sort_values(
        ["Count", "DeviceCount", "FileName", "ProcessCommandLine", "FolderPath"], kind="stable"
    ).reset_index(drop=True)
    rare["TaskId"] = np.arange(len(rare))
    return rare[RARE_COLUMNS]


def find_rare_tasks(task_starts: pd.DataFrame, params: HuntParams) -> pd.DataFrame:
    """Step 4: the (FileName, ProcessCommandLine, FolderPath) groups that are rare.

    ``Count`` is the seed's ``count_``: the group's rows, or, when the starts carry ``Events``
    (the extended scope), the launches they stand for. A group is kept when ``Count < threshold`` or, with
    ``max_devices``, when it ran on at most that many devices. ``RareBy`` says which test kept it.
    The result also carries each group's prevalence: devices, accounts, first and last run, and a
    ``TaskId`` that identifies the group in activity rows and pivots.
    """
    grouped = task_starts.groupby(GROUP_KEYS, sort=False, dropna=False, observed=True)
    count = ("Events", "sum") if "Events" in task_starts.columns else ("Timestamp", "size")
    stats = grouped.agg(
        Count=count,
        DeviceCount=("DeviceName", "nunique"),
        FirstSeen=("Timestamp", "min"),
        LastSeen=("Timestamp", "max"),
    ).reset_index()
    rare = _keep_rare(stats, params)

    # Device and account lists only for the rare groups: a join, then one sorted set per group.
    members = task_starts.merge(rare[GROUP_KEYS], on=GROUP_KEYS, how="inner")
    for source, target in (("DeviceName", "Devices"), ("AccountName", "Accounts")):
        if source in members.columns:
            values = members[GROUP_KEYS + [source]].drop_duplicates()
            values = values[values[source] != ""].sort_values(source)
            lists = values.groupby(GROUP_KEYS, sort=False, dropna=False)[source].agg(list)
            rare[target] = [
                lists.get(key, []) for key in rare[GROUP_KEYS].itertuples(index=False, name=None)
            ]
        else:
            rare[target] = [[] for _ in range(len(rare))]
    return _finish(rare)


def rare_from_statistics(stats: pd.DataFrame, params: HuntParams) -> pd.DataFrame:
    """Step 4 from per-group statistics computed elsewhere (a remote engine, or several chunks).

    ``stats`` has the group keys, ``Count``, ``FirstSeen``, ``LastSeen`` and the ``Devices`` and
    ``Accounts`` lists. Chunks of one hunt must be merged *before* this call: a group seen twice in
    each of two chunks ran four times, and is not rare at the seed's threshold.
    """
    stats = stats.assign(
        Devices=stats["Devices"].map(lambda v: sorted({d for d in v if d})),
        Accounts=stats["Accounts"].map(lambda v: sorted({a for a in v if a})),
    )
    stats["DeviceCount"] = stats["Devices"].map(len)
    return _finish(_keep_rare(stats, params))
