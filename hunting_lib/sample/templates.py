"""The catalogue of everyday (benign) events: value pools and per-table event templates.

Why this module exists: the background volume is drawn vectorised from these templates rather than
row by row (``background`` draws them); keeping the catalogue apart from the drawing code shows in one
place what an ordinary office's telemetry looks like. The everyday scheduled tasks (``processes``)
reuse its template builders for their activity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from hunting_lib.sample.common import DAY, DOMAIN, HOUR, LOCAL_SERVICE, NETWORK_SERVICE, SYSTEM, T0, compact_json
from hunting_lib.sample.taskdefs import TaskSpec, content_json, daily_trigger, local_time, time_trigger, weekly_trigger

# --------------------------------------------------------------------------------------------
# Pools for background values.
# --------------------------------------------------------------------------------------------

DOCS = [
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
TELEMETRY = [("v10.events.data.microsoft.com", "20.42.65.92"),
             ("settings-win.data.microsoft.com", "51.104.15.252"), ("", "20.42.65.92")]
DEFENDER_CLOUD = [("wdcp.microsoft.com", "20.199.120.182"),
                  ("definitionupdates.microsoft.com", "13.107.4.52"), ("", "20.199.120.182")]
_MDE_CLOUD = [("winatp-gw-weu.microsoft.com", "20.73.130.22"),
              ("eu-v20.events.data.microsoft.com", "20.50.201.200"), ("", "20.73.130.22")]
EDGE_UPDATE = [("msedge.api.cdp.microsoft.com", "13.107.246.41"), ("", "13.107.246.41")]
GOOGLE_UPDATE = [("update.googleapis.com", "142.250.74.99"), ("", "142.250.74.99")]
ONEDRIVE_UPDATE = [("oneclient.sfx.ms", "152.199.19.161"), ("g.live.com", "13.107.42.13")]
OFFICE_CDN = [("officecdn.microsoft.com", "152.199.19.160"),
              ("officeclient.microsoft.com", "52.109.8.20"), ("", "52.109.8.20")]
WER = [("watson.events.data.microsoft.com", "20.189.173.1")]
HEX = [f"{v:06x}" for v in np.random.default_rng(2026).integers(0, 16**6, 400)]  # fixed pool
GUIDS = [
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
# Event templates: column pools drawn vectorised. A pool is a scalar, a list (uniform pick), a
# callable (rng, n) -> values, or for a tuple of columns a list of tuples (picked together).
# In strings, <u> <sid> <host> <ip> <dc_ip> <fs_ip> are the device's, <doc> <hex> <guid> <n> are
# random per row, <ru>/<ru_sid> a random domain user and <peer_ip>/<peer> a random workstation.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tpl:
    table: str
    kind: str                     # long-lived kind that acts (background templates)
    where: str                    # devices: "all", "ws", "srv" or a server role
    weight: float                 # share of the table's rows (task activity: probability per run)
    actions: tuple[str, ...]
    cols: dict = field(default_factory=dict)


_MOSTLY_SUCCESS = ("ConnectionSuccess",) * 12 + ("ConnectionFailed",)


def _net(kind: str, where: str, weight: float, endpoints, ports=(443,), actions=_MOSTLY_SUCCESS) -> Tpl:
    """Outbound connections to public endpoints, (RemoteUrl, RemoteIP) pairs."""
    return Tpl("DeviceNetworkEvents", kind, where, weight, actions, {
        ("RemoteUrl", "RemoteIP"): endpoints, "RemotePort": list(ports), "Protocol": "Tcp",
        "LocalIP": "<ip>", "LocalPort": _ephemeral, "LocalIPType": "Private", "RemoteIPType": "Public"})


def _net_internal(kind: str, where: str, weight: float, remote_ip: str, ports, proto: str = "Tcp",
                  inbound: bool = False) -> Tpl:
    cols = {"RemoteIP": remote_ip, "RemotePort": list(ports), "Protocol": proto, "LocalIP": "<ip>",
            "LocalPort": _ephemeral, "LocalIPType": "Private", "RemoteIPType": "Private"}
    if inbound:  # the server's side is the well-known port
        cols.update({"LocalPort": list(ports), "RemotePort": _ephemeral})
    return Tpl("DeviceNetworkEvents", kind, where, weight,
               ("InboundConnectionAccepted",) if inbound else ("ConnectionSuccess",), cols)


def _file(kind: str, where: str, weight: float, actions: tuple[str, ...], paths: Sequence[str], **extra: Any) -> Tpl:
    cols = {("FolderPath", "FileName"): [(p, p.rsplit("\\", 1)[-1]) for p in paths], "FileSize": _file_size}
    cols.update(extra)
    return Tpl("DeviceFileEvents", kind, where, weight, actions, cols)


def _reg(kind: str, where: str, weight: float, key_values, actions=("RegistryValueSet",)) -> Tpl:
    """key_values: (RegistryKey, RegistryValueName, RegistryValueType, RegistryValueData) tuples."""
    return Tpl("DeviceRegistryEvents", kind, where, weight, actions,
               {("RegistryKey", "RegistryValueName", "RegistryValueType", "RegistryValueData"): key_values})


def _pipe_event(kind: str, weight: float) -> Tpl:
    pipe = {"PipeName": "\\Device\\NamedPipe\\mojo.<n>.<n>.<hex>", "FileOperation": "File created",
            "NamedPipeEnd": "Server"}
    return Tpl("DeviceEvents", kind, "ws", weight, ("NamedPipeEvent",), {"AdditionalFields": [compact_json(pipe)]})


#: Everyday tasks whose definitions Windows updates: (name, command, arguments, trigger).
_FLEET_TASKS = (
    ("\\Microsoft\\Windows\\UpdateOrchestrator\\Schedule Scan", "%systemroot%\\system32\\usoclient.exe", "StartScan",
     daily_trigger(T0 - 40 * DAY + 3 * HOUR)),
    ("\\MicrosoftEdgeUpdateTaskMachineUA", "C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe",
     "/ua /installsource scheduler", time_trigger(T0 - 90 * DAY + 10 * HOUR, "PT1H")),
    ("\\Microsoft\\Windows\\Defrag\\ScheduledDefrag", "%windir%\\system32\\defrag.exe", "-c -h -o -$",
     weekly_trigger(T0 + 2 * HOUR, "Wednesday")),
)


def _task_updated(name: str, command: str, arguments: str, trigger: tuple) -> str:
    """A ScheduledTaskUpdated row's AdditionalFields: the task's definition, updated by SYSTEM."""
    content = content_json(TaskSpec(command, arguments, [trigger]), name, "Microsoft Corporation",
                           local_time(T0 - 120 * DAY))
    return compact_json({"TaskName": name, "TaskContent": content, "SubjectUserSid": SYSTEM[2],
                         "SubjectUserName": "<host>$", "SubjectDomainName": DOMAIN, "SubjectLogonId": "0x3e7"})


_HKCU = "HKEY_CURRENT_USER\\<sid>\\SOFTWARE\\"
HKLM = "HKEY_LOCAL_MACHINE\\SOFTWARE\\"
_EXPLORER_KEY = _HKCU + "Microsoft\\Windows\\CurrentVersion\\Explorer\\"
_USERASSIST = _EXPLORER_KEY + "UserAssist\\{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}\\Count"
TASK_CACHE = HKLM + "Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\"
_USER_LOCAL = "C:\\Users\\<u>\\AppData\\Local\\"
_OUTLOOK_CACHE = _USER_LOCAL + "Microsoft\\Windows\\INetCache\\Content.Outlook\\Q7RX2K1M\\"
_RECENT = "C:\\Users\\<u>\\AppData\\Roaming\\Microsoft\\Windows\\Recent\\"
_DOWNLOADS = "C:\\Users\\<u>\\Downloads\\"
_ONEDRIVE_FILES = "C:\\Users\\<u>\\OneDrive - Fabrikam\\"
_PREFETCH = ("CHROME.EXE", "MSEDGE.EXE", "SVCHOST.EXE", "CONHOST.EXE", "WMIPRVSE.EXE", "SEARCHPROTOCOLHOST.EXE")
_SERVICE_ACCOUNTS = [(a[1], a[2]) for a in (SYSTEM, LOCAL_SERVICE, NETWORK_SERVICE)]
_LOCAL_LOGON = {"LogonType": ["Interactive", "Unlock", "Unlock", "CachedInteractive"], "AccountDomain": DOMAIN,
                "AccountName": "<u>", "AccountSid": "<sid>", "Protocol": ["Negotiate", "Kerberos"],
                "LogonId": _logon_id, "AdditionalFields": '{"IsLocalLogon":true}'}
_NETWORK_LOGON = {"LogonType": "Network", "AccountDomain": DOMAIN, "AccountName": "<ru>", "AccountSid": "<ru_sid>",
                  "LogonId": _logon_id, "RemoteIP": "<peer_ip>", "RemoteIPType": "Private",
                  "AdditionalFields": '{"IsLocalLogon":false}'}

BACKGROUND: list[Tpl] = [
    # Network
    _net("chrome", "ws", 22, _WEB, (443, 443, 443, 80)),
    _net("msedge", "ws", 14, _WEB + _MS365, (443, 443, 443, 80)),
    _net("teams", "ws", 10, _TEAMS),
    Tpl("DeviceNetworkEvents", "teams", "ws", 3, ("ConnectionSuccess",), {
        "RemoteIP": ["52.113.194.133", "52.114.132.9"], "RemotePort": [3478, 3479, 3480], "Protocol": "Udp",
        "LocalIP": "<ip>", "LocalPort": _ephemeral, "LocalIPType": "Private", "RemoteIPType": "Public"}),
    _net("outlook", "ws", 6, _MS365),
    _net("onedrive", "ws", 5, [("fabrikam-my.sharepoint.com", "13.107.136.10"), ("", "13.107.136.10")]),
    _net("svc_wu", "all", 3, _WINDOWS_UPDATE, (443, 80)),
    _net("svc_bits", "all", 2, _WINDOWS_UPDATE, (443, 80)),
    _net("svc_dcom", "all", 2, TELEMETRY),
    _net("msmpeng", "all", 3, DEFENDER_CLOUD),
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
    _reg("svc_schedule", "all", 3, [(TASK_CACHE + "Tasks\\<guid>", "DynamicInfo", "Binary", "")]),
    _reg("svc_schedule", "all", 0.3,
         [(TASK_CACHE + "Tree\\Microsoft\\Windows\\UpdateOrchestrator\\<guid>", "", "", "")],
         ("RegistryKeyCreated", "RegistryKeyDeleted")),
    _reg("msmpeng", "all", 3, [
        (HKLM + "Microsoft\\Windows Defender\\Signature Updates", "AVSignatureVersion", "String", "1.421.<n>.0"),
        (HKLM + "Microsoft\\Windows Defender\\Signature Updates", "SignaturesLastUpdated", "Binary", "")]),
    _reg("onedrive", "ws", 4, [
        (_HKCU + "Microsoft\\OneDrive\\Accounts\\Business1", "LastSignInTime", "Qword", "<n>"),
        (_HKCU + "Microsoft\\OneDrive", "LastUpdateCheck", "Dword", "<n>")]),
    _reg("teams", "ws", 2, [(_HKCU + "Microsoft\\Office\\Teams", "HomeUserUpn", "String", "<u>@fabrikam.com")]),
    _reg("chrome", "ws", 2, [(_HKCU + "Google\\Chrome\\BLBeacon", "state", "Dword", "1")]),
    _reg("svc_wu", "all", 2, [
        (HKLM + "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Orchestrator", "LastScanTime", "Qword", "<n>")]),
    _reg("svc_dcom", "ws", 2, [("HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\bam\\State\\UserSettings\\<sid>",
                                "\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe", "Binary", "")]),
    # Logons
    Tpl("DeviceLogonEvents", "winlogon", "ws", 6, ("LogonSuccess",), _LOCAL_LOGON),
    Tpl("DeviceLogonEvents", "winlogon", "ws", 0.6, ("LogonFailed",), {
        **_LOCAL_LOGON, "FailureReason": ["InvalidUserNameOrPassword", "InvalidUserNameOrPassword", "AccountLocked"]}),
    Tpl("DeviceLogonEvents", "lsass", "ws", 2, ("LogonSuccess",), {
        **_NETWORK_LOGON, "Protocol": "Kerberos", "RemotePort": 0}),
    Tpl("DeviceLogonEvents", "services", "all", 2, ("LogonSuccess",), {
        "LogonType": "Service", "AccountDomain": "nt authority", ("AccountName", "AccountSid"): _SERVICE_ACCOUNTS,
        "Protocol": "Negotiate", "LogonId": _logon_id}),
    Tpl("DeviceLogonEvents", "lsass", "srv", 6, ("LogonSuccess",), {
        **_NETWORK_LOGON, "Protocol": ["Kerberos", "Kerberos", "NTLM"], "RemoteDeviceName": "<peer>",
        "RemotePort": _ephemeral}),
    Tpl("DeviceLogonEvents", "lsass", "srv", 0.4, ("LogonFailed",), {
        **_NETWORK_LOGON, "Protocol": "NTLM", "RemoteDeviceName": "<peer>", "RemotePort": _ephemeral,
        "FailureReason": ["InvalidUserNameOrPassword", "UnknownUser"]}),
    Tpl("DeviceLogonEvents", "svc_term", "srv", 0.3, ("LogonSuccess",), {
        "LogonType": "RemoteInteractive", "AccountDomain": DOMAIN, "AccountName": "<adm>", "Protocol": "Negotiate",
        "LogonId": _logon_id, "RemoteIP": "<peer_ip>", "RemoteDeviceName": "<peer>", "RemoteIPType": "Private",
        "AdditionalFields": '{"IsLocalLogon":false}'}),
    # DeviceEvents
    _pipe_event("chrome", 6),
    _pipe_event("msedge", 3),
    Tpl("DeviceEvents", "svc_dns", "all", 6, ("DnsQueryResponse",), {
        "AdditionalFields": [compact_json({"DnsQueryString": url}) for url, _ in _WEB + _MS365 + TELEMETRY if url]}),
    Tpl("DeviceEvents", "outlook", "ws", 1, ("BrowserLaunchedToOpenUrl",), {
        "RemoteUrl": [f"https://{url}/" for url, _ in _WEB if url]}),
    Tpl("DeviceEvents", "explorer", "ws", 2, ("ShellLinkCreateFileEvent",), {
        ("FolderPath", "FileName"): [(_RECENT + "<doc>.lnk", "<doc>.lnk")]}),
    Tpl("DeviceEvents", "msmpeng", "all", 1, ("AntivirusScanCompleted",), {
        "AdditionalFields": ['{"ScanTypeIndex":"Quick","DurationInSeconds":<n>}']}),
    # Windows and the updaters re-register their own tasks now and then (the Schedule service records
    # it as an update, the caller being SYSTEM); the definitions are those of everyday tasks that run.
    Tpl("DeviceEvents", "svc_schedule", "all", 1, ("ScheduledTaskUpdated",), {
        "AdditionalFields": [_task_updated(*task) for task in _FLEET_TASKS]}),
]


# Task activity reuses the background template builders: no acting kind, and the weight is the
# probability that a run produces the row.
def task_net(prob: float, endpoints) -> Tpl:
    return _net("", "", prob, endpoints, actions=("ConnectionSuccess",))


def task_reg(prob: float, key_values) -> Tpl:
    return _reg("", "", prob, key_values)


def task_file(prob: float, actions: tuple[str, ...], paths: Sequence[str]) -> Tpl:
    return _file("", "", prob, actions, paths)
