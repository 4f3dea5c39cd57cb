"""The training course's teaching helpers: the seed KQL cut into its steps (``kql_step``), a copy
of the data as an export whose ``InitiatingProcessFolderPath`` holds only the folder
(``folder_only_export``), the rare groups that left no activity (``rare_groups_without_activity``),
the exclusion rules as a table, and a throw-away rule for the "why not contains" lesson
(``naive_rule``)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from hunting_lib.engine.loader import DataFolder
from hunting_lib.engine.query import seed_kql
from hunting_lib.engine.rarity import GROUP_KEYS
from hunting_lib.result import HuntResult
from hunting_lib.triage.exclusions import DEFAULT_EXCLUSIONS, ExclusionRule, parse_exclusions

#: The seed query's steps, each named and found by the first line it starts with. A step runs
#: up to the line before the next step; the first one takes the query's opening ``let`` with it.
KQL_STEPS: dict[str, str] = {
    "1 started by the Task Scheduler": r"^let RunningScheduledTasks = materialize\($",
    "2 drop Defender's scans": r"^\| where FileName != ",
    "3 outside System32, or a shell": r"^\| where FolderPath !startswith ",
    "4 count and keep the rare": r"^\| summarize count\(\) by ",
    "5 lower-cased lists of the rare": r"^\| summarize$",
    "6 find their activity": r"^union ",
    "7 summarise per process": r"^\| sort by Timestamp desc$",
}


def kql_steps() -> dict[str, str]:
    """The seed KQL cut into ``KQL_STEPS``, each a slice of ``seed_kql()``'s own lines."""
    lines = seed_kql().rstrip("\n").split("\n")
    starts = []
    for name, pattern in KQL_STEPS.items():
        found = [i for i, line in enumerate(lines) if re.match(pattern, line)]
        if len(found) != 1:
            raise ValueError(f"seed KQL: step {name!r} should start on one line matching {pattern!r}, "
                             f"found {len(found)}")
        starts.append(found[0])
    if starts != sorted(starts) or starts[0] != 0:
        raise ValueError("seed KQL: the steps are no longer in the expected order")
    ends = starts[1:] + [len(lines)]
    return {name: "\n".join(lines[a:b]) for name, a, b in zip(KQL_STEPS, starts, ends)}


def kql_step(number: int) -> str:
    """The KQL text of step ``number`` (1-7), sliced from the published query."""
    steps = list(kql_steps().values())
    if not 1 <= number <= len(steps):
        raise ValueError(f"there are {len(steps)} steps, numbered 1 to {len(steps)}")
    return steps[number - 1]


def _tables_of(data: DataFolder | dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return dict(data.tables) if isinstance(data, DataFolder) else dict(data)


def folder_only_export(data: DataFolder | dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """A copy of the tables as some exports deliver them: ``InitiatingProcessFolderPath`` holds
    the folder (``C:\\Windows\\System32``) instead of the full path of the program."""
    out = {}
    for table, frame in _tables_of(data).items():
        if "InitiatingProcessFolderPath" in frame.columns:
            folder = frame["InitiatingProcessFolderPath"].astype(object).map(
                lambda p: p.rsplit("\\", 1)[0] if isinstance(p, str) and "\\" in p else p)
            frame = frame.assign(InitiatingProcessFolderPath=folder)
        out[table] = frame
    return out


def lowered_keys(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Per row, the lower-cased values of ``columns`` as one tuple (how the seed compares them)."""
    return pd.Series(list(zip(*(frame[c].astype(str).str.lower() for c in columns))), index=frame.index)


def rare_groups_without_activity(result: HuntResult) -> pd.DataFrame:
    """Rare groups that the seed's last step finds no event for (so its output never shows them).

    Compared as the seed compares: lower-cased name, command line and folder path of the
    initiating process. Meaningful for ``match="seed"`` results.
    """
    rare = result.rare_tasks
    rows = result.activity_rows
    seen = set(lowered_keys(rows, ["InitiatingProcessFileName", "InitiatingProcessCommandLine",
                                   "InitiatingProcessFolderPath"]))
    quiet = ~lowered_keys(rare, GROUP_KEYS).isin(seen)
    columns = [c for c in ["TaskId", *GROUP_KEYS, "Count", "Devices"] if c in rare.columns]
    return rare.loc[quiet, columns].reset_index(drop=True)


def shipped_rules() -> list[ExclusionRule]:
    """Every rule of the shipped exclusions file, enabled or not, in file order."""
    text = resources.files("hunting_lib").joinpath(DEFAULT_EXCLUSIONS).read_text("utf-8")
    return parse_exclusions(text, DEFAULT_EXCLUSIONS)


def exclusion_rules_table(path: str | None = None) -> pd.DataFrame:
    """Every rule of an exclusions file (the shipped one by default), enabled or not, as a table."""
    rules = shipped_rules() if path is None else parse_exclusions(Path(path).read_text(encoding="utf-8"), path)
    return pd.DataFrame([{
        "id": r.id, "enabled": r.enabled, "owner": r.owner, "expires": r.expires.isoformat(),
        "when": "; ".join(f"{c.field} {c.operator} {' | '.join(c.values)}" for c in r.conditions),
        "reason": r.reason,
    } for r in rules])


def naive_rule(field: str, operator: str, value: str, rule_id: str = "naive-rule") -> ExclusionRule:
    """A one-condition exclusion rule, for showing what a careless rule would hide. Not for use."""
    document = {"rules": [{
        "id": rule_id, "description": f"{field} {operator} {value}", "reason": "training example",
        "owner": "training", "expires": "2099-12-31", "when": {field: {operator: value}}}]}
    return parse_exclusions(yaml.safe_dump(document), "naive rule")[0]


#: The naive rule of exercise 10: "quiet the updaters".
NAIVE_RULE = ("FolderPath", "contains", "update")
