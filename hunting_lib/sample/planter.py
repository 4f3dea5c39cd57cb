"""The planted scenarios' record and the builders they are written with.

Why this module exists: each scenario is written row by row (process starts, connections, files,
registry values, ...). ``Planter`` holds the state the scenarios share (the data set, their random
stream, the scenarios so far, the workstations not used yet) and those builders; the scenarios
themselves are methods of its subclasses in ``attacks`` (malicious) and ``pitfalls`` (the published
false positives and the edge cases), joined in ``generator``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from hunting_lib.sample.common import (
    CONHOST,
    DAY,
    DOMAIN,
    HOUR,
    MS,
    NULL,
    SCHEDULE_CMDLINE,
    SYSTEM,
    T0,
    compact_json,
    fake_hashes,
)
from hunting_lib.sample.data import SampleData
from hunting_lib.sample.processes import DLLS, KIND_INDEX
from hunting_lib.schema import PROCESS_TABLE

# --------------------------------------------------------------------------------------------
# Planted scenarios: the answer key. Each is written row by row and described in scenarios.yaml.
# --------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    id: str
    kind: str                     # malicious | false_positive | edge_case
    title: str
    technique: str
    why: str
    seed_reports_it: bool
    folder: str
    cmd: str
    file: str = ""                # "" = the folder's last part
    account: str = ""             # set by the runs
    devices: list[int] = field(default_factory=list)
    runs: int = 0
    task_name: str = ""
    launched_by: str = SCHEDULE_CMDLINE
    seed_false_positive: int | None = None   # which of the published false positives it models
    registrations: list[dict[str, Any]] = field(default_factory=list)  # one per device (``registrations``)

    def __post_init__(self) -> None:
        self.file = self.file or self.folder.rsplit("\\", 1)[-1]


def letters(rng: np.random.Generator, n: int, alphabet: str = string.ascii_lowercase) -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), n))


def public_ip(rng: np.random.Generator, first: int) -> str:
    a, b, c = rng.integers(0, 256), rng.integers(0, 256), rng.integers(2, 254)
    return f"{first}.{a}.{b}.{c}"


class Planter:
    """Shared state and row builders of the scenarios (see ``attacks.Attacks`` and ``pitfalls.Pitfalls``)."""

    def __init__(self, data: SampleData, rng: np.random.Generator) -> None:
        self.d = data
        self.f = data.fleet
        self.rng = rng
        self.scenarios: list[Scenario] = []
        self.ws = iter([int(x) for x in rng.permutation(self.f.ws)])  # distinct workstations
        # Devices whose Task Scheduler host is recorded differently (edge cases). They are chosen
        # before any process exists because their everyday tasks inherit the odd parent too.
        self.lower_parent_dev = next(self.ws)
        self.no_s_flag_dev = next(self.ws)
        self.f.sched_cmd[self.lower_parent_dev] = "svchost.exe -k netsvcs -p -s schedule"
        self.f.sched_cmd[self.no_s_flag_dev] = "svchost.exe -k netsvcs -p"

    # ---- small builders ---------------------------------------------------------------------

    def at(self, day: float, hour: float, jitter_min: float = 20) -> int:
        """A time in the window: day 0 is Monday 2026-11-02, plus up to ``jitter_min`` minutes."""
        base = T0 + int(day * DAY + hour * HOUR)
        return base + int(self.rng.integers(0, max(1, int(jitter_min * 60 * 10**7)))) * 100

    def later(self, ts: int, lo: float, hi: float) -> int:
        """``lo`` to ``hi`` seconds after ``ts``."""
        return ts + int(self.rng.uniform(lo, hi) * 10**7) * 100

    def choice(self, options: Sequence[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def port(self) -> int:
        return int(self.rng.integers(49152, 65536))

    def logon_id(self) -> int:
        return int(self.rng.integers(300_000, 90_000_000))

    def ll(self, dev: int, kind: str) -> int:
        """The long-lived process of ``kind`` on ``dev``."""
        return int(self.d.ll[dev, KIND_INDEX[kind]])

    def user(self, dev: int) -> tuple[str, str, str]:
        return (DOMAIN, self.f.user[dev], self.f.user_sid[dev])

    def dev_of(self, proc: int) -> int:
        return self.d.attr(proc, "device")

    def start(self, parent: int, ts: int, folder: str, cmd: str, account: tuple[str, str, str] | None = None,
              integrity: str | None = None, *, tag: int | None = None, rel: int = -1, company: str = MS,
              hash_key: str | None = None, file: str | None = None) -> int:
        """A process creation: the process and its DeviceProcessEvents row.

        Account and integrity default to the parent's. ``tag`` None inherits the parent's scenario,
        so every descendant of a task stays in the task's tree.
        """
        if account is None:
            account = tuple(self.d.attr(parent, c) for c in ("AccountDomain", "AccountName", "AccountSid"))
        if integrity is None:
            integrity = self.d.attr(parent, "Integrity")
        if tag is None:
            tag = self.d.attr(parent, "scn")
        pid = int(self.rng.integers(250, 15_000)) * 4
        proc = self.d.proc(self.dev_of(parent), pid, ts, parent, file or folder.rsplit("\\", 1)[-1], folder, cmd,
                           account, integrity, tag, company, hash_key)
        self.d.event(PROCESS_TABLE, proc, ts, "ProcessCreated", rel=rel)
        return proc

    def conhost(self, proc: int, ts: int) -> int:
        return self.start(proc, self.later(ts, 0.002, 0.03), CONHOST, "conhost.exe 0xffffffff -ForceV1")

    def net(self, proc: int, ts: int, ip: str, port: int, url: str = "", public: bool = True) -> None:
        self.d.event("DeviceNetworkEvents", proc, ts, "ConnectionSuccess", RemoteIP=ip, RemotePort=port,
                     RemoteUrl=url, LocalIP=self.f.ip[self.dev_of(proc)], LocalPort=self.port(), Protocol="Tcp",
                     LocalIPType="Private", RemoteIPType="Public" if public else "Private")

    def file(self, proc: int, ts: int, action: str, path: str, size: int | None = None, rel: int = -1,
             **extra: Any) -> None:
        deleted = action == "FileDeleted"  # a deleted file has no hash or size any more
        if size is None:
            size = NULL if deleted else int(self.rng.integers(200, 400_000))
        self.d.event("DeviceFileEvents", proc, ts, action, rel, FolderPath=path, FileName=path.rsplit("\\", 1)[-1],
                     SHA256="" if deleted else fake_hashes(f"{self.d.seed}|{path}")[1], FileSize=size, **extra)

    def reg(self, proc: int, ts: int, key: str, name: str, vtype: str, data: str,
            action: str = "RegistryValueSet") -> None:
        self.d.event("DeviceRegistryEvents", proc, ts, action, RegistryKey=key, RegistryValueName=name,
                     RegistryValueType=vtype, RegistryValueData=data)

    def dll(self, proc: int, ts: int, path: str, hash_key: str | None = None) -> None:
        sha1, sha256 = fake_hashes(hash_key or path)
        self.d.event("DeviceImageLoadEvents", proc, ts, "ImageLoaded", FolderPath=path,
                     FileName=path.rsplit("\\", 1)[-1], SHA1=sha1, SHA256=sha256)

    def dotnet(self, proc: int, ts: int) -> None:
        """What every PowerShell start loads."""
        for i, (folder, name) in enumerate(DLLS["dotnet"]):
            self.dll(proc, self.later(ts, 0.1 + i * 0.05, 0.15 + i * 0.05), folder + name)

    def ps_commands(self, proc: int, ts: int, commands: Sequence[str]) -> None:
        for i, command in enumerate(commands):
            self.d.event("DeviceEvents", proc, self.later(ts, 0.5 + i, 1.0 + i), "PowerShellCommand",
                         AdditionalFields=compact_json({"Command": command}))

    def new(self, **fields: Any) -> int:
        """Register a scenario; returns its index (the tag of its processes)."""
        self.scenarios.append(Scenario(**fields))
        return len(self.scenarios) - 1

    def run(self, k: int, dev: int, ts: int, account: tuple[str, str, str] = SYSTEM, integrity: str = "System",
            company: str = MS, hash_key: str | None = None, parent: int | None = None) -> int:
        """One start of scenario k's task on ``dev``: by default the Schedule service launches it."""
        s = self.scenarios[k]
        if dev not in s.devices:
            s.devices.append(dev)
        s.runs += 1
        s.account = f"{account[0]}\\{account[1]}"
        parent = self.ll(dev, "svc_schedule") if parent is None else parent
        return self.start(parent, ts, s.folder, s.cmd, account, integrity, tag=k, company=company,
                          hash_key=hash_key, file=s.file)

    def private_ip(self, server: str) -> str:
        return self.f.ip[self.f.server(server)]
