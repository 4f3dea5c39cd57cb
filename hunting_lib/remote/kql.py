"""Render the hunt as KQL for Sentinel, Defender XDR or Azure Data Explorer.

The published query is the base: the renderer applies a few anchored edits to its text (each
anchor must occur exactly once, or rendering fails loudly) and prepends ``let`` statements that
carry the parameters. With the default parameters and no exclusions the result is the published
query itself, plus the time window when one is given.

Every value that comes from a user or from the data (a time, a command line, a rule's pattern)
enters the query only through ``kql_string``/``kql_datetime``, which produce one literal token that
cannot end early, so no value can change the query's structure.
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from hunting_lib.engine.query import seed_kql, seed_literals
from hunting_lib.params import HuntParams
from hunting_lib.remote.kql_literals import (  # noqa: F401 (part of this module's API)
    Dialect,
    dialect,
    kql_datetime,
    kql_string,
    kql_string_list,
    window_filter,
)
from hunting_lib.schema import TABLES, table_columns
from hunting_lib.triage.exclusions import Condition, ExclusionRule

# --------------------------------------------------------------------------------------------
# Exclusions as a KQL expression


def _condition_kql(condition: Condition) -> str:
    field = condition.field
    values = condition.values
    if condition.operator in ("equals", "not_equals"):
        operator = "in" if condition.case_sensitive else "in~"
        operator = operator if condition.operator == "equals" else "!" + operator
        return f"{field} {operator} {kql_string_list(values)}"
    if condition.operator == "regex":
        flags = "" if condition.case_sensitive else "(?i)"
        pattern = "|".join(f"(?:{v})" for v in values)
        return f"{field} matches regex {kql_string(flags + pattern)}"
    suffix = "_cs" if condition.case_sensitive else ""
    parts = [f"{field} {condition.operator}{suffix} {kql_string(v)}" for v in values]
    return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


def rule_kql(rule: ExclusionRule) -> str:
    """A rule's conditions as one KQL boolean expression (every condition must hold)."""
    return "(" + " and ".join(_condition_kql(c) for c in rule.conditions) + ")"


def _rule_rank(rules: list[ExclusionRule]) -> str:
    """``case(rule1, 1, rule2, 2, ..., 0)``: the first matching rule's position, 0 for none."""
    if not rules:
        return "0"
    branches = ", ".join(f"{rule_kql(rule)}, {i}" for i, rule in enumerate(rules, start=1))
    return f"case({branches}, 0)"


# --------------------------------------------------------------------------------------------
# The query


def _replace_once(text: str, anchor: str, replacement: str) -> str:
    if text.count(anchor) != 1:
        raise ValueError(f"the seed query no longer has exactly one {anchor!r}; update hunting_lib/remote/kql.py")
    return text.replace(anchor, replacement)


def _parameters(params: HuntParams, rules: list[ExclusionRule]) -> str:
    lines = ["// Rendered by hunting_lib from the published rare_sch_task_with_activity query."]
    if params.start is not None:
        lines.append(f"let HuntStart = {kql_datetime(params.start)};")
    if params.end is not None:
        lines.append(f"let HuntEnd = {kql_datetime(params.end)};")
    if rules:
        ids = ", ".join(kql_string(r.id) for r in rules)
        lines.append(f"let ExclusionRuleIds = dynamic([{ids}]);")
    return "\n".join(lines) + "\n"


def _rare_filter(params: HuntParams) -> str:
    test = f"count_ < {int(params.threshold)}"
    if params.max_devices is not None:
        test += f" or DeviceCount <= {int(params.max_devices)}"
    return test


def render_rare_tasks_kql(params: HuntParams, rules: Iterable[ExclusionRule] = (), target: str | Dialect = "defender",
                          catalogue: tuple = ()) -> str:
    """A query returning the rare groups: FileName, ProcessCommandLine, FolderPath, count_,
    DeviceCount, FirstSeen, LastSeen, RareBy and SuppressedBy: the first rule that covers every
    run, else ``known:<task>`` when every run matches the known-task catalogue, else "".

    Tripwires, which keep a group a finding whatever matched it, need the group's activity and
    the fleet's baseline; the kit applies them to this result (``remote.hunt.RemoteHunt``), so here
    SuppressedBy is what *would* suppress the group.
    """
    target = dialect(target) if isinstance(target, str) else target
    return _render_scoped_rare_tasks(params, list(rules), target, tuple(catalogue))


def render_hunt_kql(params: HuntParams, rules: Iterable[ExclusionRule] = (), target: str | Dialect = "defender") -> str:
    """The whole hunt as one query: the published query with the parameters applied.

    Its result is the published query's activity summary. Exclusions do not change it (they
    only mark rare groups, see ``render_rare_tasks_kql``), so they are not part of this query.
    In the extended scope (the default) the query starts from the launches in scope
    (``kql_scope.scope_lets``) and adds the events of the System32 task hosts a host tripwire
    brought in, matched by process.
    """
    target = dialect(target) if isinstance(target, str) else target
    if params.scope == "extended":
        return _render_scoped_hunt(params, target)
    seed = seed_literals()
    text = seed_kql().rstrip("\n")
    text = _replace_once(text, "materialize(\nDeviceProcessEvents\n",
                         "materialize(\n" + target.tables["DeviceProcessEvents"]
                         + window_filter(params, target.time_column) + "\n")
    if params.parent_command_lines != (seed.parent_command_line,):
        text = _replace_once(
            text,
            f'| where InitiatingProcessCommandLine == @"{seed.parent_command_line}"',
            f"| where InitiatingProcessCommandLine in {kql_string_list(params.parent_command_lines)}",
        )
    if params.max_devices is not None:
        text = _replace_once(
            text,
            "| summarize count() by FileName, ProcessCommandLine, FolderPath",
            "| summarize count_ = count(), DeviceCount = array_length(make_set(DeviceName)) by FileName, "
            "ProcessCommandLine, FolderPath",
        )
    text = _replace_once(text, f"| where count_ < {seed.threshold}", f"| where {_rare_filter(params)}")
    union = "union " + ",".join(target.tables[t] for t in TABLES)
    text = _replace_once(text, "union " + ",".join(TABLES), union + window_filter(params, target.time_column))
    return _parameters(params, []) + text


# --------------------------------------------------------------------------------------------
# The pieces the remote engine runs (hunting_lib.remote.provider): statistics and rows, never thresholds
# on a part of the data, so results of several time chunks can be merged exactly.

def render_task_start_groups_kql(params: HuntParams, target: str | Dialect = "defender") -> str:
    """Per (FileName, ProcessCommandLine, FolderPath) group of launches in scope: Count (the
    launches, aggregated reports counted as the events they stand for), Devices, Accounts,
    FirstSeen, LastSeen. No threshold: chunks are summed before it."""
    target = dialect(target) if isinstance(target, str) else target
    return (
        _scoped_lets(params, target)
        + "InScope\n| summarize Count = sum(Events), Devices = make_set(DeviceName), Accounts = make_set(AccountName),"
        + "\n    FirstSeen = min(Timestamp), LastSeen = max(Timestamp) by FileName, ProcessCommandLine, FolderPath"
    )


def render_scheduler_groups_kql(params: HuntParams, target: str | Dialect = "defender") -> str:
    """Every distinct (FileName, ProcessCommandLine, FolderPath) a task host launched in the
    window, in scope or not (``FleetContext.scheduler_groups``: a registered task "ran")."""
    target = dialect(target) if isinstance(target, str) else target
    return _scoped_lets(params, target) + "Launches\n| distinct FileName, ProcessCommandLine, FolderPath"


#: What the scope adds to each launch (``scope.scoped_task_starts``).
SCOPE_COLUMNS = ["TaskHost", "InScopeBy", "Events"]


def render_task_starts_kql(
    params: HuntParams, groups: pd.DataFrame, columns: Iterable[str], target: str | Dialect = "defender"
) -> str:
    """The launches in scope of the given groups, one row each, with ``columns`` and the scope's.

    The group values come from the data, so they enter only as escaped literals. The filter
    tests the three values independently (a superset); the caller keeps exact group members.
    """
    target = dialect(target) if isinstance(target, str) else target
    return (
        _scoped_lets(params, target) + "InScope"
        + f"\n| where FileName in {kql_string_list(sorted(set(groups['FileName'])))}"
        + f"\n    and ProcessCommandLine in {kql_string_list(sorted(set(groups['ProcessCommandLine'])))}"
        + f"\n    and FolderPath in {kql_string_list(sorted(set(groups['FolderPath'])))}"
        + "\n| project " + ", ".join(list(dict.fromkeys(list(columns) + SCOPE_COLUMNS)))
    )


def render_flagged_launches_kql(params: HuntParams, columns: Iterable[str], target: str | Dialect = "defender") -> str:
    """The System32 task-host launches whose own process fired a host tripwire (extended scope)."""
    target = dialect(target) if isinstance(target, str) else target
    return (_scoped_lets(params, target) + "FlaggedLaunches\n| project "
            + ", ".join(list(dict.fromkeys(list(columns) + SCOPE_COLUMNS + ["HostTripwires"]))))


def render_fleet_groups_kql(params: HuntParams, target: str | Dialect = "defender") -> str:
    """The fleet's baseline: every group of launches in scope with its devices, and one more row
    counting the task hosts' launches recorded as Defender aggregated reports (``fleet.FleetContext``)."""
    target = dialect(target) if isinstance(target, str) else target
    return (_scoped_lets(params, target)
            + "union (InScope | summarize Devices = make_set(DeviceName) by FileName, ProcessCommandLine, FolderPath"
            " | extend Aggregated = 0),\n"
            "    (Launches | summarize Aggregated = countif(ActionType == \"ProcessCreatedAggregatedReport\")\n"
            "     | extend FileName = \"\", ProcessCommandLine = \"\", FolderPath = \"\", Devices = dynamic([]))")


def render_ip_devices_kql(params: HuntParams, ips: Iterable[str], target: str | Dialect = "defender") -> str:
    """The devices that contacted each of ``ips`` in the window (the rare-public-IP tripwire)."""
    target = dialect(target) if isinstance(target, str) else target
    return (_parameters(params, []) + target.tables["DeviceNetworkEvents"] + window_filter(params, target.time_column)
            + f"\n| where RemoteIP in {kql_string_list(sorted(set(ips)))}"
            + "\n| summarize Devices = make_set(DeviceName) by RemoteIP")


def render_indicator_contacts_kql(params: HuntParams, ips: Iterable[str], hosts: Iterable[str],
                                  target: str | Dialect = "defender") -> str:
    """The fleet's contacts of some indicators in the window, one row per distinct (device,
    process, address, URL): the indicators' fleet prevalence (``pivots.pivot.fleet_prevalence``)
    without bringing any other network event back.

    A URL's host is matched loosely here (``RemoteUrl contains``, case-insensitive); the pivot
    then keeps only the rows whose URL host equals the indicator's, as it does locally. A host
    that is an address is also looked for in ``RemoteIP``.
    """
    target = dialect(target) if isinstance(target, str) else target
    hosts = sorted(set(hosts))
    addresses = sorted(set(ips) | set(hosts))
    tests = [f"RemoteIP in {kql_string_list(addresses)}"] if addresses else []
    tests += [f"RemoteUrl contains {kql_string(host)}" for host in hosts]
    return (_parameters(params, []) + target.tables["DeviceNetworkEvents"] + window_filter(params, target.time_column)
            + "\n| where " + (" or ".join(tests) or "false")
            + "\n| distinct DeviceName, InitiatingProcessFileName, RemoteIP, RemoteUrl")


def render_file_profiles_kql(params: HuntParams, sha1s: Iterable[str], target: str | Dialect = "defender") -> str:
    """Defender's FileProfile() for the given SHA1s: signer, signature state, global prevalence.

    FileProfile is a Defender XDR advanced-hunting function; Sentinel and ADX do not have it.
    Called with its defaults (the SHA1 column, at most 100 files), so give it at most 100 SHA1s.
    """
    target = dialect(target) if isinstance(target, str) else target
    return (_parameters(params, []) + "print SHA1 = dynamic(" + _dynamic_strings(sha1s) + ")"
            "\n| mv-expand SHA1 to typeof(string)"
            "\n| invoke FileProfile()"
            "\n| project SHA1, GlobalPrevalence, Signer, SignatureState, IsCertificateValid")


def render_file_certificates_kql(params: HuntParams, sha1s: Iterable[str], target: str | Dialect = "defender") -> str:
    """What DeviceFileCertificateInfo last recorded about each SHA1's signature (any time)."""
    target = dialect(target) if isinstance(target, str) else target
    table = target.tables.get("DeviceFileCertificateInfo", "DeviceFileCertificateInfo")
    return (_parameters(params, []) + table
            + f"\n| where SHA1 in {kql_string_list(sorted(set(sha1s)))}"
            + "\n| summarize arg_max(Timestamp, IsSigned, IsTrusted, Signer) by SHA1")


def _dynamic_strings(values: Iterable[str]) -> str:
    return "[" + ", ".join(kql_string(v) for v in sorted(set(values))) + "]"


def _projectable(columns: Iterable[str], tables: Iterable[str]) -> list[str]:
    """The columns that at least one of ``tables`` has (projecting any other is a KQL error)."""
    known = set().union(*(table_columns(t) for t in tables))
    return [c for c in columns if c in known]


def _union(params: HuntParams, target: Dialect, tables: Iterable[str]) -> str:
    """The tables as one union that still runs when a workspace does not collect one of them
    (``isfuzzy=true``); ``render_table_presence_kql`` says which one was left out."""
    names = ", ".join(target.tables[t] for t in tables)
    return f"union isfuzzy=true withsource=SourceTable {names}" + window_filter(params, target.time_column)


def render_table_presence_kql(params: HuntParams, target: str | Dialect = "defender",
                              tables: Iterable[str] = TABLES) -> str:
    """One row per table the workspace has (``SourceTable``, the kit's name; ``Rows``, its size).

    Each leg only counts its table (cheap: Kusto answers ``count`` from metadata); a table the
    workspace lacks makes its leg fail, which the fuzzy union drops, so its row is missing.
    """
    target = dialect(target) if isinstance(target, str) else target
    legs = ",\n    ".join(f"({target.tables[t]} | count | project SourceTable = {kql_string(t)}, Rows = Count)"
                            for t in tables)
    return _parameters(params, []) + f"union isfuzzy=true\n    {legs}"


def _seed_match(params: HuntParams, rare_tasks: pd.DataFrame, target: Dialect, devices: Iterable[str] | None,
                tables: Iterable[str] = TABLES) -> str:
    """The seed's step 5 filter over the union of ``tables``, on ``devices`` only when given (tested
    first: DeviceName is the cheapest column to filter on and the one the service indexes)."""
    lowered = {key: sorted({str(v).lower() for v in rare_tasks[key]}) for key in
               ("FileName", "ProcessCommandLine", "FolderPath")}
    narrow = "" if devices is None else f"\n| where DeviceName in {kql_string_list(sorted(set(devices)))}"
    return (
        _parameters(params, [])
        + _union(params, target, tables)
        + narrow
        + f"\n| where tolower(InitiatingProcessFileName) in {kql_string_list(lowered['FileName'])}"
        + f"\n    and tolower(InitiatingProcessCommandLine) in {kql_string_list(lowered['ProcessCommandLine'])}"
        + f"\n    and tolower(InitiatingProcessFolderPath) in {kql_string_list(lowered['FolderPath'])}"
    )


def render_activity_rows_kql(
    params: HuntParams, rare_tasks: pd.DataFrame, columns: Iterable[str], target: str | Dialect = "defender",
    devices: Iterable[str] | None = None, tables: Iterable[str] = TABLES,
) -> str:
    """The seed's last step without its summary: every matching event, with ``columns``; with
    ``devices``, only the events on those devices (``render_activity_devices_kql`` says which).
    ``tables``: the ones the workspace has (projecting a column only a missing table has fails)."""
    target = dialect(target) if isinstance(target, str) else target
    tables = list(tables)
    return (_seed_match(params, rare_tasks, target, devices, tables)
            + "\n| project SourceTable, " + ", ".join(_projectable(columns, tables)))


def render_activity_devices_kql(params: HuntParams, rare_tasks: pd.DataFrame,
                                target: str | Dialect = "defender", tables: Iterable[str] = TABLES) -> str:
    """Per device, how many events the seed's step 5 matches there (``DeviceName``, ``Rows``).

    The seed matches a rare group's process on any device, not only where the task ran, so the
    devices to read come from this count rather than from the groups; it also sizes each row
    query under the service's row limit before it is sent.
    """
    target = dialect(target) if isinstance(target, str) else target
    return _seed_match(params, rare_tasks, target, None, tables) + "\n| summarize Rows = count() by DeviceName"


def render_rows_by_process_kql(
    params: HuntParams, processes: pd.DataFrame, columns: Iterable[str],
    tables: Iterable[str] = TABLES, target: str | Dialect = "defender",
) -> str:
    """Events whose initiating process is one of ``processes`` (DeviceName, ProcessId).

    A superset (devices and ids are tested independently); the caller resolves each row to its
    exact process by creation time.
    """
    target = dialect(target) if isinstance(target, str) else target
    tables = list(tables)
    devices = sorted(set(processes["DeviceName"]))
    ids = sorted({int(v) for v in processes["ProcessId"].dropna()})
    return (
        _parameters(params, [])
        + _union(params, target, tables)
        + f"\n| where DeviceName in {kql_string_list(devices)}"
        + f"\n    and InitiatingProcessId in ({', '.join(str(i) for i in ids) or '-1'})"
        + "\n| project SourceTable, " + ", ".join(_projectable(columns, tables))
    )


def render_device_network_kql(params: HuntParams, device: str, target: str | Dialect = "defender",
                              columns: Iterable[str] | None = None) -> str:
    """Pivot: one device's network events in the window, newest first (``pivots.pivot.device_network``),
    with ``columns`` (those the table has; all when None)."""
    target = dialect(target) if isinstance(target, str) else target
    project = "" if columns is None else "\n| project " + ", ".join(_projectable(columns, ["DeviceNetworkEvents"]))
    return (
        _parameters(params, [])
        + target.tables["DeviceNetworkEvents"] + window_filter(params, target.time_column)
        + f"\n| where DeviceName == {kql_string(device)}"
        + project
        + "\n| sort by Timestamp desc"
    )


# --------------------------------------------------------------------------------------------
# The extended scope: every query starts from ``kql_scope.scope_lets``


def _rare_groups_lets(params: HuntParams) -> str:
    """``RareGroups`` (the rare groups in scope) and ``HostGroups`` (the flagged System32 launches
    of programs with no launch in scope), with ``RareBy``."""
    devices = (f" or DeviceCount <= {int(params.max_devices)}" if params.max_devices is not None else "")
    by_devices = (f"DeviceCount <= {int(params.max_devices)}" if params.max_devices is not None else "false")
    return (
        "let RareGroups = materialize(InScope\n"
        "| summarize count_ = sum(Events), DeviceCount = array_length(make_set(DeviceName)) "
        "by FileName, ProcessCommandLine, FolderPath\n"
        f"| where count_ < {int(params.threshold)}{devices}\n"
        f"| extend RareBy = case(count_ < {int(params.threshold)} and {by_devices}, \"count,devices\", "
        f"count_ < {int(params.threshold)}, \"count\", \"devices\"));\n"
        "let HostLaunches = materialize(FlaggedLaunches | join kind=leftanti (InScope) on FileName, ProcessCommandLine, "
        "FolderPath);\n"
    )


def _scoped_lets(params: HuntParams, target: Dialect) -> str:
    from hunting_lib.remote.kql_scope import scope_lets

    return _parameters(params, []) + scope_lets(params, target)


def _render_scoped_hunt(params: HuntParams, target: Dialect) -> str:
    union = "union " + ",".join(target.tables[t] for t in TABLES) + window_filter(params, target.time_column)
    return (
        _scoped_lets(params, target) + _rare_groups_lets(params)
        + "let Names = RareGroups | distinct Value = tolower(FileName);\n"
        "let CommandLines = RareGroups | distinct Value = tolower(ProcessCommandLine);\n"
        "let FolderPaths = RareGroups | distinct Value = tolower(FolderPath);\n"
        f"let SeedRows = {union}\n"
        "| where tolower(InitiatingProcessFileName) in (Names)\n"
        "    and tolower(InitiatingProcessCommandLine) in (CommandLines)\n"
        "    and tolower(InitiatingProcessFolderPath) in (FolderPaths);\n"
        # The flagged processes' own events: device, process id and creation time (see
        # correlate.resolve_initiating_process for the one-minute tolerance).
        f"let HostRows = {union}\n"
        "| join kind=inner (HostLaunches | project DeviceName, InitiatingProcessId = ProcessId, Started = Created)\n"
        "    on DeviceName, InitiatingProcessId\n"
        "| where (isnotnull(InitiatingProcessCreationTime) and Started between "
        "((InitiatingProcessCreationTime - 1s) .. (InitiatingProcessCreationTime + 60s)))\n"
        "    or (isnull(InitiatingProcessCreationTime) and Started <= Timestamp);\n"
        "union SeedRows, HostRows\n"
        "| sort by Timestamp desc\n"
        "| summarize Actions = make_set(ActionType), FileNames = make_set(FileName), RemoteIPs = make_set(RemoteIP) "
        "by InitiatingProcessFileName, InitiatingProcessId, InitiatingProcessCommandLine, "
        "InitiatingProcessCreationTime, DeviceName"
    )


def _render_scoped_rare_tasks(params: HuntParams, rules: list[ExclusionRule], target: Dialect, catalogue: tuple) -> str:
    from hunting_lib.remote.kql_scope import known_rank_kql, launch_shape_lets

    ranks = ("| extend SuppressedRank = " + _rule_rank(rules) + "\n"
             + "| extend KnownRank = " + known_rank_kql(catalogue) + "\n")
    names = ", ".join(kql_string(r.id) for r in rules)
    tasks = ", ".join(kql_string(e.task) for e in catalogue)
    summary = ("| summarize count_ = sum(Events), DeviceCount = array_length(make_set(DeviceName)),\n"
               "    FirstSeen = min(Timestamp), LastSeen = max(Timestamp),\n"
               "    Unsuppressed = countif(SuppressedRank == 0), FirstRule = min(iff(SuppressedRank == 0, 1000000, "
               "SuppressedRank)),\n"
               "    Unknown = countif(KnownRank == 0), FirstKnown = min(iff(KnownRank == 0, 1000000, KnownRank))\n"
               "    by FileName, ProcessCommandLine, FolderPath, Source\n")
    devices = (f" or DeviceCount <= {int(params.max_devices)}" if params.max_devices is not None else "")
    by_devices = (f"DeviceCount <= {int(params.max_devices)}" if params.max_devices is not None else "false")
    threshold = int(params.threshold)
    rare_by = (f"case(Source == \"host\", \"tripwire\", count_ < {threshold} and {by_devices}, \"count,devices\", "
               f"count_ < {threshold}, \"count\", \"devices\")")
    return (
        _scoped_lets(params, target)
        + f"let RuleIds = dynamic([{names}]);\n"
        + f"let KnownTasks = dynamic([{tasks}]);\n"
        # The launches in scope and the flagged System32 host launches of programs with none, shaped
        # and ranked once; each kind summarised by group (the host groups need no threshold).
        + "union (InScope | extend Source = \"scope\"),\n"
        + "    (FlaggedLaunches | join kind=leftanti (InScope) on FileName, ProcessCommandLine, FolderPath"
        + " | extend Source = \"host\")\n"
        + launch_shape_lets() + ranks + summary
        + f"| where Source == \"host\" or count_ < {threshold}{devices}\n"
        + f"| extend RareBy = {rare_by}\n"
        + "| extend SuppressedBy = case(Unsuppressed == 0, tostring(RuleIds[FirstRule - 1]),\n"
        + "    Unknown == 0, strcat(\"known:\", tostring(KnownTasks[FirstKnown - 1])), \"\")\n"
        + "| project-away Unsuppressed, FirstRule, Unknown, FirstKnown, Source"
    )
