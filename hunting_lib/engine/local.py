"""The hunt's steps on local tables: a data folder on disk, one loaded by ``loader`` or
``scan``, or DataFrames by table name. ``LocalTables`` is the local side of ``hunt.HuntSource``;
``remote.hunt.RemoteHunt`` is the other.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from hunting_lib.engine.columns import hunt_columns
from hunting_lib.engine.correlate import process_activity_rows, stack_newest_first, task_activity_rows
from hunting_lib.engine.fleet import FleetContext, fleet_context, scheduler_groups
from hunting_lib.engine.loader import DataFolder, ensure_columns
from hunting_lib.engine.rarity import find_rare_tasks
from hunting_lib.engine.scope import host_tripwire_starts, scoped_task_starts
from hunting_lib.params import HuntParams
from hunting_lib.result import Launches
from hunting_lib.schema import PROCESS_TABLE


class LocalTables:
    """Local data as a hunt source: rarity and correlation in pandas, over the loaded tables.

    A folder's path is read when the parameters are known (``prepare``), the way the ``hunt``
    command reads it (``fast_load.load_for_hunt``): a parquet folder through the scan, which keeps
    only the rows this hunt uses (pivots then read the findings' devices, ``engine.slices``), any
    other folder whole.
    """

    def __init__(self, source: str | Path | DataFolder | Mapping[str, pd.DataFrame], date_order: str = "auto"):
        self.path: Path | None = None
        self.date_order = date_order
        if isinstance(source, (str, Path)):
            self.path = Path(source)
            self.tables, self.files, self.complete, self.reader, self.scanned_fleet = {}, {}, False, {}, None
            return
        self._take(source)

    def _take(self, source: DataFolder | Mapping[str, pd.DataFrame]) -> None:
        if isinstance(source, DataFolder):
            self.tables = dict(source.tables)
            self.files = {t: str(p) for t, p in source.files.items()}
            # A folder the scan loaded holds only the rows this hunt uses: too few for pivots,
            # and the scan computed the fleet's baseline from the rows it did not keep.
            self.complete = source.complete
            self.reader = dict(source.reader)
            self.scanned_fleet: FleetContext | None = source.fleet
        else:
            self.tables = {table: ensure_columns(source[table], table, columns)
                           for table, columns in hunt_columns().items() if table in source}
            self.files, self.complete, self.reader, self.scanned_fleet = {}, True, {"reader": "frames"}, None

    def prepare(self, params: HuntParams) -> HuntParams:
        if self.path is not None:
            from hunting_lib.engine.fast_load import load_for_hunt  # polars, only for a path

            self._take(load_for_hunt(self.path, params, hunt_columns(), date_order=self.date_order))
            self.path = None
        return params

    def launches(self, params: HuntParams) -> Launches:
        """The seed's steps 1-4 over the launches in scope, and the flagged System32 task hosts."""
        scoped = scoped_task_starts(self.tables[PROCESS_TABLE], params)
        rare_tasks = find_rare_tasks(scoped.in_scope, params)
        flagged = host_tripwire_starts(self.tables, scoped.system32_hosts, params)
        return Launches(rare_tasks, scoped.in_scope, flagged, scoped.in_scope, scoped.aggregated_reports,
                        scheduler_groups(self.tables[PROCESS_TABLE], scoped, params))

    def activity_rows(self, params: HuntParams, task_starts: pd.DataFrame, rare_tasks: pd.DataFrame) -> pd.DataFrame:
        """Step 5: the rare groups' activity rows, by the chosen match mode.

        Groups a host tripwire brought in (``RareBy == "tripwire"``) are always matched by
        process identity: their program (taskhostw.exe, say) runs all over the fleet, and only
        the flagged processes belong to the finding (in seed mode their own events; ``--match
        process`` adds their descendants, as for every group).
        """
        if params.match == "process":
            return process_activity_rows(self.tables, task_starts, rare_tasks, params)
        by_host = rare_tasks["RareBy"].eq("tripwire")
        rows = task_activity_rows(self.tables, rare_tasks[~by_host], params)
        if not by_host.any():
            return rows
        # Only the flagged processes' own events (depth 0), as the rendered KQL matches them.
        host_rows = process_activity_rows(self.tables, task_starts, rare_tasks[by_host], params, max_depth=0)
        columns = list(dict.fromkeys(list(rows.columns) + list(host_rows.columns)))
        return stack_newest_first([rows, host_rows], columns)

    def fleet(self, params: HuntParams, launches: Launches, activity_rows: pd.DataFrame) -> FleetContext:
        if self.scanned_fleet is not None:
            return self.scanned_fleet
        return replace(fleet_context(self.tables, launches.in_scope, activity_rows, params, launches.aggregated_reports),
                       scheduler_groups=launches.scheduler_groups)

    def file_information(self, params: HuntParams, rare_tasks: pd.DataFrame,
                         task_starts: pd.DataFrame) -> pd.DataFrame | None:
        """None: locally the signer comes from the launches' own signature columns, if any."""
        return None

    def task_events(self, params: HuntParams, slices: Any = None) -> dict[str, pd.DataFrame]:
        """How tasks were registered (``engine.task_rows``): from the loaded tables, or, when the
        scan kept only the hunt's rows, read again from the files for these rows only."""
        from hunting_lib.engine.task_rows import task_event_frames, task_event_frames_from_files

        if self.complete or not self.files:
            return task_event_frames(self.tables)
        return task_event_frames_from_files(self.files, slices)

    def describe(self) -> dict[str, Any]:
        return {"sources": self.files, "data": self.tables if self.complete else None, "remote": None,
                "reader": self.reader}
