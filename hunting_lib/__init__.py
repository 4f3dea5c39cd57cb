"""Rare scheduled task hunting kit (MITRE ATT&CK T1053.005).

The published Sentinel / Defender XDR hunting query ``rare_sch_task_with_activity`` as a small
library. Data moves one way, one module per step, each a plain function over DataFrames:

    load        loader.load_data_folder      a data folder -> typed tables
    rarity      rarity.scheduled_task_starts the Task Scheduler's children (seed steps 1-3)
                rarity.find_rare_tasks       the rare (FileName, CommandLine, FolderPath) groups
    correlate   correlate.task_activity_rows what those processes did, in seven tables
                correlate.summarise_activity the seed's final summarize
    output      output.write_json            the contract's JSON, CSV and terminal table

``hunt.run_hunt(source, params)`` runs them in order; start reading there.
"""

from .correlate import correlate_activity, summarise_activity, task_activity_rows
from .errors import BadInputError, DataWarning
from .hunt import HuntResult, run_hunt
from .loader import load_data_folder, load_table
from .params import HuntParams
from .query import seed_kql, seed_literals
from .rarity import find_rare_tasks, scheduled_task_starts

__version__ = "0.1.0"

__all__ = [
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
