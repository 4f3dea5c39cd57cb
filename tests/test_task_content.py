"""tasks/content.py: one task definition read the same from Defender's JSON and the 4698 XML,
and hostile or broken content that never raises."""

from __future__ import annotations

import json
import time

import pytest

from hunting_lib.tasks.content import (
    MAX_CONTENT_CHARS,
    describe_trigger,
    parse_additional_fields,
    parse_task_content,
    read_registration,
)
from tests.task_rows import json_content, spec, xml_content

SPECS = {
    "one exec": spec(),
    "two execs, two time triggers, a logon trigger": spec(
        actions=[("%windir%\\system32\\cmd.exe", "/c echo 1"), ('"C:\\Program Files\\X\\x.exe"', "-q")],
        triggers=[("TimeTrigger", {"StartBoundary": "2026-11-03T02:00:00"}),
                  ("TimeTrigger", {"StartBoundary": "2026-11-04T02:00:00", "Enabled": "false"}),
                  ("LogonTrigger", {"UserId": "FABRIKAM\\anna"})],
        hidden=False, user="FABRIKAM\\anna", run_level="LeastPrivilege", logon_type="InteractiveToken"),
    "hostile text": spec(actions=[("C:\\a\\<script>alert(1)</script>.exe", '" | where 1==1 // & <b> \'')],
                         author="<img src=x onerror=alert(1)>"),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_json_and_xml_give_the_same_fields(name):
    task = SPECS[name]
    from_json, from_xml = parse_task_content(json_content(task)), parse_task_content(xml_content(task))
    assert from_json.ok and from_xml.ok
    assert (from_json.Format, from_xml.Format) == ("json", "xml")
    first = task["actions"][0]
    assert from_json.Command == from_xml.Command == first[0]
    assert from_json.Arguments == from_xml.Arguments == first[1]
    assert [(a["Command"], a["Arguments"]) for a in from_json.Actions] == list(task["actions"])
    same = ["Command", "Arguments", "Actions", "Triggers", "Principal", "RunLevel", "LogonType", "Hidden", "Author",
            "URI"]
    assert {k: getattr(from_json, k) for k in same} == {k: getattr(from_xml, k) for k in same}
    assert from_json.Principal == task["user"] and from_json.RunLevel == task["run_level"]
    assert from_json.Hidden is task["hidden"]
    assert len(from_json.Triggers) == len(task["triggers"])


def test_triggers_read_as_short_lines():
    task = SPECS["two execs, two time triggers, a logon trigger"]
    assert parse_task_content(json_content(task)).Triggers == [
        "TimeTrigger at 2026-11-03T02:00:00", "TimeTrigger at 2026-11-04T02:00:00 (disabled)",
        "LogonTrigger for FABRIKAM\\anna"]
    assert describe_trigger("CalendarTrigger", {"StartBoundary": "2026-11-03T02:00:00", "ScheduleByWeek": {}}) \
        == "CalendarTrigger weekly from 2026-11-03T02:00:00"
    assert describe_trigger("TimeTrigger", {"StartBoundary": "x", "Repetition": {"Interval": "PT5M"}}) \
        == "TimeTrigger at x every PT5M"


def test_an_empty_xml_trigger_element_is_a_trigger():
    text = xml_content(spec()).replace("<Triggers>", "<Triggers><BootTrigger/>")
    assert parse_task_content(text).Triggers[0] == "BootTrigger"


def test_com_handler_has_no_command():
    task = spec(actions=[{"ClassId": "{0F87369F-A4E5-4CFC-BD3E-73E6154572DD}", "Data": "<Data>x</Data>"}])
    for text in (json_content(task), xml_content(task)):
        fields = parse_task_content(text)
        assert fields.ok and fields.Command == "" and fields.Arguments == ""
        assert fields.Actions == [{"Type": "ComHandler", "ClassId": "{0F87369F-A4E5-4CFC-BD3E-73E6154572DD}",
                                   "Data": "<Data>x</Data>"}]


def test_exec_after_a_com_handler_is_the_command():
    task = spec(actions=[{"ClassId": "{1}", "Data": ""}, ("C:\\x\\a.exe", "-b")])
    assert parse_task_content(json_content(task)).Command == "C:\\x\\a.exe"


def test_content_as_a_parsed_object_and_double_encoded():
    content = json.loads(json_content(spec()))
    assert parse_task_content(content).Command == "C:\\Windows\\System32\\cmd.exe"
    assert parse_task_content(json.dumps(json_content(spec()))).Command == "C:\\Windows\\System32\\cmd.exe"


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
                  '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                  '<Task><Actions><Exec><Command>&lol3;</Command></Exec></Actions></Task>')
EXTERNAL = ('<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<Task><Actions><Exec><Command>&x;</Command></Exec></Actions></Task>')


@pytest.mark.parametrize("text", [
    "{not json", '{"Actions": ', '<Task><RegistrationInfo><Date>2026-11', BILLION_LAUGHS, BILLION_LAUGHS[:-30],
    EXTERNAL[:-20], "<Task><Actions><Exec><Command>a</Arguments><Arguments>b", "<Task><Actions></Task><Task><URI>x",
    '{"Actions": {"Exec": {"Command": "a"]}, "URI": "x', "<Other/>", "[1, 2]",
    '"just a string"', "x" * (MAX_CONTENT_CHARS + 1), "<Task>" + "<a>" * 50_000 + "</a>" * 50_000 + "</Task>",
    "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_unreadable_content_is_empty_and_flagged(text):
    started = time.perf_counter()
    fields = parse_task_content(text)
    assert not fields.ok
    assert fields.Command == "" and fields.Actions == [] and fields.Triggers == []
    assert time.perf_counter() - started < 5  # a bomb would not return (a guard, not a speed target)


def test_bare_ampersand_in_xml_reads_as_text():
    text = xml_content(spec()).replace("2&gt;&amp;1", "2>&1")
    assert "2>&1" in text
    fields = parse_task_content(text)
    assert fields.ok and fields.Arguments == "/c whoami > C:\\Windows\\Temp\\x.tmp 2>&1"


def test_a_long_argument_is_read_whole():
    arguments = "-enc " + "A" * 100_000
    for text in (json_content(spec(actions=[("powershell.exe", arguments)])),
                 xml_content(spec(actions=[("powershell.exe", arguments)]))):
        assert parse_task_content(text).Arguments == arguments


def test_additional_fields_reading():
    assert parse_additional_fields("") == ({}, True)
    assert parse_additional_fields({"TaskName": "\\a"}) == ({"TaskName": "\\a"}, True)
    assert parse_additional_fields("not json")[1] is False
    assert parse_additional_fields("[1]")[1] is False
    row = read_registration(json.dumps({"TaskName": "\\Updater", "TaskContent": xml_content(spec()),
                                        "SubjectUserName": "admin", "SubjectLogonId": "0x3e7"}))
    assert (row["TaskName"], row["Format"], row["SubjectUserName"], row["SubjectLogonId"], row["ParsedOk"]) == (
        "\\Updater", "xml", "admin", "0x3e7", True)
    deleted = read_registration(json.dumps({"TaskName": "\\Updater"}))
    assert deleted["ParsedOk"] and deleted["Format"] is None and deleted["Command"] == ""


# Cut-off content: recordings and Defender cut long fields; what is there is read, marked Truncated.
LONG = "-nop -w hidden -enc " + "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA" * 40
CUT_TASK = spec(actions=[("powershell.exe", LONG + " & echo <done> \"ok\"")], author="THESHIRE\\pgustavo",
                uri="\\Microsoft\\Windows\\SoftwareProtectionPlatform\\EventCacheManager", user="System",
                run_level="LeastPrivilege")


def cut_points(text: str, arguments: str) -> list[int]:
    """Cut positions inside the Arguments value of ``text``: a spread of them, and every one of
    the last 40 characters (through escapes and references)."""
    start = text.index(arguments[:30])
    end = text.index("ok", start) + 12  # past the value's end, whatever its quoting
    return sorted(set(range(start + 1, end, 97)) | set(range(max(start + 1, end - 40), end)))


@pytest.mark.parametrize("write", [xml_content, json_content])
def test_content_cut_in_the_arguments_is_read_as_far_as_it_goes(write):
    text = write(CUT_TASK)
    arguments = CUT_TASK["actions"][0][1]
    for at in cut_points(text, arguments):
        fields = parse_task_content(text[:at])
        assert fields.ok and fields.Truncated, at
        assert fields.Command == "powershell.exe"
        assert arguments.startswith(fields.Arguments), (at, fields.Arguments[-30:])
        assert len(fields.Arguments) >= len(arguments) - (len(text) - at), at  # lost at most what was cut
        assert (fields.Principal, fields.RunLevel) == ("System", "LeastPrivilege")
        # the XML holds RegistrationInfo before the actions, Defender's JSON after them
        registration_info = (CUT_TASK["author"], CUT_TASK["uri"]) if write is xml_content else ("", "")
        assert (fields.Author, fields.URI) == registration_info
    whole = parse_task_content(text)
    assert whole.ok and not whole.Truncated and whole.Arguments == arguments


def test_a_4702_cut_like_otrfs_keeps_caller_task_and_the_arguments_so_far():
    """The layout of OTRF's 4702 (Settings before Actions, UserId after RunLevel), cut at 3,393
    characters inside the encoded PowerShell."""
    head = ('<?xml version="1.0" encoding="UTF-16"?>\n<Task version="1.2" '
            'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\n  <RegistrationInfo>\n'
            '    <Date>2020-12-19T07:00:22</Date>\n    <Author>THESHIRE\\pgustavo</Author>\n'
            '    <URI>\\Microsoft\\Windows\\SoftwareProtectionPlatform\\EventCacheManager</URI>\n'
            '  </RegistrationInfo>\n  <Triggers>\n    <BootTrigger>\n      <StartBoundary>2020-12-19T07:00:00'
            '</StartBoundary>\n      <Enabled>true</Enabled>\n    </BootTrigger>\n  </Triggers>\n  <Principals>\n'
            '    <Principal id="Author">\n      <RunLevel>LeastPrivilege</RunLevel>\n      <UserId>System</UserId>\n'
            '    </Principal>\n  </Principals>\n  <Settings>\n    <Hidden>false</Hidden>\n  </Settings>\n'
            '  <Actions Context="Author">\n    <Exec>\n      <Command>powershell</Command>\n      <Arguments>')
    text = (head + LONG)[:3393]
    fields = parse_task_content(text)
    assert fields.ok and fields.Truncated and fields.Format == "xml"
    assert (fields.Author, fields.Principal, fields.RunLevel, fields.Command) == (
        "THESHIRE\\pgustavo", "System", "LeastPrivilege", "powershell")
    assert fields.URI.endswith("EventCacheManager") and fields.Triggers == ["BootTrigger at 2020-12-19T07:00:00"]
    assert fields.Arguments == LONG[:3393 - len(head)]


def test_a_cut_never_reads_entities():
    cut = ("<Task><RegistrationInfo><URI>\\x</URI></RegistrationInfo><Actions><Exec><Command>C:\\x\\a.exe"
           "</Command><Arguments>-a &xxe; &#65;&lt;&#x42;&am")  # an undeclared entity; a reference cut short
    fields = parse_task_content(cut)
    assert fields.ok and fields.Truncated and fields.Arguments == "-a &xxe; A<B"
    assert not parse_task_content(BILLION_LAUGHS[:-30]).ok  # a DOCTYPE is refused, cut or not


def test_a_cut_json_key_drops_only_that_member():
    text = json_content(CUT_TASK)
    at = text.index('"Arguments"') + 5  # inside the key
    fields = parse_task_content(text[:at])
    assert fields.Truncated and fields.Command == "powershell.exe" and fields.Arguments == ""


def test_additional_fields_cut_inside_task_content():
    """Defender cuts the AdditionalFields value itself: TaskName, then TaskContent cut mid-way."""
    whole = json.dumps({"TaskName": "\\Updater", "TaskContent": json_content(CUT_TASK), "SubjectUserName": "admin"})
    row = read_registration(whole[:len(whole) // 2])
    assert row["ParsedOk"] and row["Truncated"] and row["TaskName"] == "\\Updater"
    assert row["Command"] == "powershell.exe" and CUT_TASK["actions"][0][1].startswith(row["Arguments"])
    assert row["Arguments"].startswith("-nop -w hidden -enc SQBF") and row["SubjectUserName"] == ""
    assert not read_registration(whole)["Truncated"]
    assert not read_registration('{"TaskContent": "<Task><Actions><Exec><Command>a')["ParsedOk"]  # no TaskName
