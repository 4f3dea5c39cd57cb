"""Recording a run, and what earlier runs say about a group: ``History`` (New, FirstSeen, RunsSeen).

``New`` follows Elastic's "new terms": a key is new when the Task Scheduler never started it in
any earlier recorded run within the look-back, whether or not it was rare then. So every run
stores the counts of every group it saw (``group_counts``), not only its findings.

Which runs are *earlier*: a run whose window ends at or before this window starts
(``span_end <= start``). Windows are half-open, ``[start, end)``, so consecutive windows touch
without sharing a launch. A re-run of the same window, or any window that overlaps this one,
is not earlier: running a hunt twice must not make its own keys "seen before". A run recorded
without an explicit window gets one from the data it saw (its groups' first launch to its latest
event), stored as ``span_start``/``span_end`` beside the window as given.

Late events: with an overlap the caller reads ``[start - overlap, end)``, asks
``already_counted`` which launches an earlier run counted (by DeviceId and ReportId), drops them,
and hands the launches of its own last ``overlap`` to ``record_run`` as ``boundary_reports``.
Only those tails are kept, and only for the newest runs: a run's tail is pruned once a later,
non-overlapping run is recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hunting_lib.engine.group_key import group_keys
from hunting_lib.errors import BadInputError
from hunting_lib.history.store import HistoryStore

COUNT_COLUMNS = ("GroupKey", "GroupPattern", "FileName", "ProcessCommandLine", "FolderPath", "Count",
                 "DeviceCount", "FirstSeen", "LastSeen")
FINDING_COLUMNS = ("GroupKey", "GroupPattern", "FileName", "ProcessCommandLine", "FolderPath", "Count",
                   "DeviceCount", "Score", "Reasons", "SuppressedBy", "SHA1s", "Rank")
BOUNDARY_COLUMNS = ("DeviceId", "ReportId", "GroupKey", "Timestamp")


@dataclass
class RunRecord:
    """One hunt, as the history keeps it.

    ``group_counts``: every group the scheduler started in the window, rare or not (COUNT_COLUMNS).
    ``findings``: the rare groups (FINDING_COLUMNS; Score, Reasons, SuppressedBy, SHA1s and Rank
    may be missing). ``boundary_reports``: the launches of the window's last ``overlap``
    (BOUNDARY_COLUMNS), which the next run's overlap will read again. ``sources``: table -> file
    or provider *name*; a path is cut to its last part before it is stored.
    """

    kit_version: str
    parameters: dict
    window_start: pd.Timestamp | None
    window_end: pd.Timestamp | None
    latest_event: pd.Timestamp | None
    sources: dict[str, str]
    group_counts: pd.DataFrame
    findings: pd.DataFrame
    boundary_reports: pd.DataFrame | None = None


# -- times: nanoseconds since 1970 (UTC) in the file, pandas Timestamps outside -----------------

def to_ns(value: Any) -> int | None:
    """A time (Timestamp, datetime, ISO text) as nanoseconds since 1970 UTC; None when missing."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value)


def ns_column(values: pd.Series) -> list[int | None]:
    """A column of times as nanoseconds (None for missing), without a loop in Python."""
    stamps = pd.to_datetime(values, utc=True, errors="coerce")
    raw = stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view("int64")
    out = raw.astype(object)
    out[stamps.isna().to_numpy()] = None
    return out.tolist()


def from_ns(value: Any) -> pd.Timestamp | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return pd.Timestamp(int(value), unit="ns", tz="UTC")


def iso(value: Any) -> str | None:
    """ISO 8601 UTC with ``Z`` (fraction only when there is one); None for a missing time."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    stamp = value if isinstance(value, pd.Timestamp) else from_ns(value)
    stamp = stamp.tz_convert("UTC") if stamp.tzinfo else stamp
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = stamp.microsecond * 1000 + stamp.nanosecond
    return text + (f".{fraction:09d}".rstrip("0") if fraction else "") + "Z"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def _as_list(value: Any) -> list:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _source_name(value: Any) -> Any:
    """A source by name: a local path cut to its last part (lists element by element)."""
    if isinstance(value, (list, tuple)):
        return [_source_name(item) for item in value]
    text = str(value)
    return text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] if ("/" in text or "\\" in text) else text


def _keyed(frame: pd.DataFrame, what: str, required: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` with GroupKey/GroupPattern (computed when missing) after checking its columns."""
    missing = [c for c in required if c not in frame.columns]
    if missing and frame.empty:  # nothing ran (or nothing was rare): a run with no rows
        return frame.reindex(columns=list(dict.fromkeys([*frame.columns, *required, "GroupKey", "GroupPattern"])))
    if missing:
        raise BadInputError(f"history: {what} lacks the column(s) {', '.join(missing)}")
    if "GroupKey" not in frame.columns or "GroupPattern" not in frame.columns:
        frame = group_keys(frame.drop(columns=["GroupKey", "GroupPattern"], errors="ignore"))
    return frame


def _text(values: pd.Series) -> list[str]:
    """Strings for SQLite; missing values (NaN, NA, None) as "" whatever the column's dtype."""
    return values.astype(object).where(values.notna(), "").astype(str).tolist()


def _ints(values: pd.Series) -> list[int]:
    return pd.to_numeric(values, errors="coerce").fillna(0).astype("int64").tolist()


def _count_rows(counts: pd.DataFrame) -> list[tuple]:
    """A run's counts as rows: the group (key, pattern, raw triple), then its numbers."""
    return list(zip(_text(counts["GroupKey"]), _text(counts["GroupPattern"]), _text(counts["FileName"]),
                    _text(counts["ProcessCommandLine"]), _text(counts["FolderPath"]), _ints(counts["Count"]),
                    _ints(counts["DeviceCount"]), ns_column(counts["FirstSeen"]), ns_column(counts["LastSeen"])))


def _finding_rows(run_id: int, findings: pd.DataFrame) -> list[tuple]:
    n = len(findings)
    ranks = _ints(findings["Rank"]) if "Rank" in findings else list(range(1, n + 1))
    scores = (pd.to_numeric(findings["Score"], errors="coerce").astype(object)
              .where(findings["Score"].notna(), None).tolist() if "Score" in findings else [None] * n)
    reasons = [_json([str(r) for r in _as_list(v)]) for v in findings["Reasons"]] if "Reasons" in findings \
        else ["[]"] * n
    suppressed = (findings["SuppressedBy"].astype(object).where(findings["SuppressedBy"].notna(), None)
                  .tolist() if "SuppressedBy" in findings else [None] * n)
    sha1s = [_json(sorted({str(h).lower() for h in _as_list(v) if str(h)})) for v in findings["SHA1s"]] \
        if "SHA1s" in findings else ["[]"] * n
    device_counts = _ints(findings["DeviceCount"]) if "DeviceCount" in findings else [0] * n
    return list(zip([run_id] * n, ranks, _text(findings["GroupKey"]), _text(findings["GroupPattern"]),
                    _text(findings["FileName"]), _text(findings["ProcessCommandLine"]),
                    _text(findings["FolderPath"]), _ints(findings["Count"]), device_counts, scores, reasons,
                    suppressed, sha1s))


def _span(record: RunRecord, counts: pd.DataFrame) -> tuple[int | None, int | None]:
    """The window that decides which runs are earlier: as given, else from the data seen."""
    start = to_ns(record.window_start)
    if start is None and len(counts):
        first = pd.to_datetime(counts["FirstSeen"], utc=True, errors="coerce").min()
        start = to_ns(first)
    end = to_ns(record.window_end)
    if end is None:
        last = to_ns(record.latest_event)
        if last is None and len(counts):
            last = to_ns(pd.to_datetime(counts["LastSeen"], utc=True, errors="coerce").max())
        end = None if last is None else last + 1  # half-open: the latest event is inside
    return start, end


def _insert_run(connection, record: RunRecord, span: tuple[int | None, int | None], recorded_at: int) -> int:
    sources = {str(k): _source_name(v) for k, v in (record.sources or {}).items()}
    cursor = connection.execute(
        "INSERT INTO runs (recorded_at, kit_version, window_start, window_end, span_start, span_end, latest_event,"
        " sources) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (recorded_at, str(record.kit_version or ""), to_ns(record.window_start), to_ns(record.window_end),
         span[0], span[1], to_ns(record.latest_event), _json(sources)))
    run_id = int(cursor.lastrowid)
    connection.execute("INSERT INTO run_parameters (run_id, parameters) VALUES (?, ?)",
                       (run_id, _json(record.parameters or {})))
    return run_id


def _insert_rows(connection, run_id: int, counts: pd.DataFrame, findings: pd.DataFrame,
                 boundary: pd.DataFrame | None) -> None:
    # the run's counts go to a scratch table first; two set-wise statements then add the groups
    # never stored before and the counts by group id (row by row it was twice as slow)
    connection.execute("CREATE TEMP TABLE IF NOT EXISTS run_counts (group_key TEXT, group_pattern TEXT,"
                       " file_name TEXT, command_line TEXT, folder_path TEXT, count INTEGER, device_count INTEGER,"
                       " first_seen INTEGER, last_seen INTEGER)")
    connection.execute("DELETE FROM run_counts")
    connection.executemany("INSERT INTO run_counts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", _count_rows(counts))
    connection.execute(
        "INSERT INTO groups (group_key, group_pattern, file_name, command_line, folder_path)"
        " SELECT DISTINCT t.group_key, t.group_pattern, t.file_name, t.command_line, t.folder_path FROM run_counts t"
        " WHERE NOT EXISTS (SELECT 1 FROM groups g WHERE g.group_key = t.group_key AND g.file_name = t.file_name"
        " AND g.command_line = t.command_line AND g.folder_path = t.folder_path)")
    connection.execute(
        "INSERT INTO group_counts (run_id, group_id, count, device_count, first_seen, last_seen)"
        " SELECT ?, g.id, t.count, t.device_count, t.first_seen, t.last_seen FROM run_counts t JOIN groups g"
        " ON g.group_key = t.group_key AND g.file_name = t.file_name AND g.command_line = t.command_line"
        " AND g.folder_path = t.folder_path", (run_id,))
    connection.execute("DELETE FROM run_counts")
    connection.executemany("INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           _finding_rows(run_id, findings))
    if boundary is not None and len(boundary):
        keys = _text(boundary["GroupKey"]) if "GroupKey" in boundary else [None] * len(boundary)
        stamps = ns_column(boundary["Timestamp"]) if "Timestamp" in boundary else [None] * len(boundary)
        connection.executemany("INSERT INTO boundary_reports VALUES (?, ?, ?, ?, ?)",
                               zip([run_id] * len(boundary), _text(boundary["DeviceId"]),
                                   _text(boundary["ReportId"]), keys, stamps))


def record_run(store: HistoryStore, record: RunRecord) -> int:
    """Record one run (parameters, window, every group's counts, findings, boundary launches) in
    one transaction and return its id. A failure part-way leaves the file as it was."""
    from hunting_lib import clock

    counts = _keyed(record.group_counts, "group_counts", COUNT_COLUMNS[2:])
    findings = _keyed(record.findings, "findings", ("FileName", "ProcessCommandLine", "FolderPath", "Count"))
    boundary = record.boundary_reports
    if boundary is not None:
        missing = [c for c in ("DeviceId", "ReportId") if c not in boundary.columns]
        if missing:
            raise BadInputError(f"history: boundary_reports lacks the column(s) {', '.join(missing)}")
    span = _span(record, counts)
    recorded_at = to_ns(clock.now())
    with store.transaction() as connection:
        run_id = _insert_run(connection, record, span, recorded_at)
        _insert_rows(connection, run_id, counts, findings, boundary)
        if span[0] is not None:
            # tails of runs wholly before this one were read again (or never will be): drop them
            connection.execute("DELETE FROM boundary_reports WHERE run_id IN (SELECT id FROM runs WHERE"
                               " span_end IS NOT NULL AND span_end <= ? AND id <> ?)", (span[0], run_id))
    return run_id


def _earlier_runs_clause(start: int | None, lookback_ns: int | None) -> tuple[str, list]:
    """SQL that keeps group_counts rows (``c``) of runs (``r``) earlier than ``start`` and
    inside the look-back."""
    if start is None:
        return "0", []
    clause, values = "r.span_end IS NOT NULL AND r.span_end <= ?", [start]
    if lookback_ns is not None:
        clause += " AND c.last_seen >= ?"
        values.append(start - lookback_ns)
    return clause, values


def history_of(store: HistoryStore, keys: pd.Series, window_start: pd.Timestamp | None,
               lookback: pd.Timedelta | None, first_seen: pd.Series | None = None) -> pd.DataFrame:
    """``GroupKey`` and ``History`` ({"New", "FirstSeen", "RunsSeen"}) for each key, same index.

    Earlier runs are those whose window ends at or before ``window_start``; with ``lookback`` only
    the launches those runs saw in ``[window_start - lookback, window_start)`` count. With no
    ``window_start``, the earliest of ``first_seen`` (this run's first launch of each group) is
    the start; with neither, no run is earlier and every key is new. ``FirstSeen`` is the earliest
    launch of the key in those runs, or this run's (``first_seen``) when it is new.
    """
    keys = keys.astype(object).where(keys.notna(), "").astype(str)
    own_first = (pd.to_datetime(first_seen, utc=True, errors="coerce").reindex(keys.index)
                 if first_seen is not None else pd.Series(pd.NaT, index=keys.index, dtype="datetime64[ns, UTC]"))
    start = to_ns(window_start)
    if start is None and own_first.notna().any():
        start = to_ns(own_first.min())
    lookback_ns = None if lookback is None else int(pd.Timedelta(lookback).value)
    clause, values = _earlier_runs_clause(start, lookback_ns)
    seen = store.frame(
        "SELECT g.group_key AS GroupKey, COUNT(DISTINCT c.run_id) AS RunsSeen, MIN(c.first_seen) AS First"
        " FROM groups g JOIN group_counts c ON c.group_id = g.id JOIN runs r ON r.id = c.run_id"
        f" WHERE g.group_key IN (SELECT value FROM json_each(?)) AND {clause} GROUP BY g.group_key",
        [json.dumps(sorted(set(keys)))] + values)
    seen = seen.set_index("GroupKey") if len(seen) else pd.DataFrame(
        {"RunsSeen": pd.Series(dtype="int64"), "First": pd.Series(dtype=object)})
    runs_seen = keys.map(seen["RunsSeen"].astype("int64")).fillna(0).astype("int64")
    earliest = keys.map(seen["First"].map(iso))
    new = runs_seen == 0
    first_text = [iso(own) if is_new else stored
                  for is_new, own, stored in zip(new, own_first, earliest)]
    history = [{"New": bool(n), "FirstSeen": f, "RunsSeen": int(r)}
               for n, f, r in zip(new, first_text, runs_seen)]
    return pd.DataFrame({"GroupKey": keys, "History": pd.Series(history, index=keys.index, dtype=object)})


def already_counted(store: HistoryStore, reports: pd.DataFrame,
                    window_start: pd.Timestamp | None = None) -> np.ndarray:
    """Per row of ``reports`` (DeviceId, ReportId): whether an earlier run counted that launch.

    With ``window_start``, only the boundary launches of runs ending at or before it count, so a
    re-run of a window does not drop its own launches; without it, every stored one counts.
    """
    if reports.empty:
        return np.zeros(0, dtype=bool)
    devices, report_ids = _text(reports["DeviceId"]), _text(reports["ReportId"])
    pairs = json.dumps(sorted({(d, r) for d, r in zip(devices, report_ids)}))
    start = to_ns(window_start)
    where = "" if start is None else " AND r.span_end IS NOT NULL AND r.span_end <= ?"
    stored = store.frame(
        "SELECT DISTINCT b.device_id AS DeviceId, b.report_id AS ReportId FROM json_each(?) AS asked"
        " JOIN boundary_reports b ON b.device_id = json_extract(asked.value, '$[0]')"
        " AND b.report_id = json_extract(asked.value, '$[1]')"
        " JOIN runs r ON r.id = b.run_id WHERE 1" + where,
        [pairs] + ([] if start is None else [start]))
    if stored.empty:
        return np.zeros(len(reports), dtype=bool)
    wanted = pd.MultiIndex.from_arrays([devices, report_ids])
    found = pd.MultiIndex.from_frame(stored[["DeviceId", "ReportId"]].astype(str))
    return np.asarray(wanted.isin(found), dtype=bool)
