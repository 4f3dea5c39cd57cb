"""The task launches in scope, as KQL ``let`` statements: the extended scope where the data lives.

``scope_lets`` renders the same decisions ``scope.scoped_task_starts`` and
``scope.host_tripwire_starts`` make in pandas, from the same settings (``config/scope.yaml``,
``config/paths.yaml``), as tabular ``let`` statements every query of the hunt can start from:

- ``Launches``: every launch by a task host (after the grouped host's guards), in scope or not;
- ``InScope``: the launches in scope, with ``TaskHost``, ``InScopeBy`` and ``Events`` (the
  launches a Defender aggregated report stands for);
- ``FlaggedLaunches`` (extended scope): the System32 task-host launches whose own process fired a
  host tripwire, with ``Created`` (their creation time) for matching their events.

The published scope renders the seed's own filters and an empty ``FlaggedLaunches``. Every value
enters through ``kql_literals.kql_string``; the regular expressions are written in the subset that
Python's ``re`` and KQL's RE2 read alike.
"""

from __future__ import annotations

from hunting_lib.engine.command_line import QUOTED, UNQUOTED, UNQUOTED_EXE
from hunting_lib.engine.query import seed_literals
from hunting_lib.engine.settings import PathConfig, ScopeConfig, default_paths, default_scope
from hunting_lib.params import HuntParams
from hunting_lib.remote.kql_literals import kql_string, kql_string_list, window_filter

#: Columns of a launch that the hunt's steps read, in the order the queries project them.
LAUNCH_COLUMNS = ["Timestamp", "DeviceId", "DeviceName", "AccountName", "FileName", "ProcessCommandLine",
                  "ProcessId", "ProcessCreationTime", "FolderPath", "ActionType", "AdditionalFields", "SHA1",
                  "ProcessVersionInfoOriginalFileName", "InitiatingProcessFileName", "InitiatingProcessCommandLine",
                  "InitiatingProcessId", "InitiatingProcessCreationTime", "InitiatingProcessFolderPath",
                  "InitiatingProcessParentId", "InitiatingProcessParentFileName",
                  "InitiatingProcessParentCreationTime", "ReportId"]
_SPACE = r"[\t\n\f\r ]"
_NO_FLAGGED_LAUNCHES = ("let FlaggedLaunches = InScope | take 0 | extend Created = ProcessCreationTime, "
                        "HostTripwires = dynamic([]);\n")


def arguments_kql(column: str = "ProcessCommandLine") -> str:
    """``command_line.arguments`` as a KQL expression: the command line without its program."""
    s = kql_string
    return (f"trim({s(_SPACE + '+')}, case("
            f"{column} matches regex {s(QUOTED)}, extract({s(QUOTED)}, 3, {column}), "
            f"{column} matches regex {s(UNQUOTED_EXE)}, extract({s(UNQUOTED_EXE)}, 2, {column}), "
            f"extract({s(UNQUOTED)}, 2, {column})))")


def user_writable_kql(column: str, paths: PathConfig | None = None) -> str:
    """``PathConfig.is_user_writable`` as a KQL test: a protected folder's text is blanked first."""
    paths, s = paths or default_paths(), kql_string
    lowered = f"tolower({column})"
    for folder in paths.protected:
        lowered = f"replace_string({lowered}, {s(folder)}, {s('<protected>' + chr(92))})"
    tests = " or ".join(f"{lowered} contains {s(folder)}" for folder in paths.all_user_writable)
    return f"({tests})"


def _starts_with_any(column: str, prefixes) -> str:
    s = kql_string
    return "(" + " or ".join(f"{column} startswith {s(p)}" for p in prefixes) + ")" if prefixes else "false"


def _seed_keep() -> str:
    seed, s = seed_literals(), kql_string
    shells = " or ".join(f"FileName =~ {s(shell)}" for shell in seed.shells)
    return (f"(FileName != {s(seed.excluded_file_name)} and (FolderPath !startswith "
            f"{s(seed.system_folder_prefix)} or {shells}))")


def scope_lets(params: HuntParams, target, config: ScopeConfig | None = None,
               paths: PathConfig | None = None) -> str:
    """The ``let`` statements that define ``InScope`` and ``FlaggedLaunches`` for ``params``."""
    s, strings = kql_string, kql_string_list
    config, paths = config or default_scope(), paths or default_paths()
    table = target.tables["DeviceProcessEvents"]
    window = window_filter(params, target.time_column)
    seed = seed_literals()
    if params.scope == "published":
        return (
            f"let Launches = materialize({table}{window}\n"
            f"| where InitiatingProcessFileName == {s(seed.parent_file_name)}\n"
            f"| where InitiatingProcessCommandLine in {strings(params.parent_command_lines)});\n"
            f"let InScope = Launches\n"
            f"| where {_seed_keep()}\n"
            f'| extend TaskHost = "schedule_service", InScopeBy = "published", Events = 1;\n'
            + _NO_FLAGGED_LAUNCHES
        )
    branches = [f"InitiatingProcessFileName == {s(seed.parent_file_name)} and InitiatingProcessCommandLine in "
                f"{strings(params.parent_command_lines)}, \"schedule_service\""]
    for host in config.hosts:
        test = f"InitiatingProcessFileName =~ {s(host.file_name)}"
        if host.pattern is not None:
            test += f" and InitiatingProcessCommandLine matches regex {s('(?i)^(?:' + host.pattern + ')$')}"
        branches.append(f"{test}, {s(host.id)}")
    guards = []
    for host in config.hosts:
        parts = []
        if host.not_children:
            parts.append(f"FileName in~ {strings(sorted(host.not_children))}")
        if host.not_on_devices_with:
            parts.append(f"DeviceName in (TaskLaunches | where TaskHost == {s(host.not_on_devices_with)} "
                         "| distinct DeviceName)")
        if parts:
            guards.append(f"(TaskHost == {s(host.id)} and ({' or '.join(parts)}))")
    guard = f"| where not({' or '.join(guards)})\n" if guards else ""
    published = (f"TaskHost == \"schedule_service\" and InitiatingProcessFileName == {s(seed.parent_file_name)} and "
                 f"InitiatingProcessCommandLine in {strings(params.parent_command_lines)} and {_seed_keep()}")
    at_home = _starts_with_any("FolderPath", config.scanner_homes)
    in_scope_by = (
        f"case({published}, \"published\",\n"
        f"    {_seed_keep()} and TaskHost == \"schedule_service\", \"host_variant\",\n"
        f"    {_seed_keep()}, TaskHost,\n"
        f"    FileName in~ {strings(sorted(config.system32_lolbins))}, \"system32_lolbin\",\n"
        f"    FileName in~ {strings(sorted(config.system32_recon))}, \"system32_recon\",\n"
        f"    FileName =~ \"conhost.exe\" and ProcessCommandLine contains {s(config.headless_conhost)}, "
        f"\"headless_conhost\",\n"
        f"    {_starts_with_any('FolderPath', paths.user_writable_system32)}, \"user_writable_system32\",\n"
        f"    FileName =~ \"mpcmdrun.exe\" and not({at_home}), \"scanner_outside_home\",\n"
        "    \"\")"
    )
    events = ('iff(ActionType == "ProcessCreatedAggregatedReport", max_of(coalesce(toint(parse_json(tostring('
              'AdditionalFields)).uniqueEventsAggregated), 1), 1), 1)')
    lets = (
        f"let TaskLaunches = materialize({table}{window}\n"
        f"| where InitiatingProcessFileName in~ {strings(sorted(config.host_names))}\n"
        f"| extend TaskHost = case({', '.join(branches)}, \"\")\n"
        "| where TaskHost != \"\");\n"
        f"let Launches = materialize(TaskLaunches\n{guard}"
        f"| extend InScopeBy = {in_scope_by}\n"
        f"| extend Events = {events});\n"
        "let InScope = Launches | where InScopeBy != \"\";\n"
        + _flagged_lets(params, target, config, paths)
    )
    return lets


def _flagged_lets(params: HuntParams, target, config: ScopeConfig, paths: PathConfig) -> str:
    """``FlaggedLaunches``: System32 task-host launches whose own process fired a host tripwire.

    An event's process is the launch with its device and process id whose creation time is
    within a second before to a minute after the event's ``InitiatingProcessCreationTime``
    (``correlate.resolve_initiating_process``), or, for an event without that time, any launch
    at or before the event.
    """
    s, strings = kql_string, kql_string_list
    window = window_filter(params, target.time_column)
    pieces = []
    for tripwire in config.host_tripwires:
        test = (user_writable_kql("FolderPath", paths) if tripwire.test == "user_writable_path"
                else f"FileName in~ {strings(sorted(config.shells))}")
        pieces.append(f"({target.tables[tripwire.table]}{window}\n"
                      "    | where tolower(InitiatingProcessFileName) in (HostNames)\n"
                      f"    | where {test}\n"
                      f"    | project DeviceName, ProcessId = InitiatingProcessId, ParentCreated = "
                      f"InitiatingProcessCreationTime, RowTime = Timestamp, HostTripwire = {s(tripwire.id)})")
    if not pieces:
        return _NO_FLAGGED_LAUNCHES
    every = LAUNCH_COLUMNS + ["TaskHost", "Events", "Created", "HostTripwire"]
    but = lambda *keys: ", ".join(c for c in every if c not in keys)  # noqa: E731 (summarize keys)
    return (
        "let System32Launches = Launches | where InScopeBy == \"\" | extend Created = coalesce(ProcessCreationTime, "
        "Timestamp);\n"
        "let HostNames = System32Launches | distinct Name = tolower(FileName);\n"
        f"let HostTripped = materialize(union isfuzzy=true {', '.join(pieces)});\n"
        # An event with its process's creation time: the first launch from a second before it to
        # a minute after. Without it: the latest launch at or before the event.
        "let ByCreation = System32Launches\n"
        "| join kind=inner (HostTripped | where isnotnull(ParentCreated)) on DeviceName, ProcessId\n"
        "| where Created between ((ParentCreated - 1s) .. (ParentCreated + 60s))\n"
        f"| summarize arg_min(Created, {but('DeviceName', 'ProcessId', 'HostTripwire', 'Created')}) "
        "by DeviceName, ProcessId, ParentCreated, HostTripwire;\n"
        "let ByTime = System32Launches\n"
        "| join kind=inner (HostTripped | where isnull(ParentCreated)) on DeviceName, ProcessId\n"
        "| where Created <= RowTime\n"
        f"| summarize arg_max(Created, {but('DeviceName', 'ProcessId', 'HostTripwire', 'Created')}) "
        "by DeviceName, ProcessId, RowTime, HostTripwire;\n"
        f"let FlaggedLaunches = materialize(union (ByCreation | project {but()}), (ByTime | project {but()})\n"
        "| summarize HostTripwires = make_set(HostTripwire), "
        f"arg_max(Timestamp, {but('Timestamp', 'DeviceName', 'ProcessId', 'Created', 'HostTripwire')}) "
        "by DeviceName, ProcessId, Created\n"
        "| extend InScopeBy = tostring(HostTripwires[0]));\n"
    )


# ---------------------------------------------------------------------------------------------
# The known-task catalogue as KQL (``known_tasks._match_one``)


def program_kql(column: str = "ProcessCommandLine") -> str:
    """The program token of a command line (``command_line.split_command_line``'s first part)."""
    s = kql_string
    return (f"case({column} matches regex {s(QUOTED)}, extract({s(QUOTED)}, 1, {column}), "
            f"{column} matches regex {s(UNQUOTED_EXE)}, extract({s(UNQUOTED_EXE)}, 1, {column}), "
            f"extract({s(UNQUOTED)}, 1, {column}))")


def launch_shape_lets() -> str:
    """``extend`` columns a launch's catalogue match needs: Arguments, Glued, ProgramName and
    AccountClass (``known_tasks.account_class``)."""
    from hunting_lib.triage.known_tasks import _SERVICE_ACCOUNTS, _SYSTEM_ACCOUNTS

    s, strings = kql_string, kql_string_list
    space, last_segment = s(_SPACE + "+"), s(r"([^\\/]*)$")
    account = f"tolower(trim({space}, AccountName))"
    empty = '""'
    glued = f"iff(ProcessCommandLine matches regex {s(QUOTED)}, extract({s(QUOTED)}, 2, ProcessCommandLine), {empty})"
    name = f"tolower(trim({space}, extract({last_segment}, 1, trim({space}, Program))))"
    return (
        f"| extend Arguments = {arguments_kql()}, Glued = {glued}, Program = {program_kql()}\n"
        f"| extend ProgramName = {name}\n"
        '| extend ProgramName = iff(ProgramName != "" and ProgramName !contains ".", strcat(ProgramName, ".exe"), '
        "ProgramName)\n"
        f'| extend AccountClass = case({account} == "", "unknown", {account} in {strings(sorted(_SYSTEM_ACCOUNTS))}, '
        f'"system", {account} in {strings(sorted(_SERVICE_ACCOUNTS))}, "service", "user")\n'
    )


def known_rank_kql(catalogue) -> str:
    """``case(entry1, 1, entry2, 2, ..., 0)``: the first catalogue entry a launch matches (after
    ``launch_shape_lets``); 0 for none, and 0 when the command line runs something else than the
    file (glued text, or another program's name)."""
    if not catalogue:
        return "0"
    s = kql_string
    from hunting_lib.triage.known_tasks import binary_regex

    branches = []
    for position, entry in enumerate(catalogue, start=1):
        binary = "|".join(f"(?:{binary_regex(b)})" for b in entry.binaries)
        account = {"any": "true", "system_or_service": 'AccountClass in ("system", "service", "unknown")'}.get(
            entry.account, f'AccountClass in ("{entry.account}", "unknown")')
        branches.append(f"FolderPath matches regex {s('(?i)^(?:' + binary + ')$')} and Arguments matches regex "
                        f"{s('(?is)^(?:' + entry.arguments_source + ')$')} and {account}, {position}")
    honest = ('Glued == "" and (ProgramName == "" or ProgramName == tolower(FileName) or Program contains "~")')
    return f"iff({honest}, case({', '.join(branches)}, 0), 0)"
