"""Step 5 of the seed: what the rare tasks' processes did, across the seven tables.

The seed builds three lower-cased sets from the rare groups (names, command lines, folder paths)
and keeps every event of the seven tables whose initiating process is in *each* set,
independently: ``tolower(InitiatingProcessFileName) in (Names) and tolower(...CommandLine) in
(CommandLines) and tolower(...FolderPath) in (FolderPaths)``. A row can therefore match with a
name from one rare group and a command line from another; this module reproduces that, because
the seed's results are the specification.

The seven tables are never unioned in full: each is filtered on its own and only the matching
rows, with the few columns the summary needs, are stacked.
"""

from __future__ import annotations

import pandas as pd

from .kql_ops import in_ci, make_set
from .loader import empty_table, ensure_columns
from .params import HuntParams
from .rarity import window_mask
from .schema import TABLES

#: The seed's final ``summarize ... by`` keys.
ACTIVITY_KEYS: list[str] = [
    "InitiatingProcessFileName",
    "InitiatingProcessId",
    "InitiatingProcessCommandLine",
    "InitiatingProcessCreationTime",
    "DeviceName",
]

#: Columns every activity table is read with; absent ones are filled as ``union`` fills them.
ACTIVITY_COLUMNS: list[str] = ACTIVITY_KEYS + [
    "Timestamp",
    "ActionType",
    "FileName",
    "RemoteIP",
    "InitiatingProcessFolderPath",
    # Not read by the seed, but by triage and the pivots: what was written, loaded or contacted.
    "FolderPath",
    "ProcessCommandLine",
    "ProcessId",
    "ProcessCreationTime",
    "AccountName",
    "RemotePort",
    "RemoteUrl",
    "RegistryKey",
    "RegistryValueName",
    "RegistryValueData",
]

#: The seed's three ``make_set`` lists: output name and source column.
ACTIVITY_SETS: dict[str, str] = {"Actions": "ActionType", "FileNames": "FileName", "RemoteIPs": "RemoteIP"}


def task_activity_rows(
    tables: dict[str, pd.DataFrame], rare_tasks: pd.DataFrame, params: HuntParams
) -> pd.DataFrame:
    """Every event whose initiating process matches the rare groups the way the seed matches.

    The result has the ``ACTIVITY_COLUMNS`` plus ``Table``, newest first (the seed's
    ``sort by Timestamp desc``); it is the input of the summary and of the timeline pivots.
    """
    names = set(rare_tasks["FileName"].str.lower())
    command_lines = set(rare_tasks["ProcessCommandLine"].str.lower())
    folder_paths = set(rare_tasks["FolderPath"].str.lower())
    pieces = []
    for table in TABLES:
        frame = tables.get(table)
        if frame is None or frame.empty or rare_tasks.empty:
            continue
        frame = ensure_columns(frame, table, ACTIVITY_COLUMNS)
        # Cheapest test first: file names are few, so most rows fall out before the others run.
        mask = in_ci(frame["InitiatingProcessFileName"], names)
        mask &= window_mask(frame["Timestamp"], params)
        candidates = frame.loc[mask]
        keep = in_ci(candidates["InitiatingProcessCommandLine"], command_lines) & in_ci(
            candidates["InitiatingProcessFolderPath"], folder_paths
        )
        matched = candidates.loc[keep, ACTIVITY_COLUMNS].copy()
        matched.insert(0, "Table", table)
        pieces.append(matched)
    if not pieces:
        return empty_table(TABLES[0], ["Table"] + ACTIVITY_COLUMNS)
    rows = pd.concat(pieces, ignore_index=True)
    return rows.sort_values("Timestamp", ascending=False, kind="stable", na_position="last").reset_index(
        drop=True
    )


def summarise_activity(rows: pd.DataFrame) -> pd.DataFrame:
    """The seed's last ``summarize``: one row per initiating process, with its sets of actions,
    file names and remote IPs (``make_set``: distinct, first occurrence first, "" left out).

    Extra columns for the analyst: ``Tables`` (where the activity was seen), ``EventCount``,
    ``FirstSeen`` and ``LastSeen``.
    """
    columns = ACTIVITY_KEYS + list(ACTIVITY_SETS) + ["Tables", "EventCount", "FirstSeen", "LastSeen"]
    if rows.empty:
        out = rows[ACTIVITY_KEYS].copy()
        for name in columns[len(ACTIVITY_KEYS):]:
            out[name] = pd.Series(dtype=object)
        return out[columns]
    rows = rows.assign(_group=rows.groupby(ACTIVITY_KEYS, dropna=False, sort=False).ngroup())
    grouped = rows.groupby("_group", sort=False)
    summary = grouped[ACTIVITY_KEYS].first()
    for name, source in {**ACTIVITY_SETS, "Tables": "Table"}.items():
        summary[name] = make_set(rows, "_group", source)
    summary["EventCount"] = grouped.size()
    summary["FirstSeen"] = grouped["Timestamp"].min()
    summary["LastSeen"] = grouped["Timestamp"].max()
    return summary.sort_values(
        ["DeviceName", "InitiatingProcessCreationTime", "InitiatingProcessId", "InitiatingProcessCommandLine"],
        kind="stable",
        na_position="last",
    ).reset_index(drop=True)[columns]


def correlate_activity(
    tables: dict[str, pd.DataFrame], rare_tasks: pd.DataFrame, params: HuntParams
) -> pd.DataFrame:
    """Step 5 end to end: the seed's activity summary for the rare groups."""
    return summarise_activity(task_activity_rows(tables, rare_tasks, params))
