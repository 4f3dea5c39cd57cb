"""Exclusion rules: the file format, its validation, expiry, and what a rule may suppress."""

import datetime as dt

import pytest

from hunting_lib.errors import BadInputError, DataWarning
from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.triage.exclusions import load_exclusions, parse_exclusions, suppressing_rule
from tests.conftest import SEED_TEXT, require_shared, task_start, typed

RULE = """
rules:
  - id: vendor-agent
    description: the vendor's agent
    reason: known good
    owner: team
    expires: 2099-01-01
    when:
      FolderPath: {startswith: 'C:\\Program Files\\Vendor\\'}
      AccountName: {equals: system}
"""


def starts(rows):
    return typed("DeviceProcessEvents", rows)


def test_rule_matches_only_when_every_condition_holds():
    (rule,) = parse_exclusions(RULE)
    frame = starts([
        task_start("a.exe", "a.exe", r"C:\Program Files\Vendor\a.exe", account="SYSTEM"),
        task_start("a.exe", "a.exe", r"c:\program files\vendor\a.exe", account="system"),
        task_start("a.exe", "a.exe", r"C:\Program Files\Vendor\a.exe", account="bob"),
        task_start("a.exe", "a.exe", r"C:\Users\Public\Vendor\a.exe", account="system"),
    ])
    assert rule.matches(frame).tolist() == [True, True, False, False]


@pytest.mark.parametrize("operator,value,expected", [
    ("equals", "a.exe --go", [True, False, False]),
    ("contains", "--GO", [True, True, False]),
    ("startswith", "a.exe", [True, True, False]),
    ("endswith", "--go", [True, False, False]),
    ("regex", r"^a\.exe --go$", [True, False, False]),
])
def test_each_operator(operator, value, expected):
    text = RULE.replace("FolderPath: {startswith: 'C:\\Program Files\\Vendor\\'}\n      AccountName: {equals: system}",
                        f"ProcessCommandLine: {{{operator}: '{value}'}}")
    (rule,) = parse_exclusions(text)
    frame = starts([task_start("a.exe", c, r"C:\a.exe") for c in ("a.exe --go", "a.exe --go; evil", "b.exe")])
    assert rule.matches(frame).tolist() == expected


def test_case_sensitive_rules():
    text = RULE.replace("    when:", "    case_sensitive: true\n    when:")
    (rule,) = parse_exclusions(text)
    frame = starts([task_start("a.exe", "a", r"C:\Program Files\Vendor\a.exe", account="system"),
                    task_start("a.exe", "a", r"C:\PROGRAM FILES\Vendor\a.exe", account="system")])
    assert rule.matches(frame).tolist() == [True, False]


@pytest.mark.parametrize("broken,field", [
    ("    owner: team\n", "owner"),
    ("    expires: 2099-01-01\n", "expires"),
    ("    reason: known good\n", "reason"),
])
def test_missing_fields_name_the_rule_and_field(broken, field):
    with pytest.raises(BadInputError, match=f"rule vendor-agent: field {field}: is required"):
        parse_exclusions(RULE.replace(broken, ""))


@pytest.mark.parametrize("replace,expected", [
    ("{equals: system}", "field when.AccountName: needs operators"),
    ("AccountName: {equals: system}", "field when.AccountName.sounds_like: unknown operator"),
    ("AccountName: {equals: system}", "field when.Hostname: unknown field"),
    ("expires: 2099-01-01", "field expires: 'soon' is not a date"),
    ("id: vendor-agent", "field id: must be letters"),
    ("AccountName: {equals: system}", "field when.AccountName.regex: invalid regex"),
    ("owner: team", "field ownr: unknown field"),
])
def test_malformed_rules_are_one_line_errors(replace, expected):
    replacements = {
        "field when.AccountName: needs operators": "system",
        "field when.AccountName.sounds_like: unknown operator": "AccountName: {sounds_like: system}",
        "field when.Hostname: unknown field": "Hostname: {equals: x}",
        "field expires: 'soon' is not a date": "expires: soon",
        "field id: must be letters": "id: 'bad id!'",
        "field when.AccountName.regex: invalid regex": "AccountName: {regex: '(unclosed'}",
        "field ownr: unknown field": "ownr: team",
    }
    text = RULE.replace(replace, replacements[expected])
    with pytest.raises(BadInputError) as error:
        parse_exclusions(text, "x.yaml")
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_duplicate_ids_and_bad_yaml():
    rule = RULE.split("rules:\n", 1)[1]
    with pytest.raises(BadInputError, match="is used by another rule"):
        parse_exclusions("rules:\n" + rule + rule)
    with pytest.raises(BadInputError, match="not valid YAML"):
        parse_exclusions("rules: [\n")


def test_expired_rules_are_ignored_with_a_warning(tmp_path):
    path = tmp_path / "ex.yaml"
    path.write_text(RULE.replace("2099-01-01", "2020-01-01"))
    with pytest.warns(DataWarning, match="rule vendor-agent expired on 2020-01-01"):
        assert load_exclusions(path) == []
    assert len(load_exclusions(path, today=dt.date(2019, 12, 31))) == 1


def test_disabled_rules_are_not_in_force(tmp_path):
    path = tmp_path / "ex.yaml"
    path.write_text(RULE.replace("    when:", "    enabled: false\n    when:"))
    assert load_exclusions(path) == []


def test_first_matching_rule_in_file_order_wins():
    text = RULE + RULE.split("rules:\n", 1)[1].replace("vendor-agent", "second").replace(
        "AccountName: {equals: system}", "FileName: {equals: a.exe}")
    rules = parse_exclusions(text)
    frame = starts([task_start("a.exe", "a", r"C:\Program Files\Vendor\a.exe", account="system"),
                    task_start("a.exe", "a", r"C:\Program Files\Vendor\a.exe", account="bob"),
                    task_start("b.exe", "a", r"C:\b.exe")])
    assert suppressing_rule(frame, rules).tolist() == ["vendor-agent", "second", ""]


def test_a_group_is_suppressed_only_if_every_run_matches(tmp_path):
    path = tmp_path / "ex.yaml"
    path.write_text(RULE)
    vendor = ("agent.exe", "agent.exe /job 7", r"C:\Program Files\Vendor\agent.exe")
    rows = [task_start(*vendor, pid=1, account="system"),
            task_start("agent.exe", "agent.exe /job 8", vendor[2], pid=2, account="system"),
            task_start("agent.exe", "agent.exe /job 8", vendor[2], pid=3, account="mallory"),
            task_start("evil.exe", "evil.exe", r"C:\Users\Public\evil.exe", pid=4)]
    result = run_hunt({"DeviceProcessEvents": starts(rows)}, HuntParams(exclusions=str(path)))
    by_command = dict(zip(result.rare_tasks["ProcessCommandLine"], result.rare_tasks["SuppressedBy"]))
    assert by_command == {"agent.exe /job 7": "vendor-agent", "agent.exe /job 8": None, "evil.exe": None}
    assert result.rare_tasks["ProcessCommandLine"].iloc[-1] == "agent.exe /job 7"  # suppressed rank last
    summary = result.exclusions.set_index("Rule").loc["vendor-agent"]
    assert (summary["Tasks"], summary["Runs"]) == (1, 1)
    # Exclusions never change which groups are rare.
    plain = run_hunt({"DeviceProcessEvents": starts(rows)}, HuntParams(exclusions=None))
    assert set(plain.rare_tasks["ProcessCommandLine"]) == set(result.rare_tasks["ProcessCommandLine"])
    assert plain.rare_tasks["SuppressedBy"].isna().all()


def test_the_shipped_file_loads_and_keeps_log_clearing_disabled():
    everything = parse_exclusions(open("hunting_lib/config/exclusions.yaml", encoding="utf-8").read())
    by_id = {rule.id: rule for rule in everything}
    assert not by_id["eventlog-cleanup"].enabled and "T1070.001" in by_id["eventlog-cleanup"].warning
    in_force = {rule.id for rule in load_exclusions()}
    assert "eventlog-cleanup" not in in_force and len(in_force) >= 6
    # Each shipped rule translates one of the published false-positive scenarios, named as the seed
    # names it, and the vendor rules stay anchored on the vendor's folder under Program Files.
    seed = require_shared(SEED_TEXT).read_text(encoding="utf-8")
    for rule in everything:
        scenario = rule.reason.split(" (published false positive)")[0]
        assert scenario in seed, rule.id
    for rule_id in ("backup-veeam-agent", "backup-acronis-agent"):
        (condition,) = by_id[rule_id].conditions
        assert (condition.field, condition.operator) == ("FolderPath", "startswith")
        assert all(v.lower().startswith(("c:\\program files\\", "c:\\program files (x86)\\")) for v in condition.values)


def test_the_shipped_rules_are_as_broad_as_the_published_filters():
    """Another fleet's report.ps1, in another folder, with other arguments and account, is the
    published scenario and is suppressed; so are the published patching and maintenance jobs."""
    rules = load_exclusions()
    frame = starts([
        task_start("powershell.exe", r'powershell.exe -File "D:\\BI\\Weekly\\report.ps1" -Region EMEA',
                   r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", account="contoso\\bi-runner"),
        task_start("pwsh.exe", r"pwsh.exe -NoLogo -Command C:\\Jobs\\generate-report.ps1",
                   r"C:\Program Files\PowerShell\7\pwsh.exe", account="svc-analytics"),
        task_start("msiexec.exe", r"msiexec.exe /i C:\\Deploy\\agent.msi /qn /quiet",
                   r"C:\Windows\System32\msiexec.exe", account="system"),
        task_start("cmd.exe", r'cmd.exe /c "wusa.exe C:\\Updates\\kb5041580.msu /quiet /norestart"',
                   r"C:\Windows\System32\cmd.exe", account="system"),
        task_start("cleanup.exe", "cleanup.exe --clean-temp", r"C:\Program Files\Tools\cleanup.exe"),
    ])
    assert suppressing_rule(frame, rules).tolist() == [
        "reporting-powershell-script", "reporting-powershell-script", "patching-quiet-install",
        "patching-quiet-install-via-cmd", "maintenance-clean-or-update"]


def test_chained_commands_do_not_ride_on_a_broad_rule():
    rules = load_exclusions()
    frame = starts([
        task_start("powershell.exe", r"powershell.exe -File C:\\x\\report.ps1; whoami",
                   r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"),
        task_start("cmd.exe", r"cmd.exe /c msiexec.exe /i x.msi /quiet & whoami", r"C:\Windows\System32\cmd.exe"),
        task_start("cmd.exe", r"cmd.exe /c update.bat & net user", r"C:\Windows\System32\cmd.exe"),
        task_start("rundll32.exe", r"rundll32.exe C:\\x\\update.dll,Update", r"C:\Windows\System32\rundll32.exe"),
        task_start("Veeam.exe", "Veeam.exe", r"C:\Users\bob\AppData\Local\Veeam\Veeam.exe", account="system"),
    ])
    assert suppressing_rule(frame, rules).tolist() == ["", "", "", "", ""]


def test_an_attacker_on_a_broad_rule_is_kept_by_a_tripwire():
    # Read literally, the published scenario would exclude every command line containing "update".
    # The rule does match these; the tripwires keep them findings, and say so.
    rows = [
        task_start("update.exe", "update.exe --update", r"C:\Users\Public\update.exe", pid=1, account="system"),
        task_start("powershell.exe", "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\Users\\Public\\report.ps1",
                   r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", pid=2, account="svc-reporting"),
    ]
    result = run_hunt({"DeviceProcessEvents": starts(rows)}, HuntParams())
    rare = result.rare_tasks.set_index("FileName")
    assert rare["SuppressedBy"].isna().all()
    assert rare.loc["update.exe", "WouldSuppressBy"] == "maintenance-clean-or-update"
    assert rare.loc["powershell.exe", "WouldSuppressBy"] == "reporting-powershell-script"
    for name in ("update.exe", "powershell.exe"):
        reasons = rare.loc[name, "Reasons"]
        assert f"matched:{rare.loc[name, 'WouldSuppressBy']}" in reasons
        assert "kept_by:user_writable_payload" in reasons and "user_writable_payload" in rare.loc[name, "Tripwires"]
    kept = result.exclusions.set_index("Rule")["KeptByTripwire"]
    assert kept["maintenance-clean-or-update"] == 1 and kept["reporting-powershell-script"] == 1
