"""Builders for the task-definition tests: one task spec written as Defender's JSON TaskContent or
as the 4698 XML, registration rows, TaskCache registry rows, network logons and task launches,
hand-built in the shape of Defender's tables."""

from __future__ import annotations

import json
import struct
from xml.sax.saxutils import escape

import pandas as pd

SCHEDULE = "svchost.exe -k netsvcs -p -s Schedule"
T0 = pd.Timestamp("2026-11-03T02:00:00Z")
TREE = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tree"
TASKS = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tasks"


def spec(**overrides) -> dict:
    """A task definition spec; ``actions`` is a list of (command, arguments) or {"ClassId", "Data"}."""
    base = {
        "author": "FABRIKAM\\admin", "uri": "\\Updater",
        "triggers": [("TimeTrigger", {"StartBoundary": "2026-11-03T02:00:00", "Enabled": "true"})],
        "user": "S-1-5-18", "run_level": "HighestAvailable", "logon_type": "ServiceAccount", "hidden": True,
        "actions": [("C:\\Windows\\System32\\cmd.exe", "/c whoami > C:\\Windows\\Temp\\x.tmp 2>&1")],
    }
    base.update(overrides)
    return base


def _grouped(items: list) -> dict:
    """Items by key, one object where a key occurs once and a list where it repeats."""
    out: dict = {}
    for key, value in items:
        out.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def json_content(task: dict) -> str:
    """Defender's JSON TaskContent for a spec."""
    actions = [("Exec", {"Command": a[0], "Arguments": a[1]}) if isinstance(a, tuple) else ("ComHandler", a)
               for a in task["actions"]]
    content = {
        "Triggers": _grouped(task["triggers"]),
        "Principals": {"Principal": {"UserId": task["user"], "RunLevel": task["run_level"],
                                     "LogonType": task["logon_type"]}},
        "Settings": {"Hidden": "true" if task["hidden"] else "false", "Enabled": "true"},
        "Actions": _grouped(actions),
        "RegistrationInfo": {"Author": task["author"], "URI": task["uri"], "Date": "2026-11-03T01:58:11"},
    }
    return json.dumps(content)


def _xml_element(name: str, value) -> str:
    if isinstance(value, dict):
        return f"<{name}>" + "".join(_xml_element(k, v) for k, v in value.items()) + f"</{name}>"
    return f"<{name}>{escape(str(value))}</{name}>"


def xml_content(task: dict) -> str:
    """The same spec as event 4698 / Task Scheduler export XML."""
    triggers = "".join(_xml_element(kind, values) for kind, values in task["triggers"])
    actions = "".join(_xml_element("Exec", {"Command": a[0], "Arguments": a[1]}) if isinstance(a, tuple)
                      else _xml_element("ComHandler", a) for a in task["actions"])
    return ('<?xml version="1.0" encoding="UTF-16"?><Task version="1.2" '
            'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">'
            f'<RegistrationInfo>{_xml_element("Date", "2026-11-03T01:58:11")}{_xml_element("Author", task["author"])}'
            f'{_xml_element("URI", task["uri"])}</RegistrationInfo><Triggers>{triggers}</Triggers>'
            f'<Principals><Principal id="Author">{_xml_element("UserId", task["user"])}'
            f'{_xml_element("RunLevel", task["run_level"])}{_xml_element("LogonType", task["logon_type"])}'
            f'</Principal></Principals><Settings><Hidden>{"true" if task["hidden"] else "false"}</Hidden>'
            f'<Enabled>true</Enabled></Settings><Actions Context="Author">{actions}</Actions></Task>')


def registration(task_name: str = "\\Updater", content: str | None = None, minutes: float = 0,
                 device: str = "pc-01", action: str = "ScheduledTaskCreated", process: str = "schtasks.exe",
                 command_line: str = "schtasks /create /tn Updater", parent: str = "cmd.exe",
                 subject: tuple[str, str, str] | None = ("FABRIKAM", "admin", "0x1a2b3c"),
                 subject_sid: str = "S-1-5-21-1-2-3-1104", account: tuple[str, str] = ("fabrikam", "admin"),
                 report_id: int = 1) -> dict:
    """One DeviceEvents ScheduledTask* row."""
    fields: dict = {"TaskName": task_name}
    if content is not None:
        fields["TaskContent"] = content
    if subject is not None:
        fields.update(SubjectDomainName=subject[0], SubjectUserName=subject[1], SubjectLogonId=subject[2],
                      SubjectUserSid=subject_sid)
    return {
        "Timestamp": T0 + pd.Timedelta(minutes=minutes), "DeviceId": f"id-{device}", "DeviceName": device,
        "ActionType": action, "ReportId": report_id, "AdditionalFields": json.dumps(fields),
        "InitiatingProcessFileName": process, "InitiatingProcessCommandLine": command_line,
        "InitiatingProcessParentFileName": parent, "InitiatingProcessAccountDomain": account[0],
        "InitiatingProcessAccountName": account[1],
    }


def remote_registration(task_name: str, content: str, minutes: float = 0, device: str = "pc-01",
                        subject: tuple[str, str, str] = ("FABRIKAM", "admin", "0x1a2b3c"), **extra) -> dict:
    """A registration made over RPC: the Schedule service registers for a remote caller."""
    return registration(task_name, content, minutes, device, process="svchost.exe", command_line=SCHEDULE,
                        parent="services.exe", subject=subject, account=("nt authority", "system"), **extra)


def logon(logon_id: int, device: str = "pc-01", minutes: float = -0.05, ip: str = "10.0.0.7",
          remote: str = "admin-ws", logon_type: str = "Network", account: tuple[str, str] = ("FABRIKAM", "admin"),
          action: str = "LogonSuccess", protocol: str = "NTLM") -> dict:
    """One DeviceLogonEvents row (``minutes`` from T0; ``ip`` "-" or "" for a logon without address)."""
    return {"Timestamp": T0 + pd.Timedelta(minutes=minutes), "DeviceId": f"id-{device}", "DeviceName": device,
            "ActionType": action, "LogonType": logon_type, "LogonId": logon_id, "RemoteIP": ip,
            "RemoteDeviceName": remote, "AccountDomain": account[0], "AccountName": account[1], "Protocol": protocol}


def launch(folder_path: str, command_line: str, minutes: float = 5, device: str = "pc-01",
           account: str = "system") -> dict:
    """One Task Scheduler launch (DeviceProcessEvents row)."""
    when = T0 + pd.Timedelta(minutes=minutes)
    return {"Timestamp": when, "DeviceId": f"id-{device}", "DeviceName": device,
            "FileName": folder_path.rsplit("\\", 1)[-1], "FolderPath": folder_path,
            "ProcessCommandLine": command_line, "ProcessId": 4000, "ProcessCreationTime": when,
            "AccountName": account, "InitiatingProcessFileName": "svchost.exe",
            "InitiatingProcessCommandLine": SCHEDULE}


def registry_row(key: str, value_name: str = "", data: str = "", minutes: float = 0, device: str = "pc-01",
                 action: str = "RegistryValueSet", process: str = "reg.exe",
                 command_line: str = "reg add ...", account: tuple[str, str] = ("nt authority", "system")) -> dict:
    """One DeviceRegistryEvents row."""
    return {"Timestamp": T0 + pd.Timedelta(minutes=minutes), "DeviceId": f"id-{device}", "DeviceName": device,
            "ActionType": action, "RegistryKey": key, "RegistryValueName": value_name, "RegistryValueData": data,
            "InitiatingProcessFileName": process, "InitiatingProcessCommandLine": command_line,
            "InitiatingProcessAccountDomain": account[0], "InitiatingProcessAccountName": account[1]}


def _utf16(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return struct.pack("<I", len(raw)) + raw


def actions_blob(command: str, arguments: str = "", context: str = "Author") -> str:
    """A TaskCache ``Actions`` value as hex text: version 3, the context, one Exec action (id,
    command, arguments, working directory, flags)."""
    blob = struct.pack("<H", 3) + _utf16(context) + struct.pack("<H", 0x6666) + _utf16("") + _utf16(command) \
        + _utf16(arguments) + _utf16("") + struct.pack("<H", 0)
    return blob.hex()


def frame(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    if "Timestamp" in out:
        out["Timestamp"] = pd.to_datetime(out["Timestamp"], utc=True)
    return out
