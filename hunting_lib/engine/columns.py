"""The columns each step of the hunt reads, without pandas.

The parquet scan reads only these (``scan.py``, in a process that never imports pandas), the
loader reads no others (``hunt.hunt_columns``), and the steps name them from here.
"""

from __future__ import annotations

from hunting_lib.schema import PROCESS_TABLE, TABLES

GROUP_KEYS: list[str] = ["FileName", "ProcessCommandLine", "FolderPath"]

#: The DeviceProcessEvents columns steps 1-4 read (the seed's ``project`` plus the parent's).
TASK_START_COLUMNS: list[str] = [
    "Timestamp",
    "DeviceId",
    "DeviceName",
    "AccountName",
    "FileName",
    "ProcessCommandLine",
    "ProcessId",
    "ProcessCreationTime",
    "FolderPath",
    "InitiatingProcessFileName",
    "InitiatingProcessCommandLine",
    "InitiatingProcessId",
    "InitiatingProcessCreationTime",
    "InitiatingProcessFolderPath",
    # The Schedule service's own parent (services.exe), so a pivot's process tree has its root.
    "InitiatingProcessParentId",
    "InitiatingProcessParentFileName",
    "InitiatingProcessParentCreationTime",
    "ReportId",
    # For the extended scope and triage: aggregated reports, the binary's hash and original name.
    "ActionType",
    "AdditionalFields",
    "SHA1",
    "ProcessVersionInfoOriginalFileName",
]

#: The seed's final ``summarize ... by`` keys.
ACTIVITY_KEYS: list[str] = [
    "InitiatingProcessFileName",
    "InitiatingProcessId",
    "InitiatingProcessCommandLine",
    "InitiatingProcessCreationTime",
    "DeviceName",
]

#: Columns every activity table is read with; absent ones are filled as ``union`` fills them.
ACTIVITY_COLUMNS: list[str] = ACTIVITY_KEYS + [
    "Timestamp",
    "ActionType",
    "FileName",
    "RemoteIP",
    "InitiatingProcessFolderPath",
    # Not read by the seed, but by triage and the pivots: what was written, loaded or contacted.
    "FolderPath",
    "ProcessCommandLine",
    "ProcessId",
    "ProcessCreationTime",
    "AccountName",
    "RemotePort",
    "RemoteUrl",
    "RegistryKey",
    "RegistryValueName",
    "RegistryValueData",
    "LogonType",
    "AdditionalFields",
    "ReportId",
    # The signature state Defender records for the initiating process (triage's unsigned test).
    "InitiatingProcessSignatureStatus",
]


_REGISTERING_PROCESS = ["InitiatingProcessFileName", "InitiatingProcessCommandLine", "InitiatingProcessFolderPath",
                        "InitiatingProcessId", "InitiatingProcessCreationTime", "InitiatingProcessAccountDomain",
                        "InitiatingProcessAccountName", "InitiatingProcessParentFileName"]
#: The columns read of each table (besides what the hunt reads anyway).
TASK_EVENT_COLUMNS: dict[str, list[str]] = {
    "DeviceEvents": ["Timestamp", "DeviceId", "DeviceName", "ActionType", "AdditionalFields", "ReportId"]
    + _REGISTERING_PROCESS,
    "DeviceRegistryEvents": ["Timestamp", "DeviceId", "DeviceName", "ActionType", "RegistryKey", "RegistryValueName",
                             "RegistryValueData", "ReportId"] + _REGISTERING_PROCESS,
    "DeviceLogonEvents": ["Timestamp", "DeviceId", "DeviceName", "ActionType", "LogonType", "LogonId", "RemoteIP",
                          "RemoteDeviceName", "AccountDomain", "AccountName", "Protocol", "ReportId"],
}


def hunt_columns() -> dict[str, list[str]]:
    """The columns the hunt reads from each table (the loader reads no others)."""
    columns = {table: list(ACTIVITY_COLUMNS) for table in TABLES}
    columns[PROCESS_TABLE] = list(dict.fromkeys(TASK_START_COLUMNS + ACTIVITY_COLUMNS))
    for table, extra in TASK_EVENT_COLUMNS.items():  # the ``tasks`` step's (``engine.task_rows``)
        columns[table] = list(dict.fromkeys(columns[table] + extra))
    return columns
