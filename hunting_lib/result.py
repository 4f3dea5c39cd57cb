"""What one hunt produced, local or remote: ``HuntResult``, and ``Launches``, what a source's
rarity step hands to the rest of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hunting_lib.engine.fleet import FleetContext
from hunting_lib.params import HuntParams


@dataclass
class Launches:
    """The rarity step's output, from any source.

    - ``rare_tasks``: the rare groups, one row each (``rarity.find_rare_tasks``'s columns);
    - ``task_starts``: the launches those groups hold (locally: every launch in scope);
    - ``flagged``: System32 task-host launches whose own process fired a host tripwire;
    - ``in_scope``: every launch in scope, for the fleet's baseline (None when the source
      computes the baseline itself, as a remote one does);
    - ``aggregated_reports``: launches Defender recorded as aggregated reports.
    """

    rare_tasks: pd.DataFrame
    task_starts: pd.DataFrame
    flagged: pd.DataFrame
    in_scope: pd.DataFrame | None = None
    aggregated_reports: int = 0
    #: Every group any task host launched, in scope or not (``FleetContext.scheduler_groups``).
    scheduler_groups: pd.DataFrame | None = None


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
    #: Which reader loaded the data (``scan``, ``full``, ``frames`` or ``remote``), and why a
    #: hunt that asked for the scan fell back (``fallback``).
    reader: dict[str, str] = field(default_factory=dict)
    #: What pivots read later of a scanned hunt's files (``engine.slices.FindingSlices``): made by
    #: ``pivots.pivot`` on first use, so every finding's pivot shares one read.
    slices: Any = field(default=None, repr=False)
    #: The rare task registrations in the window whose task never ran (``tasks.definitions``).
    task_registrations: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    #: With history: ``{"path_name", "run_id", "previous_run_id"}`` of the run recorded.
    history_run: dict[str, Any] | None = None

    @property
    def parameters(self) -> dict[str, Any]:
        rules = self.exclusions.to_dict(orient="records")
        return {**self.params.as_dict(), "exclusion_rules": rules,
                "fleet_devices": self.fleet.devices, "aggregated_reports": self.fleet.aggregated_reports,
                **self.reader}

    @property
    def findings(self) -> pd.DataFrame:
        """The rare groups no exclusion suppressed, in rank order."""
        return self.rare_tasks[self.rare_tasks["SuppressedBy"].isna()].reset_index(drop=True)

    @property
    def suppressed(self) -> pd.DataFrame:
        """The rare groups an exclusion rule suppressed, with the rule."""
        return self.rare_tasks[self.rare_tasks["SuppressedBy"].notna()].reset_index(drop=True)
