"""Triage: which rare task to open first, why, and what the exclusions suppressed.

Input: the rare groups (``rarity``), their Task Scheduler starts, and the activity rows matched to
them (``correlate``). Output: the same groups with

- ``SuppressedBy``: the exclusion rule that covers every start of the group, else None;
- one boolean column per scoring signal (``config/scoring.yaml``), named after the signal;
- ``Reasons``: the names of the signals that fired, and ``Score``: the sum of their weights;
- ``DecodedCommand``: text hidden as base64 in the command line, decoded, and (unless turned
  off) ``Indicators``: the IPs, URLs and domains in the command line and the decoded text, found
  by msticpy's IoCExtract. No signal reads them, so the ``hunt`` command leaves them out unless
  asked (``--indicators``) and does not pay msticpy's import;

in rank order: unsuppressed groups first, highest score first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .exclusions import ExclusionRule, suppressing_rule
from .indicators import decoded_texts, extract_indicators, ip_kind
from .kql_ops import in_ci, on_uniques
from .rarity import GROUP_KEYS
from .schema import load_yaml

DEFAULT_SCORING = "config/scoring.yaml"

#: Signals read from the command line (and its decoded text), each a list of regexes.
COMMAND_SIGNALS = ("encoded_command", "download_cradle", "hidden_or_bypass", "url_in_arguments",
                   "discovery_command", "temp_output_capture")


@dataclass(frozen=True)
class ScoringConfig:
    """Weights and lists from ``scoring.yaml``."""

    weights: dict[str, float]
    user_writable_paths: tuple[str, ...]
    protected_paths: tuple[str, ...]
    lolbins: tuple[str, ...]
    shells: tuple[str, ...]
    patterns: dict[str, tuple[str, ...]]
    persistence_registry_keys: tuple[str, ...]
    system_accounts: tuple[str, ...]

    @property
    def signals(self) -> list[str]:
        return list(self.weights)


def load_scoring(path: str | Path | None = None) -> ScoringConfig:
    """Read a scoring file (the shipped one by default)."""
    if path is None:
        text = resources.files("hunting_lib").joinpath(DEFAULT_SCORING).read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    raw = load_yaml(text)
    lower = lambda key: tuple(str(v).lower() for v in raw.get(key, []))  # noqa: E731
    return ScoringConfig(
        weights={str(k): float(v) for k, v in raw["weights"].items()},
        user_writable_paths=lower("user_writable_paths"),
        protected_paths=lower("protected_paths"),
        lolbins=lower("lolbins"),
        shells=lower("shells"),
        patterns={name: tuple(raw.get(name, [])) for name in COMMAND_SIGNALS},
        persistence_registry_keys=lower("persistence_registry_keys"),
        system_accounts=lower("system_accounts"),
    )


@lru_cache(maxsize=1)
def default_scoring() -> ScoringConfig:
    return load_scoring()


# --------------------------------------------------------------------------------------------
# Suppression


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
    starts = task_starts.merge(out[GROUP_KEYS], on=GROUP_KEYS, how="inner")
    starts = starts.assign(_rule=suppressing_rule(starts, rules).to_numpy())
    order = {rule.id: i for i, rule in enumerate(rules)}
    starts["_order"] = starts["_rule"].map(order).fillna(len(order))
    per_group = starts.groupby(GROUP_KEYS, sort=False, dropna=False).agg(
        _covered=("_rule", lambda r: bool((r != "").all())), _first=("_order", "min")
    )
    ids = [rule.id for rule in rules]
    covered = per_group[per_group["_covered"]]
    chosen = {key: ids[int(first)] for key, first in covered["_first"].items()}
    keys = list(out[GROUP_KEYS].itertuples(index=False, name=None))
    out["SuppressedBy"] = [chosen.get(key) for key in keys]
    return out


def exclusion_summary(
    rare_tasks: pd.DataFrame, activity_rows: pd.DataFrame, rules: Iterable[ExclusionRule]
) -> pd.DataFrame:
    """Per rule in force: how many groups, task runs and activity events it suppressed."""
    rows = []
    attributed = _attribute(activity_rows, rare_tasks)
    for rule in rules:
        mine = rare_tasks[rare_tasks["SuppressedBy"] == rule.id]
        events = attributed[attributed["_group"].isin(mine.index)]
        rows.append({
            "Rule": rule.id,
            "Description": rule.description,
            "Owner": rule.owner,
            "Expires": rule.expires.isoformat(),
            "Tasks": len(mine),
            "Runs": int(mine["Count"].sum()),
            "Events": int(events["_row"].nunique()),
        })
    return pd.DataFrame(rows, columns=["Rule", "Description", "Owner", "Expires", "Tasks", "Runs", "Events"])


# --------------------------------------------------------------------------------------------
# Scoring


def _attribute(activity_rows: pd.DataFrame, rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """Pair activity rows with the rare groups they belong to (by lower-cased program identity).

    The seed matches the three strings independently; for scoring, a row counts for a group only
    when its initiating process has that group's name, command line and path together. In
    process mode the rows carry the group's ``TaskId`` and that is used instead.
    """
    rows = activity_rows.reset_index(drop=True).assign(_row=lambda f: f.index)
    if "TaskId" in rows.columns:
        by_id = pd.Series(rare_tasks.index, index=rare_tasks["TaskId"].to_numpy())
        return rows.assign(_group=rows["TaskId"].map(by_id)).dropna(subset=["_group"])
    groups = pd.DataFrame({
        "_group": rare_tasks.index,
        "_name": rare_tasks["FileName"].str.lower(),
        "_cmd": rare_tasks["ProcessCommandLine"].str.lower(),
        "_path": rare_tasks["FolderPath"].str.lower(),
    })
    keys = rows.assign(
        _name=rows["InitiatingProcessFileName"].str.lower(),
        _cmd=rows["InitiatingProcessCommandLine"].str.lower(),
        _path=rows["InitiatingProcessFolderPath"].str.lower(),
    )
    return keys.merge(groups, on=["_name", "_cmd", "_path"], how="inner")


def _contains_any(values: pd.Series, needles: Iterable[str]) -> np.ndarray:
    needles = tuple(needles)
    return on_uniques(values, lambda u: np.array([any(n in t for n in needles) for t in u.str.lower()], dtype=bool))


def _user_writable(values: pd.Series, config: ScoringConfig) -> np.ndarray:
    """Values that name a user-writable folder, leaving out the protected vendor folders."""
    writable = _contains_any(values, config.user_writable_paths)
    if not config.protected_paths:
        return writable
    protected = on_uniques(values, lambda u: np.array(
        [any(t.startswith(p) for p in config.protected_paths) for t in u.str.lower()], dtype=bool))
    return writable & ~protected


def _matches_any(values: pd.Series, patterns: Iterable[str]) -> np.ndarray:
    patterns = tuple(patterns)
    if not patterns:
        return np.zeros(len(values), dtype=bool)
    combined = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    return on_uniques(values, lambda u: np.array([combined.search(t) is not None for t in u], dtype=bool))


def command_indicators(command_lines: pd.Series, decoded: pd.Series) -> pd.Series:
    """Per group, the IPs, URLs and domains in its command line and decoded text ("type:value")."""
    texts = (command_lines + "\n" + decoded).str.strip()
    found = extract_indicators(texts)
    if found.empty:
        return pd.Series([[] for _ in range(len(texts))], index=texts.index, dtype=object)
    labels = (found["Type"] + ":" + found["Value"]).groupby(found["Source"], sort=False).agg(
        lambda v: sorted(set(v)))
    return texts.map(lambda t: labels.get(t, []))


def _group_flag(attributed: pd.DataFrame, mask: np.ndarray, index: pd.Index) -> pd.Series:
    hit = set(attributed.loc[mask, "_group"])
    return pd.Series(index.isin(list(hit)), index=index)


def score(
    rare_tasks: pd.DataFrame, activity_rows: pd.DataFrame, config: ScoringConfig | None = None,
    indicators: bool = True,
) -> pd.DataFrame:
    """Add one column per signal, ``Reasons`` and ``Score`` to the rare groups (and ``Indicators``)."""
    config = config or default_scoring()
    out = rare_tasks.copy()
    out["DecodedCommand"] = decoded_texts(out["ProcessCommandLine"]) if len(out) else ""
    if indicators:
        out["Indicators"] = command_indicators(out["ProcessCommandLine"], out["DecodedCommand"])
    command_text = out["ProcessCommandLine"] + "\n" + out["DecodedCommand"]

    signals: dict[str, pd.Series] = {}
    signals["user_writable_path"] = pd.Series(
        _user_writable(out["FolderPath"], config) | _user_writable(out["ProcessCommandLine"], config),
        index=out.index)
    signals["lolbin"] = pd.Series(in_ci(out["FileName"], config.lolbins), index=out.index)
    for name in COMMAND_SIGNALS:
        signals[name] = pd.Series(_matches_any(command_text, config.patterns[name]), index=out.index)

    rows = _attribute(activity_rows, out)
    table = rows["Table"] if len(rows) else pd.Series(dtype=object)
    remote = rows["RemoteIP"] if "RemoteIP" in rows else pd.Series("", index=rows.index)
    public = on_uniques(remote, lambda u: np.array([ip_kind(v) == "public" for v in u]))
    signals["public_ip"] = _group_flag(rows, public, out.index)
    registry_key = rows.get("RegistryKey", pd.Series("", index=rows.index))
    persistence = (table.to_numpy() == "DeviceRegistryEvents") & _contains_any(
        registry_key, config.persistence_registry_keys)
    persistence |= rows["ActionType"].isin(["ServiceInstalled"]).to_numpy() if len(rows) else persistence
    signals["persistence_registry"] = _group_flag(rows, persistence, out.index)
    loaded_path = rows.get("FolderPath", pd.Series("", index=rows.index))
    image_load = (table.to_numpy() == "DeviceImageLoadEvents") & _user_writable(loaded_path, config)
    signals["user_writable_image_load"] = _group_flag(rows, image_load, out.index)
    child_name = rows.get("FileName", pd.Series("", index=rows.index))
    child_shell = (table.to_numpy() == "DeviceProcessEvents") & in_ci(child_name, config.shells)
    signals["child_shell"] = _group_flag(rows, child_shell, out.index)
    signals["system_account"] = out["Accounts"].map(
        lambda accounts: any(str(a).lower() in config.system_accounts for a in accounts))
    signals["single_device"] = out["DeviceCount"] == 1

    total = pd.Series(0.0, index=out.index)
    for name in config.signals:
        flag = signals.get(name, pd.Series(False, index=out.index)).astype(bool)
        out[name] = flag
        total += flag * config.weights[name]
    out["Score"] = total.round(2)
    out["Reasons"] = [
        [name for name in config.signals if out.at[i, name]] for i in out.index
    ]
    return out


def rank(rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """Unsuppressed groups first, highest score first; ties by fewest runs, then by name."""
    suppressed = rare_tasks["SuppressedBy"].notna() if "SuppressedBy" in rare_tasks else False
    ordered = rare_tasks.assign(_suppressed=suppressed).sort_values(
        ["_suppressed", "Score", "Count", "DeviceCount", "FileName", "ProcessCommandLine", "FolderPath"],
        ascending=[True, False, True, True, True, True, True],
        kind="stable",
    )
    return ordered.drop(columns="_suppressed").reset_index(drop=True)
