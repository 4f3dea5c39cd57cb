"""The rows that say how tasks were registered: read for the ``tasks`` step.

Three small subsets of three tables, whatever the hunt's reader was:

- ``DeviceEvents`` rows whose ActionType is ``ScheduledTaskCreated``, ``...Updated`` or
  ``...Deleted`` (Defender's record of a registration through the Task Scheduler's API);
- ``DeviceRegistryEvents`` rows under ``...\\Schedule\\TaskCache\\`` (every registration writes
  there; a registration that writes only there bypassed the API);
- ``DeviceLogonEvents`` rows of the logon sessions that registered a task (a registration's
  ``SubjectLogonId``), which tell a network logon and its remote address.

Tables the hunt loaded whole are filtered in pandas. A folder the parquet scan read (which kept
only the rows rarity and correlation use) is read again for these rows only, with the filters in
the reader (``slices.FindingSlices.read_rows``). The logons are read last, only for the devices
and session ids the registrations name: a domain controller records millions of network logons.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from hunting_lib.engine.columns import TASK_EVENT_COLUMNS
from hunting_lib.engine.slices import FindingSlices

REGISTRATION_ACTIONS = ("ScheduledTaskCreated", "ScheduledTaskUpdated", "ScheduledTaskDeleted")
TASK_CACHE = "\\schedule\\taskcache\\"
def _registrations_where(pl: Any, present: dict[str, Any]) -> Any:
    if "ActionType" not in present:
        return pl.lit(False)
    return pl.col("ActionType").cast(pl.String).is_in(list(REGISTRATION_ACTIONS))


def _task_cache_where(pl: Any, present: dict[str, Any]) -> Any:
    if "RegistryKey" not in present:
        return pl.lit(False)
    key = pl.col("RegistryKey").cast(pl.String)
    # ASCII case folds itself; a key with other characters is kept for pandas to judge
    return key.str.contains_any([TASK_CACHE], ascii_case_insensitive=True) | (key.str.len_bytes() != key.str.len_chars())


#: What the suspect-device test reads of a TaskCache row (``_suspect_devices``).
_WRITER_COLUMNS = ["DeviceId", "DeviceName", "ActionType", "RegistryKey", "RegistryValueName",
                   "InitiatingProcessFileName", "InitiatingProcessCommandLine"]


def _suspect_devices(cache: pd.DataFrame) -> set[str]:
    """Devices where something other than the Schedule service wrote TaskCache keys, or a task's
    ``SD`` value was deleted: the only ones ``tasks.hidden`` can find anything on. The service
    test is ``tasks.registrations.is_schedule_service``'s: svchost.exe whose command line names
    Schedule or netsvcs, or is empty (Sysmon-derived exports)."""
    if cache.empty:
        return set()
    text = lambda c: cache[c].fillna("").astype(str) if c in cache else pd.Series("", index=cache.index)  # noqa: E731
    # the test once per distinct writer (a handful), not per row
    codes, writers = pd.factorize(pd.MultiIndex.from_arrays([text("InitiatingProcessFileName"),
                                                             text("InitiatingProcessCommandLine")]), sort=False)
    names, lines = (pd.Series([w[i] for w in writers], dtype=object).str.lower() for i in (0, 1))
    service = (names.eq("svchost.exe") & (lines.str.contains("schedule", regex=False)
                                          | lines.str.contains("netsvcs", regex=False)
                                          | lines.str.strip().eq(""))).to_numpy()[codes]
    deleted = (text("ActionType") == "RegistryValueDeleted").to_numpy()
    deleted[deleted] = text("RegistryValueName")[deleted].str.lower().eq("sd").to_numpy()
    return set(text("DeviceName")[~service | deleted])


def registration_mask(frame: pd.DataFrame) -> pd.Series:
    return frame["ActionType"].isin(REGISTRATION_ACTIONS) if "ActionType" in frame else pd.Series(False, frame.index)


def task_cache_mask(frame: pd.DataFrame) -> pd.Series:
    if "RegistryKey" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["RegistryKey"].fillna("").astype(str).str.lower().str.contains(TASK_CACHE, regex=False)


def subject_sessions(registrations: pd.DataFrame) -> pd.DataFrame:
    """(DeviceName, LogonId, AccountName) of the sessions that registered tasks: ``SubjectLogonId``
    in the registration's AdditionalFields, hex (``0x3e7``) or decimal, and ``SubjectUserName``
    lower-cased ("" when absent)."""
    columns = {"DeviceName": pd.Series(dtype=object), "LogonId": pd.Series(dtype="int64"),
               "AccountName": pd.Series(dtype=object)}
    if registrations.empty or "AdditionalFields" not in registrations:
        return pd.DataFrame(columns)
    text = registrations["AdditionalFields"].fillna("").astype(str)
    found = text.str.extract(r'"SubjectLogonId"\s*:\s*"?(0[xX][0-9a-fA-F]+|\d+)"?', expand=False)
    account = text.str.extract(r'"SubjectUserName"\s*:\s*"((?:[^"\\]|\\.)*)"', expand=False)
    sessions = pd.DataFrame({"DeviceName": registrations["DeviceName"], "raw": found,
                             "AccountName": account.fillna("").str.lower()}).dropna(subset=["raw"])
    if sessions.empty:
        return pd.DataFrame(columns)
    sessions["LogonId"] = sessions["raw"].map(lambda v: int(v, 16) if v.lower().startswith("0x") else int(v))
    # 0x3e7, 0x3e4, 0x3e5: SYSTEM, NETWORK SERVICE, LOCAL SERVICE; never a network logon
    sessions = sessions[~sessions["LogonId"].isin([0x3E7, 0x3E4, 0x3E5])]
    return sessions[["DeviceName", "LogonId", "AccountName"]].drop_duplicates(ignore_index=True)


def logon_mask(logons: pd.DataFrame, sessions: pd.DataFrame) -> pd.Series:
    """The registering sessions' own logons, and the network logons of the same accounts on the
    same devices: an NTLM caller often opens several sessions a few milliseconds apart, and only
    one of them records the remote address (``tasks.registrations.with_network_logons``)."""
    if logons.empty or sessions.empty or "LogonId" not in logons:
        return pd.Series(False, index=logons.index)
    ids = pd.to_numeric(logons["LogonId"], errors="coerce")
    devices = logons["DeviceName"].astype(object)
    wanted = pd.MultiIndex.from_frame(sessions[["DeviceName", "LogonId"]].astype({"LogonId": "int64"}))
    own = pd.MultiIndex.from_arrays([devices, ids.fillna(-1).astype("int64")]).isin(wanted)
    named = sessions[sessions["AccountName"].ne("")]
    if named.empty or "AccountName" not in logons or "LogonType" not in logons:
        return pd.Series(own, index=logons.index)
    accounts = pd.MultiIndex.from_frame(named[["DeviceName", "AccountName"]])
    same_account = pd.MultiIndex.from_arrays(
        [devices, logons["AccountName"].fillna("").astype(str).str.lower()]).isin(accounts)
    network = logons["LogonType"].fillna("").astype(str).eq("Network").to_numpy()
    return pd.Series(own | (same_account & network), index=logons.index)


def _columns(table: str, frame: pd.DataFrame) -> list[str]:
    return [c for c in TASK_EVENT_COLUMNS[table] if c in frame.columns]


def task_event_frames(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The three subsets from tables loaded whole (or DataFrames given by table)."""
    empty = pd.DataFrame()
    events = tables.get("DeviceEvents", empty)
    registry = tables.get("DeviceRegistryEvents", empty)
    logons = tables.get("DeviceLogonEvents", empty)
    registrations = events.loc[registration_mask(events), _columns("DeviceEvents", events)] if len(events) else empty
    cache = registry.loc[task_cache_mask(registry), _columns("DeviceRegistryEvents", registry)] if len(registry) else empty
    if len(cache):
        cache = cache[cache["DeviceName"].isin(_suspect_devices(cache)).to_numpy()]
    sessions = subject_sessions(registrations)
    logons = logons.loc[logon_mask(logons, sessions), _columns("DeviceLogonEvents", logons)] if len(logons) else empty
    return {"registrations": registrations.reset_index(drop=True), "registry": cache.reset_index(drop=True),
            "logons": logons.reset_index(drop=True)}


def task_event_frames_from_files(files: Mapping[str, Any], slices: FindingSlices | None = None) -> dict[str, pd.DataFrame]:
    """The three subsets read from the tables' files (parquet with filters in the reader)."""
    slices = slices or FindingSlices(files)
    registrations = slices.read_rows("DeviceEvents", TASK_EVENT_COLUMNS["DeviceEvents"], _registrations_where,
                                     registration_mask, "task_registrations")
    # Two reads: who wrote the TaskCache, then every column of only the devices where something
    # other than the Schedule service did (a fleet's week holds a dozen service writes per
    # ordinary registration, hundreds of thousands of rows nothing is found in)
    writers = slices.read_rows("DeviceRegistryEvents", _WRITER_COLUMNS, _task_cache_where, task_cache_mask,
                               "task_cache_writers")
    suspects = sorted(_suspect_devices(writers[task_cache_mask(writers)]))

    def suspect_where(pl: Any, present: dict[str, Any]) -> Any:
        if not suspects or "DeviceName" not in present:
            return pl.lit(False)
        return _task_cache_where(pl, present) & pl.col("DeviceName").cast(pl.String).is_in(suspects)

    cache = slices.read_rows("DeviceRegistryEvents", TASK_EVENT_COLUMNS["DeviceRegistryEvents"], suspect_where,
                             lambda frame: task_cache_mask(frame) & frame["DeviceName"].isin(suspects), "task_cache")
    cache = cache[task_cache_mask(cache)].reset_index(drop=True)
    sessions = subject_sessions(registrations)
    devices = sorted(set(sessions["DeviceName"]))
    ids = sorted(set(int(v) for v in sessions["LogonId"]))
    accounts = sorted(set(sessions["AccountName"]) - {""})

    def logon_where(pl: Any, present: dict[str, Any]) -> Any:
        if not devices or "LogonId" not in present or "DeviceName" not in present:
            return pl.lit(False)
        wanted = pl.col("LogonId").cast(pl.Int64, strict=False).is_in(ids)
        if accounts and "AccountName" in present and "LogonType" in present:
            # a superset (ASCII case folds itself; others are kept): pandas tests the pairs exactly
            name = pl.col("AccountName").cast(pl.String)
            wanted |= (pl.col("LogonType").cast(pl.String) == "Network") & (
                name.str.to_lowercase().is_in(accounts) | (name.str.len_bytes() != name.str.len_chars()))
        return pl.col("DeviceName").cast(pl.String).is_in(devices) & wanted

    logons = slices.read_rows("DeviceLogonEvents", TASK_EVENT_COLUMNS["DeviceLogonEvents"], logon_where,
                              lambda frame: logon_mask(frame, sessions), "task_logons")
    logons = logons[logon_mask(logons, sessions)].reset_index(drop=True)
    return {"registrations": registrations, "registry": cache, "logons": logons}
