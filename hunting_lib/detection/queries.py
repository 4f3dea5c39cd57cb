"""The hunt as a detection query: one row per launch of a rare, unsuppressed scheduled task.

A detection runs on a schedule over a sliding lookback, so it cannot use the hunt's fixed window.
Every table the hunt reads is first narrowed to the lookback in a ``let`` of its own
(``RecentDeviceProcessEvents = DeviceProcessEvents | where Timestamp > ago(30d)``), and the hunt's
renderer reads those names as if they were the tables (a ``Dialect`` whose table names are the
``let`` names). That keeps one renderer, ``remote.kql.render_rare_tasks_kql``, for the hunt and the
detection: the same scope, threshold, exclusion rules and known-task catalogue, and every value in
them an escaped literal.

The rows are the launches of the rare groups nothing suppresses (``SuppressedBy == ""``), with
the columns Defender XDR custom detections require (``Timestamp``, ``DeviceId``, ``ReportId``)
and the ones the Sentinel rule maps to entities (host, account, file, IP). A watchlist of verdicts
(``_GetWatchlist``) removes the groups an analyst cleared as benign.

Tripwires are not rendered: they compare a group's activity with the fleet's baseline, which the
kit computes in Python. So a group that matches an exclusion rule or a catalogue entry and would be
kept by a tripwire in the hunt is left out of the detection (README, "A detection made from the
hunt").
"""

from __future__ import annotations

import re
from typing import Iterable

import pandas as pd

from hunting_lib.errors import BadInputError
from hunting_lib.params import HuntParams
from hunting_lib.remote.kql import render_rare_tasks_kql
from hunting_lib.remote.kql_literals import Dialect, dialect, kql_datetime, kql_string
from hunting_lib.schema import TABLES
from hunting_lib.triage.exclusions import ExclusionRule

#: What a detection row carries, in order. Timestamp, DeviceId and ReportId identify the launch
#: event for Defender XDR custom detections; the rest names the entities and why it is rare.
DETECTION_COLUMNS = ["Timestamp", "DeviceId", "DeviceName", "AccountName", "AccountDomain", "FileName",
                     "FolderPath", "ProcessCommandLine", "SHA1", "ReportId", "RemoteIP", "RunCount",
                     "DeviceCount", "RareBy", "InScopeBy"]
#: The watchlist's columns the detection reads: the group's three strings (exact, as the hunt
#: groups launches), the verdict and, when there, its expiry. Any other column is ignored.
GROUP_STRINGS = ("FileName", "ProcessCommandLine", "FolderPath")
WATCHLIST_COLUMNS = (*GROUP_STRINGS, "Verdict", "Expires")
#: Sentinel watchlist aliases: letters, digits, '-' and '_' (kept strict: the alias is also a file name).
_WATCHLIST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_watchlist_name(name: str | None) -> str | None:
    """The watchlist alias, or a one-line error for one Sentinel would not accept."""
    if name is None:
        return None
    if not _WATCHLIST_NAME.fullmatch(name):
        raise BadInputError(f"--watchlist {name!r}: a watchlist alias is 1-64 letters, digits, '-' or '_', "
                            "starting with a letter or digit")
    return name


def _recent_dialect(target: str) -> Dialect:
    """The target's dialect with each table read through its lookback ``let``."""
    base = dialect(target)
    return Dialect(base.name, base.time_column, {table: f"Recent{table}" for table in TABLES})


def _recent_lets(base: Dialect, used: str, since: str) -> str:
    lines = [f"let Recent{table} = {base.tables[table]} | where {base.time_column} > {since};"
             for table in TABLES if f"Recent{table}" in used]
    return "\n".join(lines) + "\n"


def _split_final(text: str) -> tuple[str, str]:
    """The rendered query's ``let`` statements and its final expression.

    Literals never hold a raw line break (``kql_string`` escapes it), so the last ``;`` that ends
    a line is the end of the last ``let``.
    """
    lets, final = text.rsplit(";\n", 1)
    if not final.startswith("union "):  # the renderer changed shape; fail loudly rather than mis-split
        raise ValueError("the rare-tasks query no longer ends in its union; update hunting_lib/detection/queries.py")
    return lets + ";\n", final


def watchlist_kql(name: str) -> str:
    """The groups the watchlist clears: its rows whose ``Verdict`` is benign, as the group's three
    strings (compared exactly, as the hunt groups them), while the verdict has not expired.

    A watchlist without those columns (one keyed on GroupKey alone) clears nothing: GroupKey's
    normalisation (profiles, GUIDs, versions) uses look-around that KQL's RE2 cannot express, and a
    detection that silently cleared a look-alike would be worse than one more alert."""
    return (f"_GetWatchlist({kql_string(name)})\n"
            "    | where tolower(tostring(Verdict)) == \"benign\"\n"
            "    | where isempty(tostring(column_ifexists(\"Expires\", \"\"))) "
            "or todatetime(tostring(column_ifexists(\"Expires\", \"\"))) > now()\n"
            "    | project " + ",\n        ".join(f"{column} = tostring(column_ifexists({kql_string(column)}, \"\"))"
                                               for column in GROUP_STRINGS))


def render_detection_kql(params: HuntParams, rules: Iterable[ExclusionRule] = (), catalogue: tuple = (),
                         target: str = "defender", lookback: str = "30d", watchlist: str | None = None,
                         alert_window: str = "1d", since: pd.Timestamp | None = None,
                         alert_since: pd.Timestamp | None = None) -> str:
    """The detection query: every launch, in the lookback, of a rare group nothing suppresses.

    ``lookback`` is a KQL timespan: rarity is counted over it (``30d``: Defender's daily custom
    detections read 30 days; ``14d``: a Sentinel rule's longest query period). Only the launches of
    the last ``alert_window`` (the rule's frequency) become rows, so a daily rule reports each rare
    launch once rather than on every run of its lookback. ``since`` and ``alert_since`` replace
    ``ago(...)`` by fixed times, for replaying the detection over recorded data. ``watchlist`` names
    a Sentinel watchlist of verdicts whose benign groups are left out.
    """
    if params.start is not None or params.end is not None:
        raise BadInputError("export-rule: --start/--end do not apply to a detection, which reads a sliding "
                            "lookback; leave them out")
    if params.match != "seed":
        raise BadInputError("export-rule: --match process is not rendered as KQL; use --match seed")
    for name, span in (("lookback", lookback), ("alert window", alert_window)):
        if not re.fullmatch(r"[1-9][0-9]{0,3}[dhm]", span):
            raise BadInputError(f"{name} {span!r}: use a KQL timespan such as 30d, 12h or 90m")
    watchlist = check_watchlist_name(watchlist)
    recent = _recent_dialect(target)
    rare = render_rare_tasks_kql(params, list(rules), target=recent, catalogue=tuple(catalogue))
    lets, groups = _split_final(rare)
    start = kql_datetime(since) if since is not None else f"ago({lookback})"
    alert_start = kql_datetime(alert_since) if alert_since is not None else f"ago({alert_window})"
    network = recent.tables["DeviceNetworkEvents"]
    cleared = ("\n| join kind=leftanti (" + watchlist_kql(watchlist) + ") on FileName, ProcessCommandLine, FolderPath"
               if watchlist else "")
    body = (
        lets
        + f"let RareGroupsFound = {groups};\n"
        + f"let Findings = RareGroupsFound\n| where SuppressedBy == \"\"{cleared};\n"
        # the launches of those groups: in scope, or flagged System32 task hosts with none in scope
        + "let RareLaunches = union\n"
        "    (InScope | join kind=inner (Findings) on FileName, ProcessCommandLine, FolderPath),\n"
        "    (FlaggedLaunches | join kind=leftanti (InScope) on FileName, ProcessCommandLine, FolderPath\n"
        "        | join kind=inner (Findings) on FileName, ProcessCommandLine, FolderPath);\n"
        # one remote address each launched process contacted, for the IP entity
        + f"let TaskConnections = {network}\n"
        "| where DeviceId in ((RareLaunches | distinct DeviceId))\n"
        "| where isnotempty(RemoteIP)\n"
        "| summarize RemoteIP = take_any(RemoteIP) by DeviceId, ProcessId = InitiatingProcessId, "
        "ProcessCreationTime = InitiatingProcessCreationTime;\n"
        "RareLaunches\n"
        f"| where Timestamp > {alert_start}\n"
        "| join kind=leftouter (TaskConnections) on DeviceId, ProcessId, ProcessCreationTime\n"
        "| extend RunCount = count_\n"
        f"| project {', '.join(DETECTION_COLUMNS)}"
    )
    header = (f"// Detection made by hunting_lib export-rule from the rare scheduled task hunt (T1053.005).\n"
              f"// Rarity over {'the time since ' + start if since is not None else 'the last ' + lookback}; "
              f"rows: the launches {'since ' + alert_start if alert_since is not None else 'of the last ' + alert_window}"
              ".\n")
    return header + _recent_lets(dialect(target), body, start) + body
