"""A findings.json read for the hand-off: checked, one finding chosen by rank, and each finding
turned into what a Sentinel bookmark carries (a narrowed query, a time range, rows, entities).

Everything here works on the file the ``hunt --output`` command wrote, never on live tables: a
hand-off repeats what the analyst saw. Attacker-written values (file names, command lines,
paths) reach the query only as KQL string literals (``remote.kql_literals.kql_string``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hunting_lib.errors import BadInputError
from hunting_lib.remote.kql_literals import kql_string, kql_string_list
from hunting_lib.report.redact import REDACTED, redact_records, redact_text

#: The most activity rows one bookmark carries (the query finds them all again).
MAX_ACTIVITY_ROWS = 50
#: The most IP entities per bookmark.
MAX_IPS = 20
#: The rare-group fields a bookmark's result rows keep (the signal flags are in Reasons).
GROUP_FIELDS = ("TaskId", "GroupKey", "FileName", "ProcessCommandLine", "FolderPath", "Count", "DeviceCount",
                "Devices", "Accounts", "FirstSeen", "LastSeen", "SHA1s", "TaskNames", "Score", "Reasons",
                "Critical", "Tripwires", "SuppressedBy", "DecodedCommand")
#: Where the rendered hunt groups the launches; the finding's own group is pinned right there.
_RARE_GROUPS_ANCHOR = "let RareGroups = materialize(InScope\n"


@dataclass(frozen=True)
class Findings:
    """A findings.json: its path (for messages), rare groups, activity rows and audit."""

    path: Path
    rare_tasks: list[dict]
    activity: list[dict]
    audit: dict
    task_registrations: list[dict]
    parameters: dict


@dataclass(frozen=True)
class Finding:
    """One chosen finding: its rank (1 = the file's first) and its rare-group row."""

    rank: int
    group: dict
    activity: list[dict]


def load_findings(path: str | Path) -> Findings:
    """The findings.json at ``path``; a missing, unreadable or incomplete file is one line."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"--findings {path}: no such file")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"--findings {path}: not a findings JSON file ({type(exc).__name__})") from None
    if not isinstance(document, dict) or not isinstance(document.get("rare_tasks"), list):
        raise BadInputError(f"--findings {path}: no 'rare_tasks' list (write one with hunt --output FILE.json)")
    audit = document.get("audit")
    if not isinstance(audit, dict) or not isinstance(audit.get("kql"), str) or not audit["kql"].strip():
        raise BadInputError(f"--findings {path}: no 'audit' with the hunt's KQL (made by an older kit?); "
                            f"run hunt --output FILE.json again")
    for index, row in enumerate(document["rare_tasks"], start=1):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("FileName", "GroupKey")):
            raise BadInputError(f"--findings {path}: rare_tasks row {index} has no FileName or GroupKey")
    activity = document.get("activity") if isinstance(document.get("activity"), list) else []
    registrations = document.get("task_registrations")
    return Findings(path, document["rare_tasks"], [r for r in activity if isinstance(r, dict)], audit,
                    registrations if isinstance(registrations, list) else [],
                    document.get("parameters") if isinstance(document.get("parameters"), dict) else {})


def _lower(value: Any) -> str:
    return str(value).lower() if value is not None else ""


def finding_activity(findings: Findings, group: dict) -> list[dict]:
    """The activity summary rows of one rare group: the seed's case-insensitive match on the
    initiating file name and command line, on the group's devices."""
    if not findings.activity:
        return []
    rows = pd.DataFrame(findings.activity)
    needed = {"InitiatingProcessFileName", "InitiatingProcessCommandLine", "DeviceName"}
    if not needed <= set(rows.columns):
        return []
    devices = {_lower(d) for d in group.get("Devices") or []}
    keep = ((rows["InitiatingProcessFileName"].astype(str).str.lower() == _lower(group.get("FileName")))
            & (rows["InitiatingProcessCommandLine"].astype(str).str.lower() == _lower(group.get("ProcessCommandLine")))
            & (rows["DeviceName"].astype(str).str.lower().isin(devices) if devices else True))
    return [findings.activity[i] for i in rows.index[keep]]


def choose_findings(findings: Findings, ranks: list[int] | None) -> list[Finding]:
    """The findings by rank (1 = the file's first row), or every unsuppressed one when no rank is
    given. A rank the file does not have is one line."""
    total = len(findings.rare_tasks)
    if ranks:
        for rank in ranks:
            if not 1 <= rank <= total:
                span = f"ranks 1-{total}" if total else "no findings"
                raise BadInputError(f"--finding {rank}: {findings.path} has {total} findings ({span})")
        chosen = list(dict.fromkeys(ranks))
    else:
        chosen = [i for i, row in enumerate(findings.rare_tasks, start=1) if not row.get("SuppressedBy")]
    return [Finding(rank, findings.rare_tasks[rank - 1], finding_activity(findings, findings.rare_tasks[rank - 1]))
            for rank in chosen]


def _secret_free_prefix(text: str) -> str | None:
    """``None`` when ``text`` holds no secret; else its part before the first one (what a query
    may carry without sending the secret)."""
    redacted = redact_text(text)
    if redacted == text:
        return None
    return redacted.split(REDACTED, 1)[0]


def narrowed_kql(hunt_kql: str, group: dict) -> str:
    """The hunt's KQL narrowed to one finding.

    The group's FileName, ProcessCommandLine and FolderPath are pinned where the rendered query
    groups launches (exact values, as its ``summarize ... by`` groups them), and the result is
    filtered on the initiating file and command line (case-insensitive, as the seed matches
    activity). A command line holding a secret is matched by its start only, so the secret is
    never sent. Every value is a KQL string literal.
    """
    name, command, folder = (str(group.get(k) or "") for k in ("FileName", "ProcessCommandLine", "FolderPath"))
    prefix = _secret_free_prefix(command)
    if prefix is None:
        pin_command = f"ProcessCommandLine == {kql_string(command)}"
        result_command = f"InitiatingProcessCommandLine =~ {kql_string(command)}"
    else:
        pin_command = f"ProcessCommandLine startswith_cs {kql_string(prefix)}"
        result_command = f"InitiatingProcessCommandLine startswith {kql_string(prefix)}"
    pins = [f"FileName == {kql_string(name)}"] if redact_text(name) == name else []
    pins.append(pin_command)
    if redact_text(folder) == folder:
        pins.append(f"FolderPath == {kql_string(folder)}")
    pin = "| where " + " and ".join(pins) + "\n"
    query = hunt_kql.rstrip().rstrip(";")
    if query.count(_RARE_GROUPS_ANCHOR) == 1:
        query = query.replace(_RARE_GROUPS_ANCHOR, _RARE_GROUPS_ANCHOR + pin)
    devices = [str(d) for d in group.get("Devices") or [] if d and redact_text(str(d)) == str(d)]
    device_test = f" and DeviceName in~ {kql_string_list(devices)}" if devices else ""
    header = f"// hunting_lib hand-off: the hunt narrowed to one finding ({group.get('GroupKey')})\n"
    if not re.fullmatch(r"gk-[0-9a-f]{16}", str(group.get("GroupKey"))):
        header = "// hunting_lib hand-off: the hunt narrowed to one finding\n"
    name_test = f"InitiatingProcessFileName =~ {kql_string(name)} and " if redact_text(name) == name else ""
    return f"{header}{query}\n| where {name_test}{result_command}{device_test}"


def _timestamp(value: Any) -> pd.Timestamp | None:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if stamp is pd.NaT or pd.isna(stamp):
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def time_range(finding: Finding) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The finding's first run to its last run or its last activity, whichever is later."""
    first = _timestamp(finding.group.get("FirstSeen"))
    ends = [_timestamp(finding.group.get("LastSeen"))] + [_timestamp(r.get("LastSeen")) for r in finding.activity]
    ends = [e for e in ends if e is not None]
    return first, (max(ends) if ends else first)


def _account(text: str) -> dict | None:
    text = str(text or "").strip()
    if not text or text in ("-",) or text.startswith("S-1-"):
        return None
    domain, _, name = text.rpartition("\\")
    mapping = [{"identifier": "Name", "value": name}]
    if domain:
        mapping.append({"identifier": "NTDomain", "value": domain})
    return {"entityType": "Account", "fieldMappings": mapping}


def entity_mappings(finding: Finding) -> list[dict]:
    """Host, account, file (and its SHA1) and IP entities of one finding, in the bookmark API's
    ``entityMappings`` shape: ``{"entityType", "fieldMappings": [{"identifier", "value"}]}``."""
    group, entities = finding.group, []
    for device in dict.fromkeys(str(d) for d in group.get("Devices") or [] if d):
        host, _, domain = device.partition(".")
        fields = [{"identifier": "HostName", "value": host}]
        if domain:
            fields.append({"identifier": "DnsDomain", "value": domain})
        entities.append({"entityType": "Host", "fieldMappings": fields})
    definitions = [d for d in group.get("TaskDefinitions") or [] if isinstance(d, dict)]
    accounts = list(group.get("Accounts") or []) + [d.get("RegisteredBy") for d in definitions]
    for account in dict.fromkeys(str(a) for a in accounts if a):
        entity = _account(account)
        if entity is not None:
            entities.append(entity)
    folder = str(group.get("FolderPath") or "")
    directory = folder.rsplit("\\", 1)[0] if "\\" in folder else ""
    file_fields = [{"identifier": "Name", "value": str(group.get("FileName") or "")}]
    if directory:
        file_fields.append({"identifier": "Directory", "value": directory})
    entities.append({"entityType": "File", "fieldMappings": file_fields})
    for sha1 in group.get("SHA1s") or []:
        entities.append({"entityType": "FileHash", "fieldMappings": [{"identifier": "Algorithm", "value": "SHA1"},
                                                                    {"identifier": "Value", "value": str(sha1)}]})
    ips = [ip for row in finding.activity for ip in row.get("RemoteIPs") or []]
    ips += [d.get("RemoteIP") for d in definitions]
    for ip in list(dict.fromkeys(str(ip) for ip in ips if ip and str(ip) not in ("-", "nan")))[:MAX_IPS]:
        entities.append({"entityType": "IP", "fieldMappings": [{"identifier": "Address", "value": ip}]})
    return entities


def result_rows(finding: Finding) -> str:
    """The bookmark's ``queryResult``: the finding's rare-group row and its activity summary rows
    (at most ``MAX_ACTIVITY_ROWS``), as JSON text."""
    group = {key: finding.group.get(key) for key in GROUP_FIELDS if key in finding.group}
    activity = finding.activity[:MAX_ACTIVITY_ROWS]
    document = {"rare_task": group, "activity": activity}
    if len(finding.activity) > len(activity):
        document["activity_left_out"] = len(finding.activity) - len(activity)
    # Redacted value by value before it becomes one JSON text (a rule run over the text could
    # match across a value's closing quote).
    return json.dumps(redact_records(document), ensure_ascii=False, default=str)


def task_names(group: dict) -> list[str]:
    names = group.get("TaskNames") or [d.get("TaskName") for d in group.get("TaskDefinitions") or []
                                       if isinstance(d, dict)]
    return [str(n) for n in dict.fromkeys(names) if n]


def summary_text(finding: Finding) -> str:
    """A few plain lines on one finding: task, where, why (reasons in words), verdict and history."""
    group = finding.group
    lines = [f"Rare scheduled task (T1053.005), rank {finding.rank}: {group.get('FileName')} "
             f"[{group.get('GroupKey')}]"]
    names = task_names(group)
    if names:
        lines.append("Task: " + ", ".join(names[:5]))
    command = " ".join(str(group.get("ProcessCommandLine") or "").split())
    lines.append("Command line: " + (command if len(command) <= 500 else command[:499] + "…"))
    lines.append(f"Runs: {group.get('Count')} on {group.get('DeviceCount')} device(s): "
                 + ", ".join(str(d) for d in (group.get("Devices") or [])[:5]))
    lines.append(f"First run {group.get('FirstSeen')}, last run {group.get('LastSeen')}; score {group.get('Score')}"
                 + (" (critical)" if group.get("Critical") else ""))
    reasons = group.get("ReasonText") or group.get("Reasons") or []
    if reasons:
        lines.append("Why: " + "; ".join(str(r) for r in reasons))
    verdict = group.get("Verdict")
    if isinstance(verdict, dict):
        lines.append(f"Verdict: {verdict.get('Verdict')} by {verdict.get('Analyst')} at {verdict.get('At')}"
                     + (f" ({verdict.get('Note')})" if verdict.get("Note") else "")
                     + (", binary changed since" if verdict.get("BinaryChanged") else ""))
    history = group.get("History")
    if isinstance(history, dict):
        lines.append("History: new (no earlier run found it)" if history.get("New") else
                     f"History: seen in {history.get('RunsSeen')} earlier run(s) since {history.get('FirstSeen')}")
    if group.get("SuppressedBy"):
        lines.append(f"Suppressed by {group.get('SuppressedBy')}")
    return "\n".join(lines)
