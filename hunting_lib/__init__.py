"""Rare scheduled task hunting kit (MITRE ATT&CK T1053.005).

The published Sentinel / Defender XDR hunting query ``rare_sch_task_with_activity`` as a small
library. Data moves one way; each step is a subpackage of small modules, each a plain function
over DataFrames:

    load        engine.loader.load_data_folder   a data folder -> typed tables
                engine.scan.load_for_hunt        parquet: only the rows one hunt can use
    rarity      engine.scope.scoped_task_starts  the Task Scheduler's launches in scope
                                                 (published: the seed's steps 1-3; extended:
                                                 taskeng, the grouped svchost, System32 LOLBins)
                engine.rarity.find_rare_tasks    the rare (FileName, CommandLine, FolderPath) groups
    correlate   engine.correlate                 what those processes did, in seven tables,
                                                 and the seed's final summarize
    triage      engine.fleet.fleet_context       the fleet's baseline (devices per task, per IP,
                                                 and every group's counts for history)
                tasks.definitions                the registered task behind each group (who,
                                                 how, when, hidden or deleted), from
                                                 engine.task_rows; registrations that never ran
                history.session                  earlier runs (History: new or seen) and
                                                 analysts' verdicts, from a SQLite file
                triage.pipeline.triage           exclusion rules, known tasks, benign verdicts,
                                                 signals, tripwires, ranking
    pivot       pivots.pivot                     one group's timeline, process tree, indicators
    render      report.output                    the contract's JSON, CSV and terminal table
                report.runner / report.plots     the notebook report and its charts

``hunt.run_hunt(source, params)`` runs load to triage for a local folder or, through
``remote``, for a msticpy QueryProvider; ``result.HuntResult`` is what it returns, either way.
Start reading there. The settings analysts tune are YAML in ``config/``: scope, paths,
exclusions, known_tasks, scoring, tripwires, task_definitions, redaction. ``sample`` generates the synthetic fleet and
``training`` the course's exercises.
"""

import importlib
from typing import Any

# Names are imported on first use: ``python -m hunting_lib hunt`` starts reading parquet files
# before pandas (which every step below needs) has finished importing.
_EXPORTS = {
    "BadInputError": "errors",
    "DataWarning": "errors",
    "HuntParams": "params",
    "HuntResult": "result",
    "find_rare_tasks": "engine.rarity",
    "load_data_folder": "engine.loader",
    "load_table": "engine.loader",
    "run_hunt": "hunt",
    "scheduled_task_starts": "engine.rarity",
    "seed_kql": "engine.query",
    "seed_literals": "engine.query",
    "summarise_activity": "engine.correlate",
    "task_activity_rows": "engine.correlate",
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
