"""The hunt's steps where the data lives: the rarity, the correlation and the fleet's baseline
run as KQL on a connected provider (``remote.provider``), and their results come back typed like
the local engine's, so ``hunt.run_hunt`` finishes them with the same code as a local hunt.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from hunting_lib import clock
from hunting_lib.engine.columns import TASK_EVENT_COLUMNS
from hunting_lib.engine.correlate import (
    ACTIVITY_COLUMNS,
    MAX_DEPTH,
    attribute_launches,
    process_starts,
    rows_of_tree,
    stack_newest_first,
    task_process_tree,
)
from hunting_lib.engine.fleet import GROUP_COUNT_COLUMNS, FleetContext, group_keys, public_ips
from hunting_lib.engine.loader import apply_schema, ensure_columns
from hunting_lib.engine.paths import normalised
from hunting_lib.engine.progress import progress
from hunting_lib.engine.rarity import GROUP_KEYS, TASK_START_COLUMNS, rare_from_statistics
from hunting_lib.engine.task_rows import logon_mask, subject_sessions, task_cache_mask
from hunting_lib.errors import DataWarning
from hunting_lib.params import HuntParams
from hunting_lib.remote.kql import dialect
from hunting_lib.remote.provider import RemoteQueryError, RemoteSource, concat_pieces, run_complete, secure, typed_rows
from hunting_lib.result import Launches
from hunting_lib.schema import PROCESS_TABLE, TABLES

#: Device names in one narrowed row query: keeps the query text short, whatever the fleet.
DEVICES_PER_QUERY = 1000


def _as_list(value: Any) -> list:
    """A make_set result: drivers return a list, an array, or JSON text."""
    if isinstance(value, str):
        return list(json.loads(value)) if value else []
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return list(value)


def _merge_group_statistics(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """Sum counts and unite device/account sets across time pieces, before any threshold."""
    columns = GROUP_KEYS + ["Count", "Devices", "Accounts", "FirstSeen", "LastSeen"]
    frame = concat_pieces(pieces)
    if frame.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        return empty.astype({"Count": "int64", "FirstSeen": "datetime64[ns, UTC]", "LastSeen": "datetime64[ns, UTC]"})
    frame = apply_schema(frame, PROCESS_TABLE, Path("task_start_groups (remote)"))
    for column in ("FirstSeen", "LastSeen"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    frame["Devices"] = frame["Devices"].map(_as_list)
    frame["Accounts"] = frame["Accounts"].map(_as_list)
    grouped = frame.groupby(GROUP_KEYS, sort=False, dropna=False)
    merged = grouped.agg(Count=("Count", "sum"), FirstSeen=("FirstSeen", "min"), LastSeen=("LastSeen", "max"))
    merged["Count"] = merged["Count"].astype("int64")
    merged["Devices"] = grouped["Devices"].agg(lambda lists: sorted({d for v in lists for d in v}))
    merged["Accounts"] = grouped["Accounts"].agg(lambda lists: sorted({a for v in lists for a in v}))
    return merged.reset_index()[columns]


def _window(params: HuntParams) -> tuple[pd.Timestamp, pd.Timestamp]:
    end = params.end or pd.Timestamp(clock.now())
    start = params.start or end - pd.Timedelta(days=30)
    return start, end


def remote_process_rows(source: RemoteSource, params: HuntParams, task_starts: pd.DataFrame,
                        rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """--match process remotely: walk the process tree level by level, then fetch its events."""
    start, end = params.start, params.end  # RemoteHunt.prepare has set the window
    processes = task_starts.copy()
    known = processes
    for _ in range(MAX_DEPTH):
        frontier = known[["DeviceName", "ProcessId"]].dropna().drop_duplicates()
        if frontier.empty:
            break
        children = typed_rows(concat_pieces(run_complete(source, "process_events", start, end, processes=frontier,
                                               tables=[PROCESS_TABLE])), PROCESS_TABLE, ACTIVITY_COLUMNS)
        new = children.merge(processes[["DeviceName", "ProcessId", "ProcessCreationTime"]],
                             on=["DeviceName", "ProcessId", "ProcessCreationTime"], how="left", indicator=True)
        new = new[new["_merge"] == "left_only"].drop(columns="_merge")
        if new.empty:
            break
        processes = pd.concat([processes, new], ignore_index=True)
        known = new
    processes = ensure_columns(processes, PROCESS_TABLE, ACTIVITY_COLUMNS + TASK_START_COLUMNS)
    return _tree_rows(source, params, task_process_tree(processes, task_starts, rare_tasks), processes)


def _tree_rows(source: RemoteSource, params: HuntParams, tree: pd.DataFrame, processes: pd.DataFrame) -> pd.DataFrame:
    """The events of the processes in ``tree``, fetched by (device, process id) and kept when
    they match a tree member's process exactly (``correlate.rows_of_tree``)."""
    rows = concat_pieces(run_complete(source, "process_events", params.start, params.end,
                                      processes=tree[["DeviceName", "ProcessId"]], tables=present_tables(source)))
    starts = process_starts(processes)
    pieces = [rows_of_tree(frame, tree, starts).assign(Table=table) for table, frame in _by_table(source, rows)]
    return stack_newest_first([p for p in pieces if not p.empty], ["Table"] + ACTIVITY_COLUMNS + ["TaskId", "Depth"])


def _by_table(source: RemoteSource, rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """A union's rows split by their ``SourceTable``, each named and typed as the local table."""
    if rows.empty:
        return []
    return [(table, typed_rows(frame.drop(columns="SourceTable"), table, ACTIVITY_COLUMNS))
            for table, frame in ((_canonical_table(source, name), frame)
                                 for name, frame in rows.groupby("SourceTable", sort=False))]


def _canonical_table(source: RemoteSource, name: str) -> str:
    names = dialect(source.dialect, source.table_names).tables
    reverse = {renamed: table for table, renamed in names.items()}
    return reverse.get(name, name)


def device_chunks(counts: pd.DataFrame, row_budget: int, per_query: int = DEVICES_PER_QUERY) -> list[list[str]]:
    """Devices (``DeviceName`` with its matched ``Rows``) in chunks of at most ``per_query`` names
    whose rows add up to about ``row_budget`` (plus at most one device's), so each row query is
    expected to come back whole; a device with more rows than the limit is split in time later."""
    counts = counts.sort_values("DeviceName", kind="stable").reset_index(drop=True)
    rows = pd.to_numeric(counts["Rows"], errors="coerce").fillna(0).astype("int64")
    before = rows.cumsum() - rows
    chunk = pd.DataFrame({"by_rows": before // max(row_budget, 1), "by_names": counts.index // per_query})
    return [list(frame) for _, frame in counts["DeviceName"].groupby([chunk["by_rows"], chunk["by_names"]], sort=True)]


def _seed_rows(source: RemoteSource, params: HuntParams, rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """The seed's step 5 rows, read device by device: first how many rows each device holds (one
    aggregate), then the rows of only those devices, in chunks sized under the row limit."""
    groups, tables = rare_tasks[GROUP_KEYS], present_tables(source)
    counts = concat_pieces(run_complete(source, "task_activity_devices", params.start, params.end, groups=groups,
                                        tables=tables))
    chunks = device_chunks(counts, source.limit // 2) if not counts.empty else []
    rows = concat_pieces([piece for chunk in progress(chunks, "activity rows, by device")
                          for piece in run_complete(source, "task_activity_rows", params.start, params.end,
                                                    groups=groups, devices=chunk, tables=tables)])
    pieces = [frame.assign(Table=table) for table, frame in _by_table(source, rows)]
    return stack_newest_first(pieces, ["Table"] + ACTIVITY_COLUMNS)


def present_tables(source: RemoteSource) -> list[str]:
    """The seven tables less those ``check_tables`` found missing."""
    return [table for table in TABLES if table not in source.missing_tables]


def check_tables(source: RemoteSource, params: HuntParams) -> list[str]:
    """The Device* tables the workspace lacks (one cheap query), with a warning naming them.

    The activity queries union the tables with ``isfuzzy=true``, so a missing one does not fail
    the hunt; this says which one the hunt went without. DeviceProcessEvents cannot be missing.
    """
    found = concat_pieces(run_complete(source, "table_presence", params.start, params.end))
    present = set(found["SourceTable"]) if "SourceTable" in found else set()
    missing = [table for table in TABLES if table not in present]
    source.missing_tables = missing
    if PROCESS_TABLE in missing:
        raise RemoteQueryError(f"the workspace has no {PROCESS_TABLE} table (or names it otherwise: see "
                               "table_names); the hunt cannot run without it")
    if missing:
        warnings.warn(f"the workspace does not collect {', '.join(missing)}: the hunt ran without "
                      f"{'it' if len(missing) == 1 else 'them'}", DataWarning, stacklevel=2)
    return missing


def _host_rows(source: RemoteSource, params: HuntParams, task_starts: pd.DataFrame,
               host_groups: pd.DataFrame) -> pd.DataFrame:
    """The events of the System32 task-host processes a host tripwire brought in (by process)."""
    tree = task_process_tree(task_starts, task_starts, host_groups, max_depth=0)
    return _tree_rows(source, params, tree, task_starts)


def remote_fleet(source: RemoteSource, params: HuntParams, activity_rows: pd.DataFrame) -> FleetContext:
    """The fleet's baseline from two aggregate queries: launches per group with their devices,
    and devices per public IP the rare tasks' processes contacted."""
    groups = concat_pieces(run_complete(source, "fleet_groups", params.start, params.end))
    if groups.empty:
        return FleetContext()
    groups["Devices"] = groups["Devices"].map(_as_list)  # the aggregated-reports row has none
    keyed = pd.DataFrame({"key": group_keys(groups), "program": normalised(groups["FolderPath"]),
                          "Devices": groups["Devices"]}).explode("Devices").dropna()
    task_devices = keyed.groupby("key")["Devices"].nunique().astype("int64")
    program_devices = keyed.groupby("program")["Devices"].nunique().astype("int64")
    ips = public_ips(activity_rows["RemoteIP"]) if "RemoteIP" in activity_rows else set()
    ip_devices = pd.Series(dtype="int64")
    if ips:
        found = concat_pieces(run_complete(source, "ip_devices", params.start, params.end, ips=sorted(ips)))
        if not found.empty:
            found["Devices"] = found["Devices"].map(_as_list)
            ip_devices = found.explode("Devices").dropna().groupby("RemoteIP")["Devices"].nunique().astype("int64")
    return FleetContext(int(keyed["Devices"].nunique()), task_devices, ip_devices,
                        int(pd.to_numeric(groups["Aggregated"], errors="coerce").fillna(0).sum()), program_devices)


def _optional(source: RemoteSource, name: str, params: HuntParams, **values) -> pd.DataFrame:
    """A query that a service may not offer (FileProfile on Sentinel, a table not ingested): its
    result, or an empty frame and a warning that names what is missing."""
    try:
        return concat_pieces(run_complete(source, name, params.start, params.end, **values))
    except RemoteQueryError as error:
        warnings.warn(f"{name} is not available here, the hunt goes on without it: {error}", DataWarning,
                      stacklevel=2)
        return pd.DataFrame()


def file_information(source: RemoteSource, params: HuntParams, rare_tasks: pd.DataFrame,
                     task_starts: pd.DataFrame) -> pd.DataFrame:
    """Per rare group, what Defender knows of its program's file: ``SignatureState`` (Valid,
    Unsigned, Invalid, ...) and ``GlobalPrevalence``, from FileProfile() (Defender XDR) and
    DeviceFileCertificateInfo, by the SHA1 of the group's launches."""
    launches = attribute_launches(task_starts, rare_tasks)
    hashes = launches[["TaskId", "SHA1"]].dropna()
    hashes = hashes[hashes["SHA1"].astype(str).str.fullmatch(r"[0-9a-fA-F]{40}")].drop_duplicates()
    columns = ["TaskId", "SignatureState", "GlobalPrevalence"]
    if hashes.empty:
        return pd.DataFrame(columns=columns)
    sha1s = sorted(set(hashes["SHA1"].str.lower()))
    hashes = hashes.assign(SHA1=hashes["SHA1"].str.lower())
    pieces = []
    if source.dialect == "defender":  # FileProfile() enriches at most 100 files a call
        profiles = concat_pieces([_optional(source, "file_profiles", params, sha1s=sha1s[i:i + 100])
                            for i in range(0, len(sha1s), 100)])
        if not profiles.empty:
            states = profiles["SignatureState"].astype(str).str.lower()
            profiles = profiles.assign(SHA1=profiles["SHA1"].astype(str).str.lower(), SignatureState=states.map(
                {"signedvalid": "Valid", "signedinvalid": "Invalid", "unsigned": "Unsigned"}).fillna("Unknown"))
            pieces.append(profiles[["SHA1", "SignatureState", "GlobalPrevalence"]])
    certificates = _optional(source, "file_certificates", params, sha1s=sha1s)
    if not certificates.empty:
        signed = certificates["IsSigned"].astype(str).str.lower().isin(["true", "1"])
        trusted = certificates["IsTrusted"].astype(str).str.lower().isin(["true", "1"])
        state = pd.Series("Valid", index=certificates.index).where(trusted, "Untrusted").where(signed, "Unsigned")
        pieces.append(pd.DataFrame({"SHA1": certificates["SHA1"].astype(str).str.lower(), "SignatureState": state,
                                    "GlobalPrevalence": pd.NA}))
    if not pieces:
        return pd.DataFrame(columns=columns)
    return hashes.merge(pd.concat(pieces, ignore_index=True), on="SHA1", how="inner")[columns]


#: How far before the hunt's window task registrations are read.
REGISTRATION_LOOKBACK = pd.Timedelta(days=30)


def remote_task_events(source, params: HuntParams) -> dict[str, pd.DataFrame]:
    """The three subsets from the service, typed as the loader types files. A table the
    workspace does not collect (``check_tables`` warned of it) gives an empty subset."""
    lookback = params.start - REGISTRATION_LOOKBACK if params.start is not None else None
    missing = set(source.missing_tables)

    def rows(name: str, table: str, **values) -> pd.DataFrame:
        if table in missing:
            return typed_rows(pd.DataFrame(), table, TASK_EVENT_COLUMNS[table])
        found = concat_pieces(run_complete(source, name, lookback, params.end, **values))
        return typed_rows(found, table, TASK_EVENT_COLUMNS[table])

    registrations = rows("task_registrations", "DeviceEvents")
    cache = rows("task_cache", "DeviceRegistryEvents")
    cache = cache[task_cache_mask(cache)].reset_index(drop=True)
    sessions = subject_sessions(registrations)
    logons = typed_rows(pd.DataFrame(), "DeviceLogonEvents", TASK_EVENT_COLUMNS["DeviceLogonEvents"])
    if not sessions.empty:
        logons = rows("task_logons", "DeviceLogonEvents", sessions=sessions)
        logons = logons[logon_mask(logons, sessions).to_numpy()]
    return {"registrations": registrations, "registry": cache, "logons": logons.reset_index(drop=True)}


class RemoteHunt:
    """A connected provider as a hunt source (``hunt.HuntSource``).

    Rarity runs remotely as group statistics (merged across time pieces, then thresholded); the
    rare groups' launches, the flagged System32 task hosts and the matched events come back as
    rows; the fleet's baseline as two aggregates; each rare program's signature and global
    prevalence from Defender.
    """

    def __init__(self, source: RemoteSource | Any):
        self.source = source if isinstance(source, RemoteSource) else RemoteSource(secure(source))
        self.group_counts: pd.DataFrame | None = None

    def prepare(self, params: HuntParams) -> HuntParams:
        start, end = _window(params)
        if params.history is not None and params.end is not None:
            # history counts windows half-open, [start, end): the service's ``between`` is closed,
            # so stop one tick (Kusto's 100 ns) short of the end the next window starts at
            end = end - pd.Timedelta(100, "ns")
        params = replace(params, start=start, end=end)
        # a new run: a fresh budget and tally (the pacing keeps its memory of recent calls)
        self.source.queries_used, self.source.rows_fetched, self.source.hash_parts = 0, 0, 1
        check_tables(self.source, params)
        return params

    def launches(self, params: HuntParams) -> Launches:
        source, start, end = self.source, params.start, params.end
        statistics = _merge_group_statistics(run_complete(source, "task_start_groups", start, end))
        # every group in scope, rare or not: what a hunt history records
        self.group_counts = statistics.assign(DeviceCount=statistics["Devices"].map(len))[GROUP_COUNT_COLUMNS]
        rare_tasks = rare_from_statistics(statistics, params)
        columns = TASK_START_COLUMNS + ["TaskHost", "InScopeBy", "Events"]
        task_starts = ensure_columns(pd.DataFrame(), PROCESS_TABLE, columns)
        if not rare_tasks.empty:
            raw = concat_pieces(run_complete(source, "task_starts", start, end, groups=rare_tasks[GROUP_KEYS]))
            # The server filtered the three values independently; keep exact group members.
            task_starts = _launches(raw, columns).merge(rare_tasks[GROUP_KEYS], on=GROUP_KEYS, how="inner")
        flagged = pd.DataFrame()
        if params.scope == "extended":
            flagged = _launches(concat_pieces(run_complete(source, "flagged_launches", start, end)),
                                columns + ["HostTripwires"])
            flagged["HostTripwires"] = flagged["HostTripwires"].map(lambda v: sorted(_as_list(v)))
        return Launches(rare_tasks, task_starts, flagged)

    def activity_rows(self, params: HuntParams, task_starts: pd.DataFrame, rare_tasks: pd.DataFrame) -> pd.DataFrame:
        activity_rows = pd.DataFrame(columns=["Table"] + ACTIVITY_COLUMNS)
        if not rare_tasks.empty:
            if params.match == "process":
                activity_rows = remote_process_rows(self.source, params, task_starts, rare_tasks)
            else:
                by_host = rare_tasks["RareBy"].eq("tripwire")
                pieces = [_seed_rows(self.source, params, rare_tasks[~by_host])] if (~by_host).any() else []
                if by_host.any():
                    pieces.append(_host_rows(self.source, params, task_starts, rare_tasks[by_host]))
                if pieces:
                    columns = list(dict.fromkeys(c for p in pieces for c in p.columns))
                    activity_rows = stack_newest_first(pieces, columns)
        return ensure_columns(activity_rows, PROCESS_TABLE, ACTIVITY_COLUMNS)

    def fleet(self, params: HuntParams, launches: Launches, activity_rows: pd.DataFrame) -> FleetContext:
        launched = concat_pieces(run_complete(self.source, "scheduler_groups", params.start, params.end))
        launched = (typed_rows(launched, PROCESS_TABLE, GROUP_KEYS)[GROUP_KEYS].drop_duplicates(ignore_index=True)
                    if not launched.empty else None)
        return replace(remote_fleet(self.source, params, activity_rows), group_counts=self.group_counts,
                       scheduler_groups=launched)

    def file_information(self, params: HuntParams, rare_tasks: pd.DataFrame,
                         task_starts: pd.DataFrame) -> pd.DataFrame | None:
        return file_information(self.source, params, rare_tasks, task_starts)

    def task_events(self, params: HuntParams) -> dict[str, pd.DataFrame]:
        return remote_task_events(self.source, params)

    def describe(self) -> dict[str, Any]:
        source = self.source
        # what the run cost the tenant: it goes into the JSON's ``parameters``
        spent = {"reader": "remote", "remote_queries": source.queries_used, "remote_rows": source.rows_fetched,
                 "remote_query_budget": source.query_budget, "remote_missing_tables": list(source.missing_tables)}
        return {"sources": {"provider": type(source.provider).__name__, "dialect": source.dialect},
                "data": None, "remote": source, "reader": spent}


def _launches(raw: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Launches from a remote result, typed like the loader's, with the scope's columns."""
    frame = typed_rows(raw, PROCESS_TABLE, [c for c in columns if c not in ("TaskHost", "InScopeBy", "Events",
                                                                         "HostTripwires")])
    for column in ("TaskHost", "InScopeBy", "HostTripwires"):
        if column in columns and column not in frame:
            frame[column] = pd.Series(dtype=object)
    frame["Events"] = pd.to_numeric(frame.get("Events", pd.Series(1, index=frame.index)),
                                    errors="coerce").fillna(1).astype("int64")
    return frame
