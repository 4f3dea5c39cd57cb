"""The benign and tricky scenarios: the published false positives and the edge cases.

Why this module exists: a hunt is judged on what it should not report as much as on what it should.
These scenarios model the five false positives the published hunt lists (some of which its filters
drop, some not) and the edge cases where the published query's text slips (case, parents, outputs).
"""

from __future__ import annotations

from hunting_lib.sample.common import CMD, DAY, DOMAIN, HOUR, MIN, MS, POWERSHELL, SYS32, binary_key
from hunting_lib.sample.planter import public_ip
from hunting_lib.sample.processes import MPCMDRUN
from hunting_lib.sample.registrations import Registrar
from hunting_lib.sample.taskdefs import (
    TaskSpec,
    boot_trigger,
    daily_trigger,
    time_trigger,
    weekly_trigger,
)
from hunting_lib.sample.templates import GUIDS, HEX, HKLM

_CCM = "C:\\Windows\\CCM\\CcmExec.exe"  # the Configuration Manager client, the fleet's deployment agent
_MSIEXEC = SYS32 + "msiexec.exe"


class Pitfalls(Registrar):
    """The published false positives and the edge cases; one method per scenario or related pair."""

    # ---- how benign tasks get registered: policy, installers and agents, days ahead -----------

    def by_policy(self, k: int, dev: int, spec: TaskSpec, fmt: str = "json") -> None:
        """A Group Policy scheduled-task preference, applied at boot (before the window)."""
        self.register(k, dev, self.ll(dev, "svc_gp"), self.before_window_after_boot(dev), spec,
                      self.subject_system(dev), fmt)

    def by_installer(self, k: int, dev: int, spec: TaskSpec, folder: str = _MSIEXEC,
                     cmd: str = "C:\\Windows\\system32\\msiexec.exe /V", company: str = MS, fmt: str = "json",
                     ts: int | None = None) -> None:
        """An installer or management agent running as SYSTEM registers the task (before the window by default)."""
        creator = self.agent(dev, folder, cmd, company=company)
        when = self.before_window_after_boot(dev) if ts is None else ts
        self.register(k, dev, creator, when, spec, self.subject_system(dev), fmt)

    @staticmethod
    def spec_of(s_cmd: str, command: str, *triggers: tuple, **principal: str) -> TaskSpec:
        """The task's action: ``command`` (as the registration wrote it) with the run's arguments."""
        return TaskSpec(command, s_cmd.split(" ", 1)[1] if " " in s_cmd else "", list(triggers), **principal)

    # ---- the published false positives -------------------------------------------------------

    def fp_maintenance(self) -> None:
        k = self.new(
            id="fp-maintenance-temp-cleanup", kind="false_positive", technique="T1053.005", seed_false_positive=1,
            title="Maintenance script cleaning old temp files (PowerShell, piloted on two devices)",
            why=("Published false positive 1: IT's weekend maintenance task deletes week-old files from the temp "
                 "folder. powershell.exe passes the seed's path filter and it ran only twice, so the seed reports "
                 "it."),
            seed_reports_it=True, folder=POWERSHELL, task_name="\\Fabrikam\\Maintenance\\TempCleanup",
            cmd=('powershell.exe -NoProfile -ExecutionPolicy Bypass -Command "Get-ChildItem -Path $env:TEMP -Recurse '
                 "| Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-7) } | Remove-Item -Force -Recurse "
                 '-ErrorAction SilentlyContinue"'))
        for dev in (next(self.ws), next(self.ws)):
            ts = self.at(5, 2.0, 10)
            self.by_policy(k, dev, self.spec_of(self.scenarios[k].cmd, "%SystemRoot%\\System32\\WindowsPowerShell\\"
                                                "v1.0\\powershell.exe", weekly_trigger(ts // HOUR * HOUR, "Saturday")))
            p = self.run(k, dev, ts)
            self.conhost(p, ts)
            self.dotnet(p, ts)
            self.ps_commands(p, ts, ["Get-ChildItem", "Remove-Item"])
            for j in range(4):
                name = ("TMP0000" if j % 2 else "") + self.choice(HEX) + (".log" if j % 2 else ".tmp")
                self.file(p, self.later(ts, 2 + j, 3 + j), "FileDeleted", "C:\\Windows\\Temp\\" + name)
        k = self.new(
            id="fp-maintenance-cleanmgr", kind="false_positive", technique="T1053.005", seed_false_positive=1,
            title="Disk Cleanup (cleanmgr /sagerun) run by a maintenance task",
            why=("Published false positive 1 as most estates run it: cleanmgr.exe lives in System32 and is not one "
                 "of the four shells, so the seed's path filter drops it before counting; the seed never sees it."),
            seed_reports_it=False, folder=SYS32 + "cleanmgr.exe", cmd="cleanmgr.exe /sagerun:1",
            task_name="\\Fabrikam\\Maintenance\\DiskCleanup")
        for dev in (next(self.ws), next(self.ws)):
            ts = self.at(5, 3.0, 10)
            self.by_policy(k, dev, self.spec_of(self.scenarios[k].cmd, "%windir%\\system32\\cleanmgr.exe",
                                                weekly_trigger(ts // HOUR * HOUR, "Saturday")), "xml")
            p = self.run(k, dev, ts)
            for j in range(3):
                self.file(p, self.later(ts, 5 + j, 6 + j), "FileDeleted",
                          f"C:\\Windows\\SoftwareDistribution\\Download\\{self.choice(HEX)}\\update{j}.cab")

    def fp_patching(self) -> None:
        kb = f"kb50{int(self.rng.integers(40000, 49999))}"
        k = self.new(
            id="fp-patch-wusa", kind="false_positive", technique="T1053.005", seed_false_positive=2,
            title="Admin patch task installing an .msu with wusa /quiet",
            why=("Published false positive 2, launched directly: wusa.exe is in System32 and not a shell, so the "
                 "seed's path filter drops it and it is never reported."),
            seed_reports_it=False, folder=SYS32 + "wusa.exe",
            cmd=f"wusa.exe C:\\Patches\\windows10.0-{kb}-x64.msu /quiet /norestart",
            task_name=f"\\Fabrikam\\Patching\\Install-{kb.upper()}")
        s = self.scenarios[k]
        dev = next(self.ws)
        ts = self.at(2, 12.5)
        self.by_installer(k, dev, self.spec_of(s.cmd, s.folder, time_trigger(ts // MIN * MIN)), _CCM, f'"{_CCM}"',
                          ts=self.later(ts, -2.2 * 86400, -1.1 * 86400))
        p = self.run(k, dev, ts)
        cab = f"C:\\Windows\\Temp\\{self.choice(GUIDS)}\\Windows10.0-{kb.upper()}-x64.cab"
        self.file(p, self.later(ts, 2, 5), "FileCreated", cab, int(self.rng.integers(10**7, 9 * 10**7)))
        self.dll(p, self.later(ts, 0.1, 0.3), SYS32 + "wuapi.dll")

        msi = self.choice(["7z2408-x64.msi", "GoogleChromeStandaloneEnterprise64.msi", "FabrikamVPN-3.2.1.msi"])
        share = "\\\\fs01\\patches\\"
        k = self.new(
            id="fp-patch-msiexec", kind="false_positive", technique="T1053.005", seed_false_positive=2,
            title="Admin patch task installing an MSI quietly through cmd.exe",
            why=("Published false positive 2 wrapped in cmd.exe /c msiexec ... /quiet: cmd.exe is one of the four "
                 "shells the seed keeps, and it ran on two devices once each, so the seed reports it."),
            seed_reports_it=True, folder=CMD, cmd=f"cmd.exe /c msiexec.exe /i {share}{msi} /quiet /norestart",
            task_name="\\Fabrikam\\Patching\\Deploy-" + msi.split("-")[0].split(".")[0])
        s = self.scenarios[k]
        for dev in (next(self.ws), next(self.ws)):
            ts = self.at(3, 12.0, 30)
            self.by_installer(k, dev, self.spec_of(s.cmd, "%windir%\\system32\\cmd.exe", time_trigger(ts // MIN * MIN)),
                              _CCM, f'"{_CCM}"', ts=self.later(ts, -3 * 86400, -1.5 * 86400))
            p = self.run(k, dev, ts)
            self.conhost(p, ts)
            t = self.later(ts, 0.05, 0.1)
            msiexec = self.start(p, t, SYS32 + "msiexec.exe", f"msiexec.exe  /i {share}{msi} /quiet /norestart")
            self.net(msiexec, self.later(t, 0.1, 0.3), self.private_ip("fs01"), 445, public=False)
            self.file(msiexec, self.later(t, 1, 3), "FileCreated", f"C:\\Windows\\Installer\\{self.choice(HEX)}.msi")

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
            spec = self.spec_of(self.scenarios[k].cmd, f'"{folder}Veeam.EndPoint.Manager.exe"',
                                weekly_trigger(ts // (HOUR // 2) * (HOUR // 2), "Sunday"))
            self.by_installer(k, dev, spec, fmt="xml")
            p = self.run(k, dev, ts, company="Veeam Software Group GmbH")
            for dll in ("Veeam.Backup.Common.dll", "Veeam.Backup.Model.dll"):
                self.dll(p, self.later(ts, 0.2, 0.6), folder + dll)
            self.net(p, self.later(ts, 2, 4), "10.10.5.20", 10005, "backup-repo01.corp.fabrikam.com", public=False)
            self.reg(p, self.later(ts, 3, 5), HKLM + "Veeam\\Veeam Endpoint Backup", "LastBackupStartTime", "String",
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
        acronis = "Acronis International GmbH"
        self.by_installer(k, self.f.server("sql01"), self.spec_of(self.scenarios[k].cmd, f'"{folder}acrocmd.exe"',
                                                                   weekly_trigger(ts // HOUR * HOUR, "Sunday")),
                          "C:\\Program Files\\Acronis\\BackupAndRecovery\\mms.exe", '"mms.exe"', acronis)
        p = self.run(k, self.f.server("sql01"), ts, company=acronis)
        self.net(p, self.later(ts, 1, 2), "10.10.5.30", 445, "nas01.corp.fabrikam.com", public=False)
        self.dll(p, self.later(ts, 0.1, 0.3), folder + "acrocmd_lib.dll")
        self.file(p, self.later(ts, 2, 4), "FileCreated",
                  "C:\\ProgramData\\Acronis\\BackupAndRecovery\\MMS\\acrocmd.log")

    def fp_report(self) -> None:
        dev = self.f.server("app01")
        service_account = (DOMAIN, "svc-reports", f"{self.f.domain_sid}-2201")
        k = self.new(
            id="fp-user-report", kind="false_positive", technique="T1053.005", seed_false_positive=4,
            title="Weekly report script run by a service account (powershell -File report.ps1)",
            why=("Published false positive 4: a reporting task runs report.ps1 (generate-report) every Monday as "
                 "svc-reports. Two runs in the window, powershell passes the path filter: the seed reports it."),
            seed_reports_it=True, folder=POWERSHELL, task_name="\\Fabrikam\\Reports\\Weekly generate-report",
            cmd=("powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\Scripts\\Reports\\report.ps1 "
                 "-Report generate-report -OutDir \\\\fs01\\reports"))
        # An admin registered it with Register-ScheduledTask in an RDP session before the window.
        admin = self.f.admins[2 % len(self.f.admins)]
        admin_sid = self.f.user_sids[len(self.f.ws) + 2 % len(self.f.admins)]
        shell = self.agent(dev, POWERSHELL, "powershell.exe", (DOMAIN, admin, admin_sid), parent_kind=None)
        spec = self.spec_of(self.scenarios[k].cmd, "powershell.exe", weekly_trigger(self.at(0, 6.0, 0), "Monday"),
                            user_id=f"{DOMAIN}\\{service_account[1]}", logon_type="Password")
        self.register(k, dev, shell, self.before_window_after_boot(dev), spec, (DOMAIN, admin, admin_sid, self.logon_id()))
        for day in (0, 7):
            ts = self.at(day, 6.0, 1)
            # A task with stored credentials logs its account on as a batch job first.
            self.d.event("DeviceLogonEvents", self.ll(dev, "svc_schedule"), self.later(ts, -0.5, -0.1), "LogonSuccess",
                         rel=k, LogonType="Batch", AccountDomain=DOMAIN, AccountName=service_account[1],
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
            seed_reports_it=True, folder=CMD, cmd="cmd.exe /c wevtutil cl Application",
            task_name="\\Fabrikam\\Housekeeping\\ClearApplicationLog")
        ts = self.at(6, 4.0, 5)
        self.by_policy(k, servers[0], self.spec_of(self.scenarios[k].cmd, "%windir%\\system32\\cmd.exe",
                                                    weekly_trigger(ts // HOUR * HOUR, "Sunday")))
        p = self.run(k, servers[0], ts)
        self.conhost(p, ts)
        wevtutil = self.start(p, self.later(ts, 0.05, 0.1), SYS32 + "wevtutil.exe", "wevtutil  cl Application")
        self.dll(wevtutil, self.later(ts, 0.15, 0.2), SYS32 + "wevtapi.dll")
        k = self.new(
            id="fp-eventlog-wevtutil-direct", kind="false_positive", technique="T1053.005", seed_false_positive=5,
            title="Log housekeeping task running wevtutil cl directly",
            why=("Published false positive 5 launched directly: wevtutil.exe is in System32 and not a shell, so the "
                 "seed's path filter drops it. The seed never reports it."),
            seed_reports_it=False, folder=SYS32 + "wevtutil.exe", cmd="wevtutil.exe cl Application",
            task_name="\\Fabrikam\\Housekeeping\\ClearApplicationLog")
        ts = self.at(6, 4.0, 5)
        self.by_policy(k, servers[1], self.spec_of(self.scenarios[k].cmd, "%windir%\\system32\\wevtutil.exe",
                                                    weekly_trigger(ts // HOUR * HOUR, "Sunday")))
        p = self.run(k, servers[1], ts)
        self.dll(p, self.later(ts, 0.05, 0.1), SYS32 + "wevtapi.dll")

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
        # Typed into schtasks.exe by the workstation's admin the day before its first run.
        self.by_schtasks(k, dev, self.at(0, 10.0, 90),
                         self.spec_of(self.scenarios[k].cmd, "CMD.EXE", weekly_trigger(self.at(1, 12.0, 0), "Tuesday",
                                                                                       "Friday"), run_level="LeastPrivilege"),
                         "weekly /d TUE,FRI /st 14:00", "SYSTEM")
        for day in (1, 4):
            ts = self.at(day, 12.0, 30)
            p = self.run(k, dev, ts)
            self.conhost(p, ts)
            self.file(p, self.later(ts, 0.1, 0.2), "FileModified", "C:\\ProgramData\\Inventory\\last.txt")
            t = self.later(ts, 0.3, 0.5)
            script = self.start(p, t, SYS32 + "cscript.exe",
                                "cscript.exe  //nologo C:\\ProgramData\\Inventory\\collect.vbs")
            self.net(script, self.later(t, 1, 2), self.private_ip("app01"), 443, "inventory.corp.fabrikam.com",
                     public=False)

        k = self.new(
            id="edge-lowercase-mpcmdrun", kind="edge_case", technique="T1053.005",
            title="Defender signature update recorded as mpcmdrun.exe (lower case)",
            why=("The seed drops FileName != \"MpCmdRun.exe\", a case-sensitive test, so the lower-case name "
                 "survives; it ran once and is outside System32, so the seed reports this benign Defender update."),
            seed_reports_it=True, folder=MPCMDRUN.lower(),
            cmd="mpcmdrun.exe -SignatureUpdate -ScheduleJob -RestrictPrivileges",
            task_name="\\Microsoft\\Windows\\Windows Defender\\Windows Defender Signature Update")
        ts = self.at(4, 14.0)
        dev = next(self.ws)
        self.register(k, dev, self.ll(dev, "msmpeng"), self.before_window_after_boot(dev),
                      self.spec_of(self.scenarios[k].cmd, MPCMDRUN, daily_trigger(ts // HOUR * HOUR - 3 * DAY)),
                      self.subject_system(dev))
        p = self.run(k, dev, ts, hash_key=binary_key(MPCMDRUN))
        self.conhost(p, ts)
        self.net(p, self.later(ts, 1, 2), "13.107.4.52", 443, "definitionupdates.microsoft.com")
        updates = "C:\\ProgramData\\Microsoft\\Windows Defender\\Definition Updates\\"
        self.file(p, self.later(ts, 5, 9), "FileCreated", f"{updates}{self.choice(GUIDS)}\\mpasdlta.vdm")

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
        anydesk = "AnyDesk Software GmbH"
        setup = f"C:\\Users\\{self.f.user[dev]}\\Downloads\\AnyDesk.exe"
        self.by_installer(k, dev, self.spec_of(self.scenarios[k].cmd, '"%ProgramData%\\AnyDesk\\AnyDesk.exe"',
                                               boot_trigger()),
                          setup, f'"{setup}" --install "C:\\ProgramData\\AnyDesk" --start-with-win --silent', anydesk)
        p = self.run(k, dev, ts, company=anydesk)
        relay = f"relay-{self.choice(HEX)}.net.anydesk.com"
        self.net(p, self.later(ts, 1, 2), public_ip(self.rng, 195), 443, relay)
        self.file(p, self.later(ts, 2, 3), "FileModified", "C:\\ProgramData\\AnyDesk\\service.conf")

        dev = self.no_s_flag_dev
        k = self.new(
            id="edge-parent-no-s-flag", kind="edge_case", technique="T1053.005",
            title="Printer sync script on a device whose Schedule host has no '-s Schedule'",
            why=("On low-memory devices Windows does not split services, so the Task Scheduler runs in "
                 "'svchost.exe -k netsvcs -p'. The seed's exact command-line match misses all tasks there, this "
                 "rare script included."),
            seed_reports_it=False, folder=POWERSHELL,
            cmd="powershell.exe -ExecutionPolicy Bypass -File C:\\ProgramData\\Scripts\\sync-printers.ps1",
            task_name="\\Fabrikam\\SyncPrinters", launched_by=self.f.sched_cmd[dev])
        self.by_policy(k, dev, self.spec_of(self.scenarios[k].cmd, "powershell.exe",
                                            weekly_trigger(self.at(2, 7.0, 0), "Wednesday", "Saturday")))
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
        dev, ts = next(self.ws), self.at(2, 11.0)
        self.by_installer(k, dev, self.spec_of(self.scenarios[k].cmd, '"C:\\Program Files\\Dell\\CommandUpdate\\dcu-cli.exe"',
                                               weekly_trigger(ts // HOUR * HOUR, "Wednesday")))
        self.run(k, dev, ts, company="Dell Inc.")

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
        shell = self.start(self.ll(dev, "explorer"), self.later(ts, -120, -60), CMD, '"cmd.exe"', integrity="High",
                           tag=-1, rel=k)
        p = self.run(k, dev, ts, self.user(dev), "High", parent=shell)
        self.report_activity(p, ts, "C:\\Scripts\\Reports\\out\\report-test.csv")
