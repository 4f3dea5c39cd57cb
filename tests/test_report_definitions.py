"""The task-definition card: what task ran a finding's program, who registered it, shown as text.

Expected text comes from the definitions written here, not from running the code.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd

from hunting_lib.report.definitions import (
    action_text,
    definitions_html,
    registrations_for_display,
    task_names,
    task_names_text,
)

HOSTILE_NAME = '\\Upd<script>window.__pwned=1</script>'
HOSTILE_ARGS = '/c "<img src=x onerror=alert(1)>" & whoami'


def definition(**fields) -> dict:
    """One TaskDefinitions entry with every field hunting_lib.tasks writes, overridable."""
    base = {
        "TaskName": "\\Updater", "Command": "C:\\Windows\\System32\\cmd.exe",
        "Arguments": "/c whoami > C:\\Windows\\Temp\\x.tmp 2>&1",
        "Triggers": ["TimeTrigger at 2026-11-03T02:00:00"], "Principal": "S-1-5-18", "RunLevel": "HighestAvailable",
        "LogonType": "ServiceAccount", "Hidden": False, "RegisteredAt": "2026-11-03T01:58:11Z",
        "RegisteredBy": "FABRIKAM\\admin", "RegisteredByProcess": "schtasks.exe",
        "RegisteredByCommandLine": 'schtasks /create /tn Updater /tr "cmd /c whoami"',
        "RegisteredFromNetworkLogon": False, "RemoteIP": None, "RemoteDevice": None, "DeletedAt": None,
        "UpdatedAt": None, "Source": "api", "Format": "json", "DeviceName": "pc-01",
    }
    return {**base, **fields}


def task(definitions: list[dict], **fields) -> pd.Series:
    row = {"FileName": "cmd.exe", "ProcessCommandLine": "cmd.exe /c whoami > C:\\Windows\\Temp\\x.tmp 2>&1",
           "FolderPath": "C:\\Windows\\System32\\cmd.exe", "GroupKey": "gk-0123456789abcdef",
           "GroupPattern": "cmd.exe\u241fcmd.exe /c whoami\u241fc:\\windows\\system32\\cmd.exe",
           "TaskDefinitions": definitions, "TaskNames": [d["TaskName"] for d in definitions]}
    return pd.Series({**row, **fields})


class Hooks(HTMLParser):
    """Every element's tag and attributes, as a browser's parser sees them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def strip(html: str) -> str:
    """The page's text, as a reader sees it (tags gone, entities decoded)."""
    class Text(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag in ("th", "td", "tr", "p", "li", "table", "div"):
                self.parts.append(" ")  # cells and blocks read apart; inline markup does not split words

        def handle_data(self, data):
            self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join("".join(parser.parts).split())


def test_the_card_shows_each_field_of_a_registration():
    card = definitions_html(task([definition()]))
    page = Hooks(card)
    text = strip(card)
    assert "\\Updater" in text
    assert 'C:\\Windows\\System32\\cmd.exe /c whoami > C:\\Windows\\Temp\\x.tmp 2>&1' in text  # command + arguments
    assert "TimeTrigger at 2026-11-03T02:00:00" in text
    assert "S-1-5-18 (run level HighestAvailable, logon type ServiceAccount)" in text
    assert 'FABRIKAM\\admin with schtasks.exe: schtasks /create /tn Updater /tr "cmd /c whoami"' in text
    assert "2026-11-03 01:58:11 (UTC)" in text  # to the second, UTC
    assert "Registered remotely no (no network logon found for the caller)" in text
    assert "Deleted no" in text and "Hidden no" in text
    assert "Task Scheduler API" in text and "content as json" in text
    assert "Device pc-01" in text
    # the key and its pattern beside the raw strings it was made from
    assert "gk-0123456789abcdef" in text and "c:\\windows\\system32\\cmd.exe" in text
    assert "C:\\Windows\\System32\\cmd.exe" in text
    assert not [t for t, _ in page.tags if t in ("script", "img")]


def test_a_remote_registration_shows_its_address_and_device():
    card = definitions_html(task([definition(RegisteredFromNetworkLogon=True, RemoteIP="10.1.2.3",
                                             RemoteDevice="ws-attacker", RegisteredBy="FABRIKAM\\svc",
                                             RegisteredByProcess="svchost.exe")],
                                 registered_remotely=True))
    assert '<code data-definition="remote-ip">10.1.2.3</code>' in card
    text = strip(card)
    assert "Registered remotely yes, over a network logon from 10.1.2.3, device ws-attacker" in text
    assert "Registration signals: registered remotely" in text


def test_deleted_hidden_and_registry_only_registrations_say_so():
    card = strip(definitions_html(task([definition(DeletedAt="2026-11-03T02:00:40.1234567Z", Hidden="true",
                                                   Source="registry", Format=None)],
                                       deleted_after_run=True, registered_outside_api=True)))
    assert "Deleted 2026-11-03 02:00:40 (UTC)" in card
    assert "Hidden yes" in card
    assert "registry only: written to the TaskCache by a process other than the Schedule service" in card
    assert "Registration signals: deleted right after running; registered outside the Task Scheduler API" in card
    # a signal column that is False is not listed
    assert "registered remotely" not in strip(definitions_html(task([definition()], registered_remotely=False)))


def test_hostile_task_names_and_commands_stay_text():
    hostile = definition(TaskName=HOSTILE_NAME, Arguments=HOSTILE_ARGS, RegisteredByCommandLine=HOSTILE_ARGS,
                         Triggers=["<svg onload=alert(2)>"], RemoteIP='"><script>x()</script>', DeviceName=HOSTILE_NAME)
    card = definitions_html(task([hostile], ProcessCommandLine=HOSTILE_ARGS, FileName=HOSTILE_NAME))
    page = Hooks(card)
    assert not [t for t, _ in page.tags if t in ("script", "img", "svg")]
    assert not [n for _, a in page.tags for n in a if n.startswith("on")]
    text = strip(card)
    assert HOSTILE_NAME in text and HOSTILE_ARGS in text and "<svg onload=alert(2)>" in text


def test_invisible_characters_are_shown_escaped():
    card = strip(definitions_html(task([definition(TaskName="\\Upd\u202eexe.txt")])))
    assert "\\Upd\\u202eexe.txt" in card


def test_no_registration_says_why_and_many_are_capped():
    assert "No task registration found for this group" in strip(definitions_html(task([])))
    many = [definition(DeviceName=f"pc-{i:02}") for i in range(11)]
    card = definitions_html(task(many))
    assert "11 task registration(s)" in strip(card)
    assert card.count('data-definition="registration-') == 8
    assert "and 3 more" in strip(card)


def test_redaction_applies_to_every_command_shown():
    secret = definition(Arguments="use \\\\h\\c$ /user:FABRIKAM\\adm S3cret!",
                        RegisteredByCommandLine="net use \\\\h\\c$ /user:FABRIKAM\\adm S3cret!")
    card = definitions_html(task([secret], ProcessCommandLine="net use /user:x S3cret!"),
                            redact=lambda text: text.replace("S3cret!", "<redacted>"))
    assert "S3cret!" not in card and "&lt;redacted&gt;" in card


def test_action_text_quotes_a_command_with_spaces():
    assert action_text({"Command": "C:\\Program Files\\X\\x.exe", "Arguments": "-run"}) == \
        '"C:\\Program Files\\X\\x.exe" -run'
    assert action_text({"Command": '"C:\\Program Files\\X\\x.exe"', "Arguments": None}) == '"C:\\Program Files\\X\\x.exe"'
    assert action_text({"Command": None, "Arguments": None}) == ""


def test_task_names_from_either_column():
    assert task_names({"TaskNames": ["\\A", "\\B", "\\A"]}) == ["\\A", "\\B"]
    assert task_names({"TaskDefinitions": [{"TaskName": "\\C"}, {"TaskName": None}]}) == ["\\C"]
    assert task_names_text({"TaskNames": ["\\A", "\\B", "\\C", "\\D"]}) == "\\A, \\B, \\C and 1 more"
    assert task_names_text({"TaskNames": float("nan")}) == ""


def test_the_registrations_table_reads_in_few_columns_and_redacts():
    frame = pd.DataFrame([
        {"DeviceName": "pc-01", "TaskName": "\\Never", "Command": "C:\\Program Files\\X\\x.exe",
         "Arguments": "--password=hunter2", "Triggers": ["LogonTrigger", "BootTrigger"],
         "RegisteredAt": "2026-11-03T01:00:00.1234567Z", "RegisteredBy": "FABRIKAM\\ana",
         "RegisteredByProcess": "mshta.exe", "RegisteredByCommandLine": "mshta.exe x.hta",
         "RegisteredFromNetworkLogon": True, "RemoteIP": "10.1.2.3", "RemoteDevice": None,
         "DeletedAt": None, "Source": "api", "Score": 4.0, "Reasons": ["registered_by_script_host"], "Unrelated": 1},
        {"DeviceName": "pc-02", "TaskName": "\\Hidden", "Command": "evil.exe", "Arguments": None, "Triggers": [],
         "RegisteredAt": None, "RegisteredBy": None, "RegisteredByProcess": None, "RegisteredByCommandLine": None,
         "RegisteredFromNetworkLogon": False, "RemoteIP": None, "DeletedAt": "2026-11-03T02:00:00Z",
         "Source": "registry", "Score": 2.0, "Reasons": []},
    ])
    shown = registrations_for_display(frame, redact=lambda text: text.replace("hunter2", "<redacted>"))
    assert list(shown.columns) == ["Score", "Reasons", "Device", "Task", "Action", "Triggers", "Registered", "By",
                                   "Remote", "Deleted"]
    first, second = shown.to_dict(orient="records")
    assert first["Action"] == '"C:\\Program Files\\X\\x.exe" --password=<redacted>'
    assert first["Triggers"] == "LogonTrigger; BootTrigger" and first["Registered"] == "2026-11-03 01:00:00"
    assert first["By"] == "FABRIKAM\\ana with mshta.exe: mshta.exe x.hta"
    assert first["Remote"] == "network logon from 10.1.2.3"
    assert (second["Task"], second["Deleted"], second["Remote"], second["By"]) == (
        "\\Hidden (registry only)", "2026-11-03 02:00:00", "", "?")
    assert registrations_for_display(None).empty


def test_secrets_are_redacted_by_default_and_kept_on_request():
    from hunting_lib.report import redact

    secret = definition(Command="C:\\Windows\\System32\\net.exe", Arguments="use \\\\fs01\\c$ /user:FABRIKAM\\adm S3cret!",
                        RegisteredByCommandLine="schtasks /create /tr \"net use \\\\fs01\\c$ /user:FABRIKAM\\adm S3cret!\"")
    row = task([secret], ProcessCommandLine="net.exe use \\\\fs01\\c$ /user:FABRIKAM\\adm S3cret!")
    try:
        redact.keep_secrets_in_display(False)
        card = definitions_html(row)
        assert "S3cret!" not in card and "/user:FABRIKAM\\adm" in strip(card)
        redact.keep_secrets_in_display(True)
        assert strip(definitions_html(row)).count("S3cret!") == 3  # the run, the action and the registering command
    finally:
        redact._KEEP_SECRETS[0] = None
