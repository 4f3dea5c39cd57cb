"""``run_hunt``: the whole hunt, load -> rarity -> correlate -> triage, in one call.

This is the entry point the command line and the notebooks use. Read it top to bottom to see
the pipeline. Where the data lives decides only who runs the first steps: a ``HuntSource``
(``engine.local.LocalTables`` in pandas, ``remote.hunt.RemoteHunt`` in KQL on a connected
service) finds the rare groups, their activity and the fleet's baseline; the tail, from the
tripwire groups to the ranking, is the same code for both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol, Union, runtime_checkable

import pandas as pd

from hunting_lib.engine.columns import hunt_columns  # noqa: F401 (part of this module's API)
from hunting_lib.engine.correlate import summarise_activity
from hunting_lib.engine.fleet import FleetContext
from hunting_lib.engine.group_key import identify_groups
from hunting_lib.engine.loader import DataFolder
from hunting_lib.engine.local import LocalTables
from hunting_lib.engine.scope import annotate_scope, with_host_groups
from hunting_lib.history.session import open_memory
from hunting_lib.params import HuntParams
from hunting_lib.result import HuntResult, Launches
from hunting_lib.tasks.definitions import task_definitions
from hunting_lib.tasks.registrations import TaskEvents
from hunting_lib.triage.pipeline import triage


@runtime_checkable
class HuntSource(Protocol):
    """Where a hunt's data lives, and who runs the steps that read it."""

    def prepare(self, params: HuntParams) -> HuntParams:
        """The parameters completed for this source (a remote one fills in the time window)."""

    def launches(self, params: HuntParams) -> Launches:
        """Rarity: the rare groups, their launches and the flagged task hosts."""

    def activity_rows(self, params: HuntParams, task_starts: pd.DataFrame, rare_tasks: pd.DataFrame) -> pd.DataFrame:
        """Correlation: the events the rare groups' processes caused."""

    def fleet(self, params: HuntParams, launches: Launches, activity_rows: pd.DataFrame) -> FleetContext:
        """The fleet's baseline the tripwires compare each group with."""

    def file_information(self, params: HuntParams, rare_tasks: pd.DataFrame,
                         task_starts: pd.DataFrame) -> pd.DataFrame | None:
        """Per rare group, what the service knows of its program's file (signer, prevalence)."""

    def task_events(self, params: HuntParams) -> dict[str, pd.DataFrame]:
        """How tasks were registered: ``registrations`` (DeviceEvents ScheduledTask* rows),
        ``registry`` (TaskCache writes) and ``logons`` (the registering sessions' logons)."""

    def describe(self) -> dict[str, Any]:
        """``sources``, ``reader``, and what pivots read later: ``data`` (tables) or ``remote``."""


#: What ``run_hunt`` accepts: a data folder's path, a loaded folder, DataFrames by table name, a
#: connected msticpy QueryProvider, or any ``HuntSource``.
HuntInput = Union[str, Path, DataFolder, Mapping[str, pd.DataFrame], HuntSource, Any]


def as_source(source: HuntInput) -> HuntSource:
    """The ``HuntSource`` for what the caller passed."""
    if isinstance(source, HuntSource):
        return source
    if hasattr(source, "query_store") or hasattr(source, "provider"):
        from hunting_lib.remote.hunt import RemoteHunt  # msticpy only for remote hunts

        return RemoteHunt(source)
    return LocalTables(source)


def run_hunt(source: HuntInput, params: HuntParams | None = None, indicators: bool = True) -> HuntResult:
    """Run the published hunt (and the kit's extensions chosen in ``params``).

    ``source`` is local data (a data folder's path, a loaded folder, or DataFrames by table) or a
    connected msticpy QueryProvider (or a ``remote.provider.RemoteSource``), in which case the
    rarity and the correlation run remotely in KQL. The result has the same columns either way.
    ``indicators=False`` leaves out the rare tasks' ``Indicators`` (msticpy's IoC extraction; no
    score reads them).
    """
    source = as_source(source)
    params = source.prepare(params or HuntParams())
    # rarity: the seed's steps 1-4 over the launches in scope, plus the task hosts a host
    # tripwire flagged (each becomes a group of its own flagged launches)
    launches = source.launches(params)
    rare_tasks, task_starts = with_host_groups(launches.rare_tasks, launches.task_starts, launches.flagged, params)
    rare_tasks = identify_groups(annotate_scope(rare_tasks, task_starts), task_starts)  # GroupKey, SHA1s
    # correlate: the seed's step 5
    activity_rows = source.activity_rows(params, task_starts, rare_tasks)
    activity = summarise_activity(activity_rows)
    fleet = source.fleet(params, launches, activity_rows)
    file_info = source.file_information(params, rare_tasks, task_starts) if not rare_tasks.empty else None
    # tasks: the registered task behind each group (who, how, when; hidden or deleted), and the
    # rare registrations whose task never ran
    events = TaskEvents(**source.task_events(params))
    ran = fleet.scheduler_groups if fleet.scheduler_groups is not None else fleet.group_counts
    rare_tasks, registrations = task_definitions(rare_tasks, task_starts, events, params, ran_elsewhere=ran)
    # history: what earlier runs saw, and the analysts' verdicts
    memory = open_memory(params, launches, fleet.group_counts)
    if memory is not None:
        rare_tasks = memory.annotate(rare_tasks)
    # triage: suppression (rules, known tasks, benign verdicts), scoring, tripwires and ranking
    # (none of it changes which groups are rare)
    rare_tasks, exclusions = triage(rare_tasks, task_starts, activity_rows, params, fleet, file_info, indicators,
                                    verdicts=None if memory is None else memory.verdicts)
    found = source.describe()
    result = HuntResult(params, rare_tasks, activity, task_starts, activity_rows, exclusions, found["sources"],
                        fleet=fleet, data=found["data"], remote=found["remote"], reader=found["reader"],
                        task_registrations=registrations)
    if memory is not None:
        result.history_run = memory.record(result)
    return result
