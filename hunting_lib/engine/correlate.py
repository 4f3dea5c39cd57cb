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

from hunting_lib.engine.columns import ACTIVITY_COLUMNS, ACTIVITY_KEYS  # noqa: F401 (part of this module's API)
from hunting_lib.engine.kql_ops import in_ci, make_set
from hunting_lib.engine.loader import empty_table, ensure_columns
from hunting_lib.engine.rarity import GROUP_KEYS, window_mask
from hunting_lib.params import HuntParams
from hunting_lib.schema import PROCESS_TABLE, TABLES

#: The seed's three ``make_set`` lists: output name and source column.
ACTIVITY_SETS: dict[str, str] = {"Actions": "ActionType", "FileNames": "FileName", "RemoteIPs": "RemoteIP"}


def stack_newest_first(pieces: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Matched rows of several tables as one frame, newest first (the seed's sort), typed when empty."""
    if not pieces:
        return empty_table(PROCESS_TABLE, columns)
    rows = pd.concat(pieces, ignore_index=True)[columns]
    return rows.sort_values("Timestamp", ascending=False, kind="stable", na_position="last").reset_index(drop=True)


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
        if keep.any():
            matched = candidates.loc[keep, ACTIVITY_COLUMNS].copy()
            matched.insert(0, "Table", table)
            pieces.append(matched)
    return stack_newest_first(pieces, ["Table"] + ACTIVITY_COLUMNS)


# --------------------------------------------------------------------------------------------
# --match process: correlation keyed on process identity

#: How many generations of descendants to follow below a task's process.
MAX_DEPTH = 8
#: How a child's record of its parent's creation time relates to the parent's start event.
#: Defender stamps the start event (its ProcessCreationTime) when it reports it, which is at or
#: after the real creation time that the children's InitiatingProcessCreationTime carries: 0.4 s
#: later for sc.exe and 17 s later for taskhostw.exe in the real msticpy export. So a row is
#: given the first start of that process id on that device from just before its
#: InitiatingProcessCreationTime (the slack absorbs exports that cut times to milliseconds) up to
#: ``CREATION_WINDOW`` later. Windows does not reuse a process id on one device that quickly.
CREATION_SLACK = pd.Timedelta(seconds=1)
CREATION_WINDOW = pd.Timedelta(seconds=60)
_PROCESS_KEY = ["DeviceName", "ProcessId", "_created"]


def process_starts(processes: pd.DataFrame) -> pd.DataFrame:
    """Every process start seen: device, process id and creation time (the event time if absent)."""
    starts = pd.DataFrame({
        "DeviceName": processes["DeviceName"],
        "ProcessId": processes["ProcessId"],
        "_created": processes["ProcessCreationTime"].fillna(processes["Timestamp"]),
    })
    return starts.dropna(subset=["ProcessId", "_created"]).drop_duplicates().sort_values("_created")


def resolve_initiating_process(
    rows: pd.DataFrame, process_starts: pd.DataFrame, id_column: str, time_column: str
) -> pd.Series:
    """For each row, the creation time of the process start its initiating process refers to.

    A row with the initiating process's creation time takes the first start with that id on that
    device within ``CREATION_WINDOW`` of it (see above); a row without it takes the latest start
    with that id at or before the row's own time. NaT when no start matches.
    """
    resolved = []
    starts = process_starts.rename(columns={"ProcessId": id_column}).assign(_start=lambda f: f["_created"])
    has_time = rows[time_column].notna()
    for mask, on, shift, direction, tolerance in (
        (has_time, time_column, CREATION_SLACK, "forward", CREATION_WINDOW + CREATION_SLACK),
        (~has_time & rows["Timestamp"].notna(), "Timestamp", pd.Timedelta(0), "backward", None),
    ):
        part = rows.loc[mask & rows[id_column].notna(), ["DeviceName", id_column, on]]
        if part.empty:
            continue
        part = part.assign(_row=part.index, _at=part[on] - shift).sort_values("_at")
        merged = pd.merge_asof(part, starts[["DeviceName", id_column, "_start"]], left_on="_at",
                               right_on="_start", by=["DeviceName", id_column], direction=direction,
                               tolerance=tolerance)
        resolved.append(pd.Series(merged["_start"].array, index=merged["_row"].to_numpy()))
    out = pd.concat(resolved) if resolved else pd.Series(dtype="datetime64[ns, UTC]")
    return out.reindex(rows.index).astype("datetime64[ns, UTC]")


def task_process_tree(
    processes: pd.DataFrame, task_starts: pd.DataFrame, rare_tasks: pd.DataFrame, max_depth: int = MAX_DEPTH
) -> pd.DataFrame:
    """The rare tasks' processes and all their descendants, one row per process.

    Columns: DeviceName, ProcessId, _created (creation time), TaskId (the rare group's id in
    ``rare_tasks``) and Depth (0 for the task's own process). A process is identified
    by device, id *and* creation time, because Windows reuses process ids.
    """
    roots = attribute_launches(task_starts, rare_tasks)
    tree = pd.DataFrame({
        "DeviceName": roots["DeviceName"],
        "ProcessId": roots["ProcessId"],
        "_created": roots["ProcessCreationTime"].fillna(roots["Timestamp"]),
        "TaskId": roots["TaskId"],
        "Depth": 0,
    }).dropna(subset=["ProcessId"]).drop_duplicates(_PROCESS_KEY)
    starts = process_starts(processes)
    # Only processes whose parent id is a tree member's id can be descendants: resolve those.
    candidates = processes[processes["InitiatingProcessId"].isin(tree["ProcessId"].unique())]
    frontier = tree
    for depth in range(1, max_depth + 1):
        if candidates.empty:
            break
        children = pd.DataFrame({
            "DeviceName": candidates["DeviceName"],
            "_parent_id": candidates["InitiatingProcessId"],
            "_parent_created": resolve_initiating_process(
                candidates, starts, "InitiatingProcessId", "InitiatingProcessCreationTime"),
            "ProcessId": candidates["ProcessId"],
            "_created": candidates["ProcessCreationTime"].fillna(candidates["Timestamp"]),
        })
        parents = frontier.rename(columns={"ProcessId": "_parent_id", "_created": "_parent_created"})
        found = children.merge(parents[["DeviceName", "_parent_id", "_parent_created", "TaskId"]],
                               on=["DeviceName", "_parent_id", "_parent_created"], how="inner")
        found = found[["DeviceName", "ProcessId", "_created", "TaskId"]].assign(Depth=depth)
        found = found.merge(tree[_PROCESS_KEY], on=_PROCESS_KEY, how="left", indicator=True)
        found = found[found["_merge"] == "left_only"].drop(columns="_merge").drop_duplicates(_PROCESS_KEY)
        if found.empty:
            break
        tree = pd.concat([tree, found], ignore_index=True)
        frontier = found
        candidates = processes[processes["InitiatingProcessId"].isin(found["ProcessId"].unique())]
    return tree.reset_index(drop=True)


def rows_of_tree(frame: pd.DataFrame, tree: pd.DataFrame, process_starts: pd.DataFrame) -> pd.DataFrame:
    """The rows of one table whose initiating process is in ``tree``, with TaskId and Depth."""
    # Cheap semi-join on (device, id) first; only those rows need their process resolved.
    ids = tree[["DeviceName", "ProcessId"]].drop_duplicates().rename(columns={"ProcessId": "InitiatingProcessId"})
    rows = frame.merge(ids, on=["DeviceName", "InitiatingProcessId"], how="inner")
    if rows.empty:
        return rows.assign(TaskId=pd.Series(dtype="Int64"), Depth=pd.Series(dtype="Int64"))
    rows["_created"] = resolve_initiating_process(
        rows, process_starts, "InitiatingProcessId", "InitiatingProcessCreationTime")
    lookup = tree.rename(columns={"ProcessId": "InitiatingProcessId"})
    return rows.merge(lookup, on=["DeviceName", "InitiatingProcessId", "_created"], how="inner").drop(
        columns="_created")


def process_activity_rows(
    tables: dict[str, pd.DataFrame], task_starts: pd.DataFrame, rare_tasks: pd.DataFrame, params: HuntParams,
    max_depth: int = MAX_DEPTH,
) -> pd.DataFrame:
    """``--match process``: every event of the rare tasks' processes and their descendants.

    Unlike the seed's string match, this works on exports whose InitiatingProcessFolderPath holds
    only the folder, and it never pulls in a non-task process that shares a command line. Rows
    carry ``TaskId`` (their rare group's id) and ``Depth`` (0: the task's own process).
    """
    processes = ensure_columns(tables[PROCESS_TABLE], PROCESS_TABLE, ACTIVITY_COLUMNS)
    tree = task_process_tree(processes, task_starts, rare_tasks, max_depth)
    starts = process_starts(processes)
    pieces = []
    for table in TABLES:
        frame = tables.get(table)
        if frame is None or frame.empty or tree.empty:
            continue
        frame = ensure_columns(frame, table, ACTIVITY_COLUMNS)
        frame = frame.loc[window_mask(frame["Timestamp"], params), ACTIVITY_COLUMNS]
        matched = rows_of_tree(frame, tree, starts)
        if not matched.empty:
            pieces.append(matched.assign(Table=table))
    return stack_newest_first(pieces, ["Table"] + ACTIVITY_COLUMNS + ["TaskId", "Depth"])


def attribute_launches(task_starts: pd.DataFrame, rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """The rare groups' Task Scheduler launches, each with its group's ``TaskId``: a launch
    belongs to the group whose FileName, ProcessCommandLine and FolderPath it has, exactly."""
    return task_starts.merge(rare_tasks[GROUP_KEYS + ["TaskId"]], on=GROUP_KEYS, how="inner")


def attribute_rows(activity_rows: pd.DataFrame, rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """Activity rows paired with the rare group (``TaskId``) whose process initiated them.

    A row that carries a ``TaskId`` (process matching, or a System32 host brought in by a host
    tripwire) keeps it. Any other row belongs to a group when its initiating process's
    lower-cased name, command line and path equal the group's, all three together (the seed
    matches the three independently; attribution needs the one group). A row can belong to two
    groups that differ only by case; it then counts for both.
    """
    if activity_rows.empty or rare_tasks.empty:
        return activity_rows.iloc[0:0].assign(TaskId=pd.Series(dtype="int64"))
    rows = activity_rows
    has_id = rows["TaskId"].notna() if "TaskId" in rows.columns else pd.Series(False, index=rows.index)
    by_id = rows[has_id & rows.get("TaskId", pd.Series(dtype=object)).isin(rare_tasks["TaskId"])]
    keys = ["_name", "_cmd", "_path"]
    groups = pd.DataFrame({
        "_task": rare_tasks["TaskId"].to_numpy(),
        "_name": rare_tasks["FileName"].str.lower().to_numpy(),
        "_cmd": rare_tasks["ProcessCommandLine"].str.lower().to_numpy(),
        "_path": rare_tasks["FolderPath"].str.lower().to_numpy(),
    })
    rest = rows[~has_id]
    by_string = rest.assign(
        _name=rest["InitiatingProcessFileName"].str.lower(),
        _cmd=rest["InitiatingProcessCommandLine"].str.lower(),
        _path=rest["InitiatingProcessFolderPath"].str.lower(),
    ).merge(groups, on=keys, how="inner").drop(columns=keys + (["TaskId"] if "TaskId" in rest else []))
    by_string = by_string.rename(columns={"_task": "TaskId"})
    out = pd.concat([by_id, by_string], ignore_index=True) if len(by_id) else by_string.reset_index(drop=True)
    return out.astype({"TaskId": "int64"})


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


def match_mode_differences(seed_activity: pd.DataFrame, process_activity: pd.DataFrame) -> pd.DataFrame:
    """Initiating processes that one correlation mode finds and the other does not.

    ``FoundBy`` is ``seed only`` (typically a non-task process sharing a task's command line, or
    a row the seed pairs across groups) or ``process only`` (typically a descendant of a task, or
    an export whose InitiatingProcessFolderPath holds only the folder).
    """
    keys = ["DeviceName", "InitiatingProcessFileName", "InitiatingProcessId", "InitiatingProcessCommandLine"]
    both = seed_activity[keys + ["EventCount"]].merge(
        process_activity[keys + ["EventCount"]], on=keys, how="outer", indicator=True,
        suffixes=("Seed", "Process"))
    differing = both[both["_merge"] != "both"].copy()
    differing["FoundBy"] = differing["_merge"].map({"left_only": "seed only", "right_only": "process only"})
    return differing.drop(columns="_merge").sort_values(["FoundBy"] + keys).reset_index(drop=True)
