"""Which Task Scheduler launches the hunt looks at: the published scope, and the extended one.

The published query (``rarity.scheduled_task_starts``) looks at the children of one parent,
``svchost.exe -k netsvcs -p -s Schedule``, and drops System32 programs other than four shells.
Real attacks use launch paths that test cannot see; the extended scope (``config/scope.yaml``)
adds them, each with its name in ``InScopeBy`` so the analyst knows why a launch is there:

- ``taskeng``: the Task Scheduler engine of Windows 7 / Server 2008 R2 starts every task;
- ``grouped_svchost``: the Task Scheduler in the shared ``-k netsvcs`` host (small VMs, older
  builds), guarded against the other services that host starts processes for;
- ``system32_lolbin`` / ``headless_conhost``: System32 programs that run attacker code;
- ``system32_recon``: reconnaissance tools (ipconfig, whoami, net...) run as the task itself;
- ``user_writable_system32``: a payload in one of System32's user-writable folders;
- ``scanner_outside_home``: a MpCmdRun.exe outside Defender's folders (the seed drops it by name);
- ``host_variant``: the Schedule service's command line written with a path or another case.

Every launch the published scope keeps, the extended scope keeps too (``InScopeBy ==
"published"``). The other System32 children of a task host are not in scope, except per process
when their own activity fires a host tripwire (``host_tripwire_starts``): one taskhostw.exe that
loads a DLL from a user's folder is a finding, the fleet's other taskhostw.exe runs are not.

Defender's aggregated reports (``ProcessCreatedAggregatedReport``) stand for several launches;
``Events`` holds that number (``uniqueEventsAggregated``), which the extended scope counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
import pandas as pd

from hunting_lib.engine.correlate import process_starts, resolve_initiating_process
from hunting_lib.engine.kql_ops import in_ci, on_uniques, startswith_ci
from hunting_lib.engine.paths import user_writable
from hunting_lib.engine.rarity import GROUP_KEYS, TASK_START_COLUMNS, scheduled_task_starts, window_mask
from hunting_lib.engine.settings import HostTripwire, PathConfig, ScopeConfig, default_paths, default_scope
from hunting_lib.params import HuntParams

AGGREGATED_ACTION = "ProcessCreatedAggregatedReport"
_AGGREGATED_COUNT = re.compile(r'"uniqueEventsAggregated"\s*:\s*"?(\d+)')


def host_labels(config: ScopeConfig | None = None) -> dict[str, str]:
    """Each task host's id and its label, for reasons and reports."""
    return {host.id: host.label for host in (config or default_scope()).hosts}


def task_hosts(processes: pd.DataFrame, config: ScopeConfig, params: HuntParams | None = None) -> pd.Series:
    """Per row, the id of the task host that started it (None when its parent is none). The
    parent command lines ``params`` asks for (exact, as the seed compares) count as the Schedule
    service's."""
    if processes.empty:
        return pd.Series([], index=processes.index, dtype=object)
    from hunting_lib.engine.query import seed_literals

    asked = set((params or HuntParams()).parent_command_lines)
    seed = seed_literals().parent_file_name
    parents = processes[["InitiatingProcessFileName", "InitiatingProcessCommandLine"]].fillna("").astype(str)
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(parents), sort=False)
    hosts = np.array([config.host_of(name, line) or ("schedule_service" if name == seed and line in asked else None)
                      for name, line in uniques], dtype=object)
    return pd.Series(hosts[codes] if len(uniques) else [], index=processes.index, dtype=object)


def aggregated_events(starts: pd.DataFrame) -> pd.Series:
    """How many launches each row stands for: ``uniqueEventsAggregated`` on an aggregated report,
    else 1 (also when the number cannot be read)."""
    events = pd.Series(1, index=starts.index, dtype="int64")
    if "ActionType" not in starts or "AdditionalFields" not in starts:
        return events
    aggregated = starts["ActionType"].eq(AGGREGATED_ACTION).to_numpy(dtype=bool, na_value=False)
    if not aggregated.any():
        return events
    fields = starts.loc[aggregated, "AdditionalFields"].fillna("").astype(str)
    counts = pd.to_numeric(fields.str.extract(_AGGREGATED_COUNT, expand=False), errors="coerce")
    events.loc[aggregated] = counts.fillna(1).clip(lower=1).astype("int64").to_numpy()
    return events


@dataclass(frozen=True)
class ScopedStarts:
    """The task launches of one hunt: those in scope, the System32 ones left out, and how many
    of all the task hosts' launches were recorded as Defender aggregated reports."""

    in_scope: pd.DataFrame
    system32_hosts: pd.DataFrame
    aggregated_reports: int = 0


def _empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[0:0].assign(TaskHost=pd.Series(dtype=object), InScopeBy=pd.Series(dtype=object),
                                  Events=pd.Series(dtype="int64"))


def scoped_task_starts(processes: pd.DataFrame, params: HuntParams, config: ScopeConfig | None = None,
                       paths: PathConfig | None = None) -> ScopedStarts:
    """The Task Scheduler launches the hunt looks at, for ``params.scope``.

    ``in_scope`` has the seed's task-start columns plus ``TaskHost``, ``InScopeBy`` and
    ``Events``; in the published scope it is exactly ``rarity.scheduled_task_starts``.
    ``system32_hosts`` (extended scope only) are the other launches by a task host: the
    candidates for ``host_tripwire_starts``.
    """
    if params.scope == "published":
        starts = scheduled_task_starts(processes, params)
        starts = starts.assign(TaskHost="schedule_service", InScopeBy="published", Events=1)
        return ScopedStarts(starts, _empty_like(starts), _aggregated(processes, params))
    config, paths = config or default_scope(), paths or default_paths()
    columns = [c for c in TASK_START_COLUMNS if c in processes.columns]
    parent_is_host = in_ci(processes["InitiatingProcessFileName"], config.host_names)
    launched = processes.loc[parent_is_host & window_mask(processes["Timestamp"], params), columns]
    host = task_hosts(launched, config, params)
    launched = launched.assign(TaskHost=host)[host.notna().to_numpy()]

    published_ids = set(scheduled_task_starts(processes, params).index)
    in_scope_by = pd.Series(None, index=launched.index, dtype=object)
    in_scope_by[launched.index.isin(published_ids)] = "published"
    launched = _guard_grouped_hosts(launched, config)

    names = launched["FileName"].fillna("").astype(str)
    folders = launched["FolderPath"].fillna("").astype(str)
    seed = _seed_keep(names, folders)
    tests = [
        ("host_variant", seed & launched["TaskHost"].eq("schedule_service").to_numpy()),
        (None, seed),  # another host, kept by the seed's own steps 2-3: named after the host
        ("system32_lolbin", in_ci(names, config.system32_lolbins)),
        ("system32_recon", in_ci(names, config.system32_recon)),
        ("headless_conhost", in_ci(names, ["conhost.exe"]) & on_uniques(
            launched["ProcessCommandLine"].fillna(""), lambda u: u.str.lower().str.contains(
                config.headless_conhost, regex=False))),
        ("user_writable_system32", on_uniques(folders, lambda u: np.array(
            [any(t.startswith(f) for f in paths.user_writable_system32) for t in u.str.lower()], dtype=bool))),
        ("scanner_outside_home", in_ci(names, ["mpcmdrun.exe"]) & ~on_uniques(folders, lambda u: np.array(
            [any(t.startswith(h) for h in config.scanner_homes) for t in u.str.lower()], dtype=bool))),
    ]
    in_scope_by = in_scope_by.reindex(launched.index)
    for reason, hit in tests:
        label = launched["TaskHost"] if reason is None else pd.Series(reason, index=launched.index)
        in_scope_by = in_scope_by.where(~(hit & in_scope_by.isna().to_numpy()), label)
    launched = launched.assign(InScopeBy=in_scope_by, Events=aggregated_events(launched))
    kept = in_scope_by.notna().to_numpy()
    aggregated = int(launched["ActionType"].eq(AGGREGATED_ACTION).sum()) if "ActionType" in launched else 0
    return ScopedStarts(launched[kept], launched[~kept].drop(columns="InScopeBy"), aggregated)


def _aggregated(processes: pd.DataFrame, params: HuntParams) -> int:
    """Aggregated reports among the published parent's launches in the window (before steps 2-3)."""
    from hunting_lib.engine.query import seed_literals

    if "ActionType" not in processes:
        return 0
    seed = seed_literals()
    launched = (processes["InitiatingProcessFileName"].eq(seed.parent_file_name)
                & processes["InitiatingProcessCommandLine"].isin(params.parent_command_lines))
    launched &= window_mask(processes["Timestamp"], params)
    return int((launched & processes["ActionType"].eq(AGGREGATED_ACTION)).sum())


def _seed_keep(names: pd.Series, folders: pd.Series) -> np.ndarray:
    """The seed's steps 2-3 on any host's children (MpCmdRun dropped by name, as published)."""
    from hunting_lib.engine.query import seed_literals

    seed = seed_literals()
    not_scanner = (names != seed.excluded_file_name).to_numpy(dtype=bool)
    outside = ~startswith_ci(folders, seed.system_folder_prefix)
    return not_scanner & (outside | in_ci(names, seed.shells))


def _guard_grouped_hosts(launched: pd.DataFrame, config: ScopeConfig) -> pd.DataFrame:
    """Drop the grouped host's children that are not tasks (see ``config/scope.yaml``)."""
    drop = np.zeros(len(launched), dtype=bool)
    for host in config.hosts:
        mine = launched["TaskHost"].eq(host.id).to_numpy()
        if not mine.any():
            continue
        if host.not_children:
            drop |= mine & in_ci(launched["FileName"], host.not_children)
        if host.not_on_devices_with:
            devices = set(launched.loc[launched["TaskHost"].eq(host.not_on_devices_with), "DeviceName"])
            drop |= mine & launched["DeviceName"].isin(devices).to_numpy()
    return launched[~drop]


# ---------------------------------------------------------------------------------------------
# System32 task hosts whose own activity fires a tripwire


def _host_tripwire_rows(frame: pd.DataFrame, tripwire: HostTripwire, config: ScopeConfig,
                        paths: PathConfig) -> np.ndarray:
    if tripwire.test == "user_writable_path":
        return user_writable(frame["FolderPath"], paths)
    return in_ci(frame["FileName"], config.shells)


def host_tripwire_starts(tables: Mapping[str, pd.DataFrame], system32_hosts: pd.DataFrame, params: HuntParams,
                         config: ScopeConfig | None = None, paths: PathConfig | None = None) -> pd.DataFrame:
    """The System32 task-host launches whose own process fired a host tripwire.

    Each activity row is tied to the launch that started its initiating process by device,
    process id and creation time (as ``--match process`` does), so only the very process that
    loaded the DLL or started the program is brought in. The result has the task-start columns,
    ``InScopeBy`` = the tripwire's id, and ``HostTripwires`` (every host tripwire it fired).
    """
    config, paths = config or default_scope(), paths or default_paths()
    if system32_hosts.empty or not config.host_tripwires:
        return _empty_like(system32_hosts).assign(HostTripwires=pd.Series(dtype=object))
    names = set(system32_hosts["FileName"].fillna("").str.lower())
    starts = process_starts(system32_hosts)
    hits = []
    for tripwire in config.host_tripwires:
        frame = tables.get(tripwire.table)
        if frame is None or frame.empty:
            continue
        needed = ["DeviceName", "InitiatingProcessId", "InitiatingProcessCreationTime", "Timestamp",
                  "InitiatingProcessFileName", "FolderPath", "FileName"]
        if any(c not in frame.columns for c in needed):
            continue
        candidates = frame.loc[in_ci(frame["InitiatingProcessFileName"], names) & window_mask(
            frame["Timestamp"], params), needed]
        candidates = candidates[_host_tripwire_rows(candidates, tripwire, config, paths)]
        if candidates.empty:
            continue
        created = resolve_initiating_process(candidates, starts, "InitiatingProcessId", "InitiatingProcessCreationTime")
        found = pd.DataFrame({"DeviceName": candidates["DeviceName"], "ProcessId": candidates["InitiatingProcessId"],
                              "_created": created, "HostTripwire": tripwire.id}).dropna(subset=["_created"])
        hits.append(found)
    if not hits:
        return _empty_like(system32_hosts).assign(HostTripwires=pd.Series(dtype=object))
    fired = pd.concat(hits, ignore_index=True).drop_duplicates()
    fired = fired.groupby(["DeviceName", "ProcessId", "_created"], sort=False)["HostTripwire"].agg(
        lambda v: sorted(set(v))).rename("HostTripwires").reset_index()
    launches = system32_hosts.assign(_created=system32_hosts["ProcessCreationTime"].fillna(system32_hosts["Timestamp"]))
    flagged = launches.merge(fired, on=["DeviceName", "ProcessId", "_created"], how="inner").drop(columns="_created")
    flagged.index = pd.RangeIndex(len(flagged))
    return flagged.assign(InScopeBy=flagged["HostTripwires"].str[0])


def _distinct_lists(starts: pd.DataFrame, rare_tasks: pd.DataFrame, column: str) -> list[list]:
    """Per rare group, the sorted distinct values (or list items) of ``column`` over its launches."""
    if column not in starts.columns or starts.empty:
        return [[] for _ in range(len(rare_tasks))]
    members = starts[GROUP_KEYS + [column]].explode(column) if starts[column].map(
        lambda v: isinstance(v, list)).any() else starts[GROUP_KEYS + [column]]
    members = members.dropna(subset=[column]).drop_duplicates()
    lists = members.groupby(GROUP_KEYS, sort=False, dropna=False)[column].agg(lambda v: sorted(set(v)))
    return [lists.get(key, []) for key in rare_tasks[GROUP_KEYS].itertuples(index=False, name=None)]


def annotate_scope(rare_tasks: pd.DataFrame, starts: pd.DataFrame) -> pd.DataFrame:
    """Add ``TaskHosts``, ``InScopeBy`` and ``HostTripwires``: per group, the hosts that launched
    it, why its launches are in scope, and the host tripwires they fired (lists)."""
    return rare_tasks.assign(
        TaskHosts=_distinct_lists(starts, rare_tasks, "TaskHost"),
        InScopeBy=_distinct_lists(starts, rare_tasks, "InScopeBy"),
        HostTripwires=_distinct_lists(starts, rare_tasks, "HostTripwires"),
    )


def with_host_groups(rare_tasks: pd.DataFrame, starts: pd.DataFrame, flagged: pd.DataFrame,
                     params: HuntParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rare groups and launches plus the System32 launches a host tripwire brought in.

    Each such group counts only its flagged launches (``RareBy = "tripwire"``; the fleet's other
    runs of the same program are not findings), and gets the next TaskIds.
    """
    if flagged.empty:
        return rare_tasks, starts
    known = set(starts[GROUP_KEYS].itertuples(index=False, name=None))
    flagged = flagged[[k not in known for k in flagged[GROUP_KEYS].itertuples(index=False, name=None)]]
    if flagged.empty:
        return rare_tasks, starts
    from hunting_lib.engine.rarity import find_rare_tasks

    groups = find_rare_tasks(flagged, replace(params, threshold=10**9, max_devices=None))
    groups = groups.assign(RareBy="tripwire", TaskId=groups["TaskId"] + len(rare_tasks))
    return (pd.concat([rare_tasks, groups], ignore_index=True),
            pd.concat([starts, flagged], ignore_index=True))
