"""One hunt's use of the history file: what earlier runs saw, the verdicts, and this run's record.

``run_hunt`` opens it (``open_memory``) when the parameters name a history file, asks it to
``annotate`` the rare groups (``History``: new to the scheduler or seen before) and hands its
``verdicts`` to triage; once the result exists, ``record`` writes the run in one transaction.

The window a run records is half-open, ``[start, end)``: the group counts leave out a launch at
exactly ``end`` (``fleet.group_counts``), so the next window, starting there, counts it once.
With an overlap (``history_overlap_minutes``) the hunt reads earlier than ``start``, for events
that arrived late; a launch an earlier run already counted (same DeviceId and ReportId) is not
counted again, and the launches in this window's last ``overlap`` minutes are kept for the next
run to check against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import hunting_lib
from hunting_lib.engine.fleet import group_counts
from hunting_lib.engine.group_key import group_keys
from hunting_lib.errors import BadInputError
from hunting_lib.params import HuntParams
from hunting_lib.result import Launches

#: The columns of a finding the history keeps.
FINDING_COLUMNS = ["GroupKey", "GroupPattern", "FileName", "ProcessCommandLine", "FolderPath", "Count",
                   "DeviceCount", "Score", "Reasons", "SuppressedBy", "SHA1s", "Rank"]


def _redacted(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Secrets in command lines never reach the history file (``report.redact``)."""
    from hunting_lib.report.redact import redact_frame

    return redact_frame(frame, [c for c in columns if c in frame.columns])


@dataclass
class HuntMemory:
    """The history file as one hunt sees it."""

    params: HuntParams
    store: Any
    launches: Launches
    fleet_counts: pd.DataFrame | None = None
    verdicts: pd.DataFrame | None = None
    previous_run_id: int | None = None
    _counts: pd.DataFrame | None = None

    @property
    def lookback(self) -> pd.Timedelta | None:
        days = self.params.history_lookback_days
        return None if days is None else pd.Timedelta(days=days)

    def window(self, counts: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """The window recorded: the parameters', or where they leave it open, the data's."""
        start, end = self.params.start, self.params.end
        if start is None and len(counts):
            start = pd.Timestamp(counts["FirstSeen"].min())
        if end is None and len(counts):
            # open-ended: just after the last launch, so that the last launch is inside [start, end)
            end = pd.Timestamp(counts["LastSeen"].max()) + pd.Timedelta(microseconds=1)
        return start, end

    def annotate(self, rare_tasks: pd.DataFrame) -> pd.DataFrame:
        """``History`` on each rare group, from the runs recorded before this one."""
        from hunting_lib.history.runs import history_of

        start, _ = self.window(self.counts())
        found = history_of(self.store, rare_tasks["GroupKey"], start, self.lookback)
        by_key = dict(zip(found["GroupKey"], found["History"]))
        out = rare_tasks.copy()
        out["History"] = [_first_seen_now(by_key.get(key), first) for key, first in zip(out["GroupKey"], out["FirstSeen"])]
        return out

    def counts(self) -> pd.DataFrame:
        """Every group the scheduler started in the window, with its key (the run's record)."""
        if self._counts is not None:
            return self._counts
        fleet_counts = self.fleet_counts
        if self.params.history_overlap_minutes:
            fleet_counts = group_counts(self._not_counted_before(), self.params)
        elif fleet_counts is None:
            fleet_counts = group_counts(self.launches.in_scope, self.params)
        self._counts = group_keys(fleet_counts)
        return self._counts

    def _not_counted_before(self) -> pd.DataFrame:
        from hunting_lib.history.runs import already_counted

        starts = self.launches.in_scope
        if starts is None:
            raise BadInputError("history_overlap_minutes: an overlap needs local data (the remote path counts "
                                "launches where they are, without their report ids)")
        early = starts["Timestamp"] < self.params.start if self.params.start is not None else starts["Timestamp"].isna()
        early = early.to_numpy(dtype=bool, na_value=False)
        if not early.any():
            return starts
        seen = already_counted(self.store, starts.loc[early, ["DeviceId", "ReportId"]])
        drop = starts.index[early][seen]
        return starts.drop(index=drop)

    def _boundary_reports(self, end: pd.Timestamp | None) -> pd.DataFrame | None:
        minutes = self.params.history_overlap_minutes
        starts = self.launches.in_scope
        if not minutes or starts is None or end is None:
            return None
        tail = starts[(starts["Timestamp"] >= end - pd.Timedelta(minutes=minutes)) & (starts["Timestamp"] < end)]
        keyed = group_keys(tail[["FileName", "ProcessCommandLine", "FolderPath"]])
        return pd.DataFrame({"DeviceId": tail["DeviceId"].to_numpy(), "ReportId": tail["ReportId"].to_numpy(),
                             "GroupKey": keyed["GroupKey"].to_numpy(), "Timestamp": tail["Timestamp"].to_numpy()})

    def record(self, result: Any) -> dict[str, Any]:
        """Write this run: parameters, window, sources by name, group counts and findings."""
        from hunting_lib.history.runs import RunRecord, record_run

        counts = self.counts()
        start, end = self.window(counts)
        findings = result.rare_tasks.assign(Rank=range(1, len(result.rare_tasks) + 1))
        findings = findings[[c for c in FINDING_COLUMNS if c in findings.columns]]
        latest = pd.Timestamp(counts["LastSeen"].max()) if len(counts) else None
        record = RunRecord(
            kit_version=hunting_lib.__version__, parameters=result.params.as_dict(), window_start=start,
            window_end=end, latest_event=latest, sources={t: Path(str(p)).name for t, p in result.sources.items()},
            group_counts=_redacted(counts, ["ProcessCommandLine", "GroupPattern"]),
            findings=_redacted(findings, ["ProcessCommandLine", "GroupPattern"]),
            boundary_reports=self._boundary_reports(end))
        try:
            run_id = record_run(self.store, record)
        finally:
            self.store.close()
        return {"path_name": Path(str(self.params.history)).name, "run_id": run_id,
                "previous_run_id": self.previous_run_id}


def _first_seen_now(history: dict | None, first_run: pd.Timestamp) -> dict | None:
    """A new key was first seen in this run: its first launch here."""
    if history is None or not history.get("New") or history.get("FirstSeen") or pd.isna(first_run):
        return history
    return {**history, "FirstSeen": pd.Timestamp(first_run).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def open_memory(params: HuntParams, launches: Launches, fleet_counts: pd.DataFrame | None) -> HuntMemory | None:
    """The hunt's view of its history file, or None when the parameters name none."""
    if params.history is None:
        return None
    from hunting_lib.history.diff import list_runs
    from hunting_lib.history.store import open_history
    from hunting_lib.history.verdicts import current_verdicts

    store = open_history(params.history)
    runs = list_runs(store)
    previous = int(runs["RunId"].max()) if len(runs) else None
    # the published query exactly applies no verdicts (it still records the run and its history)
    published = params.scope == "published" and params.exclusions is None and params.known_tasks is None
    verdicts = None if published else current_verdicts(store)
    return HuntMemory(params, store, launches, fleet_counts, verdicts, previous)
