"""Hand-built runs for the history tests: fixed windows, groups written out by hand."""

from __future__ import annotations

import pandas as pd

from hunting_lib.engine.group_key import group_keys
from hunting_lib.history.runs import RunRecord

#: Monday of the first window; every test window is a whole week after it.
WEEK0 = pd.Timestamp("2026-10-05T00:00:00Z")
WEEK = pd.Timedelta(days=7)


def window(n: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The n-th weekly window, half-open ``[start, end)``."""
    return WEEK0 + n * WEEK, WEEK0 + (n + 1) * WEEK


def program(name: str) -> tuple[str, str, str]:
    """A (FileName, ProcessCommandLine, FolderPath) triple for a made-up task program."""
    folder = f"C:\\ProgramData\\{name}\\{name}.exe"
    return f"{name}.exe", f'"{folder}" /run', folder


def counts(triples: list[tuple[str, str, str]], week: int, count: int = 5, devices: int = 2,
           hours: int = 1) -> pd.DataFrame:
    """group_counts for ``triples``, each first seen ``hours`` into window ``week``."""
    start, _ = window(week)
    frame = pd.DataFrame(triples, columns=["FileName", "ProcessCommandLine", "FolderPath"])
    frame["Count"] = count
    frame["DeviceCount"] = devices
    frame["FirstSeen"] = start + pd.Timedelta(hours=hours)
    frame["LastSeen"] = start + pd.Timedelta(hours=hours + 24)
    return group_keys(frame)


def findings(group_counts: pd.DataFrame, sha1s: list[list[str]] | None = None, score: float = 4.0) -> pd.DataFrame:
    """Findings for the groups of ``group_counts`` (all of them rare), ranked in order."""
    out = group_counts.drop(columns=["FirstSeen", "LastSeen"]).reset_index(drop=True)
    out["Score"] = score
    out["Reasons"] = [["user_writable_folder"] for _ in range(len(out))]
    out["SuppressedBy"] = None
    out["SHA1s"] = sha1s if sha1s is not None else [[] for _ in range(len(out))]
    out["Rank"] = range(1, len(out) + 1)
    return out


def record(week: int | None, group_counts: pd.DataFrame, found: pd.DataFrame | None = None,
           boundary: pd.DataFrame | None = None, sources: dict | None = None) -> RunRecord:
    """A RunRecord for window ``week`` (None: no explicit window)."""
    start, end = window(week) if week is not None else (None, None)
    return RunRecord(
        kit_version="0.1.0", parameters={"threshold": 3, "start": None if start is None else start.isoformat()},
        window_start=start, window_end=end,
        latest_event=None if end is None else end - pd.Timedelta(minutes=5),
        sources=sources or {"DeviceProcessEvents": "DeviceProcessEvents.csv"},
        group_counts=group_counts,
        findings=found if found is not None else findings(group_counts.iloc[0:0]),
        boundary_reports=boundary)
