"""The exercise checkers, ``check_1`` ... ``check_10``: each grades the trainee's answer against
the expected one (``answers``), prints a ``Verdict`` (with a hint when the answer is wrong),
records it in ``RESULTS`` and returns it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from hunting_lib.engine.addresses import ip_kind
from hunting_lib.engine.query import seed_literals
from hunting_lib.training.answers import (
    VEEAM_WHY,
    expected_1,
    expected_2,
    expected_3,
    expected_4,
    expected_5,
    expected_6,
    expected_7,
    expected_8,
    expected_9,
    expected_10,
    log_clearing,
    network_rows,
)
from hunting_lib.training.data import exercise_data
from hunting_lib.training.grading import (
    Unreadable,
    Verdict,
    device_matches,
    graded,
    groups_text,
    names_text,
    read_groups,
    read_number,
    read_numbers,
    read_texts,
    same_devices,
)
from hunting_lib.training.lessons import lowered_keys, shipped_rules


def check_1(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """How many Task Scheduler starts survive the seed's steps 1-3 (a whole number)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        value = read_number(answer)
        counts = {**d.step_counts(), "right": expected_1(data_dir)}
        if value == counts["right"]:
            return Verdict(1, True, f"{value} starts survive steps 1-3: the Schedule service's children, "
                                    "without Defender's scans, outside System32 or one of the four shells.")
        hints = {
            "step 1 only": "that is the count after step 1 alone; apply the MpCmdRun.exe and folder filters too.",
            "steps 1-2 only": "that is the count after steps 1 and 2; step 3 still drops System32 programs "
                              "that are not one of the four shells.",
            "parent matched ignoring case": "the parent command line test is ==, which is case-sensitive: "
                                            "'-s schedule' does not match '-s Schedule'.",
            "MpCmdRun dropped ignoring case": "FileName != \"MpCmdRun.exe\" is case-sensitive, so 'mpcmdrun.exe' "
                                              "is kept.",
            "shells not kept": "step 3 keeps cmd, powershell, rundll32 and regsvr32 even from System32 "
                               "(the 'or FileName =~' part).",
            "System32 prefix compared with case": "!startswith ignores case: 'c:\\windows\\system32\\' is "
                                                  "inside System32 too.",
            "shells compared with case": "=~ is not an exact match: it ignores case, so 'CMD.EXE' is one of "
                                         "the four shells too (== would be exact).",
        }
        for variant, hint in hints.items():
            if value == counts[variant] and counts[variant] != counts["right"]:
                return Verdict(1, False, f"{value} is not it: {hint}")
        rare_rows = int(d.rare["Count"].sum())
        if value in (len(d.rare), rare_rows):
            return Verdict(1, False, f"{value} counts what step 4 keeps; the question is about the rows "
                                     "before counting (after step 3).")
        direction = "too many" if value > counts["right"] else "too few"
        return Verdict(1, False, f"{value} is {direction}. Apply the three filters of steps 1-3 to "
                                 "DeviceProcessEvents (or call scheduled_task_starts) and take len().")

    return graded(1, answer, grade, "a whole number of rows")


def check_2(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The rare groups to escalate: the planted attacks and the log clearing task (groups, as rows
    of ``rare``, TaskIds, GroupKeys or exact key tuples; never file names)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = read_groups(answer, d.rare, "the rare groups you escalate")
        expected = expected_2(data_dir)
        if given == expected:
            return Verdict(2, True, f"the {len(expected)} groups to escalate: the planted attacks, and the task that "
                                    "clears an event log, which stays a finding until its owner confirms it "
                                    "(clearing logs is also how intruders hide, T1070.001).")
        scenario = d.scenario_of()
        rare = d.rare_groups()
        clearing = {d.group(s) for s in log_clearing(d)}
        missing, extra = expected - given, given - expected
        hints = []
        not_rare = extra - rare
        if not_rare:
            hints.append(f"group(s) not among the rare groups of step 4: {len(not_rare)}")
        missing_names = {name.lower() for name, _, _ in missing}
        look_alikes = {g for g in extra & rare if g[0].lower() in missing_names}
        if look_alikes:
            hints.append(f"{groups_text(look_alikes)} shares its program name with a group you missed: the "
                         "command line and folder decide, not the name; compare them")
        benign = (extra & rare) - look_alikes
        if benign:
            hints.append(f"group(s) that are routine work: {len(benign)} (backups, patching, inventory, reporting); "
                         "read their command lines and accounts again")
        if missing & clearing:
            hints.append("one rare group clears an event log: that destroys evidence (T1070.001), so it is "
                         "escalated to its owner until confirmed, never closed as housekeeping unasked")
        attacks = {g for g in missing - clearing if scenario.get(g, {}).get("kind") == "malicious"}
        if attacks:
            hints.append(f"attack group(s) missing: {len(attacks)}; look for user-writable folders, encoded or "
                         "hidden PowerShell, URLs, signed Windows binaries running a DLL or scriptlet, and recon "
                         "output written to a temp file")
        return Verdict(2, False, "not yet: " + "; ".join(hints) + ".")

    return graded(2, answer, grade, "the rare groups you escalate (rows of rare, TaskIds or GroupKeys)")


def check_3(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The public IP the encoded PowerShell task downloads from (one IP address)."""
    exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = read_texts(answer, "an IP address")
        expected = expected_3(data_dir)
        if given == expected:
            return Verdict(3, True, f"{names_text(expected)}: the -enc text decodes to a download cradle "
                                    "from it, and the task's network events connect to it.")
        with_port = {g.rsplit(":", 1)[0] for g in given if g.count(":") == 1}
        if with_port and {ip_kind(g) for g in with_port} != {"invalid"}:
            return Verdict(3, False, "drop the port: give the IP address alone (RemoteIP, not IP:RemotePort).")
        kinds = {g: ip_kind(g) for g in given}
        if any(k == "invalid" for k in kinds.values()):
            return Verdict(3, False, "that is not an IP address. Decode the -enc argument (base64 of UTF-16LE "
                                     "text; hunting_lib.triage.indicators.decode_command_line does it) or read the "
                                     "task's RemoteIPs in result.activity.")
        if any(k == "private" for k in kinds.values()):
            return Verdict(3, False, "that is an internal address. The download comes from a public IP "
                                     "(the one in the decoded command).")
        return Verdict(3, False, "a public IP, but not this task's. Pick the rare powershell.exe group with "
                                 "-enc and read its own connections.")

    return graded(3, answer, grade, "an IP address as text")


def check_4(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The device the hourly beacon runs on (its DeviceName; the short host name is accepted)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = read_texts(answer, "a DeviceName")
        expected = expected_4(data_dir)
        if same_devices(given, expected):
            return Verdict(4, True, f"{names_text(expected)}: the beacon runs there often (so count_ < 3 "
                                    "drops it) but on one device only, which max_devices=1 keeps.")
        others = {device.lower(): s for s in d.scenarios for device in d.devices(s)}
        for g in given:
            hit = [s for dev, s in others.items() if device_matches(g, dev)]
            if hit and hit[0]["kind"] == "malicious" and hit[0]["seed_reports_it"]:
                return Verdict(4, False, f"{g} hosts a malicious task the seed already reports. Run the hunt "
                                         "with HuntParams(max_devices=1) and look for RareBy == 'devices'.")
        if any(g in {r.lower() for r in d.rare_one_device["FileName"]} for g in given):
            return Verdict(4, False, "that is a program name; the question asks for the device (DeviceName).")
        return Verdict(4, False, "not that device. With HuntParams(max_devices=1), the group kept only by its "
                                 "device count (RareBy == 'devices') that calls out every hour is the beacon; "
                                 "its Devices column names the machine.")

    return graded(4, answer, grade, "a DeviceName")


def check_5(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The rare group the seed keeps in step 4 but never shows, because it left no activity (a group)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = read_groups(answer, d.rare, "the quiet rare group")
        expected = expected_5(data_dir)
        if given == expected:
            return Verdict(5, True, f"{groups_text(expected)}: rare, but the last step finds no event whose "
                                    "initiating process is it, so the seed's output has no row for it.")
        rare = d.rare_groups()
        if given - rare:
            return Verdict(5, False, f"{groups_text(given - rare)} is not among the seed's rare groups; "
                                     "the answer is a rare group (step 4) with no activity rows.")
        seen = set(lowered_keys(d.seed_rows, ["InitiatingProcessFileName", "InitiatingProcessCommandLine",
                                              "InitiatingProcessFolderPath"]))
        active = {g for g in given if tuple(v.lower() for v in g) in seen}
        if active:
            return Verdict(5, False, f"{groups_text(active)} has activity rows in the seed's last step. Compare "
                                     "result.rare_tasks with result.activity_rows (lower-cased name, command line "
                                     "and path).")
        return Verdict(5, False, "not yet: compare the rare groups with the activity rows and keep the groups "
                                 "that have none.")

    return graded(5, answer, grade, "a rare group (a row of result.rare_tasks, its TaskId or GroupKey)")


def check_6(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """ReportIds of the encoded PowerShell task's DeviceNetworkEvents, its children's included
    (``match="process"``), as a set of numbers."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = read_numbers(answer)
        expected = expected_6(data_dir)
        if given == expected:
            return Verdict(6, True, f"{sorted(expected)}: with match='process' the task's own connections and "
                                    "its children's (by process identity) are attributed to the task.")
        s = d.scenario("mal-encoded-powershell")
        rows = network_rows(d, expected)
        own = (rows["InitiatingProcessFileName"].str.lower() == s["FileName"].lower()) & (
            rows["InitiatingProcessCommandLine"].str.lower() == s["ProcessCommandLine"].lower())
        own_ids = set(rows.loc[own, "ReportId"])
        if given == own_ids and own_ids != expected:
            return Verdict(6, False, "that is the seed's view: only the task's own process. Run the hunt with "
                                     "match='process' to also get the connections of the processes it started.")
        missing, extra = expected - given, given - expected
        parts = []
        if extra:
            parts.append(f"ReportId(s) that are not this task's network events: {len(extra)}")
        if missing:
            parts.append(f"ReportId(s) missing: {len(missing)}")
        return Verdict(6, False, "not yet: " + "; ".join(parts) + ". Filter result.activity_rows (match="
                                 "'process') on the task's TaskId and Table == 'DeviceNetworkEvents'.")

    return graded(6, answer, grade, "a set of ReportId numbers")


def check_7(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The device whose non-task events the seed attaches to the weekly reporting task (a DeviceName)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        given = read_texts(answer, "a DeviceName")
        expected = expected_7(data_dir)
        if same_devices(given, expected):
            return Verdict(7, True, f"{names_text(expected)}: someone ran the script by hand there with the "
                                    "task's exact command line. The seed matches by strings only, so it counts "
                                    "those events as the task's; match='process' does not.")
        report = d.scenario("fp-user-report")
        if any(device_matches(g, dev) for g in given for dev in d.devices(report)):
            return Verdict(7, False, "that is where the reporting task really runs. Look for the same command "
                                     "line on another device in result.activity.")
        return Verdict(7, False, "not that device. In result.activity (match='seed'), find the rows with the "
                                 "report task's command line and compare their DeviceName with the task's "
                                 "Devices; then check the parent of that process.")

    return graded(7, answer, grade, "a DeviceName")


def check_8(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The task the seed misses because the Schedule service's command line differs only in case
    (its group in the ``wider`` hunt, or its scenario id)."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        expected_scenarios = expected_8(data_dir)
        ids = {s["id"].lower(): d.group(s) for s in d.scenarios}
        # A collection of answers, or one answer of any form (a TaskId, a row, a key tuple, a name).
        items = list(answer) if isinstance(answer, (list, set, frozenset)) else [answer]
        by_id = {ids[i.strip().lower()] for i in items if isinstance(i, str) and i.strip().lower() in ids}
        rest = [i for i in items if not (isinstance(i, str) and i.strip().lower() in ids)]
        given = by_id | (read_groups(rest, d.wider_rare, "a group of the wider hunt") if rest else set())
        expected = {d.group(s) for s in expected_scenarios}
        if given == expected:
            s = expected_scenarios[0]
            return Verdict(8, True, f"{s['FileName']} on {d.devices(s)[0]}: its parent reads "
                                    f"{s['launched_by']!r}, and the seed's == is case-sensitive.")
        scenario = d.scenario_of()
        if given & expected:
            return Verdict(8, False, f"{groups_text(given & expected)} is right, but drop the rest: a program that "
                                     "also runs on other devices (an updater in each user's profile) is not the "
                                     "planted task, even where it looks rare.")
        for g in given:
            s = scenario.get(g)
            if s is None:
                continue
            if s["kind"] == "malicious" and not s["seed_reports_it"]:
                return Verdict(8, False, f"{groups_text([g])}: the seed misses that one because it runs too often "
                                         "(count_ >= 3), not because of its parent.")
            launched = str(s.get("launched_by", ""))
            if launched and launched.lower() != seed_literals().parent_command_line.lower():
                return Verdict(8, False, f"{groups_text([g])}: that task's parent differs by more than letter case "
                                         f"({launched!r}). Look for a parent that differs only in case.")
        return Verdict(8, False, "not that one. Find DeviceProcessEvents rows whose parent is svchost.exe and "
                                 "whose InitiatingProcessCommandLine equals the seed's only when lower-cased; "
                                 "then see which of those programs is rare.")

    return graded(8, answer, grade, "a group of the wider hunt (rows of added, a TaskId of wider.rare_tasks, a "
                                    "GroupKey) or the scenario id")


def _rule_and_why(answer: Any) -> tuple[str | None, str | None]:
    """Exercise 9's answer: a rule id and a letter, as a pair, a dict or a lone rule id."""
    if isinstance(answer, dict):
        values = [answer.get("rule"), answer.get("why")]
    elif isinstance(answer, str):
        values = [answer]
    elif isinstance(answer, (list, tuple, set, frozenset)):
        values = list(answer)
    else:
        raise Unreadable(f"expected a rule id and a letter, got {answer!r}")
    rule, why = None, None
    for value in values:
        if value is None:
            continue
        if not isinstance(value, str):
            raise Unreadable(f"expected text, got {value!r}")
        text = value.strip().strip("'\"()").strip().lower()
        if text in VEEAM_WHY:
            why = text
        elif text:
            rule = text
    return rule, why


def check_9(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The exclusion rule that suppresses the Veeam backup task, and why it is written that way:
    ``(rule_id, letter)``."""
    exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        rule, why = _rule_and_why(answer)
        expected = {r.lower() for r in expected_9(data_dir)}
        rules = {r.id.lower(): r for r in shipped_rules()}
        if rule is None:
            return Verdict(9, False, "give the rule's id as well as the letter, e.g. (\"some-rule-id\", \"x\").")
        if rule not in expected:
            if any(word in rule for word in ("contains", "update", " ")) or rule == "backup":
                return Verdict(9, False, "a free-text 'contains' rule is exactly what not to write: an attacker's "
                                         "update.exe or backup.exe would match it. Give the id of the shipped rule.")
            if rule not in rules:
                return Verdict(9, False, f"no shipped rule is called {rule!r}. Take the id from result.suppressed's "
                                         "SuppressedBy column, or from exclusion_rules_table()'s id column.")
            if not rules[rule].enabled:
                return Verdict(9, False, f"{rule} is disabled, and it is about something else. Which enabled rule's "
                                         "conditions fit the Veeam task's folder?")
            return Verdict(9, False, f"{rule} does not match the Veeam task's runs. Check result.suppressed, or "
                                     "read the rules' 'when' conditions in exclusion_rules_table().")
        if why is None:
            return Verdict(9, False, "the rule is right; now the why: add the letter of your choice from "
                                     "training.why_choices(), e.g. (rule_id, \"x\").")
        choice = VEEAM_WHY[why]
        if not choice.correct:
            return Verdict(9, False, f"right rule, but not why: {choice.feedback}")
        return Verdict(9, True, f"{names_text(expected)}: {choice.feedback}")

    return graded(9, answer, grade, "(rule id, letter of the why)")


def check_10(answer: Any, data_dir: str | Path | None = None) -> Verdict:
    """The planted attacks' groups that a rule 'FolderPath contains "update"' would hide."""
    d = exercise_data(data_dir)

    def grade(answer: Any) -> Verdict:
        expected = expected_10(data_dir)
        if isinstance(answer, (set, list, tuple, dict)) and len(answer) == 0:
            return Verdict(10, False, "the rule does hide at least one planted attack here: apply it to "
                                      "one_device.rare_tasks and read what it marks.")
        given = read_groups(answer, d.published_one_device, "the groups the rule would hide")
        if given == expected:
            return Verdict(10, True, f"{groups_text(expected)}: a free-text 'contains' rule hides an attacker who "
                                     "simply names a folder or file after an updater. Anchor on an exact command "
                                     "line, an account, the vendor folder, and trust only a signer or a hash.")
        scenario = d.scenario_of()
        malicious = {g for g, s in scenario.items() if s["kind"] == "malicious"}
        hints = []
        if given - malicious:
            hints.append(f"group(s) that are not planted attacks: {len(given - malicious)} (the question asks only "
                         "about malicious tasks, though the rule hides those too)")
        if (given & malicious) - expected:
            hints.append("some of your attacks' folders do not contain 'update'")
        if expected - given:
            hints.append(f"attack group(s) whose folder contains 'update' missing: {len(expected - given)}; "
                         "use the max_devices=1 hunt (one_device) so that every attack is a rare group")
        return Verdict(10, False, "not yet: " + "; ".join(hints) + ".")

    return graded(10, answer, grade, "the groups the rule would hide (rows of one_device.rare_tasks, TaskIds or "
                                     "GroupKeys)")


#: The checkers by exercise number.
CHECKERS: dict[int, Callable[..., Verdict]] = {
    1: check_1, 2: check_2, 3: check_3, 4: check_4, 5: check_5,
    6: check_6, 7: check_7, 8: check_8, 9: check_9, 10: check_10,
}
