"""The activity rows: everything but process starts, one function per source event.

Each function fills the table's own columns and leaves ``InitiatingProcess*`` to the builder's
joins (``TableBuilder._actor`` for Sysmon, the logon and task joins here for Security).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from . import fields as F
from .readers import SECURITY, SYSMON, Event
from .tables import REGISTRY_ACTIONS, TASK_ACTIONS

if TYPE_CHECKING:  # pragma: no cover
    from .tables import TableBuilder


def _network(builder: "TableBuilder", ev: Event) -> None:
    initiating, actor = builder._actor(ev)
    outbound = ev.get("Initiated").strip().lower() != "false"
    local, remote = ("Source", "Destination") if outbound else ("Destination", "Source")
    local_ip, remote_ip = ev.get(local + "Ip"), ev.get(remote + "Ip")
    row = {
        "ActionType": "ConnectionSuccess" if outbound else "InboundConnectionAccepted",
        "RemoteIP": remote_ip, "RemotePort": ev.get(remote + "Port"),
        "RemoteUrl": F.absent(ev.get("DestinationHostname")) if outbound else "", "LocalIP": local_ip,
        "LocalPort": ev.get(local + "Port"), "Protocol": ev.get("Protocol").strip().capitalize(),
        "LocalIPType": F.ip_type(local_ip), "RemoteIPType": F.ip_type(remote_ip),
    }
    row.update(initiating)
    builder._emit("DeviceNetworkEvents", ev, actor, row)


def _image_load(builder: "TableBuilder", ev: Event) -> None:
    initiating, actor = builder._actor(ev)
    path = ev.get("ImageLoaded")
    digests = F.hashes(ev.get("Hashes"))
    row = {"ActionType": "ImageLoaded", "FileName": F.base_name(path), "FolderPath": path}
    for algorithm in ("SHA1", "SHA256", "MD5"):
        row[algorithm] = digests.get(algorithm, "") if algorithm in builder.image_load_hashes else ""
    row.update(initiating)
    builder._emit("DeviceImageLoadEvents", ev, actor, row)


def _file(builder: "TableBuilder", ev: Event) -> None:
    initiating, actor = builder._actor(ev)
    path = ev.get("TargetFilename")
    row = {"ActionType": "FileCreated", "FileName": F.base_name(path), "FolderPath": path}
    row.update(initiating)
    builder._emit("DeviceFileEvents", ev, actor, row)


def _registry(builder: "TableBuilder", ev: Event) -> None:
    kind = {13: "SetValue", 14: "RenameKey"}.get(ev.event_id) or ev.get("EventType").strip()
    action = REGISTRY_ACTIONS.get(kind)
    if action is None:  # NXLog lost Sysmon 12's EventType: create and delete cannot be told apart
        builder.stats.skipped_registry += 1
        return
    initiating, actor = builder._actor(ev)
    target = F.expand_hive(ev.get("TargetObject"))
    row = {"ActionType": action, "RegistryKey": target, "RegistryValueType": "", "RegistryValueName": "",
           "RegistryValueData": "", "PreviousRegistryKey": ""}
    if action in ("RegistryValueSet", "RegistryValueDeleted"):
        row["RegistryKey"], row["RegistryValueName"] = F.split_value(target)
    if action == "RegistryValueSet":
        row["RegistryValueData"], row["RegistryValueType"] = F.registry_data(ev.get("Details"))
    if action == "RegistryKeyRenamed":
        row["RegistryKey"], row["PreviousRegistryKey"] = F.expand_hive(ev.get("NewName")), target
    row.update(initiating)
    builder._emit("DeviceRegistryEvents", ev, actor, row)


def _dns(builder: "TableBuilder", ev: Event) -> None:
    initiating, actor = builder._actor(ev)
    row = {"ActionType": "DnsQueryResponse", "AdditionalFields": F.compact_json({"DnsQueryString": ev.get("QueryName")})}
    row.update(initiating)
    builder._emit("DeviceEvents", ev, actor, row)


def _logon(builder: "TableBuilder", ev: Event) -> None:
    """4624/4625, joined on (device, process id, image) to the latest Sysmon 1 started before."""
    pid, image = F.process_id(ev.get("ProcessId")), F.absent(ev.get("ProcessName"))
    process = builder._latest(builder.by_pid.get((ev.dev, pid), []), image, ev.ts) if pid else None
    if process is not None:
        initiating, actor = builder._from_process(process), process.key
    else:
        initiating, actor = builder._from_event(image, pid), (ev.dev, "pid", pid, image.lower())
    ip = F.absent(ev.get("IpAddress"))
    logon_type = F.absent(ev.get("LogonType"))
    failed = ev.event_id == 4625
    row = {
        "ActionType": "LogonFailed" if failed else "LogonSuccess",
        "LogonType": F.LOGON_TYPES.get(logon_type, logon_type),
        "AccountDomain": F.absent(ev.get("TargetDomainName")).lower(),
        "AccountName": F.absent(ev.get("TargetUserName")).lower(), "AccountSid": F.absent(ev.get("TargetUserSid")),
        "Protocol": F.absent(ev.get("AuthenticationPackageName")), "FailureReason": "",
        "LogonId": F.decimal_id(ev.get("TargetLogonId")), "RemoteDeviceName": F.absent(ev.get("WorkstationName")),
        "RemoteIP": ip, "RemoteIPType": F.ip_type(ip), "RemotePort": F.process_id(ev.get("IpPort")),
        "AdditionalFields": F.compact_json({"Status": ev.get("Status"), "SubStatus": ev.get("SubStatus")}) if failed else "",
    }
    row.update(initiating)
    builder._emit("DeviceLogonEvents", ev, actor, row)


def _task(builder: "TableBuilder", ev: Event) -> None:
    """4698/4702/4699 as Defender's ScheduledTask* rows; the task XML goes in AdditionalFields."""
    content = ev.get("TaskContent") or ev.get("TaskContentNew")
    if content.lstrip().startswith("&lt;"):  # NXLog wrote the task XML entity-escaped once more
        content = html.unescape(content)
    domain, name = F.absent(ev.get("SubjectDomainName")).lower(), F.absent(ev.get("SubjectUserName")).lower()
    pid = F.process_id(ev.get("ClientProcessId"))
    process = builder._latest(builder.by_pid.get((ev.dev, pid), []), "", ev.ts) if pid else None
    if process is not None:
        initiating, actor = builder._from_process(process), process.key
    else:
        initiating = {"InitiatingProcessAccountDomain": domain, "InitiatingProcessAccountName": name,
                      "InitiatingProcessLogonId": F.decimal_id(ev.get("SubjectLogonId")), "InitiatingProcessId": pid}
        actor = (ev.dev, "pid", pid, "")
    # Defender names the caller in AdditionalFields as 4698/4702/4699 do: for a task registered
    # over RPC the Subject is the remote account and SubjectLogonId its network logon (hex text)
    additional = {"TaskName": ev.get("TaskName"), "TaskContent": content}
    additional.update({key: F.absent(ev.get(key)) for key in SUBJECT_FIELDS})
    row = {"ActionType": TASK_ACTIONS[ev.event_id], "AccountDomain": domain, "AccountName": name,
           "AdditionalFields": F.compact_json(additional)}
    row.update(initiating)
    builder._emit("DeviceEvents", ev, actor, row)


#: The caller's fields of 4698/4702/4699, copied into AdditionalFields under the same names.
SUBJECT_FIELDS = ("SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId")

_SYSMON = {3: _network, 7: _image_load, 11: _file, 12: _registry, 13: _registry, 14: _registry, 22: _dns}
_SECURITY = {4624: _logon, 4625: _logon, 4698: _task, 4699: _task, 4702: _task}


def emit_activity(builder: "TableBuilder", ev: Event) -> None:
    """The row (if any) one non-process event gives."""
    handler = (_SYSMON if ev.provider == SYSMON else _SECURITY if ev.provider == SECURITY else {}).get(ev.event_id)
    if handler is not None:
        handler(builder, ev)
