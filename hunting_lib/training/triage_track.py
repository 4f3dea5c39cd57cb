"""The triage track's checkers, ``check_14`` ... ``check_20``: one finding walked from rare group
to verdict (task name and creator, remote registration, delete-after-run, prevalence of the
binary and the address), then to the hunt history's verdicts, the hand-off's dry run and the
exported detection.

Every answer that names groups is read with ``grading.read_groups`` against the track's hunt
(``triage_practice.track_groups``) and graded per (FileName, ProcessCommandLine, FolderPath)
group, never by file name: the inventory job's ``CMD.EXE`` is not atexec's ``cmd.exe``. The
expected answers come from ``triage_practice`` (answer key and raw data); the hints say what
was misread without giving the answer away.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from hunting_lib.engine.addresses import ip_kind
from hunting_lib.training.data import exercise_data
from hunting_lib.training.grading import Unreadable, Verdict, graded, groups_text, read_groups
from hunting_lib.training.triage_practice import (
    FIRST_FINDING,
    GroupTriple,
    definitions_table,
    device_addresses,
    expected_14,
    expected_15,
    expected_16,
    expected_18,
    expected_19,
    expected_20,
    prevalence_facts,
    registrations_of,
    track_groups,
    tripwire_groups,
    verdict_groups,
)


def _fields(answer: Any, names: dict[str, tuple[str, ...]], what: str) -> dict[str, Any]:
    """An answer of several parts: a dict whose keys name them (any of the aliases, any case),
    or a tuple/list of the parts in order. A Series (a row of a table) reads as a dict."""
    if isinstance(answer, pd.Series):
        answer = answer.to_dict()
    if isinstance(answer, dict):
        lowered = {str(k).strip().lower(): v for k, v in answer.items()}
        out = {}
        for field, aliases in names.items():
            found = [lowered[a] for a in (field.lower(), *aliases) if a in lowered]
            if not found:
                raise Unreadable(f"the answer has no {field!r} entry")
            out[field] = found[0]
        return out
    if isinstance(answer, (tuple, list)) and len(answer) == len(names):
        return dict(zip(names, answer))
    raise Unreadable(f"expected {what}")


def _text(value: Any, label: str) -> str:
    if not isinstance(value, str) or not value.strip().strip("'\"").strip():
        raise Unreadable(f"{label} should be text, got {value!r}")
    return value.strip().strip("'\"").strip()


def _number(value: Any, label: str) -> int:
    """A whole number, as Python, numpy (``nunique``, ``sum``) or text gives it."""
    whole = (isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))) or \
        (isinstance(value, (float, np.floating)) and float(value).is_integer()) or \
        (isinstance(value, str) and value.strip().isdigit())
    if not whole:
        raise Unreadable(f"{label} should be a whole number, got {value!r}")
    return int(value)


def _not_yet(hints: list[str]) -> str:
    text = "not yet: " + ("; ".join(hints) or "read the question again and compare your answer with the table")
    return text if text.endswith((".", "?")) else text + "."


def _same_name_elsewhere(extra: set[GroupTriple], missing: set[GroupTriple]) -> bool:
    """An extra group shares its file name (any case) with a missing one: the look-alike trap."""
    return bool({g[0].lower() for g in extra} & {g[0].lower() for g in missing})


LOOKALIKE = ("a group you named shares its file name with the one asked about but is another group (another "
             "command line or folder; CMD.EXE and cmd.exe are not the same task): compare the whole row")


def check_14(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The top finding's task: its name and the account that registered it."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _fields(answer, {"TaskName": ("task", "name", "task_name"),
                                 "RegisteredBy": ("account", "creator", "registered_by", "by")},
                        "a dict {'TaskName': ..., 'RegisteredBy': ...} or a (task name, account) pair")
        task, account = _text(given["TaskName"], "TaskName").lower(), _text(given["RegisteredBy"], "RegisteredBy").lower()
        expected = expected_14(data_dir)
        want_task, want_account = expected["TaskName"].lower(), expected["RegisteredBy"].lower()
        task_ok = task == want_task
        account_ok = account in (want_account, want_account.split("\\")[-1])
        if task_ok and account_ok:
            return Verdict(14, True, f"{expected['TaskName']}, registered by {expected['RegisteredBy']}: a "
                                     "user account created a SYSTEM task named like a Windows one. Who registered "
                                     "a task, not who it runs as, says who you need to ask.")
        s = d.scenario(FIRST_FINDING)
        registration = s["registration"]
        definitions = definitions_table(track_groups(data_dir))
        hints = []
        if not task_ok:
            others = {str(n).lower() for n in definitions["TaskName"].dropna()} - {want_task}
            if task in (s["FileName"].lower(), s["ProcessCommandLine"].lower(), s["FolderPath"].lower()):
                hints.append("that is the program the task runs; the task's own name is TaskName in the "
                             "finding's TaskDefinitions")
            elif task == want_task.rsplit("\\", 1)[-1]:
                hints.append("give the task's full path, folder included: the folder it hides in is part of "
                             "the disguise")
            elif task in others:
                hints.append("that task belongs to another finding; take the TaskDefinitions of the top-ranked "
                             "group (the encoded PowerShell)")
            else:
                hints.append("that is not the task's name; read TaskName in the finding's TaskDefinitions")
        if not account_ok:
            runs_as = {str(s.get("account", "")).lower(), "system", "nt authority\\system", "s-1-5-18",
                       "localsystem", "local system"}
            own_definitions = definitions[definitions["TaskName"].astype(str).str.lower() == want_task]
            runs_as |= {str(p).lower() for p in own_definitions["Principal"].dropna()}
            if account in runs_as:
                hints.append("that is the account the task runs as (its Principal), not the one that registered "
                             "it: read RegisteredBy")
            elif account == str(registration.get("registered_by_process", "")).lower():
                hints.append("that is the program that registered it (RegisteredByProcess); the question asks "
                             "for the account")
            elif any(account in (dev.lower(), dev.lower().split(".")[0]) for dev in d.devices(s)):
                hints.append("that is the device; the question asks for the account that registered the task")
            else:
                hints.append("that account did not register this task; read RegisteredBy")
        return Verdict(14, False, _not_yet(hints))

    return graded(14, answer, grade, "{'TaskName': ..., 'RegisteredBy': ...}")


def check_15(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The finding whose task was registered over the network, and the IP it was registered from."""
    d = exercise_data(data_dir)
    reference = track_groups(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _fields(answer, {"finding": ("group", "task", "row"), "ip": ("remoteip", "address", "remote_ip")},
                        "a dict {'finding': <the group>, 'ip': '...'} or a (finding, ip) pair")
        groups = read_groups(given["finding"], reference, "the finding")
        ip = _text(given["ip"], "ip")
        want_groups, want_ips = expected_15(data_dir)
        if groups == want_groups and ip in want_ips:
            return Verdict(15, True, f"{groups_text(groups)}, registered from {ip}: a network logon to the "
                                     "device, then the Task Scheduler's own svchost registering the task for the "
                                     "RPC caller. That is how atexec moves laterally.")
        hints = []
        if groups != want_groups:
            extra, missing = groups - want_groups, want_groups - groups
            if len(groups) > len(want_groups):
                hints.append(f"name {len(want_groups)} finding; {len(extra)} of yours were registered on the "
                             "device itself")
            elif _same_name_elsewhere(extra, missing):
                hints.append(LOOKALIKE)
            else:
                hints.append("that finding's task was registered on the device itself (RegisteredRemotely is "
                             "False); look for the one registered through a network logon")
        if ip not in want_ips:
            remote_scenarios = [s for s in d.scenarios if d.group(s) in want_groups]
            devices = {dev.lower() for s in remote_scenarios for r in registrations_of(s) for dev in [r["device"]]}
            own = {a for dev in devices for a in device_addresses(dev, data_dir)}
            source_devices = {str(dev).lower() for dev in definitions_table(reference)["RemoteDevice"].dropna()}
            if ip in own:
                hints.append("that IP is the device's own address (LocalIP, where the task ran); the registration "
                             "came from another machine")
            elif ip.lower() in source_devices or ip.lower().split(".")[0] in {s.split(".")[0] for s in source_devices}:
                hints.append("that is the source machine's name; give its IP address (RemoteIP)")
            elif ip_kind(ip) == "invalid":
                hints.append("that is not an IP address; read RemoteIP in the finding's TaskDefinitions")
            elif ip_kind(ip) == "public":
                hints.append("that is an address a task talked to, not where a registration came from")
            else:
                hints.append("that address registered no task remotely; read RemoteIP in the TaskDefinitions "
                             "of the finding registered over the network")
        return Verdict(15, False, _not_yet(hints))

    return graded(15, answer, grade, "{'finding': <the group>, 'ip': '...'}")


def check_16(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The findings whose task was deleted after it ran (the groups)."""
    d = exercise_data(data_dir)
    reference = track_groups(data_dir)

    def grade(answer: Any) -> Verdict:
        given = read_groups(answer, reference, "the findings")
        expected = expected_16(data_dir)
        if given == expected:
            return Verdict(16, True, f"{len(expected)} findings: {groups_text(expected)}. A task deleted seconds "
                                     "or minutes after its only run is a one-shot: execution dressed as a task, "
                                     "the pattern of atexec and of hands-on intruders cleaning up.")
        extra, missing = given - expected, expected - given
        hidden = {d.group(s) for s in d.scenarios
                  if any(r.get("hidden") and not r.get("deleted_at") for r in registrations_of(s))}
        hints = []
        if extra & hidden:
            hints.append("a task hidden by deleting its security descriptor (SD) is not deleted: it still exists "
                         "and runs again; DeletedAt stays empty")
        if _same_name_elsewhere(extra, missing):
            hints.append(LOOKALIKE)
        elif extra - hidden:
            hints.append(f"{len(extra - hidden)} of your groups' tasks still exist (DeletedAt is empty)")
        if missing:
            hints.append(f"{len(missing)} finding(s) missing: read DeletedAt in each finding's TaskDefinitions, "
                         "or the deleted_after_run signal in Reasons")
        return Verdict(16, False, _not_yet(hints))

    return graded(16, answer, grade, "the findings (rows, TaskIds, GroupKeys or group tuples)")


def check_17(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """Prevalence: devices that ran the masquerade's SHA1, devices that ran the genuine program's
    SHA1, devices that contacted the masquerade's public address."""
    exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = _fields(answer, {"binary": ("sha1", "hash"), "genuine": ("common", "real"),
                                 "address": ("ip", "remoteip")},
                        "a dict {'binary': n, 'genuine': n, 'address': n} or three numbers in that order")
        values = {key: _number(value, key) for key, value in given.items()}
        facts = prevalence_facts(data_dir)
        if all(values[k] == facts[k] for k in values):
            return Verdict(17, True, f"the masquerade's SHA1 ran on {facts['binary']} device(s), the genuine "
                                     f"program's on {facts['genuine']}, and {facts['address']} device(s) contacted "
                                     "the address: a Microsoft name on a hash and an address nobody else has. A "
                                     "hash or signer anchors trust; a name or a folder does not.")
        hints = []
        if values["binary"] == facts["genuine"] and values["genuine"] == facts["binary"] != facts["genuine"]:
            hints.append("binary and genuine are swapped")
        else:
            for key, launches, unit in (("binary", "binary_launches", "launches"),
                                        ("genuine", "genuine_launches", "launches"),
                                        ("address", "address_connections", "connections")):
                if values[key] == facts[key]:
                    continue
                if values[key] == facts[launches] != facts[key]:
                    hints.append(f"{key}: that is the count of {unit}, not devices (count distinct DeviceName)")
                elif values[key] == facts["fleet"] != facts[key]:
                    hints.append(f"{key}: that is every device in the data; keep only the rows with the "
                                 + ("address" if key == "address" else "SHA1"))
                elif key == "genuine":
                    hints.append("genuine: take the SHA1 most devices run for the genuine program's file name, "
                                 "then count the devices that ran it")
                elif key == "binary":
                    hints.append("binary: take the finding's SHA1 (its SHA1s column) and count the devices whose "
                                 "processes have it, in the whole DeviceProcessEvents")
                else:
                    hints.append("address: take the finding's public RemoteIP (explode RemoteIPs of its activity) "
                                 "and count the devices with it in DeviceNetworkEvents")
        return Verdict(17, False, _not_yet(hints))

    return graded(17, answer, grade, "{'binary': n, 'genuine': n, 'address': n}")


def check_18(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """After benign verdicts on the two groups named in the question, the groups the re-run
    suppresses as ``verdict:<id>``."""
    reference = track_groups(data_dir)

    def grade(answer: Any) -> Verdict:
        given = read_groups(answer, reference, "the suppressed groups")
        expected = expected_18(data_dir)
        if given == expected:
            return Verdict(18, True, f"{groups_text(expected)}: suppressed as verdict:<id>. The other verdict is "
                                     "recorded and shown (Verdict, WouldSuppressBy), but its tripwire keeps the "
                                     "group a finding: a script in a folder users can write to is checked every "
                                     "time.")
        extra, missing = given - expected, expected - given
        cleared, tripped = verdict_groups(data_dir), tripwire_groups(data_dir)
        already = set(map(tuple, reference.loc[reference["SuppressedBy"].notna(), ["FileName", "ProcessCommandLine",
                                                                                     "FolderPath"]].to_numpy()))
        hints = []
        if extra & cleared & tripped:
            hints.append("a benign verdict on a group whose tripwire fires does not suppress it: read that group's "
                         "Tripwires and WouldSuppressBy in the re-run")
        if extra & already - cleared:
            hints.append("a group you named was suppressed before any verdict (an exclusion rule or a known "
                         "task); the question asks for SuppressedBy values that start with 'verdict:'")
        if extra - cleared - already:
            hints.append("you named a group that has no verdict" + (f"; {LOOKALIKE}" if _same_name_elsewhere(
                extra - cleared - already, cleared) else ""))
        if missing:
            hints.append("a group with a benign verdict and no tripwire is suppressed: look for SuppressedBy "
                         "starting with 'verdict:' in the re-run (did you re-run the hunt with the history?)")
        return Verdict(18, False, _not_yet(hints))

    return graded(18, answer, grade, "the groups suppressed by a verdict (rows, TaskIds, GroupKeys or tuples)")


def check_19(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """How many bookmarks the hand-off's dry run plans by default from the re-run's findings."""
    reference = track_groups(data_dir)

    def grade(answer: Any) -> Verdict:
        value = answer.get("bookmarks") if isinstance(answer, dict) else answer
        bookmarks = _number(value, "bookmarks")
        expected = expected_19(data_dir)
        if bookmarks == expected:
            return Verdict(19, True, f"{bookmarks} bookmarks, one per unsuppressed finding of the re-run: the group "
                                     "your verdict closed is not sent.")
        before = int(reference["SuppressedBy"].isna().sum())
        if bookmarks == before != expected:
            hint = "that is the count before your verdict; write findings.json from the re-run"
        elif bookmarks == len(reference):
            hint = "that counts the suppressed groups too; by default the hand-off sends every unsuppressed finding"
        elif bookmarks == 3 * expected + 1:
            hint = "that counts every call (the incident, relations, comments); count the calls whose kind is 'bookmark'"
        else:
            hint = "run the dry run on the re-run's findings.json without --finding and count the bookmark calls"
        return Verdict(19, False, _not_yet([hint]))

    return graded(19, answer, grade, "the number of bookmarks")


def check_20(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The groups the exported detection would still alert on although the re-run hunt
    suppresses them."""
    reference = track_groups(data_dir)

    def grade(answer: Any) -> Verdict:
        groups = read_groups(answer, reference, "the groups")
        expected = expected_20(data_dir)
        if groups == expected:
            return Verdict(20, True, f"{groups_text(groups)} would still alert: the exported rule reads the exclusion "
                                     "rules and the catalogue but not the history, so a verdict reaches it only "
                                     "through a watchlist (handoff --sync-watchlist, export-rule --watchlist).")
        hints = []
        extra, missing = groups - expected, expected - groups
        rule_quiet = set(map(tuple, reference.loc[reference["SuppressedBy"].notna(),
                                                  ["FileName", "ProcessCommandLine", "FolderPath"]].to_numpy()))
        if extra & rule_quiet:
            hints.append("the exported rule renders the exclusion rules and the known tasks, so the groups they "
                         "suppress stay quiet there too")
        if extra - rule_quiet:
            hints.append("the question asks for groups your re-run suppresses; a finding the hunt still shows is "
                         "not one")
        if missing:
            hints.append("the detection does not read the history file; which suppression of your re-run comes "
                         "from there?")
        return Verdict(20, False, _not_yet(hints))

    return graded(20, answer, grade, "the groups (rows, TaskIds, GroupKeys or tuples)")


#: The track's checkers by exercise number.
CHECKERS: dict[int, Callable[..., Verdict]] = {
    14: check_14, 15: check_15, 16: check_16, 17: check_17, 18: check_18, 19: check_19, 20: check_20,
}
