"""Task definitions on real recordings: where each expected task registration ends up after a hunt.

Issue 15 links each rare group to the task registered for it (``TaskDefinitions``, five signals)
and lists rare registrations whose task never ran (``task_registrations``). This module judges
that on the evaluation sets: for every registration a set expects (``registrations:`` in
``sets.yaml``; for the sample, the malicious scenarios' ``registration`` in its answer key), it
says where the hunt put it (a rare group's ``TaskDefinitions``, the companion table, or nowhere),
which signals fired, who registered it and from which address, and, when it is missing, why.
It also counts what the same machinery says about ordinary tasks (false positives): ordinary
registrations in the companion table and signals firing on ordinary rare groups.

Nothing here changes the hunt; it reads a ``HuntResult`` and the set's own registration rows.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

#: The signal columns ``hunting_lib.tasks`` adds to every rare group (kept literal here so that
#: the report still renders, with nothing fired, against a library without them).
GROUP_SIGNALS = ("registered_remotely", "registered_before_first_run", "registered_by_script_host",
                 "deleted_after_run", "registered_outside_api")
#: The companion table's reasons that come from the registration itself (not its command line).
REGISTRATION_REASONS = ("registered_remotely", "registered_by_script_host", "registered_outside_api",
                        "deleted_without_running")


@dataclass
class RegistrationResult:
    """One expected registration and what the hunt made of it."""

    set_id: str
    device: str
    task_name: str
    found_in: str = "nowhere"  # "rare group N" (its rank), "task_registrations" or "nowhere"
    signals: list[str] = field(default_factory=list)
    registered_by: str = ""
    registered_by_process: str = ""
    network_logon: bool = False
    remote_ip: str = ""
    deleted_at: str = ""
    why: str = ""
    unmet: list[str] = field(default_factory=list)  # what the set expected and the hunt did not give


@dataclass
class FalsePositives:
    """What the task machinery says about one set's ordinary tasks."""

    set_id: str
    registration_rows: int = 0  # ScheduledTaskCreated/Updated rows in the data
    ordinary_in_companion: list[str] = field(default_factory=list)  # "device task" of ordinary rows
    ran_unseen: int = 0  # of those, tasks that did run (a Task Scheduler launch the hunt does not take)
    companion_reasons: Counter = field(default_factory=Counter)  # registration reasons on ordinary rows
    ordinary_groups: int = 0
    group_signals: Counter = field(default_factory=Counter)  # signals on ordinary rare groups
    signal_groups: list[str] = field(default_factory=list)  # "program: signals" of those groups
    groups_with_definitions: int = 0  # ordinary rare groups whose TaskDefinitions is not empty


def task_key(name: Any) -> str:
    r"""A task path compared as the library joins it: lower case, one leading backslash."""
    text = str(name or "").strip().lower()
    return "\\" + text.lstrip("\\") if text else ""


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value)


def _listish(value: Any) -> list:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist"):
        return list(value.tolist())
    return [value]


def sample_registrations(folder: Path) -> list[dict[str, Any]]:
    """The expected registrations of the synthetic sample: its answer key's malicious scenarios
    (those that ran and the one that never ran), each scenario's ``registration`` block."""
    import yaml

    key = folder / "scenarios.yaml"
    if not key.is_file():
        return []
    scenarios = yaml.safe_load(key.read_text(encoding="utf-8")).get("scenarios") or []
    wanted = []
    for scenario in scenarios:
        if not str(scenario.get("kind", "")).startswith("malicious"):
            continue
        blocks = [scenario["registration"]] if scenario.get("registration") else []
        blocks += list(scenario.get("registrations") or [])
        for block in blocks:
            if block.get("device") and block.get("task_name"):
                expect: dict[str, Any] = {"signals": (["registered_remotely"] if block.get("remote") else [])
                                          + (["registered_outside_api"] if block.get("registry_only") else []),
                                          "deleted": bool(block.get("deleted_at"))}
                if block.get("remote_ip"):
                    expect.update(remote_ip=block["remote_ip"], network_logon=True)
                wanted.append({"device": block["device"], "TaskName": block["task_name"], "malicious": True,
                               "why": scenario.get("id", ""), "expect": expect})
    return wanted


def expected_registrations(evaluation_set: Any) -> list[dict[str, Any]]:
    """The set's expected malicious registrations (``sets.yaml``, or the sample's answer key)."""
    listed = [r for r in evaluation_set.registrations() if r.get("malicious", True)]
    if listed or "labels_from" not in evaluation_set.raw:
        return listed
    return sample_registrations(evaluation_set.folder)


def registration_events(result: Any, folder: Path) -> pd.DataFrame:
    """The set's ScheduledTask* rows as the hunt read them (its loaded DeviceEvents, else the file)."""
    frame = (getattr(result, "data", None) or {}).get("DeviceEvents")
    if frame is None:
        from hunting_lib.engine.files import find_table_files

        path = find_table_files(folder).get("DeviceEvents")
        if path is None or path.suffix == ".parquet":
            frame = pd.read_parquet(path) if path is not None else pd.DataFrame()
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if frame.empty or "ActionType" not in frame:
        return pd.DataFrame(columns=["DeviceName", "ActionType", "AdditionalFields"])
    return frame[frame["ActionType"].astype(str).str.startswith("ScheduledTask")].reset_index(drop=True)


def _read_fields(additional: Any) -> dict[str, Any]:
    try:
        value = json.loads(additional) if isinstance(additional, str) else dict(additional or {})
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def _group_entry(rare_tasks: pd.DataFrame, device: str, key: str) -> tuple[int, dict[str, Any]] | None:
    """(position, TaskDefinitions entry) of the first rare group that lists this device's task."""
    if "TaskDefinitions" not in rare_tasks:
        return None
    for position, entries in enumerate(rare_tasks["TaskDefinitions"]):
        for entry in _listish(entries):
            if (isinstance(entry, dict) and _text(entry.get("DeviceName")).lower() == device
                    and task_key(entry.get("TaskName")) == key):
                return position, entry
    return None


def _companion_row(companion: pd.DataFrame, device: str, key: str) -> pd.Series | None:
    if companion is None or companion.empty or "TaskName" not in companion:
        return None
    hits = companion[companion["DeviceName"].astype(str).str.lower().eq(device)
                     & companion["TaskName"].map(task_key).eq(key)]
    return None if hits.empty else hits.iloc[0]


def runs_of(command: str, arguments: str, device: str, processes: pd.DataFrame) -> pd.DataFrame:
    """The process starts on ``device`` that are this action's run (the library's own matching:
    environment variables expanded, quotes and case normalised), whoever started them."""
    from hunting_lib.tasks.matching import match_actions

    if not command or processes.empty:
        return processes.iloc[0:0]
    mine = processes[processes["DeviceName"].str.lower().eq(device)]
    action = pd.DataFrame({"Command": [command], "Arguments": [arguments or ""]})
    pairs = match_actions(action, mine[["FileName", "FolderPath", "ProcessCommandLine"]].drop_duplicates())
    if pairs.empty:
        return mine.iloc[0:0]
    keys = set(zip(pairs["FileName"], pairs["FolderPath"], pairs["ProcessCommandLine"]))
    hit = [k in keys for k in zip(mine["FileName"], mine["FolderPath"], mine["ProcessCommandLine"])]
    return mine[hit]


def how_it_ran(command: str, arguments: str, device: str, processes: pd.DataFrame, threshold: int) -> str:
    """What the recording says about a registered action's runs: none, started by the Task
    Scheduler (and then why the hunt does not report it), or started by a parent whose command
    line is unknown (Security 4688)."""
    from evaluation.tables import task_launcher

    runs = runs_of(command, arguments, device, processes)
    if runs.empty:
        return "its task never ran in the recording"
    hosts = [task_launcher(n, c) for n, c in zip(runs["InitiatingProcessFileName"], runs["InitiatingProcessCommandLine"])]
    by_scheduler = runs[[bool(h) for h in hosts]]
    if len(by_scheduler):
        first = by_scheduler.iloc[0]
        same = processes[processes["FileName"].eq(first["FileName"]) & processes["FolderPath"].eq(first["FolderPath"])
                         & processes["ProcessCommandLine"].eq(first["ProcessCommandLine"])]
        runs_total = sum(bool(task_launcher(n, c)) for n, c in zip(same["InitiatingProcessFileName"],
                                                                   same["InitiatingProcessCommandLine"]))
        rarity = (f"not rare ({runs_total} Task Scheduler runs in the data)" if runs_total >= threshold
                  else "outside the hunt's scope")
        return (f"it ran {len(by_scheduler)} time(s) as a Task Scheduler launch ({first['FileName']}), "
                f"{rarity}")
    unknown = runs[runs["InitiatingProcessCommandLine"].eq("")]
    if len(unknown):
        return (f"it ran {len(unknown)} time(s), started by {unknown.iloc[0]['InitiatingProcessFileName'] or '?'} "
                "whose command line Security 4688 does not record, so the hunt cannot tell it was the Task Scheduler")
    return f"its action ran, started by {runs.iloc[0]['InitiatingProcessFileName']}, not by the Task Scheduler"


def explain_absence(events: pd.DataFrame, device: str, key: str, threshold: int,
                    processes: pd.DataFrame | None = None) -> str:
    """Why an expected registration is neither in a rare group nor in the companion table."""
    if events.empty:
        return "no ScheduledTask* row in the data (the recording has no 4698/4702)"
    fields = events["AdditionalFields"].map(_read_fields)
    mine = events[events["DeviceName"].astype(str).str.lower().eq(device).to_numpy()
                  & fields.map(lambda f: task_key(f.get("TaskName")) == key).to_numpy()]
    if mine.empty:
        return "no registration row for this task on this device"
    kinds = set(mine["ActionType"])
    if not kinds & {"ScheduledTaskCreated", "ScheduledTaskUpdated"}:
        return "only its deletion is recorded"
    contents = [_text(_read_fields(a).get("TaskContent")) for a in mine["AdditionalFields"]]
    if not any(c.strip() for c in contents):
        return "its registration rows carry no TaskContent"
    if all(c.lstrip().startswith("<") and not c.rstrip().endswith("</Task>") for c in contents if c.strip()):
        return "its task XML is cut short in the recording (the log shipper truncated the field), so no action is read"
    if all("<Exec>" not in c and '"Exec"' not in c for c in contents if c.strip()):
        return "no Exec action (a COM handler): nothing a launch could show"
    from hunting_lib.tasks.registrations import registration_rows

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = registration_rows(mine)
    parsed = parsed[parsed["Command"].ne("")]
    if processes is not None and len(parsed):
        first = parsed.iloc[0]
        return how_it_ran(first["Command"], first["Arguments"], device, processes, threshold)
    return f"registered on {threshold} or more devices, or its action never ran as a rare group"


def unmet_expectations(found: RegistrationResult, expect: dict[str, Any]) -> list[str]:
    """What ``expect`` (``sets.yaml``: ``signals``, ``remote_ip``, ``network_logon``, ``deleted``)
    asks that ``found`` does not show."""
    unmet = []
    missing = [s for s in expect.get("signals") or [] if s not in found.signals]
    if missing:
        unmet.append("signal " + ", ".join(missing) + " did not fire")
    if expect.get("remote_ip") and found.remote_ip != str(expect["remote_ip"]):
        unmet.append(f"remote IP {expect['remote_ip']} expected, got {found.remote_ip or 'none'}")
    if "network_logon" in expect and bool(expect["network_logon"]) != found.network_logon:
        unmet.append("network logon " + ("expected, not joined" if expect["network_logon"] else "not expected"))
    if "deleted" in expect and bool(expect["deleted"]) != bool(found.deleted_at):
        unmet.append("deletion " + ("expected, none reported" if expect["deleted"] else "reported, none expected"))
    return unmet


def evaluate_registrations(set_id: str, result: Any, expected: Sequence[dict[str, Any]], events: pd.DataFrame,
                           processes: pd.DataFrame, threshold: int) -> list[RegistrationResult]:
    """For each expected registration: where the hunt put it, its signals, caller and address.

    ``processes`` (every process start of the set, as ``run.read_processes`` reads them) tells
    whether a registration the companion table calls never run did run, unseen by the hunt."""
    rare_tasks = result.rare_tasks
    companion = getattr(result, "task_registrations", None)
    out = []
    for wanted in expected:
        device, key = str(wanted["device"]).lower(), task_key(wanted["TaskName"])
        found = RegistrationResult(set_id, device, str(wanted["TaskName"]))
        in_group = _group_entry(rare_tasks, device, key)
        row = None if in_group is not None else _companion_row(companion, device, key)
        if in_group is not None:
            position, entry = in_group
            group = rare_tasks.iloc[position]
            suppressed = _text(group.get("SuppressedBy"))
            found.found_in = f"rare group, rank {position + 1}" + (f" (suppressed by {suppressed})" if suppressed else "")
            found.signals = [s for s in GROUP_SIGNALS if bool(group.get(s, False))]
            found.registered_by, found.registered_by_process = _text(entry.get("RegisteredBy")), \
                _text(entry.get("RegisteredByProcess"))
            found.network_logon = bool(entry.get("RegisteredFromNetworkLogon"))
            found.remote_ip, found.deleted_at = _text(entry.get("RemoteIP")), _text(entry.get("DeletedAt"))
        elif row is not None:
            found.found_in = "task_registrations"
            found.signals = [str(r) for r in _listish(row.get("Reasons"))]
            found.registered_by, found.registered_by_process = _text(row.get("RegisteredBy")), \
                _text(row.get("RegisteredByProcess"))
            found.network_logon = bool(row.get("RegisteredFromNetworkLogon"))
            found.remote_ip, found.deleted_at = _text(row.get("RemoteIP")), _text(row.get("DeletedAt"))
            found.why = how_it_ran(_text(row.get("Command")), _text(row.get("Arguments")), device, processes,
                                   threshold)
        else:
            found.why = explain_absence(events, device, key, threshold, processes)
        found.unmet = unmet_expectations(found, dict(wanted.get("expect") or {}))
        if found.network_logon and not found.remote_ip:
            found.why = "; ".join(filter(None, [found.why, "the network logon of its session records no address "
                                                "(Security 4624 with IpAddress '-')"]))
        out.append(found)
    return out


def false_positives(set_id: str, result: Any, expected: Sequence[dict[str, Any]], events: pd.DataFrame,
                    malicious_groups: Iterable[int], processes: pd.DataFrame | None = None) -> FalsePositives:
    """Ordinary registrations in the companion table and signals on ordinary rare groups.
    ``malicious_groups`` are the positions of the rare groups a label (or an unlabelled
    malicious launch) matched."""
    report = FalsePositives(set_id)
    report.registration_rows = int(events["ActionType"].isin(["ScheduledTaskCreated", "ScheduledTaskUpdated"]).sum()) \
        if len(events) else 0
    wanted = {(str(w["device"]).lower(), task_key(w["TaskName"])) for w in expected}
    companion = getattr(result, "task_registrations", None)
    if companion is not None and len(companion):
        for _, row in companion.iterrows():  # a few rows: the companion table of one set
            if (str(row["DeviceName"]).lower(), task_key(row["TaskName"])) in wanted:
                continue
            report.ordinary_in_companion.append(f"{row['DeviceName']} {row['TaskName']}")
            if processes is not None and "Task Scheduler launch" in how_it_ran(
                    _text(row.get("Command")), _text(row.get("Arguments")), str(row["DeviceName"]).lower(), processes, 3):
                report.ran_unseen += 1
            report.companion_reasons.update(r for r in _listish(row.get("Reasons")) if r in REGISTRATION_REASONS)
    rare_tasks = result.rare_tasks
    bad = set(malicious_groups)
    ordinary = rare_tasks[[i not in bad for i in range(len(rare_tasks))]]
    report.ordinary_groups = len(ordinary)
    fired_on = pd.DataFrame({s: ordinary[s].fillna(False).astype(bool) for s in GROUP_SIGNALS if s in ordinary},
                            index=ordinary.index)
    for signal in fired_on.columns:
        if fired_on[signal].any():
            report.group_signals[signal] = int(fired_on[signal].sum())
    for index in fired_on.index[fired_on.any(axis=1)] if len(fired_on.columns) else []:
        names = [s for s in fired_on.columns if fired_on.at[index, s]]
        report.signal_groups.append(f"{ordinary.at[index, 'FileName']}: {', '.join(names)}")
    if "TaskDefinitions" in ordinary:
        report.groups_with_definitions = int(sum(bool(_listish(v)) for v in ordinary["TaskDefinitions"]))
    return report


def _cell(text: Any) -> str:
    """Markdown-table-safe text (pipes and line breaks are attacker-written too)."""
    return " ".join(_text(text).split()).replace("|", "\\|").replace("`", "'") or "-"


def markdown_section(results: Sequence[RegistrationResult], positives: Sequence[FalsePositives]) -> str:
    """The report's section: one row per expected registration, then the false positives."""
    lines = ["### Task definitions: expected registrations and false positives", "",
             "Where the hunt puts each expected malicious task registration: a rare group's `TaskDefinitions` "
             "(the task behind a rare launch), the companion table `task_registrations` (a rare registration "
             "whose task never ran in the data), or nowhere.", "",
             "| Set | Device | Task | Found in | Signals | Registered by (process) | Network logon, remote IP | "
             "Deleted at | As expected | Why |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        logon = ("yes, " + (r.remote_ip or "no address")) if r.network_logon else "no"
        by = r.registered_by + (f" ({r.registered_by_process})" if r.registered_by_process else "")
        lines.append(f"| {_cell(r.set_id)} | {_cell(r.device)} | `{_cell(r.task_name)}` | {_cell(r.found_in)} | "
                     f"{_cell(', '.join(r.signals))} | {_cell(by)} | {_cell(logon)} | {_cell(r.deleted_at)} | "
                     f"{_cell('no: ' + '; '.join(r.unmet) if r.unmet else 'yes')} | {_cell(r.why)} |")
    lines += ["", "False positives on ordinary tasks: registrations of tasks no set expects that the companion "
              "table lists, and the task signals that fire on rare groups no label marks malicious.", "",
              "| Set | Registration rows | Ordinary in task_registrations | Of those, ran unseen | "
              "Their registration reasons | Ordinary rare groups | With TaskDefinitions | Signals on them |",
              "|---|---|---|---|---|---|---|---|"]
    for p in positives:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(p.companion_reasons.items()))
        signals = "; ".join(p.signal_groups)
        names = f"{len(p.ordinary_in_companion)}" + (f": {', '.join(p.ordinary_in_companion)}"
                                                     if p.ordinary_in_companion else "")
        lines.append(f"| {_cell(p.set_id)} | {p.registration_rows} | {_cell(names)} | {p.ran_unseen} | {_cell(reasons)} | "
                     f"{p.ordinary_groups} | {p.groups_with_definitions} | {_cell(signals)} |")
    return "\n".join(lines) + "\n"


START, END = "<!-- task-definitions: generated by evaluation/run.py -->", "<!-- /task-definitions -->"


def update_page(page: Path, section: str) -> None:
    """Put ``section`` between the markers in ``page`` (appended with them when absent)."""
    text = page.read_text(encoding="utf-8") if page.is_file() else ""
    block = f"{START}\n{section}{END}"
    if START in text and END in text.split(START, 1)[1]:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    page.write_text(text, encoding="utf-8")
