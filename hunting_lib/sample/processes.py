"""The catalogue of everyday processes: long-lived ones, background process creations, the DLLs
they load, and the Task Scheduler children every office has.

Why this module exists: the hunt is about scheduled tasks, so the everyday ones must look like a real
estate's (many runs, the usual updaters and maintenance jobs) for the planted ones to be rare among
them. ``background`` draws these catalogues; the scenarios start their processes under the long-lived
ones (``KIND_INDEX``) and load the same DLL families.
"""

from __future__ import annotations

from dataclasses import dataclass

from hunting_lib.sample.common import CMD, DEFENDER, MS, RUNDLL32, SCHEDULE_CMDLINE, SVCHOST, SYS32
from hunting_lib.sample.templates import (
    DEFENDER_CLOUD,
    EDGE_UPDATE,
    GOOGLE_UPDATE,
    HKLM,
    OFFICE_CDN,
    ONEDRIVE_UPDATE,
    TELEMETRY,
    WER,
    Tpl,
    task_file,
    task_net,
    task_reg,
)

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
    company: str = MS
    pid: int | None = None       # fixed pid (System is always 4)

    @property
    def file(self) -> str:
        return self.folder.rsplit("\\", 1)[-1] if self.folder else "System"


def _svchost(key: str, cmd: str, delay_s: float, account: str = "system", where: str = "all") -> _Kind:
    return _Kind(key, SVCHOST, cmd, "services", delay_s, where, account)


def _session(key: str, folder: str, cmd: str, parent: str, delay_s: float, company: str = MS) -> _Kind:
    """A process of the user's session on a workstation."""
    return _Kind(key, folder, cmd, parent, delay_s, "ws", "user", "Medium", company)


LONG_LIVED = [
    _Kind("system", "", "", None, 0.0, company="", pid=4),
    _Kind("smss", SYS32 + "smss.exe", "smss.exe", "system", 1),
    _Kind("wininit", SYS32 + "wininit.exe", "wininit.exe", "smss", 4),
    _Kind("winlogon", SYS32 + "winlogon.exe", "winlogon.exe", "smss", 4.5),
    _Kind("services", SYS32 + "services.exe", "services.exe", "wininit", 5),
    _Kind("lsass", SYS32 + "lsass.exe", "lsass.exe", "wininit", 5.2),
    _svchost("svc_dcom", "svchost.exe -k DcomLaunch -p", 6),
    _svchost("svc_dns", "svchost.exe -k NetworkService -p -s Dnscache", 8, "network service"),
    _svchost("svc_schedule", SCHEDULE_CMDLINE, 9),
    _svchost("svc_gp", "svchost.exe -k netsvcs -p -s gpsvc", 9.5),
    _svchost("svc_sysmain", "svchost.exe -k LocalSystemNetworkRestricted -p -s SysMain", 11),
    _svchost("svc_term", "svchost.exe -k NetworkService -s TermService", 12, "network service", "srv"),
    _svchost("svc_wu", "svchost.exe -k netsvcs -p -s wuauserv", 40),
    _svchost("svc_bits", "svchost.exe -k netsvcs -p -s BITS", 41),
    _Kind("msmpeng", DEFENDER + "MsMpEng.exe", "MsMpEng.exe", "services", 10),
    _Kind("mssense", "C:\\Program Files\\Windows Defender Advanced Threat Protection\\MsSense.exe", '"MsSense.exe"',
          "services", 12),
    _Kind("searchindexer", SYS32 + "SearchIndexer.exe", "SearchIndexer.exe /Embedding", "services", 30, "ws"),
    _Kind("dns", SYS32 + "dns.exe", "dns.exe", "services", 14, "dc"),
    _Kind("sqlservr", "C:\\Program Files\\Microsoft SQL Server\\MSSQL16.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe",
          '"sqlservr.exe" -sMSSQLSERVER', "services", 20, "sql", "network service", "High"),
    _session("userinit", SYS32 + "userinit.exe", "userinit.exe", "winlogon", 60),
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
KIND_INDEX = {k.key: i for i, k in enumerate(LONG_LIVED)}


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
    company: str = MS
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
SPAWNS = [
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
    _Spawn("explorer", "ws", 0.5, SYS32 + "notepad.exe", ('"notepad.exe" C:\\Users\\<u>\\Desktop\\notes.txt',)),
    _Spawn("explorer", "ws", 0.4, CMD, ('"cmd.exe"',), console=True),
    _Spawn("svc_dcom", "all", 3, SYS32 + "wbem\\WmiPrvSE.exe", ("wmiprvse.exe -secured -Embedding",),
           "network service", "System"),
    _Spawn("svc_dcom", "srv", 2, SYS32 + "wbem\\WmiPrvSE.exe", ("wmiprvse.exe -Embedding",), "system", "System"),
    _Spawn("svc_dcom", "ws", 3, SYS32 + "RuntimeBroker.exe", ("RuntimeBroker.exe -Embedding",), "user"),
    _Spawn("svc_dcom", "ws", 2, SYS32 + "backgroundTaskHost.exe",
           ('"backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider',
            '"backgroundTaskHost.exe" -ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca'), "user", "Low"),
    _Spawn("svc_dcom", "all", 1.5, SYS32 + "dllhost.exe",
           ("DllHost.exe /Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}",
            "DllHost.exe /Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}"), "system", "System"),
    _Spawn("svc_dcom", "ws", 0.7, SYS32 + "smartscreen.exe", ("smartscreen.exe -Embedding",), "user"),
    _Spawn("services", "all", 1.2, SVCHOST,
           ("svchost.exe -k LocalSystemNetworkRestricted -p -s WdiSystemHost", "svchost.exe -k netsvcs -p -s Appinfo",
            "svchost.exe -k LocalService -p -s DPS", "svchost.exe -k netsvcs -p -s UsoSvc"), "system", "System"),
    _Spawn("services", "all", 0.5, SYS32 + "sppsvc.exe", ("sppsvc.exe",), "network service", "System"),
    _Spawn("services", "all", 0.3, "C:\\Windows\\servicing\\TrustedInstaller.exe", ("TrustedInstaller.exe",),
           "system", "System"),
    _Spawn("svc_wu", "all", 0.6, SYS32 + "MoUsoCoreWorker.exe", ("MoUsoCoreWorker.exe -Embedding",),
           "system", "System"),
    _Spawn("searchindexer", "ws", 4, SYS32 + "SearchProtocolHost.exe", (_SEARCH_PROTOCOL_HOST,), "system", "System"),
    _Spawn("searchindexer", "ws", 4, SYS32 + "SearchFilterHost.exe",
           ('"SearchFilterHost.exe" 0 808 812 820 8192 816 792',), "system", "System"),
    _Spawn("msmpeng", "all", 0.5, DEFENDER + "MpCmdRun.exe",
           ('"MpCmdRun.exe" SpyNetServiceDss -RestrictPrivileges '
            "-AccessKey 8F7E3F1A-3C4B-4A43-A7C5-07B41B2D9E61 -Reason 8",),
           "system", "System", console=True),
    _Spawn("mssense", "all", 0.6, _MDE_DIR + "SenseCncProxy.exe", ('"SenseCncProxy.exe"',), "system", "System"),
    _Spawn("svc_gp", "all", 0.3, SYS32 + "gpupdate.exe", ("gpupdate.exe /target:computer",), "system", "System",
           console=True),
]

_NATIVE_IMAGES = ("C:\\Windows\\assembly\\NativeImages_v4.0.30319_64\\System.Manaa57fc8cc#\\"
                  "d2b9c3f7a5ff2e0fe3f1a1f4c5d9e0a7\\")
DLLS = {  # the DLLs (folder, file) a process of each image-load family loads
    "system": [(SYS32, n) for n in ("winhttp.dll", "wininet.dll", "bcrypt.dll", "samlib.dll", "dnsapi.dll",
                                    "wldp.dll", "urlmon.dll")],
    "chrome": [(_CHROME_DIR + "130.0.6723.117\\", "chrome_elf.dll"), (_CHROME_DIR + "130.0.6723.117\\", "chrome.dll"),
               (SYS32, "d3d11.dll")],
    "edge": [(_EDGE_DIR + "130.0.2849.80\\", "msedge_elf.dll"), (_EDGE_DIR + "130.0.2849.80\\", "msedge.dll"),
             (SYS32, "dxgi.dll")],
    "office": [("C:\\Program Files\\Common Files\\Microsoft Shared\\Office16\\", "mso20win32client.dll"),
               (_OFFICE, "mso.dll"), ("C:\\Program Files\\Common Files\\Microsoft Shared\\VBA\\VBA7.1\\", "VBE7.DLL")],
    "dotnet": [("C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\", "clr.dll"), (SYS32, "mscoree.dll"),
               (SYS32, "amsi.dll"), (_NATIVE_IMAGES, "System.Management.Automation.ni.dll")],
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
    activity: tuple[Tpl, ...] = ()   # kind/where unused; weight is the probability per run
    console: bool = False

    @property
    def file(self) -> str:
        return self.folder.rsplit("\\", 1)[-1]


# The activity of a task that loads DLLs; the other activity builders are in ``templates``.
def _task_dll(prob: float, family: str) -> Tpl:
    return Tpl("DeviceImageLoadEvents", "", "", prob, ("ImageLoaded",),
               {("FolderPath", "FileName"): [(d + f, f) for d, f in DLLS[family]]})


_EDGE_UPDATE_EXE = "C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe"
_EDGE_CLIENT_STATE = HKLM + "WOW6432Node\\Microsoft\\EdgeUpdate\\ClientState\\{56EB18F8-B008-4CBD-B6D2-8C97FE7E9062}"
_ONEDRIVE_DIR = "C:\\Users\\<u>\\AppData\\Local\\Microsoft\\OneDrive\\"
MPCMDRUN = DEFENDER + "MpCmdRun.exe"
_DEFENDER_DATA = "C:\\ProgramData\\Microsoft\\Windows Defender\\"
_TASKHOSTW = SYS32 + "taskhostw.exe"
TASKS = [
    _Task(_TASKHOSTW, "taskhostw.exe Install $(Arg0)", 0.3, "ws", "user", (_task_dll(0.3, "system"),)),
    _Task(_TASKHOSTW, "taskhostw.exe", 0.3, activity=(_task_dll(0.3, "system"),)),
    _Task(_TASKHOSTW, "taskhostw.exe SYSTEM", 0.1),
    _Task(_TASKHOSTW, "taskhostw.exe KEYROAMING", 0.1, "ws", "user"),
    _Task(_TASKHOSTW, "taskhostw.exe NGCKeyPregen", 0.05),
    _Task(_EDGE_UPDATE_EXE, '"MicrosoftEdgeUpdate.exe" /ua /installsource scheduler', 0.45, activity=(
        task_net(0.8, EDGE_UPDATE), _task_dll(0.4, "system"),
        task_reg(0.5, [(HKLM + "WOW6432Node\\Microsoft\\EdgeUpdate", "LastChecked", "Dword", "<n>"),
                       (_EDGE_CLIENT_STATE, "LastCheckSuccess", "Dword", "<n>")]))),
    _Task(_EDGE_UPDATE_EXE, '"MicrosoftEdgeUpdate.exe" /c', 0.1, activity=(task_net(0.5, EDGE_UPDATE),)),
    _Task("C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe",
          '"GoogleUpdate.exe" /ua /installsource scheduler', 0.3, "ws", activity=(
              task_net(0.9, GOOGLE_UPDATE),
              task_reg(0.6, [(HKLM + "WOW6432Node\\Google\\Update", "LastChecked", "Dword", "<n>")]))),
    _Task(MPCMDRUN, '"MpCmdRun.exe" -IdleTask -TaskName WdCacheMaintenance', 0.1, console=True, activity=(
        task_file(0.5, ("FileModified",), [_DEFENDER_DATA + "Scans\\mpcache-<hex>.bin"]),)),
    _Task(MPCMDRUN, '"MpCmdRun.exe" -IdleTask -TaskName WdCleanup', 0.08, console=True),
    _Task(MPCMDRUN, '"MpCmdRun.exe" -IdleTask -TaskName WdVerification', 0.08, console=True,
          activity=(task_net(0.4, DEFENDER_CLOUD),)),
    _Task(_ONEDRIVE_DIR + "OneDriveStandaloneUpdater.exe", "OneDriveStandaloneUpdater.exe", 1.0, "ws", "user", (
        task_net(0.9, ONEDRIVE_UPDATE),
        task_file(0.5, ("FileCreated", "FileModified"), [
            _ONEDRIVE_DIR + "StandaloneUpdater\\PreSignInSettingsConfig.json",
            _ONEDRIVE_DIR + "logs\\Common\\UpdateRingSettings.ini"]))),
    _Task(SYS32 + "wermgr.exe", '"wermgr.exe" -upload', 0.15, activity=(task_net(0.6, WER),)),
    _Task(SYS32 + "UsoClient.exe", "usoclient.exe StartScan", 0.15),
    _Task(SYS32 + "sc.exe", "sc.exe start wuauserv", 0.1, console=True),
    _Task(SYS32 + "sc.exe", "sc.exe start w32time task_started", 0.1, account="local service", console=True),
    _Task(RUNDLL32, "rundll32.exe Windows.Storage.ApplicationData.dll,CleanupTemporaryState", 0.05, activity=(
        _task_dll(0.6, "system"),)),
    _Task(RUNDLL32, "rundll32.exe dfdts.dll,DfdGetDefaultPolicyAndSMART", 0.05),
    _Task(RUNDLL32, "rundll32.exe Startupscan.dll,SusRunTask", 0.1, "ws", "user"),
    _Task(_OFFICE + "SDXHelper.exe", '"sdxhelper.exe" /onlogon', 0.1, "ws", "user", (task_net(0.5, OFFICE_CDN),)),
    _Task(_OFFICE + "msoia.exe", '"msoia.exe" scan upload', 0.05, "ws", "user", (task_net(0.7, OFFICE_CDN),)),
    _Task("C:\\Program Files\\Common Files\\microsoft shared\\ClickToRun\\OfficeC2RClient.exe",
          '"OfficeC2RClient.exe" /frequentupdate SCHEDULEDTASK displaylevel=False', 0.1, "ws",
          activity=(task_net(0.8, OFFICE_CDN),)),
    _Task(SYS32 + "gpupdate.exe", "gpupdate.exe /target:computer", 0.05, account="network service"),
    _Task(SYS32 + "CompatTelRunner.exe", "compattelrunner.exe -maintenance", 0.05,
          activity=(task_net(0.5, TELEMETRY),)),
    _Task(SYS32 + "Defrag.exe", "defrag.exe -c -h -o -$", 0.03),
    _Task(SYS32 + "cleanmgr.exe", "cleanmgr.exe /autoclean /d C:", 0.03, "ws", "user"),
]
TASK_DELAY = (0.2, 25.0)  # seconds between a task's start and its activity
#: The seed keeps these four even in System32; their paths keep one casing so that their everyday
#: groups are never split into rare ones.
SHELLS = ("cmd.exe", "powershell.exe", "rundll32.exe", "regsvr32.exe")
