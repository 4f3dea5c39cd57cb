"""Secret redaction (report/redact.py, config/redaction.yaml): each rule on its own, the ordinary
command lines it must leave alone, every command line of the sample and the real exports,
idempotence, hostile input, and where the report applies it."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from hunting_lib.errors import BadInputError
from hunting_lib.report import redact
from hunting_lib.report.redact import (
    REDACTED,
    for_display_text,
    keep_secrets_in_display,
    load_rules,
    parse_rules,
    redact_frame,
    redact_records,
    redact_series,
    redact_text,
)
from tests.conftest import REAL_DATA, SAMPLE_DATA, require_shared

R = REDACTED

#: (rule id, command line, what it must become): written by hand from each tool's syntax.
CASES = [
    ("net-use-password-after-user", r"net use \\h\c$ /user:FABRIKAM\adm S3cret!",
     rf"net use \\h\c$ /user:FABRIKAM\adm {R}"),
    ("net-use-password-after-user", r'cmd.exe /c "net use \\fs01\c$ /user:FAB\adm Pa55! && copy a.exe \\fs01\c$"',
     rf'cmd.exe /c "net use \\fs01\c$ /user:FAB\adm {R} && copy a.exe \\fs01\c$"'),
    ("net-use-password-after-user", r'net.exe use \\h\ipc$ /u:"FAB\svc acct" "pass word"',
     rf'net.exe use \\h\ipc$ /u:"FAB\svc acct" {R}'),
    ("net-use-password-after-share", r"net use Z: \\fs01\share P@ss /user:FAB\svc",
     rf"net use Z: \\fs01\share {R} /user:FAB\svc"),
    ("net-use-password-after-share", r"net1 use \\10.0.0.5\admin$ Winter2026 /user:administrator",
     rf"net1 use \\10.0.0.5\admin$ {R} /user:administrator"),
    ("user-then-password-option", r"PsExec.exe \\srv -u FAB\adm -p Winter2024! cmd.exe",
     rf"PsExec.exe \\srv -u FAB\adm -p {R} cmd.exe"),
    ("user-then-password-option", r"winrs -r:srv -u:adm -p:Pa55 ipconfig", rf"winrs -r:srv -u:adm -p:{R} ipconfig"),
    ("user-then-password-option", 'sqlcmd -S db01 -U sa -P "p w" -Q "select 1"', f'sqlcmd -S db01 -U sa -P {R} -Q "select 1"'),
    ("colon-password-option", "cmdkey /generic:srv01 /user:adm /pass:Hunter2", f"cmdkey /generic:srv01 /user:adm /pass:{R}"),
    ("colon-password-option", 'wmic /node:srv /user:adm /password:"a b" process call create calc.exe',
     f"wmic /node:srv /user:adm /password:{R} process call create calc.exe"),
    ("schtasks-run-as-password", r"schtasks /create /tn Upd /tr C:\u.exe /ru FAB\svc /rp Sup3r! /sc daily",
     rf"schtasks /create /tn Upd /tr C:\u.exe /ru FAB\svc /rp {R} /sc daily"),
    ("schtasks-run-as-password", r"schtasks.exe /create /s srv02 /u FAB\adm /p Pw1 /tn X /tr calc.exe",
     rf"schtasks.exe /create /s srv02 /u FAB\adm /p {R} /tn X /tr calc.exe"),
    ("powershell-password-parameter", "powershell.exe Connect-Share -Password Hunter3 -PassThru",
     f"powershell.exe Connect-Share -Password {R} -PassThru"),
    ("powershell-password-parameter", "powershell.exe New-Thing -AccountPassword 'x y'", f"powershell.exe New-Thing -AccountPassword {R}"),
    ("securestring-plaintext",
     """powershell -c "New-LocalUser bk -Password (ConvertTo-SecureString 'P@ss1' -AsPlainText -Force)\"""",
     f"""powershell -c "New-LocalUser bk -Password (ConvertTo-SecureString {R} -AsPlainText -Force)\""""),
    ("securestring-plaintext",
     "powershell Invoke-Command -Credential (New-Object PSCredential('u', (ConvertTo-SecureString -AsPlainText -Force -String Pw2)))",
     f"powershell Invoke-Command -Credential (New-Object PSCredential('u', (ConvertTo-SecureString -AsPlainText -Force -String {R})))"),
    ("long-password-option", "backup.exe --password=abc --user x", f"backup.exe --password={R} --user x"),
    ("long-password-option", 'sync.exe --api-key "k 1" --verbose', f"sync.exe --api-key {R} --verbose"),
    ("mysql-attached-password", "mysqldump.exe -u root -pSecret1 crm", f"mysqldump.exe -u root -p{R} crm"),
    ("putty-password", "plink.exe -ssh -pw Pa55 admin@10.1.1.1", f"plink.exe -ssh -pw {R} admin@10.1.1.1"),
    ("curl-user-password", "curl.exe -u admin:Secr3t https://x.example/upload", f"curl.exe -u admin:{R} https://x.example/upload"),
    ("url-basic-auth", "curl https://admin:Secr3t@10.0.0.5/upload -T a.zip", f"curl https://admin:{R}@10.0.0.5/upload -T a.zip"),
    ("url-basic-auth", "git.exe clone https://build:ghp_x1y2@git.example/r.git", f"git.exe clone https://build:{R}@git.example/r.git"),
    ("url-signature", 'azcopy copy "https://a.blob.core.windows.net/c/f.zip?sv=2022-11-02&ss=b&sig=AbC%2Bd%3D&se=2026" x',
     f'azcopy copy "https://a.blob.core.windows.net/c/f.zip?sv=2022-11-02&ss=b&sig={R}&se=2026" x'),
    ("url-signature", "curl https://s3.example/b/k?X-Amz-Credential=AK/x&X-Amz-Signature=ab12cd",
     f"curl https://s3.example/b/k?X-Amz-Credential={R}&X-Amz-Signature={R}"),
    ("authorization-header", 'curl -H "Authorization: Bearer eyJhbGciOi.abc.def" https://api.example',
     f'curl -H "Authorization: Bearer {R}" https://api.example'),
    ("authorization-header", "powershell iwr https://x -Headers @{Authorization='Basic dXNlcjpwYXNz'}",
     f"powershell iwr https://x -Headers @{{Authorization='Basic {R}'}}"),
    ("connection-string-password", 'report.exe "Server=db;Database=x;User Id=sa;Password=P@ss;"',
     f'report.exe "Server=db;Database=x;User Id=sa;Password={R};"'),
    ("connection-string-password", 'powershell $pwd = "S3cret"; Run', f"powershell $pwd = {R}; Run"),
    ("aws-access-key", "set AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", f"set AWS_ACCESS_KEY_ID=AKIA{R}"),
    ("aws-secret-key", "set aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     f"set aws_secret_access_key={R}"),
    ("kerberos-key-material", r'"Rubeus.exe" asktgt /user:pg /rc4:81d310fa34e6a56a31145445891bb7b8 /ptt',
     rf'"Rubeus.exe" asktgt /user:pg /rc4:{R} /ptt'),
    ("kerberos-ticket", "Rubeus.exe ptt /ticket:" + "doIFmjCCBZagAwIBBaEDAgEWooIEqDCCBKRhggSgMIIEnKAD" + "==",
     f"Rubeus.exe ptt /ticket:{R}"),
]

#: Command lines with nothing secret, several close to a rule: they must come back unchanged.
ORDINARY = [
    "svchost.exe -k netsvcs -p -s Schedule",
    "svchost.exe -k netsvcs -p",
    "WerFault.exe -pss -s 460 -p 5728 -ip 5728",
    r"rundll32.exe C:\Users\P\AppData\Local\Temp\qfhaer.dll,a /p:qfhaer",
    r"net use \\fs01\ipc$ \"\" /user:\"\"",
    r'net use \\fs01\ipc$ "" /user:""',
    r"net use \\h\c$ /user:FAB\adm /persistent:no",
    r"net use \\h\c$ /user:FAB\adm /p:yes",
    r"net use Z: \\fs01\share /user:FAB\svc *",
    "net use",
    "powershell.exe Get-Thing -PassThru -Password $pw",
    "powershell.exe $c = Get-Credential; New-PSDrive -Credential $c",
    "powershell.exe ConvertTo-SecureString $plain -AsPlainText -Force",
    '"Teams.exe" --type=renderer --service-pipe-token=10845622408987516810 --lang=en-US',
    r"schtasks /query /fo LIST /v",
    r"schtasks /create /tn X /tr calc.exe /ru SYSTEM /sc onlogon",
    "mysql.exe -u root -p crm",
    "curl https://example.com/a?b=1&c=2",
    "git.exe -c credential.helper= log -n1",
    r'reg export "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Authentication\Credential Providers" a.reg /y',
    '"ngen.exe" install "System.Core, Version=4.0.0.0, PublicKeyToken=b77a5c561934e089" /NoDependencies',
    "https://user@host.example/path",
    r'Rubeus.exe ptt /ticket:C:\Users\Public\t.kirbi',
    "",
]


def _rule(rule_id: str):
    return next(rule for rule in load_rules() if rule.id == rule_id)


@pytest.mark.parametrize("rule_id,text,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_rule_redacts_its_secret_and_keeps_the_structure(rule_id, text, expected):
    assert redact_text(text, [_rule(rule_id)]) == expected  # the rule alone
    assert redact_text(text) == expected  # and no other rule changes more


def test_every_shipped_rule_has_a_case():
    assert {rule.id for rule in load_rules()} == {case[0] for case in CASES}


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_command_lines_are_left_alone(text):
    assert redact_text(text) == text


@pytest.mark.parametrize("text", [case[1] for case in CASES] + ORDINARY)
def test_redaction_is_idempotent(text):
    once = redact_text(text)
    assert redact_text(once) == once


def test_hints_are_only_a_shortcut():
    """Each rule's hints must hold wherever its pattern can match: without them, the same result."""
    bare = [dataclasses.replace(rule, hints=()) for rule in load_rules()]
    texts = [case[1] for case in CASES] + ORDINARY + [case[1].upper() for case in CASES]
    assert [redact_text(t, bare) for t in texts] == [redact_text(t) for t in texts]


def _command_lines(folder: Path) -> pd.Series:
    """Every distinct ProcessCommandLine and InitiatingProcessCommandLine of a folder's CSV exports."""
    values = set()
    for path in sorted(folder.glob("*.csv*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            header = pd.read_csv(handle, nrows=0).columns
        columns = [c for c in header if c.split(" [")[0] in ("ProcessCommandLine", "InitiatingProcessCommandLine")]
        if columns:
            frame = pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False)
            for column in columns:
                values.update(frame[column].unique())
    return pd.Series(sorted(values), dtype=object)


def _changed(lines: pd.Series) -> dict[str, str]:
    redacted = redact_series(lines)
    return dict(zip(lines[redacted != lines], redacted[redacted != lines]))


def test_sample_command_lines_hold_no_secret():
    lines = _command_lines(SAMPLE_DATA)
    assert len(lines) > 500  # the whole sample was read
    assert "svchost.exe -k netsvcs -p -s Schedule" in set(lines)
    assert _changed(lines) == {}


def test_real_exports_only_the_lines_with_a_secret_change():
    """The real exports hold one secret: Rubeus asking for a TGT with the account's RC4 (NTLM) hash."""
    require_shared(REAL_DATA)
    lines = pd.concat([_command_lines(folder) for folder in sorted(REAL_DATA.iterdir()) if folder.is_dir()],
                      ignore_index=True).drop_duplicates()
    assert len(lines) > 500
    rubeus = r'"Rubeus.exe" asktgt /user:pgustavo /rc4:81d310fa34e6a56a31145445891bb7b8 /createnetonly:C:\Windows\System32\cmd.exe'
    assert _changed(lines) == {rubeus: rubeus.replace("81d310fa34e6a56a31145445891bb7b8", R)}


def test_redact_series_works_per_distinct_value_and_keeps_the_rest(monkeypatch):
    secret = r"net use \\h\c$ /user:FAB\adm S3cret!"
    values = pd.Series([secret, None, "calc.exe", secret, float("nan"), secret], index=[5, 6, 7, 8, 9, 10], name="Cmd")
    calls = []
    real = redact.redact_text
    monkeypatch.setattr(redact, "redact_text", lambda text, rules=None: calls.append(text) or real(text, rules))
    out = redact_series(values)
    assert sorted(calls) == sorted([secret, "calc.exe"])  # each distinct string once
    assert list(out.index) == [5, 6, 7, 8, 9, 10] and out.name == "Cmd"
    assert out[5] == out[8] == out[10] == rf"net use \\h\c$ /user:FAB\adm {R}"
    assert out[6] is None and pd.isna(out[9]) and out[7] == "calc.exe"
    assert values[5] == secret  # the input is not changed


def test_redact_series_handles_categories_strings_and_nested_cells():
    secret = "curl https://a:b@h/x"
    assert list(redact_series(pd.Series([secret, "x"], dtype="category"))) == [f"curl https://a:{R}@h/x", "x"]
    assert list(redact_series(pd.Series([secret, None], dtype="string")))[0] == f"curl https://a:{R}@h/x"
    nested = pd.Series([[{"Command": "net.exe", "Arguments": r"use \\h /user:x Pw9"}], []])
    assert redact_series(nested)[0] == [{"Command": "net.exe", "Arguments": rf"use \\h /user:x {R}"}]
    assert list(redact_series(pd.Series([1, 2]))) == [1, 2]


def test_redact_frame_redacts_text_columns_only_and_copies():
    frame = pd.DataFrame({"ProcessCommandLine": ["tool --password=x", "calc"], "AdditionalFields": ['{"a":"pwd=zz"}', ""],
                          "ProcessId": [1, 2], "Timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)})
    out = redact_frame(frame)
    assert list(out["ProcessCommandLine"]) == [f"tool --password={R}", "calc"]
    assert out.loc[0, "AdditionalFields"] == f'{{"a":"pwd={R}"}}'
    assert out["ProcessId"].tolist() == [1, 2] and out["Timestamp"].equals(frame["Timestamp"])
    assert frame.loc[0, "ProcessCommandLine"] == "tool --password=x"
    only = redact_frame(frame, columns=["AdditionalFields", "NotThere"])
    assert only.loc[0, "ProcessCommandLine"] == "tool --password=x" and R in only.loc[0, "AdditionalFields"]


def test_redact_records_walks_a_findings_document():
    document = {"rare_tasks": [{"ProcessCommandLine": "psexec -u a -p b c", "Count": 1, "Reasons": ["x"],
                                "TaskDefinitions": [{"Arguments": "--pwd q"}]}], "parameters": {"threshold": 3}}
    out = redact_records(document)
    assert out["rare_tasks"][0]["ProcessCommandLine"] == f"psexec -u a -p {R} c"
    assert out["rare_tasks"][0]["TaskDefinitions"][0]["Arguments"] == f"--pwd {R}"
    assert out["rare_tasks"][0]["Count"] == 1 and out["parameters"] == {"threshold": 3}
    assert document["rare_tasks"][0]["ProcessCommandLine"] == "psexec -u a -p b c"  # not in place


def test_hostile_input_never_raises():
    deep: list = []
    node = deep
    for _ in range(5000):  # far deeper than the recursion limit: cut off, not a RecursionError
        node.append([])
        node = node[0]
    values = [None, float("nan"), 3, b"bytes", "\ud800 lone surrogate /pass:x", "\x00net use \\\\h /user:a b\x00",
              "net use " * 50_000, "/user:" * 50_000 + "x", '"' * 100_000, "https://" + "a" * 100_000 + ":" + "b",
              "ConvertTo-SecureString " * 20_000, "\u202e/pass:gnp.exe"]
    for value in values:
        once = redact_text(value)
        assert redact_text(once) is once or redact_text(once) == once
    assert redact_text("\ud800 lone surrogate /pass:x") == f"\ud800 lone surrogate /pass:{R}"
    assert redact_records(deep) is not None
    assert redact_series(pd.Series(values, dtype=object)).iloc[4].endswith(f"/pass:{R}")


def test_a_bad_rules_file_is_one_clear_error():
    with pytest.raises(BadInputError, match="rules.yaml: rule broken: bad regular expression"):
        parse_rules("rules:\n  - id: broken\n    pattern: '(unclosed'\n", "rules.yaml")
    with pytest.raises(BadInputError, match="rule two: bad regular expression"):
        parse_rules("rules:\n  - id: two\n    pattern: '(a)'\n    replacement: '\\3'\n", "rules.yaml")
    with pytest.raises(BadInputError, match="needs an id and a pattern"):
        parse_rules("rules:\n  - description: nothing\n", "rules.yaml")
    with pytest.raises(BadInputError, match="unique"):
        parse_rules("rules:\n  - {id: a, pattern: '(x)(y)'}\n  - {id: a, pattern: '(x)(y)'}\n", "rules.yaml")


@pytest.fixture
def session_choice():
    """The display choice is module state: restore it whatever the test does."""
    before = redact._KEEP_SECRETS[0]
    yield
    redact._KEEP_SECRETS[0] = before


def test_the_report_helpers_redact_unless_secrets_are_kept(session_choice, monkeypatch):
    from hunting_lib.report.evidence import evidence_card_html
    from hunting_lib.report.output import markdown_text, plot_safe
    from hunting_lib.report.tables import for_display

    monkeypatch.delenv("HUNTING_LIB_KEEP_SECRETS", raising=False)
    redact._KEEP_SECRETS[0] = None
    secret = r"net use \\h\c$ /user:FABRIKAM\adm S3cret!"
    frame = pd.DataFrame({"ProcessCommandLine": [secret], "Devices": [["pc1", "pc2"]]})
    assert "S3cret!" not in for_display(frame).loc[0, "ProcessCommandLine"]
    assert for_display(frame, keep_secrets=True).loc[0, "ProcessCommandLine"] == secret
    assert for_display(frame).loc[0, "Devices"] == "pc1, pc2"
    assert "S3cret!" not in markdown_text(secret) and "S3cret!" not in plot_safe(pd.Series([secret]))[0]
    task = pd.Series({"ProcessCommandLine": secret, "FolderPath": r"C:\Windows\System32\net.exe",
                      "DecodedCommand": "curl -u a:Pw7 https://x", "Indicators": ["https://x/?sig=abc"],
                      "Count": 1, "DeviceCount": 1, "Devices": ["pc1"], "Accounts": ["adm"]})
    timeline = pd.DataFrame({"Table": ["DeviceProcessEvents"], "ActionType": ["ProcessCreated"], "Depth": [0]})
    card = evidence_card_html(task, timeline)
    assert "S3cret!" not in card and "Pw7" not in card and "sig=abc" not in card
    assert "/user:FABRIKAM\\adm &lt;redacted&gt;" in card
    assert for_display_text(secret) != secret
    from hunting_lib.report.labels import short_label

    assert short_label("https://a.example/c?sv=1&sig=SeCrEt9", 60) == f"https://a.example/c?sv=1&sig={R}"
    keep_secrets_in_display(True)  # the notebook's keep_secrets parameter
    assert "S3cret!" in evidence_card_html(task, timeline) and for_display(frame).loc[0, "ProcessCommandLine"] == secret
    redact._KEEP_SECRETS[0] = None
    monkeypatch.setenv("HUNTING_LIB_KEEP_SECRETS", "1")  # what report --keep-secrets gives the kernel
    assert markdown_text(secret).count("S3cret") == 1


# ---------------------------------------------------------------------------------------------
# The HTML report (slow: two notebook runs)

NET_USE = r'cmd.exe /c "net use \\fs01\c$ /user:FABRIKAM\adm S3cret! && copy \\fs01\c$\t.exe C:\Users\Public\t.exe"'
SAS = ('azcopy.exe copy "https://stor01.blob.core.windows.net/drop/t.zip?sv=2022-11-02&ss=b&srt=o&sp=r'
       '&sig=Zx9SasSecretQ%2Bk%3D" C:\\Users\\Public\\t.zip')
#: The secrets the two planted tasks hold, as they would show in a page.
SECRETS = ("S3cret!", "Zx9SasSecretQ")


@pytest.fixture(scope="module")
def secrets_folder(tmp_path_factory):
    """Two rare tasks with secrets in their command lines, each with network activity."""
    from tests.conftest import activity, task_start

    folder = tmp_path_factory.mktemp("secrets")
    tasks = [("cmd.exe", NET_USE, r"C:\Windows\System32\cmd.exe", 11), ("azcopy.exe", SAS, r"C:\Tools\azcopy.exe", 12)]
    pd.DataFrame([task_start(name, line, path, pid=pid, minutes=pid) for name, line, path, pid in tasks]).to_csv(
        folder / "DeviceProcessEvents.csv", index=False)
    pd.DataFrame([activity(name, line, path, pid=pid, minutes=pid + 1, created_minutes=pid, RemoteIP="203.0.113.7")
                  for name, line, path, pid in tasks]).to_csv(folder / "DeviceNetworkEvents.csv", index=False)
    return folder


def test_the_report_redacts_secrets_unless_kept(secrets_folder, tmp_path):
    from hunting_lib.cli import main
    from tests.test_report import Page

    default, kept = tmp_path / "default" / "report.html", tmp_path / "kept" / "report.html"
    assert main(["report", "--data-dir", str(secrets_folder), "--output", str(default)]) == 0
    assert main(["report", "--data-dir", str(secrets_folder), "--output", str(kept), "--keep-secrets"]) == 0
    redacted_page, kept_page = default.read_text(encoding="utf-8"), kept.read_text(encoding="utf-8")
    # the findings are in both pages, with their structure
    cells = Page(redacted_page).texts["td"]
    assert any(r"/user:FABRIKAM\adm <redacted>" in cell for cell in cells)
    assert any("&sig=<redacted>" in cell for cell in cells)
    # no secret anywhere in the default page (tables, evidence cards, summary, plot data, audit)
    assert [secret for secret in SECRETS if secret in redacted_page] == []
    # --keep-secrets shows them as they are
    assert all(secret in kept_page for secret in SECRETS)
    assert any(NET_USE in cell for cell in Page(kept_page).texts["td"])
    # the Audit section at the end says which it is
    assert 'data-audit="secrets">redacted' in redacted_page and 'data-audit="secrets">kept' in kept_page
    # the findings.json beside the report stays exact (the contract's rows), and says so
    exported = json.loads((default.parent / "findings.json").read_text(encoding="utf-8"))
    assert exported["redacted"] is False and NET_USE in {t["ProcessCommandLine"] for t in exported["rare_tasks"]}
