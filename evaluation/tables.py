"""Events to the seven Defender XDR tables: the rows, and the process joins behind them.

Defender describes every event by the process that caused it (``InitiatingProcess*``). Sysmon names
that process only by ``ProcessGuid``, so the columns come from the process's own Sysmon 1 (joined on
``ProcessGuid`` per device; for a process start, the parent's). Without that Sysmon 1 only what the
event itself says (image, process id) is filled, and ``InitiatingProcessCreationTime`` stays empty,
as in the reference conversion ``shared/real_data/otrf_sysmon``.

Security 4688 (process creation) is mapped too, for recordings without Sysmon. It lacks what the
hunt needs most: the parent's command line. That is taken from the parent's own process start
(Sysmon 1 or 4688, same device, same process id and image, the latest started before the child)
when the recording has it, and left empty otherwise: such launches are invisible to a query that
compares the parent's command line, and the evaluation says so rather than inventing one. A 4688
that repeats a Sysmon 1 of the same process (same device, process id and image, within 5 s) is
dropped, so that recordings with both do not count a process twice.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd

from . import fields as F
from .readers import SECURITY, SYSMON, Event

_IP = ["AccountDomain", "AccountName", "LogonId", "IntegrityLevel", "SHA1", "SHA256", "MD5", "FileName",
       "VersionInfoCompanyName", "VersionInfoProductName", "VersionInfoOriginalFileName",
       "VersionInfoFileDescription", "Id", "CommandLine", "CreationTime", "FolderPath", "ParentId",
       "ParentFileName", "ParentCreationTime"]
IP_COLUMNS = ["InitiatingProcess" + name for name in _IP]
_HEAD = ["Timestamp", "DeviceId", "DeviceName", "ActionType"]
COLUMNS: dict[str, list[str]] = {
    "DeviceProcessEvents": _HEAD + [
        "FileName", "FolderPath", "SHA1", "SHA256", "MD5", "ProcessVersionInfoCompanyName",
        "ProcessVersionInfoProductName", "ProcessVersionInfoOriginalFileName",
        "ProcessVersionInfoFileDescription", "ProcessId", "ProcessCommandLine", "ProcessIntegrityLevel",
        "ProcessCreationTime", "AccountDomain", "AccountName", "LogonId"] + IP_COLUMNS + ["ReportId", "AdditionalFields"],
    "DeviceNetworkEvents": _HEAD + [
        "RemoteIP", "RemotePort", "RemoteUrl", "LocalIP", "LocalPort", "Protocol", "LocalIPType",
        "RemoteIPType"] + IP_COLUMNS + ["ReportId", "AdditionalFields"],
    "DeviceFileEvents": _HEAD + ["FileName", "FolderPath", "SHA1", "SHA256", "MD5"] + IP_COLUMNS
    + ["ReportId", "AdditionalFields"],
    "DeviceRegistryEvents": _HEAD + [
        "RegistryKey", "RegistryValueType", "RegistryValueName", "RegistryValueData",
        "PreviousRegistryKey"] + IP_COLUMNS + ["ReportId"],
    "DeviceLogonEvents": _HEAD + [
        "LogonType", "AccountDomain", "AccountName", "AccountSid", "Protocol", "FailureReason", "LogonId",
        "RemoteDeviceName", "RemoteIP", "RemoteIPType", "RemotePort"] + IP_COLUMNS + ["ReportId", "AdditionalFields"],
    "DeviceImageLoadEvents": _HEAD + ["FileName", "FolderPath", "SHA1", "SHA256", "MD5"] + IP_COLUMNS + ["ReportId"],
    "DeviceEvents": _HEAD + [
        "FileName", "FolderPath", "AccountDomain", "AccountName", "RemoteUrl", "RemoteIP", "RemotePort",
        "LocalIP", "LocalPort", "ProcessId", "ProcessCommandLine"] + IP_COLUMNS + ["ReportId", "AdditionalFields"],
}
TABLES = list(COLUMNS)
SYSMON_TABLES = {1: "DeviceProcessEvents", 3: "DeviceNetworkEvents", 7: "DeviceImageLoadEvents",
                 11: "DeviceFileEvents", 12: "DeviceRegistryEvents", 13: "DeviceRegistryEvents",
                 14: "DeviceRegistryEvents", 22: "DeviceEvents"}
SECURITY_EVENTS = {4624, 4625, 4688, 4698, 4699, 4702}
TASK_ACTIONS = {4698: "ScheduledTaskCreated", 4702: "ScheduledTaskUpdated", 4699: "ScheduledTaskDeleted"}
REGISTRY_ACTIONS = {"CreateKey": "RegistryKeyCreated", "DeleteKey": "RegistryKeyDeleted",
                    "DeleteValue": "RegistryValueDeleted", "SetValue": "RegistryValueSet",
                    "RenameKey": "RegistryKeyRenamed"}
DUPLICATE_4688_NS = 5 * 1_000_000_000
#: When Security 4688 becomes DeviceProcessEvents rows: ``auto`` for the (input, device) pairs whose
#: recording has no Sysmon 1 (Security-only recordings), ``all`` always (repeats of a Sysmon 1
#: dropped), ``none`` never.
SECURITY_PROCESS_MODES = ("auto", "all", "none")


def task_launcher(parent_image: str, parent_command_line: str) -> str:
    """Which Task Scheduler host started a process: ``schedule`` (``svchost ... -s Schedule``),
    ``netsvcs`` (the grouped ``svchost.exe -k netsvcs`` of older builds), ``taskeng`` (Windows 7 /
    2008 R2), or "" for any other parent. ``parent_command_line`` is Defender's (path stripped)."""
    name = F.base_name(parent_image).lower()
    line = " ".join(parent_command_line.lower().split())
    if name == "taskeng.exe":
        return "taskeng"
    if name == "svchost.exe" and "-s schedule" in line:
        return "schedule"
    if name == "svchost.exe" and line in ("svchost.exe -k netsvcs", "svchost.exe -k netsvcs -p"):
        return "netsvcs"
    return ""


@dataclass
class Process:
    """A process start as the joins need it (from Sysmon 1 or Security 4688)."""

    device: str
    created_ns: int
    columns: dict[str, str]  # the InitiatingProcess* values this process gives its children/events
    image: str
    parent_id: str = ""
    parent_image: str = ""
    parent_guid: str = ""
    launcher: str = ""
    key: tuple = field(default_factory=tuple)


@dataclass
class Stats:
    """What the conversion did, for the folder's README."""

    skipped_registry: int = 0
    skipped_4688: int = 0
    launches: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class TableBuilder:
    """Builds the tables from events that already carry ``dev``, ``ts`` (ns), ``input`` and ``seq``."""

    def __init__(self, events: list[Event], image_load_hashes: Iterable[str] = ("SHA1", "SHA256", "MD5"),
                 security_processes: str = "auto") -> None:
        if security_processes not in SECURITY_PROCESS_MODES:
            raise ValueError(f"security_processes: {security_processes!r} is not one of {SECURITY_PROCESS_MODES}")
        self.events = events
        self.security_processes = security_processes
        self.image_load_hashes = {h.upper() for h in image_load_hashes}
        self.stats = Stats()
        self.by_guid: dict[tuple[str, str], Process] = {}
        self.by_pid: dict[tuple[str, str], list[Process]] = defaultdict(list)
        self.by_pid_4688: dict[tuple[str, str], list[Process]] = defaultdict(list)
        self.recovered: dict[tuple[str, str], str] = {}
        self.task_children: set[tuple] = set()
        self.launch_seqs: set[int] = set()  # the events that are Task Scheduler launches
        self.rows: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLES}

    # -- process index ------------------------------------------------------------------------

    def _recover_pids(self) -> None:
        """ProcessGuid -> process id, per device, for sources that lost Sysmon's ProcessId (NXLog):
        from any Sysmon event naming that ProcessGuid with an id (its own events that kept the id,
        a child's ParentProcessId, the source and target of Sysmon 8/10), in any input."""
        pairs = (("ProcessGuid", "ProcessId"), ("ParentProcessGuid", "ParentProcessId"),
                 ("SourceProcessGuid", "SourceProcessId"), ("SourceProcessGUID", "SourceProcessId"),
                 ("TargetProcessGuid", "TargetProcessId"), ("TargetProcessGUID", "TargetProcessId"))
        for ev in self.events:
            if ev.provider != SYSMON:
                continue
            for guid_field, pid_field in pairs:
                guid, pid = ev.get(guid_field), F.absent(ev.get(pid_field))
                if guid and pid:
                    self.recovered.setdefault((ev.dev, guid.lower()), pid)

    def _pid(self, ev: Event, guid: str) -> str:
        pid = F.absent(ev.get("ProcessId"))
        return pid or self.recovered.get((ev.dev, guid.lower()), "")

    def _sysmon_columns(self, ev: Event) -> dict[str, str]:
        """The InitiatingProcess* values a Sysmon 1 gives (cached on the event)."""
        if getattr(ev, "columns", None) is None:
            image = ev.get("Image")
            digests = F.hashes(ev.get("Hashes"))
            domain, name = F.split_user(ev.get("User"))
            ev.columns = {
                "AccountDomain": domain, "AccountName": name, "LogonId": F.decimal_id(ev.get("LogonId")),
                "IntegrityLevel": F.absent(ev.get("IntegrityLevel")), "SHA1": digests.get("SHA1", ""),
                "SHA256": digests.get("SHA256", ""), "MD5": digests.get("MD5", ""), "FileName": F.base_name(image),
                "VersionInfoCompanyName": F.absent(ev.get("Company")),
                "VersionInfoProductName": F.absent(ev.get("Product")),
                "VersionInfoOriginalFileName": F.absent(ev.get("OriginalFileName")),
                "VersionInfoFileDescription": F.absent(ev.get("Description")),
                "Id": self._pid(ev, ev.get("ProcessGuid")), "CommandLine": F.strip_image(ev.get("CommandLine"), image),
                "CreationTime": ev.ts_text, "FolderPath": image, "ParentId": F.absent(ev.get("ParentProcessId")),
                "ParentFileName": F.base_name(F.absent(ev.get("ParentImage"))), "ParentCreationTime": "",
            }
        return ev.columns

    def _index_sysmon(self) -> None:
        for ev in self.events:
            if ev.provider != SYSMON or ev.event_id != 1:
                continue
            guid = ev.get("ProcessGuid").lower()
            if (ev.dev, guid) in self.by_guid:
                continue
            columns = self._sysmon_columns(ev)
            process = Process(ev.dev, ev.ts, columns, ev.get("Image"), columns["ParentId"], ev.get("ParentImage"),
                              ev.get("ParentProcessGuid").lower(), key=(ev.dev, guid))
            self.by_guid[(ev.dev, guid)] = process
            if columns["Id"]:
                self.by_pid[(ev.dev, columns["Id"])].append(process)
        for process in self.by_guid.values():
            parent = self.by_guid.get((process.device, process.parent_guid))
            if parent is not None:
                process.columns["ParentCreationTime"] = parent.columns["CreationTime"]
        for plist in self.by_pid.values():
            plist.sort(key=lambda p: p.created_ns)

    @staticmethod
    def _latest(candidates: list[Process], image: str, before_ns: int) -> Process | None:
        """The latest process started at or before ``before_ns`` with this image (any image when
        the event does not name one)."""
        times = [p.created_ns for p in candidates]
        image = image.lower()
        for process in reversed(candidates[:bisect_right(times, before_ns)]):
            if not image or process.image.lower() == image:
                return process
        return None

    def _twin(self, ev: Event, image: str, pid: str) -> bool:
        """A Sysmon 1 of the same process: same device and image, started within 5 s, and the same
        process id (or none, where the source lost Sysmon's ProcessId)."""
        for process in self.by_image.get((ev.dev, image.lower()), []):
            if abs(process.created_ns - ev.ts) <= DUPLICATE_4688_NS and process.columns["Id"] in (pid, ""):
                return True
        return False

    def _index_4688(self) -> list[Event]:
        """Security 4688 starts to map (``security_processes``), indexed for their children's joins."""
        if self.security_processes == "none":
            return []
        with_sysmon = {(ev.input, ev.dev) for ev in self.events if ev.provider == SYSMON and ev.event_id == 1}
        self.by_image: dict[tuple[str, str], list[Process]] = defaultdict(list)
        for process in self.by_guid.values():
            self.by_image[(process.device, process.image.lower())].append(process)
        kept = []
        for ev in sorted((e for e in self.events if e.provider == SECURITY and e.event_id == 4688),
                         key=lambda e: (e.ts, e.seq)):
            if self.security_processes == "auto" and (ev.input, ev.dev) in with_sysmon:
                continue
            image, pid = ev.get("NewProcessName"), F.process_id(ev.get("NewProcessId"))
            if self._twin(ev, image, pid):
                self.stats.skipped_4688 += 1
                continue
            subject = (F.absent(ev.get("SubjectDomainName")).lower(), F.absent(ev.get("SubjectUserName")).lower())
            target_name = F.absent(ev.get("TargetUserName"))
            account = ((F.absent(ev.get("TargetDomainName")).lower(), target_name.lower()) if target_name else subject)
            target_logon = F.decimal_id(ev.get("TargetLogonId"))
            logon = target_logon if target_logon not in ("", "0") else F.decimal_id(ev.get("SubjectLogonId"))
            parent_image, parent_pid = F.absent(ev.get("ParentProcessName")), F.process_id(ev.get("ProcessId"))
            columns = {key: "" for key in _IP}
            columns.update({
                "AccountDomain": account[0], "AccountName": account[1], "LogonId": logon,
                "IntegrityLevel": F.INTEGRITY_SIDS.get(ev.get("MandatoryLabel").upper(), ""),
                "FileName": F.base_name(image), "Id": pid, "CommandLine": F.strip_image(ev.get("CommandLine"), image),
                "CreationTime": ev.ts_text, "FolderPath": image, "ParentId": parent_pid,
                "ParentFileName": F.base_name(parent_image),
            })
            process = Process(ev.dev, ev.ts, columns, image, parent_pid, parent_image, key=(ev.dev, "4688", ev.seq))
            ev.process = process
            self.by_pid_4688[(ev.dev, pid)].append(process)
            kept.append(ev)
        return kept

    def _parent_of(self, process: Process) -> Process | None:
        """The start of a process's parent: same device and process id, the parent's image when the
        event names it (Windows 7's 4688 does not), the latest started before the child; from
        Sysmon 1 or an earlier Security 4688."""
        if not process.parent_id:
            return None
        key = (process.device, process.parent_id)
        found = [p for p in (self._latest(self.by_pid.get(key, []), process.parent_image, process.created_ns),
                             self._latest(self.by_pid_4688.get(key, []), process.parent_image, process.created_ns - 1))
                 if p is not None and p is not process]
        return max(found, key=lambda p: p.created_ns) if found else None

    # -- InitiatingProcess* -----------------------------------------------------------------

    @staticmethod
    def _from_process(process: Process) -> dict[str, str]:
        return {"InitiatingProcess" + key: value for key, value in process.columns.items()}

    @staticmethod
    def _from_event(image: str, pid: str, **more: str) -> dict[str, str]:
        values = {"InitiatingProcessFileName": F.base_name(image), "InitiatingProcessFolderPath": image,
                  "InitiatingProcessId": pid}
        values.update({"InitiatingProcess" + key: value for key, value in more.items()})
        return values

    def _actor(self, ev: Event) -> tuple[dict[str, str], tuple]:
        """InitiatingProcess* of a Sysmon activity event, and the acting process's identity."""
        guid = ev.get("ProcessGuid").lower()
        process = self.by_guid.get((ev.dev, guid))
        if process is not None:
            return self._from_process(process), process.key
        return self._from_event(ev.get("Image"), self._pid(ev, guid)), (ev.dev, guid)

    # -- rows ---------------------------------------------------------------------------------

    def _emit(self, table: str, ev: Event, actor: tuple, values: dict[str, str]) -> None:
        values.update({"_ts": ev.ts, "_input": ev.input, "_seq": ev.seq, "_dev": ev.dev, "_actor": actor,
                       "_extra": ev.provider == SECURITY and ev.event_id not in (4624, 4625)})
        values["Timestamp"] = ev.ts_text
        self.rows[table].append(values)

    def _sysmon_process(self, ev: Event) -> None:
        guid = ev.get("ProcessGuid").lower()
        columns = self._sysmon_columns(ev)
        parent = self.by_guid.get((ev.dev, ev.get("ParentProcessGuid").lower()))
        if parent is not None:
            initiating, actor = self._from_process(parent), parent.key
        else:
            domain, name = F.split_user(ev.get("ParentUser"))
            parent_image = F.absent(ev.get("ParentImage"))
            initiating = self._from_event(
                parent_image, F.absent(ev.get("ParentProcessId")),
                CommandLine=F.strip_image(F.absent(ev.get("ParentCommandLine")), parent_image),
                AccountDomain=domain, AccountName=name)
            actor = (ev.dev, ev.get("ParentProcessGuid").lower())
        launcher = task_launcher(ev.get("ParentImage"), initiating.get("InitiatingProcessCommandLine", ""))
        if launcher:
            self.stats.launches[launcher] += 1
            self.task_children.add((ev.dev, guid))
            self.launch_seqs.add(ev.seq)
        row = self._process_row(columns, ev.ts_text)
        row.update(initiating)
        self._emit("DeviceProcessEvents", ev, actor, row)

    @staticmethod
    def _process_row(columns: dict[str, str], ts_text: str) -> dict[str, str]:
        return {
            "ActionType": "ProcessCreated", "FileName": columns["FileName"], "FolderPath": columns["FolderPath"],
            "SHA1": columns["SHA1"], "SHA256": columns["SHA256"], "MD5": columns["MD5"],
            "ProcessVersionInfoCompanyName": columns["VersionInfoCompanyName"],
            "ProcessVersionInfoProductName": columns["VersionInfoProductName"],
            "ProcessVersionInfoOriginalFileName": columns["VersionInfoOriginalFileName"],
            "ProcessVersionInfoFileDescription": columns["VersionInfoFileDescription"],
            "ProcessId": columns["Id"], "ProcessCommandLine": columns["CommandLine"],
            "ProcessIntegrityLevel": columns["IntegrityLevel"], "ProcessCreationTime": ts_text,
            "AccountDomain": columns["AccountDomain"], "AccountName": columns["AccountName"],
            "LogonId": columns["LogonId"],
        }

    def _security_process(self, ev: Event) -> None:
        process: Process = ev.process
        parent = self._parent_of(process)
        if parent is not None:
            initiating, actor = self._from_process(parent), parent.key
            grand = self._parent_of(parent)
            if grand is not None and not initiating["InitiatingProcessParentCreationTime"]:
                initiating["InitiatingProcessParentCreationTime"] = grand.columns["CreationTime"]
        else:
            initiating = self._from_event(
                process.parent_image, process.parent_id,
                AccountDomain=F.absent(ev.get("SubjectDomainName")).lower(),
                AccountName=F.absent(ev.get("SubjectUserName")).lower(),
                LogonId=F.decimal_id(ev.get("SubjectLogonId")))
            actor = (ev.dev, "pid", process.parent_id, process.parent_image.lower())
        process.launcher = task_launcher(process.parent_image, initiating.get("InitiatingProcessCommandLine", ""))
        if process.launcher:
            self.stats.launches[process.launcher] += 1
            self.task_children.add(process.key)
            self.launch_seqs.add(ev.seq)
        elif F.base_name(process.parent_image).lower() == "svchost.exe" and parent is None:
            self.stats.launches["svchost_unknown"] += 1
        row = self._process_row(process.columns, ev.ts_text)
        row.update(initiating)
        self._emit("DeviceProcessEvents", ev, actor, row)

    def build(self) -> dict[str, pd.DataFrame]:
        """All tables, rows in input order then time; ``ReportId`` is added by the caller."""
        from .mapping_activity import emit_activity  # the per-event activity rows

        self._recover_pids()
        self._index_sysmon()
        kept_4688 = {id(ev) for ev in self._index_4688()}
        for ev in self.events:
            if ev.provider == SYSMON and ev.event_id == 1:
                self._sysmon_process(ev)
            elif ev.provider == SECURITY and ev.event_id == 4688:
                if id(ev) in kept_4688:
                    self._security_process(ev)
            else:
                emit_activity(self, ev)
        frames = {}
        for table, rows in self.rows.items():
            frame = pd.DataFrame(rows)
            for column in COLUMNS[table] + ["_ts", "_input", "_seq", "_dev", "_actor", "_extra"]:
                if column not in frame:
                    frame[column] = ""
            frames[table] = frame.fillna("")
        return frames
