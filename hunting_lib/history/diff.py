"""What the history holds: the recorded runs, and what changed between two of them.

``list_runs`` gives one row per run (window, sources, how many groups and findings, how many of
its findings were new by the rule of ``runs.history_of`` with no look-back). ``diff_runs``
compares two runs by ``GroupKey``: the findings that appeared or vanished, and the same for every
group the scheduler started (rare or not), so "vanished" can tell "no longer rare" from "no
longer runs".
"""

from __future__ import annotations

import json

import pandas as pd

from hunting_lib.errors import BadInputError
from hunting_lib.history.runs import from_ns, iso
from hunting_lib.history.store import HistoryError, HistoryStore

RUN_COLUMNS = ("RunId", "RecordedAt", "KitVersion", "WindowStart", "WindowEnd", "LatestEvent", "Sources",
               "Groups", "Findings", "NewFindings")
_FINDING_COLUMNS = ("GroupKey", "GroupPattern", "FileName", "ProcessCommandLine", "FolderPath", "Count",
                    "DeviceCount", "Score", "SuppressedBy", "Rank")


def list_runs(store: HistoryStore) -> pd.DataFrame:
    """One row per run, oldest first (RUN_COLUMNS). ``WindowStart``/``WindowEnd`` are the window
    as given, or (when the run had none) the span of the data it saw; times are Timestamps.
    ``Groups`` counts distinct keys; ``NewFindings`` the findings whose key no earlier run saw."""
    runs = store.frame(
        "SELECT r.id AS RunId, r.recorded_at AS RecordedAt, r.kit_version AS KitVersion,"
        " COALESCE(r.window_start, r.span_start) AS WindowStart, COALESCE(r.window_end, r.span_end) AS WindowEnd,"
        " r.latest_event AS LatestEvent, r.sources AS Sources,"
        " (SELECT COUNT(DISTINCT g.group_key) FROM group_counts c JOIN groups g ON g.id = c.group_id"
        "  WHERE c.run_id = r.id) AS Groups,"
        " (SELECT COUNT(*) FROM findings f WHERE f.run_id = r.id) AS Findings,"
        " (SELECT COUNT(DISTINCT f.group_key) FROM findings f WHERE f.run_id = r.id AND NOT EXISTS ("
        "   SELECT 1 FROM groups g JOIN group_counts c ON c.group_id = g.id JOIN runs e ON e.id = c.run_id"
        "   WHERE g.group_key = f.group_key"
        "   AND e.span_end IS NOT NULL AND r.span_start IS NOT NULL AND e.span_end <= r.span_start)) AS NewFindings"
        " FROM runs r ORDER BY r.id")
    if runs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RUN_COLUMNS})
    for column in ("RecordedAt", "WindowStart", "WindowEnd", "LatestEvent"):
        runs[column] = pd.to_datetime(runs[column].map(from_ns), utc=True)
    for column in ("RunId", "Groups", "Findings", "NewFindings"):
        runs[column] = runs[column].astype("int64")
    runs["Sources"] = runs["Sources"].map(json.loads)
    return runs[list(RUN_COLUMNS)]


def _check_run(store: HistoryStore, run_id: int) -> int:
    try:
        run_id = int(run_id)
    except (TypeError, ValueError):
        raise BadInputError(f"--diff: {run_id!r} is not a run id") from None
    if not store.query("SELECT 1 FROM runs WHERE id = ?", [run_id]):
        raise HistoryError(f"{store.path}: run {run_id} is not recorded there (see python -m hunting_lib history)")
    return run_id


def _findings(store: HistoryStore, run_id: int) -> pd.DataFrame:
    """A run's findings, one row per key (the best-ranked of per-user copies, counts summed)."""
    frame = store.frame(
        "SELECT group_key AS GroupKey, group_pattern AS GroupPattern, file_name AS FileName,"
        " command_line AS ProcessCommandLine, folder_path AS FolderPath, count AS Count, device_count AS DeviceCount,"
        " score AS Score, suppressed_by AS SuppressedBy, rank AS Rank FROM findings WHERE run_id = ? ORDER BY rank",
        [run_id])
    return _one_per_key(frame)


def _groups(store: HistoryStore, run_id: int) -> pd.DataFrame:
    frame = store.frame(
        "SELECT g.group_key AS GroupKey, g.group_pattern AS GroupPattern, g.file_name AS FileName,"
        " g.command_line AS ProcessCommandLine, g.folder_path AS FolderPath, c.count AS Count,"
        " c.device_count AS DeviceCount FROM group_counts c JOIN groups g ON g.id = c.group_id"
        " WHERE c.run_id = ? ORDER BY c.count DESC, g.group_key", [run_id])
    return _one_per_key(frame)


def _one_per_key(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    frame = frame.infer_objects()
    totals = frame.groupby("GroupKey", sort=False)["Count"].sum()
    first = frame.drop_duplicates("GroupKey").set_index("GroupKey")
    first["Count"] = totals.reindex(first.index).astype("int64")
    return first.reset_index()


def diff_runs(store: HistoryStore, run_a: int, run_b: int) -> dict[str, pd.DataFrame]:
    """What changed from run ``run_a`` to run ``run_b``, by GroupKey.

    ``appeared``/``vanished``: findings in one run and not the other (``appeared`` carries
    ``WasRunning``: whether ``run_a`` saw the key at all, i.e. it became rare rather than new;
    ``vanished`` carries ``StillRunning``). ``groups_appeared``/``groups_vanished``: the same over
    every group the scheduler started.
    """
    run_a, run_b = _check_run(store, run_a), _check_run(store, run_b)
    found_a, found_b = _findings(store, run_a), _findings(store, run_b)
    groups_a, groups_b = _groups(store, run_a), _groups(store, run_b)
    keys = {name: set(frame["GroupKey"]) if len(frame) else set()
            for name, frame in (("fa", found_a), ("fb", found_b), ("ga", groups_a), ("gb", groups_b))}

    def only(frame: pd.DataFrame, absent: set[str]) -> pd.DataFrame:
        if frame.empty:
            return frame
        return frame[~frame["GroupKey"].isin(absent)].reset_index(drop=True)

    appeared = only(found_b, keys["fa"])
    vanished = only(found_a, keys["fb"])
    if len(appeared):
        appeared["WasRunning"] = appeared["GroupKey"].isin(keys["ga"])
    if len(vanished):
        vanished["StillRunning"] = vanished["GroupKey"].isin(keys["gb"])
    return {"appeared": appeared, "vanished": vanished,
            "groups_appeared": only(groups_b, keys["ga"]), "groups_vanished": only(groups_a, keys["gb"])}


def window_text(start: pd.Timestamp | None, end: pd.Timestamp | None) -> str:
    """``[start, end)`` in ISO, "?" for an end not known."""
    return f"[{iso(start) if start is not None and not pd.isna(start) else '?'}, " \
           f"{iso(end) if end is not None and not pd.isna(end) else '?'})"
