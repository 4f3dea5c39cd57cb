"""Triage: which rare task to open first, why, and what was suppressed.

One entry point, ``triage``, used by local and remote hunts alike. In order:

1. ``suppress``: the exclusion rules (``exclusions.py``): ``SuppressedBy`` = the rule that
   covers every launch of the group;
2. ``mark_known``: the known-task catalogue (``known_tasks.py``): ``KnownTask`` and
   ``KnownExpects`` when every launch matches an entry, and ``SuppressedBy = known:<task path>``
   when no rule took the group first;
3. ``scoring.score``: one column per signal, ``Score``, ``Reasons``, ``Critical``;
4. ``tripwires.fire`` and ``keep_tripped``: ``Tripwires``; a tripwire keeps a group a finding
   whatever matched it (``WouldSuppressBy``);
5. ``rank``: unsuppressed first, groups with a tripwire or critical signal first among them,
   then by Score.

None of it changes which groups are rare. ``ReasonText`` and ``ReasonTechniques`` give each
reason in words and its ATT&CK technique, for notebooks and reports; ``Reasons`` stays ids.
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from hunting_lib.engine.correlate import attribute_launches, attribute_rows
from hunting_lib.engine.fleet import FleetContext
from hunting_lib.params import HuntParams
from hunting_lib.triage.exclusions import ExclusionRule, load_exclusions, suppressing_rule
from hunting_lib.triage.known_tasks import KnownTask, load_known_tasks, match_launches
from hunting_lib.triage.scoring import ScoringConfig, default_scoring, score
from hunting_lib.triage.tripwires import TripwireConfig, default_tripwires, fire, keep_tripped


def suppress(rare_tasks: pd.DataFrame, task_starts: pd.DataFrame, rules: Iterable[ExclusionRule]) -> pd.DataFrame:
    """Set ``SuppressedBy`` on each group whose every start one rule covers (first in file order).

    A group with any start that no rule covers is not suppressed: the same binary run by an
    unexpected account, or with a different argument, must stay in front of the analyst.
    """
    rules = list(rules)
    out = rare_tasks.copy()
    out["SuppressedBy"] = None
    if not rules or out.empty:
        return out
    starts = attribute_launches(task_starts, out)
    starts = starts.assign(_rule=suppressing_rule(starts, rules).to_numpy())
    order = {rule.id: i for i, rule in enumerate(rules)}
    starts["_order"] = starts["_rule"].map(order).fillna(len(order))
    per_group = starts.groupby("TaskId", sort=False).agg(
        _covered=("_rule", lambda r: bool((r != "").all())), _first=("_order", "min"))
    ids = [rule.id for rule in rules]
    chosen = {task: ids[int(first)] for task, first in per_group.loc[per_group["_covered"], "_first"].items()}
    out["SuppressedBy"] = out["TaskId"].map(chosen).astype(object).where(out["TaskId"].isin(list(chosen)), None)
    return out


def mark_known(rare_tasks: pd.DataFrame, task_starts: pd.DataFrame, catalogue: tuple[KnownTask, ...]) -> pd.DataFrame:
    """``KnownTask`` (the entry's task path) and ``KnownExpects`` for groups whose every launch
    matches a catalogue entry; such a group not suppressed by a rule is ``known:<task path>``."""
    out = rare_tasks.copy()
    out["KnownTask"] = None
    out["KnownExpects"] = [[] for _ in range(len(out))]
    if not catalogue or out.empty:
        return out
    launches = attribute_launches(task_starts, out)
    entries = match_launches(launches, catalogue)
    position = {id(entry): i for i, entry in enumerate(catalogue)}
    launches = launches.assign(_entry=entries.to_numpy())
    for task_id, group in launches.groupby("TaskId", sort=False):
        if group["_entry"].isna().any():
            continue
        where = out.index[out["TaskId"] == task_id]
        first = min(group["_entry"], key=lambda entry: position[id(entry)])  # as the KQL's min(KnownRank)
        out.loc[where, "KnownTask"] = first.task
        expects = sorted(set().union(*(entry.expects for entry in group["_entry"])))
        for i in where:
            out.at[i, "KnownExpects"] = expects
    unsuppressed = out["SuppressedBy"].isna() & out["KnownTask"].notna()
    out.loc[unsuppressed, "SuppressedBy"] = "known:" + out.loc[unsuppressed, "KnownTask"]
    return out


def rank(rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """Unsuppressed groups first; among them tripwires and critical signals first; then highest
    score; ties by fewest runs, then by name."""
    suppressed = rare_tasks["SuppressedBy"].notna() if "SuppressedBy" in rare_tasks else False
    critical = rare_tasks["Critical"] if "Critical" in rare_tasks else False
    ordered = rare_tasks.assign(_suppressed=suppressed, _critical=critical).sort_values(
        ["_suppressed", "_critical", "Score", "Count", "DeviceCount", "FileName", "ProcessCommandLine", "FolderPath"],
        ascending=[True, False, False, True, True, True, True, True],
        kind="stable",
    )
    return ordered.drop(columns=["_suppressed", "_critical"]).reset_index(drop=True)


def reason_text(reason: str, scoring: ScoringConfig | None = None,
                tripwires: TripwireConfig | None = None) -> tuple[str, str]:
    """A reason id in words, and its ATT&CK technique ("" when it has none)."""
    scoring, tripwires = scoring or default_scoring(), tripwires or default_tripwires()
    by_id = {t.id: t for t in tripwires.tripwires}
    if reason in scoring.labels:
        return scoring.labels[reason], scoring.techniques[reason]
    kind, _, value = reason.partition(":")
    if kind == "matched":
        return f"would be suppressed by {value}", ""
    if kind == "kept_by" and value in by_id:
        return f"kept as a finding by the {value} tripwire: {by_id[value].why}", by_id[value].technique
    return reason.replace("_", " "), ""


def explain(rare_tasks: pd.DataFrame, scoring: ScoringConfig | None = None,
            tripwires: TripwireConfig | None = None) -> pd.DataFrame:
    """Add ``ReasonText`` and ``ReasonTechniques``: each reason in words and its technique."""
    out = rare_tasks.copy()
    texts = [[reason_text(r, scoring, tripwires) for r in reasons] for reasons in out["Reasons"]]
    out["ReasonText"] = [[t for t, _ in pairs] for pairs in texts]
    out["ReasonTechniques"] = [[k for _, k in pairs] for pairs in texts]
    return out


def triage(rare_tasks: pd.DataFrame, task_starts: pd.DataFrame, activity_rows: pd.DataFrame,
           params: HuntParams, fleet: FleetContext | None = None, file_info: pd.DataFrame | None = None,
           indicators: bool = True, verdicts: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Suppress, mark known tasks, apply verdicts, score, fire tripwires and rank the rare groups.

    ``verdicts`` (from a hunt history, ``history.verdicts.current_verdicts``): each group's
    ``Verdict``; a benign one suppresses the group as ``verdict:<id>`` where no rule or known
    task did, unless a tripwire fires. Returns the ranked groups and the per-rule (and per known
    task) suppression summary.
    """
    rules = load_exclusions(params.exclusions)
    catalogue = load_known_tasks(params.known_tasks)
    groups = mark_known(suppress(rare_tasks, task_starts, rules), task_starts, catalogue)
    if verdicts is not None:
        from hunting_lib.history.verdicts import apply_verdicts  # sqlite3 only with a history

        groups = apply_verdicts(groups, verdicts)
    attributed = attribute_rows(activity_rows, groups)  # each event with its group, once
    groups = score(groups, task_starts, attributed, catalogue, file_info=file_info, indicators=indicators)
    groups["Tripwires"] = fire(groups, attributed, fleet or FleetContext())
    groups["Critical"] = groups["Critical"].astype(bool) | groups["Tripwires"].map(bool)
    groups = explain(rank(keep_tripped(groups)))
    return groups, exclusion_summary(groups, attributed, rules)


def exclusion_summary(rare_tasks: pd.DataFrame, attributed: pd.DataFrame,
                      rules: Iterable[ExclusionRule]) -> pd.DataFrame:
    """Per rule in force, and per known task that suppressed something: how many groups, task
    runs and activity events it suppressed, and how many groups a tripwire kept from it.
    ``attributed``: the activity rows with their group's ``TaskId``."""
    columns = ["Rule", "Description", "Owner", "Expires", "Tasks", "Runs", "Events", "KeptByTripwire"]
    attributed = attributed.reset_index(drop=True)
    attributed = attributed.assign(_row=attributed.index)
    would = rare_tasks.get("WouldSuppressBy", pd.Series(None, index=rare_tasks.index))
    rows = []

    def add(rule_id: str, description: str, owner: str, expires: str) -> None:
        mine = rare_tasks[rare_tasks["SuppressedBy"] == rule_id]
        events = attributed[attributed["TaskId"].isin(mine["TaskId"])]
        rows.append({"Rule": rule_id, "Description": description, "Owner": owner, "Expires": expires,
                     "Tasks": len(mine), "Runs": int(mine["Count"].sum()),
                     "Events": int(events["_row"].nunique()), "KeptByTripwire": int((would == rule_id).sum())})

    for rule in rules:
        add(rule.id, rule.description, rule.owner, rule.expires.isoformat())
    named = sorted({str(s) for s in pd.concat([rare_tasks["SuppressedBy"], would]).dropna()})
    for rule_id in (s for s in named if s.startswith("known:")):
        add(rule_id, "known Windows or vendor task (config/known_tasks.yaml)", "catalogue", "")
    verdicts = rare_tasks.get("Verdict", pd.Series(None, index=rare_tasks.index))
    for rule_id in (s for s in named if s.startswith("verdict:")):
        verdict = next((v for v, by in zip(verdicts, rare_tasks["SuppressedBy"].fillna(would.fillna("")))
                        if by == rule_id and isinstance(v, dict)), {})
        add(rule_id, f"benign verdict: {verdict.get('Note', '')}".strip(": "), str(verdict.get("Analyst", "")),
            str(verdict.get("Expires") or ""))
    return pd.DataFrame(rows, columns=columns)


def readable(rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """The ranked groups as an analyst reads them: rank, a ``!`` for a tripwire or critical
    signal, the score, the program, and why, in words, with each reason's ATT&CK technique."""
    why = [
        "; ".join(f"{text} ({technique})" if technique else text for text, technique in zip(texts, techniques))
        for texts, techniques in zip(rare_tasks["ReasonText"], rare_tasks["ReasonTechniques"])
    ]
    return pd.DataFrame({
        "Rank": range(1, len(rare_tasks) + 1),
        "Critical": rare_tasks["Critical"].map({True: "!", False: ""}),
        "Score": rare_tasks["Score"],
        "FileName": rare_tasks["FileName"],
        "ProcessCommandLine": rare_tasks["ProcessCommandLine"],
        "Runs": rare_tasks["Count"],
        "Devices": rare_tasks["DeviceCount"],
        "Why": why,
        "SuppressedBy": rare_tasks["SuppressedBy"],
    }, index=rare_tasks.index)
