"""Rare scheduled task hunting kit (MITRE ATT&CK T1053.005).

The published Sentinel / Defender XDR hunting query ``rare_sch_task_with_activity`` as a small
library. Data moves one way, one module per step, each a plain function over DataFrames:

    load        loader.load_data_folder      a data folder -> typed tables
                scan.load_for_hunt           parquet: only the rows one hunt can use (the CLI's)
    scope       scope.scoped_task_starts     the Task Scheduler's launches the hunt looks at
                                             (published: the seed's steps 1-3; extended: also
                                             taskeng, the grouped svchost, System32 LOLBins)
                scope.host_tripwire_starts   System32 task hosts whose own process fired a tripwire
    rarity      rarity.find_rare_tasks       the rare (FileName, CommandLine, FolderPath) groups
    correlate   correlate.task_activity_rows what those processes did, in seven tables
                correlate.summarise_activity the seed's final summarize
    triage      fleet.fleet_context          the fleet's baseline (devices per task, per IP)
                triage.triage                exclusion rules, known tasks, signals, tripwires, rank
    output      output.write_json            the contract's JSON, CSV and terminal table

``hunt.run_hunt(source, params)`` runs them in order; start reading there. The settings analysts
tune are YAML in ``config/``: scope, paths, exclusions, known_tasks, scoring, tripwires.
"""

import importlib
from typing import Any

# Names are imported on first use: ``python -m hunting_lib hunt`` starts reading parquet files
# before pandas (which every step below needs) has finished importing.
_EXPORTS = {
    "BadInputError": "errors",
    "DataWarning": "errors",
    "HuntParams": "params",
    "HuntResult": "hunt",
    "correlate_activity": "correlate",
    "find_rare_tasks": "rarity",
    "load_data_folder": "loader",
    "load_table": "loader",
    "run_hunt": "hunt",
    "scheduled_task_starts": "rarity",
    "seed_kql": "query",
    "seed_literals": "query",
    "summarise_activity": "correlate",
    "task_activity_rows": "correlate",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hunting_lib' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [  # noqa: F822 (imported lazily by __getattr__)
    "BadInputError",
    "DataWarning",
    "HuntParams",
    "HuntResult",
    "correlate_activity",
    "find_rare_tasks",
    "load_data_folder",
    "load_table",
    "run_hunt",
    "scheduled_task_starts",
    "seed_kql",
    "seed_literals",
    "summarise_activity",
    "task_activity_rows",
]
