"""``task_definitions``: each rare group's registered task, and the registrations that never ran.

A registration (``ScheduledTaskCreated``/``Updated``) belongs to a group when, on a device where
the group ran, one of its Exec actions is the group's program and command line (``matching``). A
task written into the TaskCache outside the API (``hidden``) belongs to a group when its decoded
action matches, or else when the group first ran there within ``registry_link_hours`` after the
write and no API registration explains the group on that device.

``TaskDefinitions`` holds one entry per (device, task) a group matched: a task registered on three
devices gives three entries, each naming its ``DeviceName`` and its own caller and times, because
who registered it and from where is per device. The five signals are per group: any entry.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hunting_lib.engine.correlate import attribute_launches
from hunting_lib.params import HuntParams
from hunting_lib.tasks.config import TaskConfig, by_script_host, load_task_config  # noqa: F401 (API)
from hunting_lib.tasks.hidden import registry_tasks
from hunting_lib.tasks.matching import match_actions
from hunting_lib.tasks.never_ran import never_ran_registrations
from hunting_lib.tasks.registrations import (
    CREATED,
    DELETED,
    UPDATED,
    TaskEvents,
    device_key,
    exec_actions,
    iso,
    registration_rows,
    with_network_logons,
)

#: The signal columns ``task_definitions`` adds to the rare groups.
SIGNALS = ("registered_remotely", "registered_before_first_run", "registered_by_script_host", "deleted_after_run",
           "registered_outside_api")
#: The fields of each ``TaskDefinitions`` entry, in order.
ENTRY_FIELDS = ("TaskName", "Command", "Arguments", "Actions", "Triggers", "Principal", "RunLevel", "LogonType",
                "Hidden", "RegisteredAt", "RegisteredBy", "RegisteredByProcess", "RegisteredByCommandLine",
                "RegisteredFromNetworkLogon", "RegisteredRemotely", "RemoteIP", "RemoteDevice", "RemoteIPFrom",
                "DeletedAt", "UpdatedAt", "Source", "Format", "Truncated", "DeviceName")


def parsed_registrations(events: TaskEvents, config: TaskConfig | None = None) -> pd.DataFrame:
    """Every registration row read (``registration_rows``), with its caller's network logon,
    ``_device``, and per (device, task): ``DeletedAt`` (the first deletion after it) and
    ``UpdatedAt`` (the last update after it)."""
    config = config or load_task_config()
    rows = with_network_logons(registration_rows(events.registrations), events.logons,
                               address_seconds=config.logon_address_seconds)
    rows["_device"] = device_key(rows)
    rows["_row"] = np.arange(len(rows))
    rows["DeletedAt"] = _first_after(rows, rows[rows["ActionType"].eq(DELETED)], "first")
    rows["UpdatedAt"] = _first_after(rows, rows[rows["ActionType"].eq(UPDATED)], "last")
    return rows


def _first_after(rows: pd.DataFrame, later: pd.DataFrame, which: str) -> pd.Series:
    """Per row, the first (or last) time of ``later`` rows of the same device and task after it."""
    empty = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns, UTC]")
    if later.empty or rows.empty:
        return empty
    pairs = rows[["_row", "_device", "TaskKey", "Timestamp"]].merge(
        later[["_device", "TaskKey", "Timestamp"]].rename(columns={"Timestamp": "_later"}), on=["_device", "TaskKey"])
    pairs = pairs[pairs["_later"] > pairs["Timestamp"]]
    found = pairs.groupby("_row")["_later"].agg(which)
    return empty.where(~rows["_row"].isin(found.index), rows["_row"].map(found))


def _group_runs(rare_tasks: pd.DataFrame, task_starts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rare groups' launches (``_device``, ``TaskId``, ``Timestamp``) and, per (device,
    group), the distinct strings and first run."""
    if rare_tasks.empty or task_starts.empty:
        launches = pd.DataFrame(columns=["_device", "TaskId", "Timestamp", "DeviceName"])
    else:
        launches = attribute_launches(task_starts, rare_tasks)
        when = pd.to_datetime(launches["Timestamp"], utc=True, errors="coerce")
        launches = launches.assign(_device=device_key(launches), Timestamp=when)
    runs = launches.groupby(["_device", "TaskId"], as_index=False, sort=False).agg(
        FirstRun=("Timestamp", "min"), DeviceName=("DeviceName", "first"))
    strings = rare_tasks[["TaskId", "FileName", "FolderPath", "ProcessCommandLine"]]
    return launches, runs.merge(strings, on="TaskId", how="inner")


def _api_entries(rows: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Registrations matched to groups: one row per (group, device, task), the first
    registration's fields, ``Source`` api."""
    api = rows[rows["ActionType"].isin([CREATED, UPDATED])]
    api = api[api["_device"].isin(set(runs["_device"]))]  # only a device a group ran on can match it
    pairs = match_actions(exec_actions(api), runs[["_device", "TaskId", "FileName", "FolderPath",
                                                    "ProcessCommandLine"]], on=["_device"])
    if pairs.empty:
        return pd.DataFrame(columns=list(ENTRY_FIELDS) + ["TaskId", "_device", "TaskKey", "_at", "_row"])
    matched = pairs[["_row", "TaskId"]].drop_duplicates().merge(api, on="_row")
    matched = matched.assign(_created=matched["ActionType"].eq(CREATED)).sort_values(
        ["_created", "Timestamp"], ascending=[False, True])
    entries = matched.drop_duplicates(["TaskId", "_device", "TaskKey"], keep="first").copy()
    entries["_at"] = entries["Timestamp"]
    entries["Source"] = "api"
    return entries


def _registry_entries(found: pd.DataFrame, runs: pd.DataFrame, api: pd.DataFrame,
                      config: TaskConfig) -> pd.DataFrame:
    """Registry-only tasks linked to groups: by their decoded action, else by time."""
    if found.empty or runs.empty:
        return pd.DataFrame(columns=["TaskId", "_device", "TaskKey", "_at"])
    found = found.assign(_device=device_key(found), _reg=np.arange(len(found)))
    decoded = found[found["Command"].ne("")]
    by_action = match_actions(decoded[["_reg", "_device", "Command", "Arguments"]],
                              runs[["_device", "TaskId", "FileName", "FolderPath", "ProcessCommandLine"]],
                              on=["_device"])[["_reg", "TaskId"]]
    # an API task hidden later (SD deleted) belongs to the groups its API registration matched
    by_api = found[found["ApiRegistered"]][["_reg", "_device", "TaskKey"]].merge(
        api[["_device", "TaskKey", "TaskId"]], on=["_device", "TaskKey"])[["_reg", "TaskId"]]
    explained = set(zip(api["_device"], api["TaskId"]))
    undecided = found[found["Command"].eq("") & ~found["ApiRegistered"]]
    near = undecided[["_reg", "_device", "RegisteredAt"]].merge(runs[["_device", "TaskId", "FirstRun"]], on="_device")
    gap = near["FirstRun"] - pd.to_datetime(near["RegisteredAt"], utc=True)
    near = near[(gap >= pd.Timedelta(0)) & (gap <= pd.Timedelta(hours=config.registry_link_hours))]
    unexplained = np.array([(d, t) not in explained for d, t in zip(near["_device"], near["TaskId"])], dtype=bool)
    near = near[unexplained][["_reg", "TaskId"]]
    links = pd.concat([by_action, by_api, near]).drop_duplicates()
    return links.merge(found, on="_reg").assign(_at=lambda f: pd.to_datetime(f["RegisteredAt"], utc=True))


def task_definitions(rare_tasks: pd.DataFrame, task_starts: pd.DataFrame, events: TaskEvents,
                     params: HuntParams, config: TaskConfig | None = None,
                     ran_elsewhere: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rare groups with ``TaskDefinitions``, ``TaskNames``, ``FirstRegisteredAt`` and the five
    signal columns, and the companion table of rare registrations that never ran
    (``never_ran.never_ran_registrations``)."""
    config = config or load_task_config()
    rows = parsed_registrations(events, config)
    launches, runs = _group_runs(rare_tasks, task_starts)
    api = _api_entries(rows, runs)
    hidden = registry_tasks(events.registry, rows)
    registry = _registry_entries(hidden, runs, api, config)
    out = rare_tasks.copy()
    out = _with_signals(out, api, registry, launches, runs, rows, config)
    companion = never_ran_registrations(rows, hidden, task_starts, params, config, ran_elsewhere)
    return out, companion


def _with_signals(out: pd.DataFrame, api: pd.DataFrame, registry: pd.DataFrame, launches: pd.DataFrame,
                  runs: pd.DataFrame, rows: pd.DataFrame, config: TaskConfig) -> pd.DataFrame:
    """Per group: the entries, the task names, the first registration and the five signals."""
    api = api.copy()
    hidden_api = set(zip(registry.get("_device", []), registry.get("TaskKey", []))) if len(registry) else set()
    hidden_api = {k for k in hidden_api if k in set(zip(api["_device"], api["TaskKey"]))}
    api["Hidden"] = api["Hidden"].astype(bool) | pd.Series(
        [(d, k) in hidden_api for d, k in zip(api["_device"], api["TaskKey"])], index=api.index, dtype=bool)
    first_run = runs.set_index(["_device", "TaskId"])["FirstRun"] if len(runs) else pd.Series(dtype=object)
    gap = pd.Series([first_run.get((d, t), pd.NaT) for d, t in zip(api["_device"], api["TaskId"])],
                    index=api.index, dtype="datetime64[ns, UTC]") - pd.to_datetime(api["_at"], utc=True)
    window = pd.Timedelta(minutes=config.minutes_before_first_run)
    api["_before_run"] = ((gap >= pd.Timedelta(0)) & (gap <= window)).fillna(False)
    api["_script_host"] = by_script_host(api, config) if len(api) else pd.Series(dtype=bool)
    api["_deleted_after_run"] = _deleted_after_run(api, launches, rows, config)
    registry_only = registry[~registry.get("ApiRegistered", pd.Series(dtype=bool)).astype(bool)] \
        if len(registry) else registry
    decoded = [[{"Type": "Exec", "Command": c, "Arguments": a, "WorkingDirectory": ""}] if c else []
               for c, a in zip(registry_only.get("Command", []), registry_only.get("Arguments", []))]
    registry_only = registry_only.assign(Source="registry", Format=None, Actions=decoded,
                                         Triggers=[[] for _ in range(len(registry_only))], Principal="", RunLevel="",
                                         LogonType="", RegisteredFromNetworkLogon=False, RegisteredRemotely=False,
                                         RemoteIP=None, RemoteDevice=None, RemoteIPFrom=None, DeletedAt=pd.NaT,
                                         UpdatedAt=pd.NaT, Truncated=False)
    parts = [part for part in (api, registry_only) if len(part)]
    entries = pd.concat(parts, ignore_index=True) if len(parts) == 2 else (parts[0] if parts else api)
    ids = out["TaskId"]
    per_group: dict[Any, list[dict[str, Any]]] = {}
    for record in entries.sort_values("_at").to_dict("records") if len(entries) else []:
        per_group.setdefault(record["TaskId"], []).append(_entry(record))
    out["TaskDefinitions"] = ids.map(lambda t: per_group.get(t, []))
    out["TaskNames"] = out["TaskDefinitions"].map(lambda items: sorted({e["TaskName"] for e in items if e["TaskName"]}))
    first = entries.groupby("TaskId")["_at"].min() if len(entries) else pd.Series(dtype="datetime64[ns, UTC]")
    out["FirstRegisteredAt"] = pd.to_datetime(ids.map(first), utc=True)
    flagged = lambda column: set(api.loc[api[column].astype(bool), "TaskId"]) if len(api) else set()  # noqa: E731
    out["registered_remotely"] = ids.isin(flagged("RegisteredRemotely"))
    out["registered_before_first_run"] = ids.isin(flagged("_before_run"))
    out["registered_by_script_host"] = ids.isin(flagged("_script_host"))
    out["deleted_after_run"] = ids.isin(flagged("_deleted_after_run"))
    out["registered_outside_api"] = ids.isin(set(registry["TaskId"]) if len(registry) else set())
    return out


def _deleted_after_run(api: pd.DataFrame, launches: pd.DataFrame, rows: pd.DataFrame,
                       config: TaskConfig) -> pd.Series:
    """Entries whose task was deleted on the device within the window after a run of the group."""
    deletions = rows[rows["ActionType"].eq(DELETED)][["_device", "TaskKey", "Timestamp"]]
    if api.empty or deletions.empty or launches.empty:
        return pd.Series(False, index=api.index, dtype=bool)
    keyed = api[["_device", "TaskKey", "TaskId"]].reset_index()
    pairs = keyed.merge(deletions.rename(columns={"Timestamp": "_deleted"}), on=["_device", "TaskKey"])
    pairs = pairs.merge(launches[["_device", "TaskId", "Timestamp"]], on=["_device", "TaskId"])
    gap = pairs["_deleted"] - pairs["Timestamp"]
    hit = pairs.loc[(gap >= pd.Timedelta(0)) & (gap <= pd.Timedelta(minutes=config.minutes_deleted_after_run)),
                    "index"]
    return pd.Series(api.index.isin(set(hit)), index=api.index, dtype=bool)


def _entry(record: dict[str, Any]) -> dict[str, Any]:
    """One ``TaskDefinitions`` object: JSON-ready (times ISO, missing text as None)."""
    entry: dict[str, Any] = {}
    for name in ENTRY_FIELDS:
        value = record.get(name)
        if name in ("RegisteredAt", "DeletedAt", "UpdatedAt"):
            value = iso(record.get("_at") if name == "RegisteredAt" else value)
        elif name in ("Hidden", "RegisteredFromNetworkLogon", "RegisteredRemotely", "Truncated"):
            value = bool(value) if value is not None and not (isinstance(value, float) and np.isnan(value)) else False
        elif name in ("Actions", "Triggers"):
            value = list(value) if isinstance(value, (list, tuple, np.ndarray)) else []
        elif name in ("RemoteIP", "RemoteDevice", "RemoteIPFrom", "Format"):
            value = value if isinstance(value, str) and value else None
        else:
            value = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
        entry[name] = value
    return entry
