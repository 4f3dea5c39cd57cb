"""The companion table ``task_registrations``: rare task registrations in the window whose task
never ran in the data.

A task that is registered and never runs is invisible to a hunt over launches: a trigger set for
next month, a task waiting for a logon, a staging step whose run was blocked, or atexec's task
deleted before its run was recorded. Each registration is scored with the signals a registration
carries on its own and the command-line signals of the shipped scoring.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from hunting_lib.engine.paths import user_writable
from hunting_lib.params import HuntParams
from hunting_lib.tasks.config import TaskConfig, by_script_host
from hunting_lib.tasks.matching import match_actions, normalise
from hunting_lib.tasks.registrations import CREATED, UPDATED, device_key, exec_actions, iso
from hunting_lib.triage.indicators import decoded_texts
from hunting_lib.triage.scoring import COMMAND_SIGNALS, default_scoring

#: The companion table's columns, in order.
COLUMNS = ("DeviceName", "TaskName", "Command", "Arguments", "RegisteredAt", "RegisteredBy",
           "RegisteredFromNetworkLogon", "RemoteIP", "RemoteDevice", "RemoteIPFrom", "DeletedAt", "Triggers",
           "Principal", "RunLevel", "LogonType", "Hidden", "RegisteredByProcess", "RegisteredByCommandLine", "Source",
           "Format", "Truncated", "Score", "Reasons")
#: Signals a registration carries on its own, before the command-line signals.
REGISTRATION_REASONS = ("registered_remotely", "registered_by_script_host", "registered_outside_api",
                        "deleted_without_running")


def _empty() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object) for name in COLUMNS})


def _in_window(stamps: pd.Series, params: HuntParams) -> pd.Series:
    keep = pd.Series(True, index=stamps.index)
    if params.start is not None:
        keep &= stamps >= params.start
    if params.end is not None:
        keep &= stamps <= params.end
    return keep.fillna(False)


def _ran(candidates: pd.DataFrame, task_starts: pd.DataFrame, ran_elsewhere: pd.DataFrame | None) -> set:
    """The candidates (``_row``) one of whose Exec actions matches a launch on its device, or a
    group the scheduler started anywhere."""
    actions = exec_actions(candidates)
    ran: set = set()
    strings = ["FileName", "FolderPath", "ProcessCommandLine"]
    if len(task_starts) and set(strings) <= set(task_starts.columns):
        starts = task_starts[strings].assign(_device=device_key(task_starts)).drop_duplicates()
        ran |= set(match_actions(actions, starts, on=["_device"])["_row"])
    if ran_elsewhere is not None and len(ran_elsewhere) and set(strings) <= set(ran_elsewhere.columns):
        groups = ran_elsewhere[strings].drop_duplicates()
        ran |= set(match_actions(actions.drop(columns="_device"), groups)["_row"])
    return ran


def never_ran_registrations(rows: pd.DataFrame, hidden: pd.DataFrame, task_starts: pd.DataFrame,
                            params: HuntParams, config: TaskConfig,
                            ran_elsewhere: pd.DataFrame | None = None) -> pd.DataFrame:
    """``task_registrations``: Created/Updated registrations in the window (inclusive, None =
    open) with an Exec action, whose task ran nowhere in ``task_starts`` on its device nor as any
    group in ``ran_elsewhere``, and whose normalised (Command, Arguments) was registered on fewer
    than ``params.threshold`` devices in the data. One row per (device, task, action), the first
    registration; sorted by Score, then RegisteredAt. Registrations with only a COM handler are
    left out: their runs are not processes a launch could show.

    ``rows`` are ``definitions.parsed_registrations``; ``hidden`` is ``hidden.registry_tasks``
    (a registered task whose SD was deleted scores ``registered_outside_api``).
    """
    if rows.empty:
        return _empty()
    api = rows[rows["ActionType"].isin([CREATED, UPDATED]) & rows["Command"].fillna("").ne("")]
    if api.empty:
        return _empty()
    key = api["Command"].map(normalise) + "\x1f" + api["Arguments"].map(normalise)
    devices = api.assign(_key=key).groupby("_key")["_device"].nunique()
    rare = key.map(devices) < params.threshold
    candidates = api[rare & _in_window(api["Timestamp"], params)]
    candidates = candidates.sort_values("Timestamp").drop_duplicates(["_device", "TaskKey", "Command", "Arguments"])
    if candidates.empty:
        return _empty()
    ran = _ran(candidates, task_starts, ran_elsewhere)
    out = candidates[~candidates["_row"].isin(ran)].copy()
    if out.empty:
        return _empty()
    sd_changed = hidden[hidden["Hidden"].astype(bool)] if len(hidden) else hidden
    hidden_keys = set(zip(device_key(sd_changed), sd_changed["TaskKey"])) if len(sd_changed) else set()
    # hidden by deleting its SD (outside the API), not merely the definition's Hidden setting
    out["_sd_deleted"] = np.array([(d, k) in hidden_keys for d, k in zip(out["_device"], out["TaskKey"])], dtype=bool)
    out["Hidden"] = out["Hidden"].astype(bool) | out["_sd_deleted"]
    return _scored(out, config)


def _scored(out: pd.DataFrame, config: TaskConfig) -> pd.DataFrame:
    """Reasons and Score per registration; the table in its final shape and order."""
    scoring = default_scoring()
    text = out["Command"].fillna("") + " " + out["Arguments"].fillna("")
    # the command-line signals read the decoded text too (-EncodedCommand), as the ranking's do
    with_decoded = text + "\n" + decoded_texts(text)
    signals: dict[str, np.ndarray] = {
        "registered_remotely": out["RegisteredRemotely"].astype(bool).to_numpy(),
        "registered_by_script_host": by_script_host(out, config).to_numpy(),
        "registered_outside_api": out["_sd_deleted"].to_numpy(dtype=bool),
        "deleted_without_running": out["DeletedAt"].notna().to_numpy(),
    }
    for name in COMMAND_SIGNALS:
        patterns = scoring.patterns.get(name, ())
        combined = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None
        signals[name] = np.array([combined is not None and combined.search(t) is not None for t in with_decoded],
                                 dtype=bool)
    signals["user_writable_path"] = user_writable(text)
    weight = lambda name: scoring.weights.get(name, config.registration_weights.get(name, 0.0))  # noqa: E731
    names = np.array(list(signals), dtype=object)
    fired = np.column_stack([signals[n] for n in names]).astype(bool)
    out["Reasons"] = [list(names[row]) for row in fired]
    out["Score"] = np.round(fired @ np.array([weight(n) for n in names], dtype=float), 2)
    out = out.sort_values(["Score", "Timestamp"], ascending=[False, True], kind="stable")
    out["RegisteredAt"] = out["Timestamp"].map(iso)
    out["DeletedAt"] = out["DeletedAt"].map(iso)
    out["Source"] = "api"
    out["RemoteIP"] = out["RemoteIP"].where(out["RemoteIP"].notna(), None)
    return out[list(COLUMNS)].reset_index(drop=True)
