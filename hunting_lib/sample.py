"""Seeded, realistic Defender XDR data for the rare-scheduled-task hunt (MITRE T1053.005).

Why this module exists: the published hunt (``queries/rare_sch_task_with_activity.yaml``) can only
be judged on data whose answer is known. ``generate_sample`` writes the seven tables the hunt reads,
shaped like advanced-hunting exports, with a known set of planted scheduled tasks (malicious ones,
the published false positives and the edge cases where the published text slips) hidden among an
office's everyday activity, and writes the answer key next to them in ``scenarios.yaml``.

How it is built:

* Every process of the data set is one row of a process list. Events point at a row of that list
  for their ``InitiatingProcess*`` columns, so an activity row always carries exactly the file
  name, command line, folder, pid and creation time of the process that made it, and process
  trees are real trees.
* Background volume (everything that is not a planted scenario) is drawn vectorised from small
  catalogues: per table a list of event templates whose column values are pools. Only the ~20
  planted scenarios are written row by row.
* Strings are held as pandas Categoricals (codes into small pools), which keeps a 10-million-row
  data set in a few hundred MB and lets parquet be written in chunks.
* Randomness comes only from ``numpy.random.Generator(seed)``; there is no wall clock and no
  Python ``hash()``, so a seed always gives byte-identical files.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pandas.api.types import union_categoricals

from .schema import PROCESS_TABLE, TABLES, required_columns, table_columns

__all__ = ["generate_sample", "WINDOW_START", "WINDOW_END"]

# --------------------------------------------------------------------------------------------
# Time: everything is int64 nanoseconds since the epoch, always a multiple of 100 ns so that the
# 7-digit fractions of advanced-hunting exports are exact.
# --------------------------------------------------------------------------------------------

WINDOW_START = "2026-11-02T00:00:00Z"  # a Monday
WINDOW_END = "2026-11-10T00:00:00Z"
_DAYS = 8
_SEC = 10**9
_MIN = 60 * _SEC
_HOUR = 3600 * _SEC
_DAY = 24 * _HOUR
_T0 = int(np.datetime64(WINDOW_START.rstrip("Z"), "ns").astype(np.int64))
_NAT = np.iinfo(np.int64).min  # the same bits as numpy's NaT
_NULL = -1  # null sentinel for integer columns (pids, ports and ids are never negative)

#: Background rows per table at scale 1.0. Process and network events dominate, as in real data.
_BASE_ROWS = {
    "DeviceProcessEvents": 12_000,
    "DeviceNetworkEvents": 15_000,
    "DeviceFileEvents": 8_000,
    "DeviceRegistryEvents": 6_500,
    "DeviceLogonEvents": 1_500,
    "DeviceImageLoadEvents": 8_500,
    "DeviceEvents": 2_500,
}
#: Everyday Task Scheduler children, as a share of background process events (real estates: 1-10%).
_TASK_SHARE = 0.06
#: Every everyday task group gets at least this many runs, so that the hunt's ``count_ < 3`` never
#: flags background noise, whatever the scale; only planted scenarios are rare.
_TASK_FLOOR = 3

# --------------------------------------------------------------------------------------------
# Columns written per table: a realistic subset of the schema, in schema order.
# --------------------------------------------------------------------------------------------

_COMMON = [
    "Timestamp", "DeviceId", "DeviceName", "ActionType", "ReportId",
    "InitiatingProcessAccountDomain", "InitiatingProcessAccountName", "InitiatingProcessAccountSid",
    "InitiatingProcessIntegrityLevel", "InitiatingProcessSHA1", "InitiatingProcessSHA256",
    "InitiatingProcessFileName", "InitiatingProcessVersionInfoCompanyName", "InitiatingProcessId",
    "InitiatingProcessCommandLine", "InitiatingProcessCreationTime", "InitiatingProcessFolderPath",
    "InitiatingProcessParentId", "InitiatingProcessParentFileName",
    "InitiatingProcessParentCreationTime",
]
_EXTRA = {
    "DeviceProcessEvents": [
        "FileName", "FolderPath", "SHA1", "SHA256", "ProcessVersionInfoCompanyName", "ProcessId",
        "ProcessCommandLine", "ProcessIntegrityLevel", "ProcessCreationTime", "AccountDomain",
        "AccountName", "AccountSid",
    ],
    "DeviceNetworkEvents": [
        "RemoteIP", "RemotePort", "RemoteUrl", "LocalIP", "LocalPort", "Protocol", "LocalIPType",
        "RemoteIPType", "AdditionalFields",
    ],
    "DeviceFileEvents": [
        "FileName", "FolderPath", "SHA256", "FileSize", "FileOriginUrl", "PreviousFileName",
        "RequestProtocol", "RequestSourceIP", "RequestAccountName", "AdditionalFields",
    ],
    "DeviceRegistryEvents": [
        "RegistryKey", "RegistryValueType", "RegistryValueName", "RegistryValueData",
    ],
    "DeviceLogonEvents": [
        "LogonType", "AccountDomain", "AccountName", "AccountSid", "Protocol", "FailureReason",
        "LogonId", "RemoteDeviceName", "RemoteIP", "RemoteIPType", "RemotePort", "AdditionalFields",
    ],
    "DeviceImageLoadEvents": ["FileName", "FolderPath", "SHA1", "SHA256"],
    "DeviceEvents": [
        "FileName", "FolderPath", "SHA256", "AccountName", "RemoteUrl", "RemoteIP", "RemotePort",
        "ProcessId", "ProcessCommandLine", "RegistryKey", "AdditionalFields",
    ],
}


def _columns(table: str) -> list[str]:
    """The columns written for ``table``, in the schema's order."""
    wanted = set(_COMMON) | set(_EXTRA[table])
    cols = [c for c in table_columns(table) if c in wanted]
    missing = set(required_columns(table)) - set(cols)
    assert not missing, f"{table} misses required columns {missing}"
    return cols


# --------------------------------------------------------------------------------------------
# The process list. Each process is one row; events refer to rows by index.
# --------------------------------------------------------------------------------------------

_P_STR = [
    "FileName", "FolderPath", "CommandLine", "AccountDomain", "AccountName", "AccountSid",
    "Integrity", "SHA1", "SHA256", "Company",
]
_P_INT = ["device", "pid", "created", "parent", "scn"]

#: Event column <- process-list column, for the process that acted (``Initiating*``).
_INITIATING = {
    "InitiatingProcessFileName": "FileName",
    "InitiatingProcessFolderPath": "FolderPath",
    "InitiatingProcessCommandLine": "CommandLine",
    "InitiatingProcessAccountDomain": "AccountDomain",
    "InitiatingProcessAccountName": "AccountName",
    "InitiatingProcessAccountSid": "AccountSid",
    "InitiatingProcessIntegrityLevel": "Integrity",
    "InitiatingProcessSHA1": "SHA1",
    "InitiatingProcessSHA256": "SHA256",
    "InitiatingProcessVersionInfoCompanyName": "Company",
    "InitiatingProcessId": "pid",
    "InitiatingProcessCreationTime": "created",
}
_INITIATING_PARENT = {
    "InitiatingProcessParentId": "pid",
    "InitiatingProcessParentFileName": "FileName",
    "InitiatingProcessParentCreationTime": "created",
}
#: DeviceProcessEvents columns of the created process.
_CREATED = {
    "FileName": "FileName",
    "FolderPath": "FolderPath",
    "SHA1": "SHA1",
    "SHA256": "SHA256",
    "ProcessVersionInfoCompanyName": "Company",
    "ProcessId": "pid",
    "ProcessCommandLine": "CommandLine",
    "ProcessIntegrityLevel": "Integrity",
    "ProcessCreationTime": "created",
    "AccountDomain": "AccountDomain",
    "AccountName": "AccountName",
    "AccountSid": "AccountSid",
}

SYSTEM = ("nt authority", "system", "S-1-5-18")
LOCAL_SERVICE = ("nt authority", "local service", "S-1-5-19")
NETWORK_SERVICE = ("nt authority", "network service", "S-1-5-20")
_DOMAIN = "fabrikam"
_FQDN = "corp.fabrikam.com"

# Frequently used binaries.
_SYS32 = "C:\\Windows\\System32\\"
_SVCHOST = _SYS32 + "svchost.exe"
_CMD = _SYS32 + "cmd.exe"
_POWERSHELL = _SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe"
_RUNDLL32 = _SYS32 + "rundll32.exe"
_REGSVR32 = _SYS32 + "regsvr32.exe"
_CONHOST = _SYS32 + "conhost.exe"
_DEFENDER = "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\"
_MS = "Microsoft Corporation"
SCHEDULE_CMDLINE = "svchost.exe -k netsvcs -p -s Schedule"


# --------------------------------------------------------------------------------------------
# Small helpers for Categorical columns.
# --------------------------------------------------------------------------------------------


def _pick(pool: Sequence[str], codes: np.ndarray) -> pd.Categorical:
    """pool[codes] as a Categorical, without building a Python string per row."""
    uniq, inverse = np.unique(np.asarray(list(pool), dtype=object), return_inverse=True)
    return pd.Categorical.from_codes(inverse[np.asarray(codes)], categories=pd.Index(uniq, dtype=object))


def _const(value: str, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=pd.Index([value], dtype=object))


def _as_cat(values: Any, n: int) -> pd.Categorical:
    if isinstance(values, pd.Categorical):
        return values
    if isinstance(values, str):
        return _const(values, n)
    return pd.Categorical(np.asarray(values, dtype=object))


def _take_cat(cat: pd.Categorical, idx: np.ndarray) -> pd.Categorical:
    """cat[idx], with idx == -1 giving "" (a missing process means empty strings, as in Kusto)."""
    categories = cat.categories
    if "" not in categories:
        categories = categories.append(pd.Index([""], dtype=object))
    empty = categories.get_loc("")
    codes = np.where(idx >= 0, cat.codes[np.maximum(idx, 0)], empty)
    return pd.Categorical.from_codes(codes, categories=categories)


def _take_int(values: np.ndarray, idx: np.ndarray, null: int) -> np.ndarray:
    return np.where(idx >= 0, values[np.maximum(idx, 0)], null)


def _hashes(key: str) -> tuple[str, str]:
    """Stable, well-formed SHA1/SHA256 for a binary (fake: the real files are not available)."""
    data = key.lower().encode()
    return hashlib.sha1(b"sha1|" + data).hexdigest(), hashlib.sha256(b"sha256|" + data).hexdigest()


_USER_DIR = re.compile(r"^c:\\users\\[^\\]+\\", re.IGNORECASE)


def _binary_key(folder_path: str) -> str:
    """Per-user copies of one program (OneDrive under each profile) share their hash."""
    return _USER_DIR.sub(r"c:\\users\\*\\", folder_path)


def _iso7(ns: np.ndarray) -> np.ndarray:
    """Advanced-hunting timestamps: ``2026-11-02T03:04:05.1234567Z``; "" for null."""
    ns = np.asarray(ns, dtype=np.int64)
    null = ns == _NAT
    safe = np.where(null, 0, ns)
    seconds = np.datetime_as_string(safe.astype("M8[ns]").astype("M8[s]"), unit="s").astype(object)
    ticks = (safe % _SEC) // 100
    frac = pd.Series(ticks).astype(str).str.zfill(7).to_numpy(dtype=object)
    out = seconds + "." + frac + "Z"
    out[null] = ""
    return out


# --------------------------------------------------------------------------------------------
# The fleet: devices, users, addresses.
# --------------------------------------------------------------------------------------------

_FIRST = (
    "aino anna antti eero elina emma helmi ilkka jari johanna juha kaisa kalle laura leena liisa "
    "markku matti mika minna niina olli pekka petra riikka sami sanna satu teemu tiina timo tuomas "
    "ville aleksi jenni hanna oskari noora eveliina joel iida mikael sara tommi katja lauri marja "
    "paula reijo santeri ulla veera arttu henna ismo jussi"
).split()
_LAST = (
    "virtanen korhonen nieminen makinen hamalainen laine heikkinen koskinen jarvinen lehtonen "
    "lehtinen saarinen salminen heinonen niemi heikkila kinnunen salonen turunen salo laitinen "
    "tuominen rantanen karjalainen jokinen mattila savolainen lahtinen ahonen kallio"
).split()
_SITES = ("hel", "tre", "oul", "tku")
_DEPTS = ("fin", "hr", "sal", "eng", "ops", "it", "mkt")
#: Servers: (short name, role). The roles decide which background events a server produces.
_SERVERS = (("dc01", "dc"), ("dc02", "dc"), ("fs01", "fs"), ("fs02", "fs"), ("app01", "app"),
            ("sql01", "sql"))


@dataclass
class _Fleet:
    names: list[str]            # DeviceName, lower-case FQDN
    short: list[str]
    ids: list[str]              # DeviceId, 40 hex
    role: np.ndarray            # "ws" or a server role
    ip: list[str]
    user: list[str]             # primary user of a workstation ("" on servers)
    user_sid: list[str]
    boot: np.ndarray            # boot time, ns (before the window: no reboots inside it)
    sched_cmd: list[str]        # the Task Scheduler host's command line on this device
    users: list[str]            # all domain users
    user_sids: list[str]
    admins: list[str]           # admin accounts (adm-...)
    domain_sid: str
    ws: np.ndarray = field(default_factory=lambda: np.empty(0, int))
    servers: np.ndarray = field(default_factory=lambda: np.empty(0, int))

    def __post_init__(self) -> None:
        self.ws = np.flatnonzero(self.role == "ws")
        self.servers = np.flatnonzero(self.role != "ws")

    def by_role(self, role: str) -> np.ndarray:
        if role == "all":
            return np.arange(len(self.names))
        if role == "srv":
            return self.servers
        return np.flatnonzero(self.role == role)

    def server(self, short: str) -> int:
        return self.short.index(short)


def _make_fleet(rng: np.random.Generator, scale: float) -> _Fleet:
    n_ws = max(40, int(round(40 * scale**0.5)))
    firsts = rng.permutation(len(_FIRST))
    lasts = rng.permutation(len(_LAST))
    n_users = n_ws + 12
    users, seen = [], set()
    k = 0
    while len(users) < n_users:  # unique first.last names, reproducible from the seed
        name = f"{_FIRST[firsts[k % len(_FIRST)]]}.{_LAST[lasts[(k * 7 + k // len(_LAST)) % len(_LAST)]]}"
        if name not in seen:
            seen.add(name)
            users.append(name)
        k += 1
        if k > 50 * n_users:  # more users than name pairs: number them
            users += [f"user{i:04d}" for i in range(n_users - len(users))]
    domain_sid = "S-1-5-21-" + "-".join(str(x) for x in rng.integers(10**9, 4 * 10**9, 3))
    user_sids = [f"{domain_sid}-{1104 + i}" for i in range(n_users)]
    admins = [f"adm-{u.split('.')[0][0]}{u.split('.')[1]}" for u in users[n_ws:n_ws + 3]]

    names, short, role, ip, user, user_sid = [], [], [], [], [], []
    sites = rng.integers(0, len(_SITES), n_ws)
    depts = rng.integers(0, len(_DEPTS), n_ws)
    for i in range(n_ws):
        kind = "lt" if rng.random() < 0.7 else "ws"
        s = f"{_SITES[sites[i]]}-{_DEPTS[depts[i]]}-{kind}{100 + i:03d}"
        short.append(s)
        role.append("ws")
        ip.append(f"10.20.{sites[i] * 16 + i // 200}.{10 + i % 200}")
        user.append(users[i])
        user_sid.append(user_sids[i])
    for j, (s, r) in enumerate(_SERVERS):
        short.append(s)
        role.append(r)
        ip.append(f"10.10.1.{10 + j}")
        user.append("")
        user_sid.append("")
    names = [f"{s}.{_FQDN}" for s in short]
    ids = [hashlib.sha1(n.encode()).hexdigest() for n in names]
    n_dev = len(names)
    boot = _T0 - rng.integers(2 * _HOUR // 100, 9 * _DAY // 100, n_dev) * 100
    sched_cmd = [SCHEDULE_CMDLINE] * n_dev
    return _Fleet(names, short, ids, np.array(role), ip, user, user_sid, boot, sched_cmd, users,
                  user_sids, admins, domain_sid)


# --------------------------------------------------------------------------------------------
# Pools for background values.
# --------------------------------------------------------------------------------------------

_DOCS = [
    f"{a}{b}" for a in (
        "Budget", "Forecast", "Invoice", "Minutes", "Roadmap", "Contract", "Report", "Offer",
        "Travel", "Timesheet", "Presentation", "Specs", "Inventory", "Audit", "Plan",
    ) for b in ("_Q3", "_Q4", "_2026", "_v2", "_final", "_draft", "-summary", "")
]
_WEB = [  # (RemoteUrl, RemoteIP) of everyday browsing
    ("www.google.com", "142.250.74.36"), ("www.youtube.com", "142.250.74.46"),
    ("fonts.gstatic.com", "142.250.74.35"), ("ajax.googleapis.com", "142.250.74.10"),
    ("github.com", "140.82.121.4"), ("www.linkedin.com", "13.107.42.14"),
    ("stackoverflow.com", "104.18.32.7"), ("www.wikipedia.org", "185.15.59.224"),
    ("cdn.jsdelivr.net", "104.16.85.20"), ("www.bbc.com", "151.101.0.81"),
    ("yle.fi", "23.50.52.111"), ("www.reddit.com", "151.101.1.140"),
    ("zoom.us", "170.114.52.2"), ("docs.python.org", "151.101.128.223"),
    ("www.hs.fi", "104.18.22.39"), ("www.office.com", "13.107.6.156"),
    ("fabrikam.sharepoint.com", "13.107.136.10"), ("www.bing.com", "13.107.21.200"),
    ("", "142.250.74.99"), ("", "13.107.42.14"), ("", "104.18.32.7"), ("", "151.101.1.140"),
]
_MS365 = [
    ("login.microsoftonline.com", "20.190.159.4"), ("login.microsoftonline.com", "40.126.32.134"),
    ("outlook.office365.com", "52.97.146.162"), ("outlook.office365.com", "40.99.150.66"),
    ("graph.microsoft.com", "20.190.160.20"), ("fabrikam-my.sharepoint.com", "13.107.136.10"),
    ("", "52.97.146.162"), ("", "20.190.159.4"),
]
_TEAMS = [("teams.microsoft.com", "52.113.194.132"), ("presence.teams.microsoft.com", "52.114.88.29"),
          ("", "52.113.194.132"), ("", "52.114.88.29")]
_WINDOWS_UPDATE = [("fe3cr.delivery.mp.microsoft.com", "20.12.23.50"),
                   ("ctldl.windowsupdate.com", "93.184.221.240"),
                   ("slscr.update.microsoft.com", "20.72.235.82"), ("", "20.12.23.50")]
_TELEMETRY = [("v10.events.data.microsoft.com", "20.42.65.92"),
              ("settings-win.data.microsoft.com", "51.104.15.252"), ("", "20.42.65.92")]
_DEFENDER_CLOUD = [("wdcp.microsoft.com", "20.199.120.182"),
                   ("definitionupdates.microsoft.com", "13.107.4.52"), ("", "20.199.120.182")]
_MDE_CLOUD = [("winatp-gw-weu.microsoft.com", "20.73.130.22"),
              ("eu-v20.events.data.microsoft.com", "20.50.201.200"), ("", "20.73.130.22")]
_EDGE_UPDATE = [("msedge.api.cdp.microsoft.com", "13.107.246.41"), ("", "13.107.246.41")]
_GOOGLE_UPDATE = [("update.googleapis.com", "142.250.74.99"), ("", "142.250.74.99")]
_ONEDRIVE_UPDATE = [("oneclient.sfx.ms", "152.199.19.161"), ("g.live.com", "13.107.42.13")]
_OFFICE_CDN = [("officecdn.microsoft.com", "152.199.19.160"),
               ("officeclient.microsoft.com", "52.109.8.20"), ("", "52.109.8.20")]
_WER = [("watson.events.data.microsoft.com", "20.189.173.1")]
_HEX = [f"{v:06x}" for v in np.random.default_rng(2026).integers(0, 16**6, 400)]  # fixed pool
_GUIDS = [
    "{" + "-".join(h[i:j] for i, j in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))).upper() + "}"
    for h in (hashlib.md5(f"guid{k}".encode()).hexdigest() for k in range(40))
]


def _ephemeral(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(49152, 65536, n)


def _logon_id(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(300_000, 90_000_000, n)


def _file_size(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.lognormal(11, 1.5, n)).astype(np.int64) + 100


# --------------------------------------------------------------------------------------------
# Long-lived processes: one per device and kind, started at boot or at the user's logon.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    key: str
    file: str
    folder: str                  # full path; <u> is the device's user
    cmd: str
    account: str                 # "system", "local service", "network service" or "user"
    integrity: str
    parent: str | None
    where: str                   # "all", "ws", "srv" or a server role
    company: str = _MS
    delay_s: float = 10.0        # seconds after boot (user kinds: after logon)
    pid: int | None = None


_LONG_LIVED = [
    _Kind("system", "System", "", "", "system", "System", None, "all", "", 0.0, 4),
    _Kind("smss", "smss.exe", _SYS32 + "smss.exe", "smss.exe", "system", "System", "system", "all", delay_s=1),
    _Kind("wininit", "wininit.exe", _SYS32 + "wininit.exe", "wininit.exe", "system", "System", "smss", "all", delay_s=4),
    _Kind("winlogon", "winlogon.exe", _SYS32 + "winlogon.exe", "winlogon.exe", "system", "System", "smss", "all", delay_s=4.5),
    _Kind("services", "services.exe", _SYS32 + "services.exe", "services.exe", "system", "System", "wininit", "all", delay_s=5),
    _Kind("lsass", "lsass.exe", _SYS32 + "lsass.exe", "lsass.exe", "system", "System", "wininit", "all", delay_s=5.2),
    _Kind("svc_dcom", "svchost.exe", _SVCHOST, "svchost.exe -k DcomLaunch -p", "system", "System", "services", "all", delay_s=6),
    _Kind("svc_schedule", "svchost.exe", _SVCHOST, SCHEDULE_CMDLINE, "system", "System", "services", "all", delay_s=9),
    _Kind("svc_wu", "svchost.exe", _SVCHOST, "svchost.exe -k netsvcs -p -s wuauserv", "system", "System", "services", "all", delay_s=40),
    _Kind("svc_bits", "svchost.exe", _SVCHOST, "svchost.exe -k netsvcs -p -s BITS", "system", "System", "services", "all", delay_s=41),
    _Kind("svc_gp", "svchost.exe", _SVCHOST, "svchost.exe -k netsvcs -p -s gpsvc", "system", "System", "services", "all", delay_s=9.5),
    _Kind("svc_dns", "svchost.exe", _SVCHOST, "svchost.exe -k NetworkService -p -s Dnscache", "network service", "System", "services", "all", delay_s=8),
    _Kind("svc_sysmain", "svchost.exe", _SVCHOST, "svchost.exe -k LocalSystemNetworkRestricted -p -s SysMain", "system", "System", "services", "all", delay_s=11),
    _Kind("svc_term", "svchost.exe", _SVCHOST, "svchost.exe -k NetworkService -s TermService", "network service", "System", "services", "srv", delay_s=12),
    _Kind("msmpeng", "MsMpEng.exe", _DEFENDER + "MsMpEng.exe", "MsMpEng.exe", "system", "System", "services", "all", delay_s=10),
    _Kind("mssense", "MsSense.exe", "C:\\Program Files\\Windows Defender Advanced Threat Protection\\MsSense.exe", '"MsSense.exe"', "system", "System", "services", "all", delay_s=12),
    _Kind("searchindexer", "SearchIndexer.exe", _SYS32 + "SearchIndexer.exe", "SearchIndexer.exe /Embedding", "system", "System", "services", "ws", delay_s=30),
    _Kind("dns", "dns.exe", _SYS32 + "dns.exe", "dns.exe", "system", "System", "services", "dc", delay_s=14),
    _Kind("sqlservr", "sqlservr.exe", "C:\\Program Files\\Microsoft SQL Server\\MSSQL16.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe", '"sqlservr.exe" -sMSSQLSERVER', "network service", "High", "services", "sql", delay_s=20),
    # The user's session on workstations.
    _Kind("userinit", "userinit.exe", _SYS32 + "userinit.exe", "userinit.exe", "user", "Medium", "winlogon", "ws", delay_s=60),
    _Kind("explorer", "explorer.exe", "C:\\Windows\\explorer.exe", "Explorer.EXE", "user", "Medium", "userinit", "ws", delay_s=62),
    _Kind("msedge", "msedge.exe", "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", '"msedge.exe" --no-startup-window --win-session-start', "user", "Medium", "explorer", "ws", delay_s=80),
    _Kind("chrome", "chrome.exe", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", '"chrome.exe"', "user", "Medium", "explorer", "ws", "Google LLC", 300),
    _Kind("teams", "ms-teams.exe", "C:\\Program Files\\WindowsApps\\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\\ms-teams.exe", '"ms-teams.exe" msteams:system-initiated', "user", "Medium", "explorer", "ws", delay_s=90),
    _Kind("outlook", "OUTLOOK.EXE", "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", '"OUTLOOK.EXE"', "user", "Medium", "explorer", "ws", delay_s=240),
    _Kind("onedrive", "OneDrive.exe", "C:\\Users\\<u>\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe", '"OneDrive.exe" /background', "user", "Medium", "explorer", "ws", delay_s=85),
]
_KIND_INDEX = {k.key: i for i, k in enumerate(_LONG_LIVED)}


# --------------------------------------------------------------------------------------------
# Event templates: column pools drawn vectorised. A pool is a scalar, a list (uniform pick), a
# callable (rng, n) -> values, or for a tuple of columns a list of tuples (picked together).
# In strings, <u> <sid> <host> <ip> <dc_ip> <fs_ip> are the device's, <doc> <hex> <guid> <n> are
# random per row, <ru>/<ru_sid> a random domain user and <peer_ip>/<peer> a random workstation.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tpl:
    table: str
    kind: str                     # long-lived kind that acts (background templates)
    where: str                    # devices: "all", "ws", "srv" or a server role
    weight: float
    actions: tuple[str, ...]
    cols: dict = field(default_factory=dict)


def _net(kind, where, weight, endpoints, ports=(443,), proto="Tcp", actions=("ConnectionSuccess",) * 12 + ("ConnectionFailed",)):
    return _Tpl("DeviceNetworkEvents", kind, where, weight, actions, {
        ("RemoteUrl", "RemoteIP"): endpoints, "RemotePort": list(ports), "Protocol": proto,
        "LocalIP": "<ip>", "LocalPort": _ephemeral, "LocalIPType": "Private",
        "RemoteIPType": "Public"})


def _net_internal(kind, where, weight, remote_ip, ports, proto="Tcp", inbound=False):
    cols = {"RemoteIP": remote_ip, "RemotePort": list(ports), "Protocol": proto, "LocalIP": "<ip>",
            "LocalPort": _ephemeral, "LocalIPType": "Private", "RemoteIPType": "Private"}
    if inbound:  # the server's side is the well-known port
        cols.update({"LocalPort": list(ports), "RemotePort": _ephemeral})
    return _Tpl("DeviceNetworkEvents", kind, where, weight,
                ("InboundConnectionAccepted",) if inbound else ("ConnectionSuccess",), cols)


def _file(kind, where, weight, actions, folder_file, **extra):
    cols = {("FolderPath", "FileName"): folder_file, "FileSize": _file_size}
    cols.update(extra)
    return _Tpl("DeviceFileEvents", kind, where, weight, actions, cols)


def _reg(kind, where, weight, key_values, actions=("RegistryValueSet",)):
    return _Tpl("DeviceRegistryEvents", kind, where, weight, actions,
                {("RegistryKey", "RegistryValueName", "RegistryValueType", "RegistryValueData"): key_values})


def _paths(folder: str, names: Sequence[str]) -> list[tuple[str, str]]:
    return [(folder + n, n) for n in names]


_HKCU = "HKEY_CURRENT_USER\\<sid>\\SOFTWARE\\"
_HKLM = "HKEY_LOCAL_MACHINE\\SOFTWARE\\"
_USERASSIST = _HKCU + "Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist\\{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}\\Count"

_BACKGROUND: list[_Tpl] = [
    # Network
    _net("chrome", "ws", 22, _WEB, (443, 443, 443, 80)),
    _net("msedge", "ws", 14, _WEB + _MS365, (443, 443, 443, 80)),
    _net("teams", "ws", 10, _TEAMS),
    _Tpl("DeviceNetworkEvents", "teams", "ws", 3, ("ConnectionSuccess",), {
        "RemoteIP": ["52.113.194.133", "52.114.132.9"], "RemotePort": [3478, 3479, 3480],
        "Protocol": "Udp", "LocalIP": "<ip>", "LocalPort": _ephemeral, "LocalIPType": "Private",
        "RemoteIPType": "Public"}),
    _net("outlook", "ws", 6, _MS365),
    _net("onedrive", "ws", 5, [("fabrikam-my.sharepoint.com", "13.107.136.10"), ("", "13.107.136.10")]),
    _net("svc_wu", "all", 3, _WINDOWS_UPDATE, (443, 80)),
    _net("svc_bits", "all", 2, _WINDOWS_UPDATE, (443, 80)),
    _net("svc_dcom", "all", 2, _TELEMETRY),
    _net("msmpeng", "all", 3, _DEFENDER_CLOUD),
    _net("mssense", "all", 5, _MDE_CLOUD),
    _net_internal("svc_dns", "all", 6, "<dc_ip>", (53,), "Udp"),
    _net_internal("lsass", "ws", 4, "<dc_ip>", (88, 389, 88)),
    _net_internal("system", "ws", 3, "<fs_ip>", (445,)),
    _net_internal("system", "fs", 8, "<peer_ip>", (445,), inbound=True),
    _net_internal("lsass", "dc", 8, "<peer_ip>", (88, 389, 135), inbound=True),
    _net_internal("dns", "dc", 6, "<peer_ip>", (53,), "Udp", inbound=True),
    _net_internal("sqlservr", "sql", 3, "10.10.1.14", (1433,), inbound=True),
    # Files
    _file("chrome", "ws", 10, ("FileCreated",), [
        ("C:\\Users\\<u>\\AppData\\Local\\Google\\Chrome\\User Data\\Default\\Cache\\Cache_Data\\f_<hex>", "f_<hex>")]),
    _file("chrome", "ws", 3, ("FileCreated",), [("C:\\Users\\<u>\\Downloads\\<doc>.pdf", "<doc>.pdf"),
                                               ("C:\\Users\\<u>\\Downloads\\<doc>.xlsx", "<doc>.xlsx")],
          FileOriginUrl=["https://fabrikam.sharepoint.com/sites/Team/Shared%20Documents/<doc>",
                         "https://www.office.com/download/<doc>", "https://github.com/fabrikam/tools/releases/<doc>"]),
    _file("msedge", "ws", 5, ("FileCreated",), [
        ("C:\\Users\\<u>\\AppData\\Local\\Microsoft\\Edge\\User Data\\Default\\Cache\\Cache_Data\\f_<hex>", "f_<hex>")]),
    _file("outlook", "ws", 4, ("FileCreated",), [
        ("C:\\Users\\<u>\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\Q7RX2K1M\\<doc>.docx", "<doc>.docx"),
        ("C:\\Users\\<u>\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\Q7RX2K1M\\<doc>.pdf", "<doc>.pdf")]),
    _file("onedrive", "ws", 6, ("FileModified", "FileModified", "FileCreated", "FileRenamed"), [
        ("C:\\Users\\<u>\\OneDrive - Fabrikam\\Documents\\<doc>.docx", "<doc>.docx"),
        ("C:\\Users\\<u>\\OneDrive - Fabrikam\\Projects\\<doc>.xlsx", "<doc>.xlsx")]),
    _file("explorer", "ws", 3, ("FileCreated",), [
        ("C:\\Users\\<u>\\AppData\\Roaming\\Microsoft\\Windows\\Recent\\<doc>.lnk", "<doc>.lnk")]),
    _file("svc_sysmain", "all", 5, ("FileModified",), _paths("C:\\Windows\\Prefetch\\", [
        "CHROME.EXE-<hex>.pf", "MSEDGE.EXE-<hex>.pf", "SVCHOST.EXE-<hex>.pf", "CONHOST.EXE-<hex>.pf",
        "WMIPRVSE.EXE-<hex>.pf", "SEARCHPROTOCOLHOST.EXE-<hex>.pf"])),
    _file("msmpeng", "all", 3, ("FileModified", "FileCreated"), [
        ("C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\mpenginedb.db", "mpenginedb.db"),
        ("C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\CacheManager\\<hex>-0.bin", "<hex>-0.bin")]),
    _file("svc_wu", "all", 2, ("FileCreated",), [
        ("C:\\Windows\\SoftwareDistribution\\Download\\<hex>\\<hex>.cab", "<hex>.cab"),
        ("C:\\Windows\\SoftwareDistribution\\DataStore\\Logs\\edb.log", "edb.log")]),
    _file("system", "fs", 10, ("FileModified", "FileCreated", "FileModified", "FileDeleted"), [
        ("D:\\Shares\\Finance\\<doc>.xlsx", "<doc>.xlsx"), ("D:\\Shares\\Sales\\<doc>.docx", "<doc>.docx"),
        ("D:\\Shares\\Common\\<doc>.pdf", "<doc>.pdf")],
          RequestProtocol="Smb", RequestSourceIP="<peer_ip>", RequestAccountName="<ru>"),
    _file("sqlservr", "sql", 2, ("FileModified",), [
        ("D:\\MSSQL\\Data\\Reporting_log.ldf", "Reporting_log.ldf"), ("D:\\MSSQL\\Data\\Reporting.mdf", "Reporting.mdf")]),
    # Registry
    _reg("explorer", "ws", 6, [
        (_USERASSIST, "{1NP14R77-02R7-4R5Q-O744-2RO1NR5198O7}\\abgrcnq.rkr", "Binary", ""),
        (_USERASSIST, "Zvpebfbsg.Jvaqbjf.Rkcybere", "Binary", ""),
        (_HKCU + "Microsoft\\Windows\\CurrentVersion\\Explorer\\RecentDocs\\.docx", "MRUListEx", "Binary", ""),
        (_HKCU + "Microsoft\\Windows\\CurrentVersion\\Explorer\\FeatureUsage\\AppSwitched", "Microsoft.Office.OUTLOOK.EXE.15", "Dword", "<n>")]),
    _reg("svc_schedule", "all", 3, [
        (_HKLM + "Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tasks\\<guid>", "DynamicInfo", "Binary", "")]),
    _reg("msmpeng", "all", 3, [
        (_HKLM + "Microsoft\\Windows Defender\\Signature Updates", "AVSignatureVersion", "String", "1.421.<n>.0"),
        (_HKLM + "Microsoft\\Windows Defender\\Signature Updates", "SignaturesLastUpdated", "Binary", "")]),
    _reg("onedrive", "ws", 4, [
        (_HKCU + "Microsoft\\OneDrive\\Accounts\\Business1", "LastSignInTime", "Qword", "<n>"),
        (_HKCU + "Microsoft\\OneDrive", "LastUpdateCheck", "Dword", "<n>")]),
    _reg("teams", "ws", 2, [(_HKCU + "Microsoft\\Office\\Teams", "HomeUserUpn", "String", "<u>@fabrikam.com")]),
    _reg("chrome", "ws", 2, [(_HKCU + "Google\\Chrome\\BLBeacon", "state", "Dword", "1")]),
    _reg("svc_wu", "all", 2, [
        (_HKLM + "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Orchestrator", "LastScanTime", "Qword", "<n>")]),
    _reg("svc_dcom", "all", 2, [
        ("HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\bam\\State\\UserSettings\\<sid>", "\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe", "Binary", "")]),
    # Logons
    _Tpl("DeviceLogonEvents", "winlogon", "ws", 6, ("LogonSuccess",) * 9 + ("LogonFailed",), {
        "LogonType": ["Interactive", "Unlock", "Unlock", "CachedInteractive"], "AccountDomain": _DOMAIN,
        "AccountName": "<u>", "AccountSid": "<sid>", "Protocol": ["Negotiate", "Kerberos"],
        "LogonId": _logon_id, "AdditionalFields": '{"IsLocalLogon":true}'}),
    _Tpl("DeviceLogonEvents", "lsass", "ws", 2, ("LogonSuccess",), {
        "LogonType": "Network", "AccountDomain": _DOMAIN, "AccountName": "<ru>", "AccountSid": "<ru_sid>",
        "Protocol": "Kerberos", "LogonId": _logon_id, "RemoteIP": "<peer_ip>", "RemoteIPType": "Private",
        "RemotePort": 0, "AdditionalFields": '{"IsLocalLogon":false}'}),
    _Tpl("DeviceLogonEvents", "services", "all", 2, ("LogonSuccess",), {
        "LogonType": "Service", "AccountDomain": "nt authority",
        ("AccountName", "AccountSid"): [("system", "S-1-5-18"), ("local service", "S-1-5-19"), ("network service", "S-1-5-20")],
        "Protocol": "Negotiate", "LogonId": _logon_id}),
    _Tpl("DeviceLogonEvents", "lsass", "srv", 6, ("LogonSuccess",) * 15 + ("LogonFailed",), {
        "LogonType": "Network", "AccountDomain": _DOMAIN, "AccountName": "<ru>", "AccountSid": "<ru_sid>",
        "Protocol": ["Kerberos", "Kerberos", "NTLM"], "LogonId": _logon_id, "RemoteIP": "<peer_ip>",
        "RemoteDeviceName": "<peer>", "RemoteIPType": "Private", "RemotePort": _ephemeral,
        "FailureReason": "", "AdditionalFields": '{"IsLocalLogon":false}'}),
    _Tpl("DeviceLogonEvents", "svc_term", "srv", 0.3, ("LogonSuccess",), {
        "LogonType": "RemoteInteractive", "AccountDomain": _DOMAIN, "AccountName": "<adm>",
        "Protocol": "Negotiate", "LogonId": _logon_id, "RemoteIP": "<peer_ip>", "RemoteDeviceName": "<peer>",
        "RemoteIPType": "Private", "AdditionalFields": '{"IsLocalLogon":false}'}),
    # DeviceEvents
    _Tpl("DeviceEvents", "chrome", "ws", 6, ("NamedPipeEvent",), {
        "AdditionalFields": ['{"PipeName":"\\\\Device\\\\NamedPipe\\\\mojo.<n>.<n>.<hex>","FileOperation":"File created","NamedPipeEnd":"Server"}']}),
    _Tpl("DeviceEvents", "msedge", "ws", 3, ("NamedPipeEvent",), {
        "AdditionalFields": ['{"PipeName":"\\\\Device\\\\NamedPipe\\\\mojo.<n>.<n>.<hex>","FileOperation":"File created","NamedPipeEnd":"Server"}']}),
    _Tpl("DeviceEvents", "svc_dns", "all", 6, ("DnsQueryResponse",), {
        "AdditionalFields": ['{"DnsQueryString":"' + u + '"}' for u, _ in _WEB + _MS365 + _TELEMETRY if u]}),
    _Tpl("DeviceEvents", "outlook", "ws", 1, ("BrowserLaunchedToOpenUrl",), {
        "RemoteUrl": [f"https://{u}/" for u, _ in _WEB if u]}),
    _Tpl("DeviceEvents", "explorer", "ws", 2, ("ShellLinkCreateFileEvent",), {
        ("FolderPath", "FileName"): [("C:\\Users\\<u>\\AppData\\Roaming\\Microsoft\\Windows\\Recent\\<doc>.lnk", "<doc>.lnk")]}),
    _Tpl("DeviceEvents", "msmpeng", "all", 1, ("AntivirusScanCompleted",), {
        "AdditionalFields": ['{"ScanTypeIndex":"Quick","DurationInSeconds":<n>}']}),
    _Tpl("DeviceEvents", "svc_schedule", "all", 1, ("ScheduledTaskUpdated",), {
        "AdditionalFields": ['{"TaskName":"\\\\Microsoft\\\\Windows\\\\UpdateOrchestrator\\\\Schedule Scan"}',
                             '{"TaskName":"\\\\MicrosoftEdgeUpdateTaskMachineUA"}',
                             '{"TaskName":"\\\\Microsoft\\\\Windows\\\\Defrag\\\\ScheduledDefrag"}']}),
]


# --------------------------------------------------------------------------------------------
# Background process creations. Children become processes of their own (image loads use them).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spawn:
    parent: str                   # long-lived kind
    where: str
    weight: float
    file: str
    folder: str
    cmds: tuple[str, ...]
    account: str = "parent"      # "parent" or a fixed service account name
    integrity: str = ""          # "" = the parent's
    company: str = _MS
    dlls: str = "system"          # image-load family
    console: bool = False         # a console program: gets a conhost.exe child


_CHROME_DIR = "C:\\Program Files\\Google\\Chrome\\Application\\"
_EDGE_DIR = "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\"
_OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
_SPAWNS = [
    _Spawn("chrome", "ws", 20, "chrome.exe", _CHROME_DIR + "chrome.exe", tuple(
        f'"chrome.exe" --type={t} --lang=fi --field-trial-handle=2040,i,{h},262144 --mojo-platform-channel-handle={m} /prefetch:{p}'
        for t, h, m, p in (("renderer", "6541092846195862521", 3520, 1), ("renderer", "6541092846195862521", 4112, 1),
                           ("utility --utility-sub-type=network.mojom.NetworkService", "6541092846195862521", 2284, 3),
                           ("gpu-process", "6541092846195862521", 1988, 2), ("renderer", "1180243759140388614", 5100, 1))),
           company="Google LLC", dlls="chrome"),
    _Spawn("msedge", "ws", 12, "msedge.exe", _EDGE_DIR + "msedge.exe", tuple(
        f'"msedge.exe" --type={t} --field-trial-handle=2232,i,{h},262144 --mojo-platform-channel-handle={m} /prefetch:{p}'
        for t, h, m, p in (("renderer", "4107392650182735507", 3760, 1), ("renderer", "4107392650182735507", 5332, 1),
                           ("utility --utility-sub-type=storage.mojom.StorageService", "4107392650182735507", 2904, 8))),
           dlls="edge"),
    _Spawn("teams", "ws", 6, "msedgewebview2.exe",
           "C:\\Program Files (x86)\\Microsoft\\EdgeWebView\\Application\\130.0.2849.80\\msedgewebview2.exe",
           ('"msedgewebview2.exe" --type=renderer --embedded-browser-webview=1 --webview-exe-name=ms-teams.exe --mojo-platform-channel-handle=4772 /prefetch:1',),
           dlls="edge"),
    _Spawn("explorer", "ws", 2.5, "WINWORD.EXE", _OFFICE + "WINWORD.EXE",
           ('"WINWORD.EXE" /n "C:\\Users\\<u>\\OneDrive - Fabrikam\\Documents\\<doc>.docx" /o ""',), dlls="office"),
    _Spawn("explorer", "ws", 2, "EXCEL.EXE", _OFFICE + "EXCEL.EXE",
           ('"EXCEL.EXE" "C:\\Users\\<u>\\OneDrive - Fabrikam\\Projects\\<doc>.xlsx"',), dlls="office"),
    _Spawn("explorer", "ws", 1, "chrome.exe", _CHROME_DIR + "chrome.exe", ('"chrome.exe"',), company="Google LLC", dlls="chrome"),
    _Spawn("explorer", "ws", 1, "msedge.exe", _EDGE_DIR + "msedge.exe", ('"msedge.exe"',), dlls="edge"),
    _Spawn("explorer", "ws", 0.5, "notepad.exe", _SYS32 + "notepad.exe", ('"notepad.exe" C:\\Users\\<u>\\Desktop\\notes.txt',)),
    _Spawn("explorer", "ws", 0.4, "cmd.exe", _CMD, ('"cmd.exe"',), console=True),
    _Spawn("svc_dcom", "all", 3, "WmiPrvSE.exe", _SYS32 + "wbem\\WmiPrvSE.exe", ("wmiprvse.exe -secured -Embedding",), "network service", "System"),
    _Spawn("svc_dcom", "ws", 3, "RuntimeBroker.exe", _SYS32 + "RuntimeBroker.exe", ("RuntimeBroker.exe -Embedding",), "user", "Medium"),
    _Spawn("svc_dcom", "ws", 2, "backgroundTaskHost.exe", _SYS32 + "backgroundTaskHost.exe",
           ('"backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider',
            '"backgroundTaskHost.exe" -ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca'), "user", "Low"),
    _Spawn("svc_dcom", "all", 1.5, "dllhost.exe", _SYS32 + "dllhost.exe",
           ("DllHost.exe /Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}", "DllHost.exe /Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}"), "system", "System"),
    _Spawn("svc_dcom", "ws", 0.7, "smartscreen.exe", _SYS32 + "smartscreen.exe", ("smartscreen.exe -Embedding",), "user", "Medium"),
    _Spawn("services", "all", 1.2, "svchost.exe", _SVCHOST,
           ("svchost.exe -k LocalSystemNetworkRestricted -p -s WdiSystemHost", "svchost.exe -k netsvcs -p -s Appinfo",
            "svchost.exe -k LocalService -p -s DPS", "svchost.exe -k netsvcs -p -s UsoSvc"), "system", "System"),
    _Spawn("services", "all", 0.5, "sppsvc.exe", _SYS32 + "sppsvc.exe", ("sppsvc.exe",), "network service", "System"),
    _Spawn("services", "all", 0.3, "TrustedInstaller.exe", "C:\\Windows\\servicing\\TrustedInstaller.exe", ("TrustedInstaller.exe",), "system", "System"),
    _Spawn("svc_wu", "all", 0.6, "MoUsoCoreWorker.exe", _SYS32 + "MoUsoCoreWorker.exe", ("MoUsoCoreWorker.exe -Embedding",), "system", "System"),
    _Spawn("searchindexer", "ws", 4, "SearchProtocolHost.exe", _SYS32 + "SearchProtocolHost.exe",
           ('"SearchProtocolHost.exe" Global\\UsGthrFltPipeMssGthrPipe_S-1-5-21-1 Global\\UsGthrCtrlFltPipeMssGthrPipe_S-1-5-21-1 1 -2147483646 "Software\\Microsoft\\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" "C:\\ProgramData\\Microsoft\\Search\\Data\\Temp\\usgthrsvc" "DownLevelDaemon"',), "system", "System"),
    _Spawn("searchindexer", "ws", 4, "SearchFilterHost.exe", _SYS32 + "SearchFilterHost.exe",
           ('"SearchFilterHost.exe" 0 808 812 820 8192 816 792',), "system", "System"),
    _Spawn("msmpeng", "all", 0.5, "MpCmdRun.exe", _DEFENDER + "MpCmdRun.exe",
           ('"MpCmdRun.exe" SpyNetServiceDss -RestrictPrivileges -AccessKey 8F7E3F1A-3C4B-4A43-A7C5-07B41B2D9E61 -Reason 8',), "system", "System", console=True),
    _Spawn("mssense", "all", 0.6, "SenseCncProxy.exe", "C:\\Program Files\\Windows Defender Advanced Threat Protection\\SenseCncProxy.exe",
           ('"SenseCncProxy.exe"',), "system", "System"),
    _Spawn("svc_gp", "all", 0.3, "gpupdate.exe", _SYS32 + "gpupdate.exe", ("gpupdate.exe /target:computer",), "system", "System", console=True),
    _Spawn("svc_dcom", "srv", 2, "WmiPrvSE.exe", _SYS32 + "wbem\\WmiPrvSE.exe", ("wmiprvse.exe -Embedding",), "system", "System"),
]

_DLLS = {  # (folder, file) an image-load family's process loads
    "system": [(_SYS32, n) for n in ("winhttp.dll", "wininet.dll", "bcrypt.dll", "samlib.dll", "dnsapi.dll", "wldp.dll", "urlmon.dll")],
    "chrome": [(_CHROME_DIR + "130.0.6723.117\\", n) for n in ("chrome_elf.dll", "chrome.dll")] + [(_SYS32, "d3d11.dll")],
    "edge": [(_EDGE_DIR + "130.0.2849.80\\", n) for n in ("msedge_elf.dll", "msedge.dll")] + [(_SYS32, "dxgi.dll")],
    "office": [("C:\\Program Files\\Common Files\\Microsoft Shared\\Office16\\", "mso20win32client.dll"),
               (_OFFICE, "mso.dll"), ("C:\\Program Files\\Common Files\\Microsoft Shared\\VBA\\VBA7.1\\", "VBE7.DLL")],
    "dotnet": [("C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\", "clr.dll"), (_SYS32, "mscoree.dll"), (_SYS32, "amsi.dll"),
               ("C:\\Windows\\assembly\\NativeImages_v4.0.30319_64\\System.Manaa57fc8cc#\\d2b9c3f7a5ff2e0fe3f1a1f4c5d9e0a7\\", "System.Management.Automation.ni.dll")],
}


# --------------------------------------------------------------------------------------------
# Everyday Task Scheduler children (parent: the device's Schedule svchost).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    file: str
    folder: str
    cmd: str
    rate: float                   # runs per device per day (relative weight)
    where: str = "all"
    account: str = "system"
    activity: tuple[_Tpl, ...] = ()   # kind/where/weight unused: weight is the probability per run
    console: bool = False


def _act(table: str, prob: float, actions: tuple[str, ...], cols: dict) -> _Tpl:
    return _Tpl(table, "", "", prob, actions, cols)


def _task_net(prob: float, endpoints) -> _Tpl:
    return _act("DeviceNetworkEvents", prob, ("ConnectionSuccess",), {
        ("RemoteUrl", "RemoteIP"): endpoints, "RemotePort": 443, "Protocol": "Tcp", "LocalIP": "<ip>",
        "LocalPort": _ephemeral, "LocalIPType": "Private", "RemoteIPType": "Public"})


def _task_dll(prob: float, family: str) -> _Tpl:
    return _act("DeviceImageLoadEvents", prob, ("ImageLoaded",), {
        ("FolderPath", "FileName"): [(d + f, f) for d, f in _DLLS[family]]})


_EDGE_UPDATE_EXE = "C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe"
_TASKS = [
    _Task("taskhostw.exe", _SYS32 + "taskhostw.exe", "taskhostw.exe Install $(Arg0)", 0.3, "ws", "user", (_task_dll(0.3, "system"),)),
    _Task("taskhostw.exe", _SYS32 + "taskhostw.exe", "taskhostw.exe", 0.3, activity=(_task_dll(0.3, "system"),)),
    _Task("taskhostw.exe", _SYS32 + "taskhostw.exe", "taskhostw.exe SYSTEM", 0.1),
    _Task("taskhostw.exe", _SYS32 + "taskhostw.exe", "taskhostw.exe KEYROAMING", 0.1, "ws", "user"),
    _Task("taskhostw.exe", _SYS32 + "taskhostw.exe", "taskhostw.exe NGCKeyPregen", 0.05),
    _Task("MicrosoftEdgeUpdate.exe", _EDGE_UPDATE_EXE, '"MicrosoftEdgeUpdate.exe" /ua /installsource scheduler', 0.45, activity=(
        _task_net(0.8, _EDGE_UPDATE), _task_dll(0.4, "system"),
        _act("DeviceRegistryEvents", 0.5, ("RegistryValueSet",), {
            ("RegistryKey", "RegistryValueName", "RegistryValueType", "RegistryValueData"): [
                (_HKLM + "WOW6432Node\\Microsoft\\EdgeUpdate", "LastChecked", "Dword", "<n>"),
                (_HKLM + "WOW6432Node\\Microsoft\\EdgeUpdate\\ClientState\\{56EB18F8-B008-4CBD-B6D2-8C97FE7E9062}", "LastCheckSuccess", "Dword", "<n>")]}))),
    _Task("MicrosoftEdgeUpdate.exe", _EDGE_UPDATE_EXE, '"MicrosoftEdgeUpdate.exe" /c', 0.1, activity=(_task_net(0.5, _EDGE_UPDATE),)),
    _Task("GoogleUpdate.exe", "C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe", '"GoogleUpdate.exe" /ua /installsource scheduler', 0.3, "ws", activity=(
        _task_net(0.9, _GOOGLE_UPDATE),
        _act("DeviceRegistryEvents", 0.6, ("RegistryValueSet",), {
            ("RegistryKey", "RegistryValueName", "RegistryValueType", "RegistryValueData"): [
                (_HKLM + "WOW6432Node\\Google\\Update", "LastChecked", "Dword", "<n>")]}))),
    _Task("MpCmdRun.exe", _DEFENDER + "MpCmdRun.exe", '"MpCmdRun.exe" -IdleTask -TaskName WdCacheMaintenance', 0.1, console=True, activity=(
        _act("DeviceFileEvents", 0.5, ("FileModified",), {("FolderPath", "FileName"): [
            ("C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\mpcache-<hex>.bin", "mpcache-<hex>.bin")], "FileSize": _file_size}),)),
    _Task("MpCmdRun.exe", _DEFENDER + "MpCmdRun.exe", '"MpCmdRun.exe" -IdleTask -TaskName WdCleanup', 0.08, console=True),
    _Task("MpCmdRun.exe", _DEFENDER + "MpCmdRun.exe", '"MpCmdRun.exe" -IdleTask -TaskName WdVerification', 0.08, console=True,
          activity=(_task_net(0.4, _DEFENDER_CLOUD),)),
    _Task("OneDriveStandaloneUpdater.exe", "C:\\Users\\<u>\\AppData\\Local\\Microsoft\\OneDrive\\OneDriveStandaloneUpdater.exe",
          "OneDriveStandaloneUpdater.exe", 1.0, "ws", "user", activity=(
              _task_net(0.9, _ONEDRIVE_UPDATE),
              _act("DeviceFileEvents", 0.5, ("FileCreated", "FileModified"), {("FolderPath", "FileName"): [
                  ("C:\\Users\\<u>\\AppData\\Local\\Microsoft\\OneDrive\\StandaloneUpdater\\PreSignInSettingsConfig.json", "PreSignInSettingsConfig.json"),
                  ("C:\\Users\\<u>\\AppData\\Local\\Microsoft\\OneDrive\\logs\\Common\\UpdateRingSettings.ini", "UpdateRingSettings.ini")],
                  "FileSize": _file_size}))),
    _Task("wermgr.exe", _SYS32 + "wermgr.exe", '"wermgr.exe" -upload', 0.15, activity=(_task_net(0.6, _WER),)),
    _Task("UsoClient.exe", _SYS32 + "UsoClient.exe", "usoclient.exe StartScan", 0.15),
    _Task("sc.exe", _SYS32 + "sc.exe", "sc.exe start wuauserv", 0.1, console=True),
    _Task("sc.exe", _SYS32 + "sc.exe", "sc.exe start w32time task_started", 0.1, account="local service", console=True),
    _Task("rundll32.exe", _RUNDLL32, "rundll32.exe Windows.Storage.ApplicationData.dll,CleanupTemporaryState", 0.05,
          activity=(_act("DeviceImageLoadEvents", 0.6, ("ImageLoaded",), {("FolderPath", "FileName"): [
              (_SYS32 + "Windows.Storage.ApplicationData.dll", "Windows.Storage.ApplicationData.dll")]}),)),
    _Task("rundll32.exe", _RUNDLL32, "rundll32.exe dfdts.dll,DfdGetDefaultPolicyAndSMART", 0.05),
    _Task("rundll32.exe", _RUNDLL32, "rundll32.exe Startupscan.dll,SusRunTask", 0.1, "ws", "user"),
    _Task("SDXHelper.exe", _OFFICE + "SDXHelper.exe", '"sdxhelper.exe" /onlogon', 0.1, "ws", "user", activity=(_task_net(0.5, _OFFICE_CDN),)),
    _Task("msoia.exe", _OFFICE + "msoia.exe", '"msoia.exe" scan upload', 0.05, "ws", "user", activity=(_task_net(0.7, _OFFICE_CDN),)),
    _Task("OfficeC2RClient.exe", "C:\\Program Files\\Common Files\\microsoft shared\\ClickToRun\\OfficeC2RClient.exe",
          '"OfficeC2RClient.exe" /frequentupdate SCHEDULEDTASK displaylevel=False', 0.1, "ws", activity=(_task_net(0.8, _OFFICE_CDN),)),
    _Task("gpupdate.exe", _SYS32 + "gpupdate.exe", "gpupdate.exe /target:computer", 0.05, account="network service"),
    _Task("CompatTelRunner.exe", _SYS32 + "CompatTelRunner.exe", "compattelrunner.exe -maintenance", 0.05, activity=(_task_net(0.5, _TELEMETRY),)),
    _Task("Defrag.exe", _SYS32 + "Defrag.exe", "defrag.exe -c -h -o -$", 0.03),
    _Task("cleanmgr.exe", _SYS32 + "cleanmgr.exe", "cleanmgr.exe /autoclean /d C:", 0.03, "ws", "user"),
]
_TASK_DELAY = (0.2, 25.0)  # seconds between a task's start and its activity
