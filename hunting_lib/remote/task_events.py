"""How tasks were registered, asked of a connected service: the remote side of
``engine.task_rows`` (the same three subsets, parsed by the same ``tasks`` code).

- ``task_registrations``: DeviceEvents ``ScheduledTask*`` rows (``remote.hunt`` starts the window
  ``REGISTRATION_LOOKBACK`` before the hunt's: a task that runs this week was often registered
  earlier, and Defender keeps 30 days).
- ``task_cache``: the TaskCache writes the ``tasks`` step reads: those by any process other than
  the Schedule service (a registration that bypassed the API), and every deletion of a task's
  ``SD`` value (a task hidden after the fact). The service's own writes, one burst per ordinary
  registration, stay on the server.
- ``task_logons``: the logons of the sessions that registered tasks (device and logon id), for
  the network logon and remote address of a remote registration.
"""

from __future__ import annotations

from typing import Iterable

from hunting_lib.engine.columns import TASK_EVENT_COLUMNS
from hunting_lib.engine.task_rows import REGISTRATION_ACTIONS
from hunting_lib.params import HuntParams
from hunting_lib.remote.kql_literals import Dialect, dialect, kql_datetime, kql_string, kql_string_list, window_filter


def _header(params: HuntParams) -> str:
    lines = ["// Rendered by hunting_lib: how the rare tasks were registered."]
    if params.start is not None:
        lines.append(f"let HuntStart = {kql_datetime(params.start)};")
    if params.end is not None:
        lines.append(f"let HuntEnd = {kql_datetime(params.end)};")
    return "\n".join(lines) + "\n"


def _project(table: str) -> str:
    from hunting_lib.schema import table_columns

    known = table_columns(table)
    return "\n| project " + ", ".join(c for c in TASK_EVENT_COLUMNS[table] if c in known)


def render_task_registrations_kql(params: HuntParams, target: str | Dialect = "defender") -> str:
    target = dialect(target) if isinstance(target, str) else target
    actions = ", ".join(kql_string(a) for a in REGISTRATION_ACTIONS)
    return (_header(params) + target.tables["DeviceEvents"] + window_filter(params, target.time_column)
            + f"\n| where ActionType in ({actions})" + _project("DeviceEvents"))


def render_task_cache_kql(params: HuntParams, target: str | Dialect = "defender") -> str:
    target = dialect(target) if isinstance(target, str) else target
    return (_header(params) + target.tables["DeviceRegistryEvents"] + window_filter(params, target.time_column)
            + '\n| where RegistryKey contains @"\\Schedule\\TaskCache\\"'
            + '\n| where not(InitiatingProcessFileName =~ "svchost.exe" and (InitiatingProcessCommandLine contains '
            + '"Schedule" or InitiatingProcessCommandLine contains "netsvcs"))'
            + ' or (ActionType == "RegistryValueDeleted" and RegistryValueName =~ "SD")'
            + _project("DeviceRegistryEvents"))


def render_task_logons_kql(params: HuntParams, devices: Iterable[str], logon_ids: Iterable[int],
                           target: str | Dialect = "defender", accounts: Iterable[str] = ()) -> str:
    """The logons of the given sessions, and the network logons of the given accounts on those
    devices (an NTLM caller's other sessions): names and ids as literals (the exact pairs are
    matched where the rows arrive)."""
    target = dialect(target) if isinstance(target, str) else target
    ids = ", ".join(str(int(i)) for i in sorted(set(logon_ids))) or "-1"
    names = sorted(set(a for a in accounts if a))
    same_account = (f' or (LogonType == "Network" and AccountName in~ {kql_string_list(names)})' if names else "")
    return (_header(params) + target.tables["DeviceLogonEvents"] + window_filter(params, target.time_column)
            + f"\n| where DeviceName in {kql_string_list(sorted(set(devices)))}"
            + f"\n| where LogonId in ({ids}){same_account}" + _project("DeviceLogonEvents"))
