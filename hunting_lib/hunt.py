"""``run_hunt``: the whole hunt, load -> rarity -> correlate -> triage, in one call.

This is the entry point the command line and the notebooks use. Read it top to bottom to see
the pipeline; each step is a plain function over DataFrames in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

import pandas as pd

from .columns import hunt_columns  # noqa: F401 (part of this module's API)
from .correlate import (
    process_activity_rows,
    stack_newest_first,
    summarise_activity,
    task_activity_rows,
)
from .fleet import FleetContext, fleet_context
from .loader import DataFolder, ensure_columns, load_data_folder
from .params import HuntParams
from .rarity import find_rare_tasks
from .schema import PROCESS_TABLE
from .scope import annotate_scope, host_tripwire_starts, scoped_task_starts, with_host_groups
from .triage import triage

#: What ``run_hunt`` accepts: a data folder's path, a loaded folder, or DataFrames by table name.
HuntSource = Union[str, Path, DataFolder, Mapping[str, pd.DataFrame], Any]


@dataclass
class HuntResult:
    """Everything one hunt produced.

    - ``rare_tasks``: one row per rare (FileName, ProcessCommandLine, FolderPath) group.
    - ``activity``: the seed's final summary, one row per initiating process.
    - ``task_starts``: the Task Scheduler starts in scope (rare or not), for pivots.
    - ``activity_rows``: the matched events themselves, newest first, for timelines.
    - ``exclusions``: per exclusion rule in force, the tasks, runs and events it suppressed.
    """

    params: HuntParams
    rare_tasks: pd.DataFrame
    activity: pd.DataFrame
    task_starts: pd.DataFrame
    activity_rows: pd.DataFrame
    exclusions: pd.DataFrame
    sources: dict[str, str] = field(default_factory=dict)
    #: The fleet's baseline the tripwires compared each group with (devices, prevalence).
    fleet: FleetContext = field(default_factory=FleetContext, repr=False)
    #: Where the pivots read more data: the loaded tables (local) or the remote source.
    data: dict[str, pd.DataFrame] | None = field(default=None, repr=False)
    remote: Any = field(default=None, repr=False)

    @property
    def parameters(self) -> dict[str, Any]:
        rules = self.exclusions.to_dict(orient="records")
        return {**self.params.as_dict(), "exclusion_rules": rules,
                "fleet_devices": self.fleet.devices, "aggregated_reports": self.fleet.aggregated_reports}

    @property
    def findings(self) -> pd.DataFrame:
        """The rare groups no exclusion suppressed, in rank order."""
        return self.rare_tasks[self.rare_tasks["SuppressedBy"].isna()].reset_index(drop=True)

    @property
    def suppressed(self) -> pd.DataFrame:
        """The rare groups an exclusion rule suppressed, with the rule."""
        return self.rare_tasks[self.rare_tasks["SuppressedBy"].notna()].reset_index(drop=True)


def _tables(source: HuntSource) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    if isinstance(source, (str, Path)):
        source = load_data_folder(source, columns=hunt_columns())
    if isinstance(source, DataFolder):
        return dict(source.tables), {t: str(p) for t, p in source.files.items()}
    tables = {}
    for table, columns in hunt_columns().items():
        if table in source:
            tables[table] = ensure_columns(source[table], table, columns)
    return tables, {}


def _is_remote(source: object) -> bool:
    """A msticpy QueryProvider (or the kit's RemoteSource wrapping one)."""
    return hasattr(source, "query_store") or type(source).__name__ == "RemoteSource"


def run_hunt(source: HuntSource, params: HuntParams | None = None, indicators: bool = True) -> HuntResult:
    """Run the published hunt (and the kit's extensions chosen in ``params``).

    ``source`` is local data (a data folder's path, a loaded folder, or DataFrames by table) or
    a connected msticpy QueryProvider, in which case the hunt runs remotely in KQL
    (``hunting_lib.remote``). The result has the same columns either way. ``indicators=False``
    leaves out the rare tasks' ``Indicators`` (msticpy's IoC extraction; no score reads them).
    """
    if _is_remote(source):
        from .remote import remote_hunt  # msticpy only for remote hunts

        return remote_hunt(source, params, indicators)
    params = params or HuntParams()
    tables, sources = _tables(source)
    # rarity: the seed's steps 1-4, over the launches in scope
    scoped = scoped_task_starts(tables[PROCESS_TABLE], params)
    task_starts = scoped.in_scope
    rare_tasks = find_rare_tasks(task_starts, params)
    flagged = host_tripwire_starts(tables, scoped.system32_hosts, params)
    rare_tasks, task_starts = with_host_groups(rare_tasks, task_starts, flagged, params)
    rare_tasks = annotate_scope(rare_tasks, task_starts)
    # correlate: the seed's step 5
    activity_rows = correlate(tables, task_starts, rare_tasks, params)
    activity = summarise_activity(activity_rows)
    # triage: suppression, known tasks, scoring, tripwires and ranking (none of it changes which
    # groups are rare)
    fleet = getattr(source, "fleet", None) or fleet_context(tables, scoped.in_scope, activity_rows, params,
                                                                 scoped.aggregated_reports)
    rare_tasks, exclusions = triage(rare_tasks, task_starts, activity_rows, params, fleet, indicators=indicators)
    # Pivots read the loaded tables; a folder loaded for this hunt alone holds too few rows for them.
    complete = not isinstance(source, DataFolder) or source.complete
    return HuntResult(params, rare_tasks, activity, task_starts, activity_rows, exclusions, sources,
                      fleet=fleet, data=tables if complete else None)


def correlate(tables: dict[str, pd.DataFrame], task_starts: pd.DataFrame, rare_tasks: pd.DataFrame,
              params: HuntParams) -> pd.DataFrame:
    """Step 5: the rare groups' activity rows, by the chosen match mode.

    Groups a host tripwire brought in (``RareBy == "tripwire"``) are always matched by process
    identity: their program (taskhostw.exe, say) runs all over the fleet, and only the flagged
    processes belong to the finding (in seed mode their own events; ``--match process`` adds
    their descendants, as for every group).
    """
    if params.match == "process":
        return process_activity_rows(tables, task_starts, rare_tasks, params)
    by_host = rare_tasks["RareBy"].eq("tripwire")
    rows = task_activity_rows(tables, rare_tasks[~by_host], params)
    if not by_host.any():
        return rows
    # Only the flagged processes' own events (depth 0), as the rendered KQL matches them.
    host_rows = process_activity_rows(tables, task_starts, rare_tasks[by_host], params, max_depth=0)
    return stack_newest_first([rows, host_rows], list(dict.fromkeys(list(rows.columns) + list(host_rows.columns))))
