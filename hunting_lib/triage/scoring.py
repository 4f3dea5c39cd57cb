"""Scoring signals: one yes/no column per signal of ``config/scoring.yaml``, a Score and Reasons.

A signal reads a rare group's own strings (program, command line, account, devices), the
Task Scheduler launches it is made of (original file name, a known task's command line on another
binary), the activity of its processes (connections, registry writes, DLL loads, children), or
why the group is in scope at all (the launch path the published query cannot see). Weights,
ATT&CK techniques, labels and the lists the tests read live in the YAML, for analysts to tune.
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

from hunting_lib.engine.addresses import ip_kind
from hunting_lib.engine.command_line import glued_text, program_mismatch
from hunting_lib.engine.correlate import attribute_launches
from hunting_lib.engine.kql_ops import in_ci, on_uniques
from hunting_lib.engine.paths import PathConfig, default_paths, outside_windows, user_writable
from hunting_lib.errors import BadInputError
from hunting_lib.schema import load_yaml
from hunting_lib.triage.indicators import decoded_texts, extract_indicators
from hunting_lib.triage.known_tasks import KnownTask, catalogue_program_names, other_binary

DEFAULT_SCORING = "config/scoring.yaml"

#: Signals read from the command line (and its decoded text), each a list of regexes.
COMMAND_SIGNALS = ("encoded_command", "download_cradle", "hidden_or_bypass", "url_in_arguments",
                   "discovery_command", "temp_output_capture", "credential_dumping")
#: Why a group is in the extended scope, as the signal that says so.
SCOPE_SIGNALS = {"taskeng": "launched_by_taskeng", "grouped_svchost": "launched_by_grouped_svchost",
                 "host_variant": "launched_by_host_variant", "system32_lolbin": "system32_lolbin",
                 "system32_recon": "system32_recon",
                 "user_writable_system32": "user_writable_system32", "headless_conhost": "headless_conhost",
                 "scanner_outside_home": "scanner_outside_home"}
#: Signals the ``tasks`` step computes (columns on the rare groups; absent columns read as no).
TASK_SIGNALS = ("registered_outside_api", "deleted_after_run", "registered_remotely", "registered_by_script_host",
                "registered_before_first_run")
#: Signature states (Defender's ``InitiatingProcessSignatureStatus``) that do not vouch for a file.
UNTRUSTED_SIGNATURES = ("unsigned", "invalid", "expired", "revoked", "untrusted")
#: Below this many machines worldwide (Defender's ``GlobalPrevalence``), a program is rare.
LOW_GLOBAL_PREVALENCE = 250


@dataclass(frozen=True)
class ScoringConfig:
    """Signals (weight, technique, label, critical) and the lists of ``scoring.yaml``."""

    weights: dict[str, float]
    techniques: dict[str, str]
    labels: dict[str, str]
    critical: frozenset[str]
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
    signals = raw["signals"]
    for name, spec in signals.items():
        missing = {"weight", "technique", "label"} - set(spec)
        if missing:
            raise BadInputError(f"{path or DEFAULT_SCORING}: signal {name}: missing {', '.join(sorted(missing))}")
    return ScoringConfig(
        weights={str(k): float(v["weight"]) for k, v in signals.items()},
        techniques={str(k): str(v["technique"]) for k, v in signals.items()},
        labels={str(k): str(v["label"]) for k, v in signals.items()},
        critical=frozenset(str(k) for k, v in signals.items() if v.get("critical")),
        lolbins=lower("lolbins"),
        shells=lower("shells"),
        patterns={name: tuple(raw.get(name, [])) for name in COMMAND_SIGNALS},
        persistence_registry_keys=lower("persistence_registry_keys"),
        system_accounts=lower("system_accounts"),
    )


@lru_cache(maxsize=1)
def default_scoring() -> ScoringConfig:
    return load_scoring()


def _contains_any(values: pd.Series, needles: Iterable[str]) -> np.ndarray:
    needles = tuple(needles)
    return on_uniques(values.fillna(""), lambda u: np.array([any(n in t for n in needles) for t in u.str.lower()],
                                                           dtype=bool))


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


def _stem(values: pd.Series) -> pd.Series:
    """File names up to their first dot, lower case: ``PowerShell.EXE.MUI`` and ``powershell.exe``
    are both ``powershell``."""
    return values.fillna("").astype(str).str.lower().str.split(".", n=1).str[0]


def _per_group(starts: pd.DataFrame, flags: np.ndarray, task_ids: pd.Series) -> pd.Series:
    """Groups (by TaskId) with at least one launch where ``flags`` holds."""
    hit = set(starts.loc[flags, "TaskId"]) if len(starts) else set()
    return task_ids.isin(list(hit))


def launch_signals(rare_tasks: pd.DataFrame, task_starts: pd.DataFrame, catalogue: tuple[KnownTask, ...],
                   config: ScoringConfig, paths: PathConfig) -> dict[str, pd.Series]:
    """Signals read from the group's strings and launches: hijacks and masquerading."""
    ids = rare_tasks["TaskId"]
    starts = attribute_launches(task_starts, rare_tasks)
    glued = glued_text(rare_tasks["ProcessCommandLine"]).ne("").to_numpy()
    mismatch = program_mismatch(rare_tasks["ProcessCommandLine"], rare_tasks["FileName"]) & ~glued
    windows_names = paths.windows_programs | catalogue_program_names(catalogue)
    names = rare_tasks["FileName"].fillna("").astype(str)
    masquerade = in_ci(names, windows_names) & outside_windows(rare_tasks["FolderPath"], paths)
    originals = starts.get("ProcessVersionInfoOriginalFileName", pd.Series("", index=starts.index))
    known_stems = {n.split(".", 1)[0] for n in set(windows_names) | set(config.lolbins)}
    original_stem, file_stem = _stem(originals), _stem(starts["FileName"])
    renamed = original_stem.isin(known_stems).to_numpy() & (original_stem != file_stem).to_numpy()
    other = other_binary(starts, catalogue).notna().to_numpy()
    return {
        "glued_program_path": pd.Series(glued, index=rare_tasks.index),
        "command_program_mismatch": pd.Series(mismatch, index=rare_tasks.index),
        "known_task_other_binary": _per_group(starts, other, ids),
        "renamed_binary": _per_group(starts, renamed, ids),
        "masquerading": pd.Series(masquerade, index=rare_tasks.index),
    }


def activity_signals(rare_tasks: pd.DataFrame, attributed: pd.DataFrame, config: ScoringConfig,
                     paths: PathConfig) -> dict[str, pd.Series]:
    """Signals read from what the group's processes did."""
    ids, rows = rare_tasks["TaskId"], attributed
    column = lambda name: rows[name] if name in rows else pd.Series("", index=rows.index)  # noqa: E731
    table = column("Table").to_numpy()
    public = on_uniques(column("RemoteIP").fillna(""), lambda u: np.array([ip_kind(v) == "public" for v in u]))
    persistence = (table == "DeviceRegistryEvents") & _contains_any(column("RegistryKey"),
                                                                    config.persistence_registry_keys)
    persistence |= column("ActionType").isin(["ServiceInstalled"]).to_numpy()
    image_load = (table == "DeviceImageLoadEvents") & user_writable(column("FolderPath"), paths)
    child_shell = (table == "DeviceProcessEvents") & in_ci(column("FileName"), config.shells)
    flag = lambda mask: ids.isin(list(set(rows.loc[mask, "TaskId"]))) if len(rows) else ids.isin([])  # noqa: E731
    return {
        "public_ip": flag(public),
        "persistence_registry": flag(persistence),
        "user_writable_image_load": flag(image_load),
        "child_shell": flag(child_shell),
    }


def signature_signals(rare_tasks: pd.DataFrame, attributed: pd.DataFrame,
                      file_info: pd.DataFrame | None) -> dict[str, pd.Series]:
    """Unsigned or untrusted programs, and programs rare worldwide.

    Locally, the signature state Defender records for a process on the events it initiated
    (``InitiatingProcessSignatureStatus``) when the export has it; remotely, ``file_info`` from
    Defender's ``FileProfile()`` and ``DeviceFileCertificateInfo`` (columns ``TaskId``,
    ``SignatureState``, ``GlobalPrevalence``).
    """
    ids = rare_tasks["TaskId"]
    states = pd.DataFrame(columns=["TaskId", "SignatureState"])
    if "InitiatingProcessSignatureStatus" in attributed:
        states = attributed[["TaskId", "InitiatingProcessSignatureStatus"]].rename(
            columns={"InitiatingProcessSignatureStatus": "SignatureState"})
    prevalence = pd.Series(dtype=float)
    if file_info is not None and not file_info.empty:
        states = pd.concat([states, file_info[["TaskId", "SignatureState"]]], ignore_index=True)
        prevalence = pd.to_numeric(file_info.set_index("TaskId")["GlobalPrevalence"], errors="coerce")
    state = states["SignatureState"].fillna("").astype(str).str.lower()
    untrusted = set(states.loc[state.isin(UNTRUSTED_SIGNATURES), "TaskId"])
    rare_worldwide = set(prevalence[prevalence < LOW_GLOBAL_PREVALENCE].index)
    return {"unsigned_binary": ids.isin(list(untrusted)), "low_global_prevalence": ids.isin(list(rare_worldwide))}


def scope_signals(rare_tasks: pd.DataFrame) -> dict[str, pd.Series]:
    """Why a group is in the extended scope: its launch path and in-scope test, as signals."""
    found: dict[str, pd.Series] = {}
    reasons = rare_tasks["InScopeBy"] if "InScopeBy" in rare_tasks else pd.Series([[]] * len(rare_tasks),
                                                                                 index=rare_tasks.index)
    hosts = rare_tasks["TaskHosts"] if "TaskHosts" in rare_tasks else reasons.map(lambda _: [])
    for key, signal in SCOPE_SIGNALS.items():
        found[signal] = reasons.map(lambda v, k=key: k in v) | hosts.map(lambda v, k=key: k in v)
    found["host_tripwire"] = rare_tasks.get("HostTripwires", reasons.map(lambda _: [])).map(bool)
    return found


def score(rare_tasks: pd.DataFrame, task_starts: pd.DataFrame, attributed: pd.DataFrame,
          catalogue: tuple[KnownTask, ...] = (), config: ScoringConfig | None = None,
          paths: PathConfig | None = None, file_info: pd.DataFrame | None = None,
          indicators: bool = True) -> pd.DataFrame:
    """Add one column per signal, ``DecodedCommand``, ``Score``, ``Critical``, ``Reasons`` (and
    ``Indicators``) to the rare groups. ``attributed`` is their activity rows with each row's
    ``TaskId`` (``correlate.attribute_rows``)."""
    config, paths = config or default_scoring(), paths or default_paths()
    out = rare_tasks.copy()
    out["DecodedCommand"] = decoded_texts(out["ProcessCommandLine"]) if len(out) else ""
    if indicators:
        out["Indicators"] = command_indicators(out["ProcessCommandLine"], out["DecodedCommand"])
    command_text = out["ProcessCommandLine"] + "\n" + out["DecodedCommand"]

    signals: dict[str, pd.Series] = {
        "user_writable_path": pd.Series(user_writable(out["FolderPath"], paths)
                                        | user_writable(out["ProcessCommandLine"], paths), index=out.index),
        "lolbin": pd.Series(in_ci(out["FileName"], config.lolbins), index=out.index),
        "system_account": out["Accounts"].map(lambda accounts: any(str(a).lower() in config.system_accounts
                                                                   for a in accounts)),
        "single_device": out["DeviceCount"] == 1,
    }
    for name in COMMAND_SIGNALS:
        signals[name] = pd.Series(_matches_any(command_text, config.patterns[name]), index=out.index)
    signals.update(activity_signals(out, attributed, config, paths))
    signals.update(launch_signals(out, task_starts, catalogue, config, paths))
    signals.update(signature_signals(out, attributed, file_info))
    signals.update(scope_signals(out))
    for name in TASK_SIGNALS:
        if name in out:
            signals[name] = out[name].fillna(False).astype(bool)

    total = pd.Series(0.0, index=out.index)
    for name in config.signals:
        flag = signals.get(name, pd.Series(False, index=out.index)).astype(bool).to_numpy()
        out[name] = flag
        total += flag * config.weights[name]
    out["Score"] = total.round(2)
    fired = out[config.signals].to_numpy(dtype=bool)
    names = np.array(config.signals, dtype=object)
    out["Reasons"] = [list(names[row]) for row in fired]
    critical = [s for s in config.signals if s in config.critical]
    out["Critical"] = out[critical].any(axis=1) if critical else False
    return out
