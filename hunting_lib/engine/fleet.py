"""What the whole fleet does, as few numbers: the baseline the tripwires compare a group with.

A tripwire fires on what deviates, not on what every machine does, so triage needs to know how
many devices run each task (per-user copies and versions of one program counted as one) and how
many devices contact each public address a rare task contacted. These are aggregates over all
of a hunt's launches and connections, not over the rare groups only: the per-user OneDrive
updater is rare on each machine and common in the fleet.

``fleet_context`` computes them from loaded tables. The parquet scan computes the same numbers
while it reads (``scan.py``), so a hunt that never loads whole tables still has them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from hunting_lib.engine.addresses import ip_kind
from hunting_lib.engine.kql_ops import on_uniques
from hunting_lib.engine.paths import normalised
from hunting_lib.engine.query import seed_literals
from hunting_lib.engine.rarity import window_mask
from hunting_lib.params import HuntParams


def group_keys(frame: pd.DataFrame) -> pd.Series:
    """One key per task across users and versions: the normalised file name, command line and
    folder path (``paths.normalise_path``), joined by ``|``."""
    return (normalised(frame["FileName"]) + "|" + normalised(frame["ProcessCommandLine"]) + "|"
            + normalised(frame["FolderPath"]))


@dataclass(frozen=True)
class FleetContext:
    """The fleet's baseline for one hunt.

    - ``devices``: devices with a Task Scheduler launch in scope in the window;
    - ``task_devices``: per normalised group key (``group_keys``), the devices launching it;
    - ``program_devices``: per normalised program path (FolderPath), the devices launching it as
      a task, with any arguments;
    - ``ip_devices``: per remote IP, the devices that contacted it in the window (only the IPs
      the rare tasks' processes contacted are needed);
    - ``aggregated_reports``: launches recorded as Defender aggregated reports;
    - ``scheduler_groups``: every group any task host launched, in scope or not;
    - ``group_counts``: every (FileName, ProcessCommandLine, FolderPath) group in scope, rare or
      not, with ``Count``, ``DeviceCount``, ``FirstSeen`` and ``LastSeen``: what hunt history
      records, so that "new" means new to the scheduler, not new among findings (``group_counts``).
    """

    devices: int = 0
    task_devices: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))
    ip_devices: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))
    aggregated_reports: int = 0
    program_devices: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))
    group_counts: pd.DataFrame | None = field(default=None, repr=False)
    #: Every (FileName, ProcessCommandLine, FolderPath) a task host launched in the window, in any
    #: scope (System32 programs the hunt leaves out too): a registered task "ran" if it is here.
    scheduler_groups: pd.DataFrame | None = field(default=None, repr=False)

    def fleet_devices(self, keys: pd.Series) -> pd.Series:
        """Devices running each key's task in the fleet (0 for unknown keys)."""
        return keys.map(self.task_devices).fillna(0).astype("int64")

    def program_fleet_devices(self, folder_paths: pd.Series) -> pd.Series:
        """Devices launching each program (a FolderPath) as a task in the fleet (0 for unknown)."""
        return normalised(folder_paths).map(self.program_devices).fillna(0).astype("int64")


def task_prevalence(starts: pd.DataFrame) -> tuple[int, pd.Series, pd.Series]:
    """(devices, devices per normalised group key, devices per normalised program path) over
    Task Scheduler launches."""
    if starts.empty:
        return 0, pd.Series(dtype="int64"), pd.Series(dtype="int64")
    keyed = pd.DataFrame({"key": group_keys(starts), "program": normalised(starts["FolderPath"]),
                          "device": starts["DeviceName"]})
    return (int(starts["DeviceName"].nunique()), keyed.groupby("key")["device"].nunique(),
            keyed.groupby("program")["device"].nunique())


def public_ips(values: pd.Series) -> set[str]:
    """The distinct public addresses among ``values``."""
    uniques = pd.Series(values.dropna().astype(str).unique())
    return {ip for ip, public in zip(uniques, on_uniques(uniques, lambda u: np.array(
        [ip_kind(v) == "public" for v in u], dtype=bool))) if public}


def ip_prevalence(network: pd.DataFrame | None, ips: set[str], params: HuntParams) -> pd.Series:
    """Devices per remote IP in the window, for the given IPs."""
    if network is None or network.empty or not ips or "RemoteIP" not in network:
        return pd.Series(dtype="int64")
    rows = network.loc[network["RemoteIP"].isin(list(ips)) & window_mask(network["Timestamp"], params),
                       ["RemoteIP", "DeviceName"]]
    return rows.groupby("RemoteIP")["DeviceName"].nunique().astype("int64")


def fleet_context(tables: Mapping[str, pd.DataFrame], starts: pd.DataFrame, activity_rows: pd.DataFrame,
                  params: HuntParams, aggregated_reports: int = 0) -> FleetContext:
    """The baseline from loaded tables: ``starts`` are all in-scope launches of the window;
    ``aggregated_reports`` counts the task hosts' launches recorded as aggregated reports."""
    devices, per_key, per_program = task_prevalence(starts)
    ips = public_ips(activity_rows["RemoteIP"]) if "RemoteIP" in activity_rows else set()
    return FleetContext(devices, per_key, ip_prevalence(tables.get("DeviceNetworkEvents"), ips, params),
                        aggregated_reports, per_program, group_counts(starts, params))


GROUP_COUNT_COLUMNS = ["FileName", "ProcessCommandLine", "FolderPath", "Count", "DeviceCount", "FirstSeen", "LastSeen"]


def group_counts(starts: pd.DataFrame, params: HuntParams) -> pd.DataFrame:
    """Every group of ``starts`` (in-scope launches) with its launches (``Events`` where the
    extended scope counts aggregated reports), devices, first and last launch.

    A launch at exactly ``params.end`` is left out: for history a window is half-open, so that
    consecutive windows (``--end T`` then ``--start T``) never count one launch twice.
    """
    if starts is None or starts.empty:
        return pd.DataFrame(columns=GROUP_COUNT_COLUMNS)
    if params.end is not None:
        starts = starts[(starts["Timestamp"] < params.end).to_numpy(dtype=bool, na_value=False)]
    events = starts["Events"] if "Events" in starts.columns else pd.Series(1, index=starts.index)
    grouped = starts.assign(_events=events).groupby(["FileName", "ProcessCommandLine", "FolderPath"],
                                                     sort=False, dropna=False, observed=True)
    counts = grouped.agg(Count=("_events", "sum"), DeviceCount=("DeviceName", "nunique"),
                         FirstSeen=("Timestamp", "min"), LastSeen=("Timestamp", "max")).reset_index()
    return counts[GROUP_COUNT_COLUMNS].sort_values(["Count", "FileName", "ProcessCommandLine"],
                                                   kind="stable", ignore_index=True)


def scheduler_groups(processes: pd.DataFrame, scoped, params: HuntParams) -> pd.DataFrame:
    """Every (FileName, ProcessCommandLine, FolderPath) a task host launched in the window, in
    any scope: the extended scope's launches in and out of scope, or, published, every child of
    the Schedule service's command lines (before the seed's steps 2-3 leave System32 out)."""
    keys = ["FileName", "ProcessCommandLine", "FolderPath"]
    if params.scope == "published":
        children = (processes["InitiatingProcessFileName"].eq(seed_literals().parent_file_name)
                    & processes["InitiatingProcessCommandLine"].isin(list(params.parent_command_lines))).to_numpy()
        launched = processes.loc[children & window_mask(processes["Timestamp"], params), keys]
    else:
        launched = pd.concat([scoped.in_scope[keys], scoped.system32_hosts[keys]], ignore_index=True)
    return launched.drop_duplicates(ignore_index=True)
