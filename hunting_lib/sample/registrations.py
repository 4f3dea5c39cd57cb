"""How the planted tasks got registered: Defender's ScheduledTask* rows and the TaskCache writes.

Why this module exists: an analyst's first question about a rare task is who created it, when, and
how. Defender answers in ``DeviceEvents`` (``ScheduledTaskCreated`` / ``Deleted``, with the task's
definition in ``AdditionalFields.TaskContent`` as a JSON string, or as the XML of Windows event 4698)
and in ``DeviceRegistryEvents`` (the Schedule service's ``TaskCache`` keys). ``Registrar`` writes
those rows for the scenarios: through the API (the registering process, the caller in ``Subject*``,
then the Schedule service's own TaskCache writes), remotely over RPC from a network logon, deleted
after the run, or written straight into the registry by another process and hidden (Tarrask).
Each registration row is marked so the answer key can list it (``REGISTRATION_MARK``).
"""

from __future__ import annotations

from typing import Any

from hunting_lib.sample.common import CMD, DOMAIN, MS, SEC, SYS32, SYSTEM, T0, compact_json
from hunting_lib.sample.planter import Planter
from hunting_lib.sample.taskdefs import (
    SD_PREFIX,
    TaskSpec,
    actions_blob,
    content_json,
    content_xml,
    filetime,
    local_time,
)
from hunting_lib.sample.templates import TASK_CACHE

#: Added to a scenario's index in a row's ``_rel``: the row is one of its task's registration rows
#: (it still counts as related to the scenario).
REGISTRATION_MARK = 1 << 20


class Registrar(Planter):
    """Builders of task registrations; the scenarios (``attacks``, ``pitfalls``) call them."""

    user_logons: dict[int, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_logons = {}

    # ---- who registers -----------------------------------------------------------------------

    def agent(self, dev: int, folder: str, cmd: str, account: tuple[str, str, str] = SYSTEM,
              company: str = MS, parent_kind: str | None = "services") -> int:
        """A long-running agent started at boot (before the window: no creation row of its own)."""
        created = int(self.f.boot[dev]) + int(self.rng.integers(20, 300)) * SEC
        pid = int(self.rng.integers(250, 15_000)) * 4
        parent = self.ll(dev, parent_kind) if parent_kind else -1
        return self.d.proc(dev, pid, created, parent, folder.rsplit("\\", 1)[-1], folder, cmd,
                           account, "System" if account == SYSTEM else "High", -1, company)

    def console(self, k: int, dev: int, ts: int, line: str, folder: str = SYS32 + "schtasks.exe") -> tuple[int, int]:
        """An admin at the console: explorer -> cmd.exe -> ``line``; returns the process and its time."""
        shell = self.start(self.ll(dev, "explorer"), ts, CMD, '"cmd.exe"', integrity="High", tag=-1, rel=k)
        t = self.later(ts, 20, 90)
        return self.start(shell, t, folder, line, tag=-1, rel=k), t

    def by_schtasks(self, k: int, dev: int, ts: int, spec: TaskSpec, schedule: str, run_as: str,
                    fmt: str = "json") -> int:
        """Task ``k`` typed into schtasks.exe at the console around ``ts``; returns the registration time."""
        s = self.scenarios[k]
        action = f"{spec.command} {spec.arguments}".strip()
        level = " /rl HIGHEST" if spec.run_level == "HighestAvailable" else ""
        line = f'schtasks.exe /create /tn "{s.task_name}" /tr "{action}" /sc {schedule} /ru {run_as}{level} /f'
        sch, t = self.console(k, dev, self.later(ts, -100, -30), line)
        registered = self.later(t, 0.05, 0.3)
        self.register(k, dev, sch, registered, spec, self.subject_user(dev), fmt)
        return registered

    def before_window_after_boot(self, dev: int) -> int:
        """A time between the device's boot and the window's start (GPO and installers register then)."""
        boot = int(self.f.boot[dev])
        return boot + int(self.rng.uniform(0.2, 0.8) * (T0 - boot)) // 100 * 100

    def subject_user(self, dev: int) -> tuple[str, str, str, int]:
        """The device's user in their interactive session (one logon id per device)."""
        if dev not in self.user_logons:
            self.user_logons[dev] = self.logon_id()
        return DOMAIN, self.f.user[dev], self.f.user_sid[dev], self.user_logons[dev]

    def subject_system(self, dev: int) -> tuple[str, str, str, int]:
        """SYSTEM as event 4698 names it: the computer account and the well-known logon 0x3e7."""
        return DOMAIN, self.f.short[dev].upper() + "$", SYSTEM[2], 0x3E7

    def guid(self) -> str:
        h = "".join(f"{int(x):02X}" for x in self.rng.integers(0, 256, 16))
        return "{" + "-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:])) + "}"

    # ---- the rows ----------------------------------------------------------------------------

    def _mark(self, k: int) -> int:
        return k + REGISTRATION_MARK

    def _record(self, k: int, dev: int, **fields: Any) -> dict[str, Any]:
        """The scenario's registration record (the answer key's ``registration``), one per device."""
        s = self.scenarios[k]
        entry = {"device": dev, "task_name": s.task_name, "remote": False, "remote_ip": None, "deleted_at": None,
                 "registry_only": False, "hidden": False, **fields}
        s.registrations.append(entry)
        return entry

    def register(self, k: int, dev: int, creator: int, ts: int, spec: TaskSpec, subject: tuple[str, str, str, int],
                 fmt: str = "json", author: str = "") -> str:
        """Task ``k`` registered through the API at ``ts`` by process ``creator`` for caller ``subject``:
        Defender's ScheduledTaskCreated row, then the Schedule service's TaskCache writes. Returns its GUID."""
        s = self.scenarios[k]
        domain, user, sid, logon = subject
        author = author or f"{domain.upper()}\\{user}"
        date = local_time(ts)
        build = content_xml if fmt == "xml" else content_json
        fields = {"TaskName": s.task_name, "TaskContent": build(spec, s.task_name, author, date),
                  "SubjectUserSid": sid, "SubjectUserName": user, "SubjectDomainName": domain,
                  "SubjectLogonId": hex(logon)}
        self.d.event("DeviceEvents", creator, ts, "ScheduledTaskCreated", rel=self._mark(k),
                     AdditionalFields=compact_json(fields))
        guid = self.guid()
        self.task_cache(k, dev, self.ll(dev, "svc_schedule"), self.later(ts, 0.005, 0.05), guid, spec)
        self._record(k, dev, registered_at=ts, registered_by=f"{domain}\\{user}",
                     registered_by_process=self.d.attr(creator, "FileName"), format=fmt, guid=guid)
        return guid

    def task_cache(self, k: int, dev: int, writer: int, ts: int, guid: str, spec: TaskSpec,
                   key_created: bool = True) -> None:
        """The TaskCache keys of task ``k``: ``Tree\\<path>`` (Id, Index, SD) and ``Tasks\\{GUID}``
        (Path, URI, Actions with the command in UTF-16LE, Triggers, DynamicInfo, Hash), by ``writer``."""
        name = self.scenarios[k].task_name
        tree, task = TASK_CACHE + "Tree" + name, TASK_CACHE + "Tasks\\" + guid
        sd = SD_PREFIX + "".join(f"{int(x):02X}" for x in self.rng.integers(0, 256, 24))
        rows = [(tree, "", "", "", "RegistryKeyCreated"), (tree, "Id", "String", guid, ""),
                (tree, "Index", "Dword", "3", ""), (tree, "SD", "Binary", sd, ""),
                (task, "", "", "", "RegistryKeyCreated"), (task, "Path", "String", name, ""),
                (task, "URI", "String", name, ""),
                (task, "Actions", "Binary", actions_blob(spec.command, spec.arguments, spec.working_directory), ""),
                (task, "Triggers", "Binary", "1700000000000000" + filetime(ts).hex().upper(), ""),
                (task, "DynamicInfo", "Binary", "03000000" + filetime(ts).hex().upper() + "0" * 24, ""),
                (task, "Hash", "Binary", "".join(f"{int(x):02X}" for x in self.rng.integers(0, 256, 32)), "")]
        for i, (key, value, vtype, data, action) in enumerate(rows):
            if action == "RegistryKeyCreated" and not key_created:
                continue
            self.d.event("DeviceRegistryEvents", writer, ts + i * 20_000 * 100, action or "RegistryValueSet",
                         rel=self._mark(k), RegistryKey=key, RegistryValueName=value, RegistryValueType=vtype,
                         RegistryValueData=data)

    def delete(self, k: int, dev: int, creator: int, ts: int, subject: tuple[str, str, str, int]) -> None:
        """Task ``k`` deleted through the API: ScheduledTaskDeleted, then the Schedule service drops its keys."""
        s = self.scenarios[k]
        domain, user, sid, logon = subject
        self.d.event("DeviceEvents", creator, ts, "ScheduledTaskDeleted", rel=self._mark(k),
                     AdditionalFields=compact_json({"TaskName": s.task_name, "SubjectUserSid": sid,
                                                    "SubjectUserName": user, "SubjectDomainName": domain,
                                                    "SubjectLogonId": hex(logon)}))
        entry = next(r for r in s.registrations if r["device"] == dev)
        entry["deleted_at"] = ts
        sched = self.ll(dev, "svc_schedule")
        t = self.later(ts, 0.005, 0.05)
        for i, key in enumerate((TASK_CACHE + "Tree" + s.task_name, TASK_CACHE + "Tasks\\" + entry["guid"])):
            self.d.event("DeviceRegistryEvents", sched, t + i * 30_000 * 100, "RegistryKeyDeleted",
                         rel=self._mark(k), RegistryKey=key)

    def registry_only(self, k: int, dev: int, writer: int, ts: int, spec: TaskSpec, hide_after_s: float) -> None:
        """Task ``k`` written straight into TaskCache by ``writer`` (no API call, no ScheduledTaskCreated
        row), then hidden: its ``SD`` value deleted ``hide_after_s`` seconds later (Tarrask)."""
        guid = self.guid()
        self.task_cache(k, dev, writer, ts, guid, spec)
        hidden = self.later(ts, hide_after_s, hide_after_s + 2)
        tree = TASK_CACHE + "Tree" + self.scenarios[k].task_name
        self.d.event("DeviceRegistryEvents", writer, hidden, "RegistryValueDeleted", rel=self._mark(k),
                     RegistryKey=tree, RegistryValueName="SD", RegistryValueType="Binary")
        account = "\\".join(self.d.attr(writer, c) for c in ("AccountDomain", "AccountName"))
        self._record(k, dev, registered_at=ts, registered_by=account,
                     registered_by_process=self.d.attr(writer, "FileName"), format="registry", guid=guid,
                     registry_only=True, hidden=True)
