"""The numbers the charts draw, as frames: which rare groups are findings, how prevalent each
task group is, and what each finding's processes did.

Each is a function of a ``HuntResult`` (or of anything with the same frames as attributes), so a
notebook can show the table beside its chart and a test can check one against the other.
"""

from __future__ import annotations

import pandas as pd

from hunting_lib.engine.correlate import attribute_rows
from hunting_lib.engine.rarity import GROUP_KEYS
from hunting_lib.result import HuntResult

__all__ = ["action_counts", "findings_of", "group_prevalence", "rare_tasks_of", "suppressed_mask"]


def rare_tasks_of(result: HuntResult | pd.DataFrame) -> pd.DataFrame:
    """The rare groups of a ``HuntResult``, or the ``rare_tasks`` frame itself."""
    return result if isinstance(result, pd.DataFrame) else result.rare_tasks


def suppressed_mask(rare: pd.DataFrame) -> pd.Series:
    """True for each rare group an exclusion or the known-task catalogue suppressed."""
    if "SuppressedBy" not in rare.columns:
        return pd.Series(False, index=rare.index)
    return rare["SuppressedBy"].notna()


def findings_of(rare: pd.DataFrame) -> pd.DataFrame:
    """The unsuppressed rare groups, in rank order (``HuntResult.findings`` for a bare frame)."""
    return rare[~suppressed_mask(rare)].reset_index(drop=True)


def group_prevalence(result: HuntResult) -> pd.DataFrame:
    """Per Task Scheduler group in ``task_starts``: runs, devices, and whether the hunt kept it.

    ``Rare`` comes from ``rare_tasks`` (what the hunt decided), not from re-applying the rule, so
    the chart can never disagree with the findings; the threshold lines then show why.
    """
    starts = result.task_starts
    stats = starts.groupby(GROUP_KEYS, dropna=False, sort=False).agg(
        Count=("Timestamp", "size"), DeviceCount=("DeviceName", "nunique")).reset_index()
    rare = result.rare_tasks
    marks = rare[GROUP_KEYS + ["TaskId"]].assign(Suppressed=suppressed_mask(rare).to_numpy())
    stats = stats.merge(marks, on=GROUP_KEYS, how="left")
    stats["Rare"] = stats["TaskId"].notna()
    stats["Suppressed"] = stats["Suppressed"].astype("boolean").fillna(False).astype(bool)
    return stats


def action_counts(result: HuntResult, top_n: int = 15) -> pd.DataFrame:
    """Findings (rows, rank order, by TaskId) x ActionType (columns, most frequent first): events."""
    findings = findings_of(result.rare_tasks).head(max(int(top_n), 1))
    attributed = attribute_rows(result.activity_rows, findings)  # the triage's attribution
    actions = attributed["ActionType"].fillna("").replace("", "(none)")
    table = pd.crosstab(attributed["TaskId"], actions)
    table = table.reindex(index=findings["TaskId"].to_numpy(), fill_value=0)
    order = table.sum(axis=0).sort_values(ascending=False, kind="stable").index
    return table[order].fillna(0).astype(int)

