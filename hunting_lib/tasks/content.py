"""A task's definition, read from Defender's ``AdditionalFields``: the JSON ``TaskContent``
Defender writes, or the XML of Windows event 4698 and Task Scheduler exports.

Both formats give the same flat fields (``TaskFields``), so that matching and the report never
care which one a row carried. Everything here is attacker-influenced text: parsing never raises,
XML with a DOCTYPE (entities, billion laughs) is refused before the parser sees it, and over-long
content is not parsed at all. A row that cannot be read keeps empty fields and ``ok=False``.
Content cut off mid-way (recordings and Defender cut long fields) is read as far as it goes
(``truncated``) and marked ``Truncated``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any

from hunting_lib.tasks.truncated import cut_json, cut_xml

#: Longer task content is not parsed (a real definition is a few kB; 64 actions of long
#: PowerShell stay well below this).
MAX_CONTENT_CHARS = 1_000_000
#: The trigger types of the Task Scheduler schema.
TRIGGER_TYPES = ("TimeTrigger", "CalendarTrigger", "LogonTrigger", "BootTrigger", "EventTrigger", "IdleTrigger",
                 "RegistrationTrigger", "SessionStateChangeTrigger")
_DOCTYPE = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
#: An ampersand that starts no character or predefined entity reference (``2>&1`` written into
#: XML without escaping, as hand-made exports do): read as a literal ``&``.
_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")
_CALENDAR_KINDS = {"ScheduleByDay": "daily", "ScheduleByWeek": "weekly", "ScheduleByMonth": "monthly",
                   "ScheduleByMonthDayOfWeek": "monthly"}


@dataclass
class TaskFields:
    """What one registration's task definition says, whatever its format."""

    Format: str | None = None
    Command: str = ""
    Arguments: str = ""
    WorkingDirectory: str = ""
    #: every action: ``{"Type": "Exec", "Command", "Arguments", "WorkingDirectory"}`` or
    #: ``{"Type": "ComHandler", "ClassId", "Data"}``
    Actions: list[dict[str, str]] = field(default_factory=list)
    Triggers: list[str] = field(default_factory=list)
    Principal: str = ""
    RunLevel: str = ""
    LogonType: str = ""
    Hidden: bool = False
    Author: str = ""
    URI: str = ""
    #: True when the content stopped mid-way and was read as far as it goes (the last field
    #: read may be cut short: a long ``-enc`` argument)
    Truncated: bool = False
    #: False when content was present but could not be read (malformed, refused, too long)
    ok: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str:
    """A scalar as text; Defender's values are strings, but a hand-made export may hold numbers."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_list(value: Any) -> list:
    """A JSON value that may be one object or a list of objects, as a list of objects."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


def _truthy(value: Any) -> bool:
    return _text(value).strip().lower() in ("true", "1")


def describe_trigger(kind: str, spec: dict[str, Any]) -> str:
    """One short readable line for a trigger: ``"CalendarTrigger daily from 2026-11-03T02:00:00"``.

    Times are the definition's own (device-local); nobody should compare them with event times.
    """
    start = _text(spec.get("StartBoundary")).strip()
    words = [kind]
    if kind == "CalendarTrigger":
        cadence = next((name for key, name in _CALENDAR_KINDS.items() if key in spec), "")
        if cadence:
            words.append(cadence)
        if start:
            words.append(f"from {start}")
    elif start:
        words.append(f"at {start}")
    user = _text(spec.get("UserId")).strip()
    if user:
        words.append(f"for {user}")
    repetition = spec.get("Repetition")
    interval = _text(repetition.get("Interval")).strip() if isinstance(repetition, dict) else ""
    if interval:
        words.append(f"every {interval}")
    if _text(spec.get("Enabled")).strip().lower() == "false":
        words.append("(disabled)")
    return " ".join(words)


def _from_mapping(task: dict[str, Any], format_name: str) -> TaskFields:
    """The flat fields of a definition held as nested dicts (JSON as is, XML converted)."""
    fields = TaskFields(Format=format_name)
    actions = task.get("Actions")
    actions = actions if isinstance(actions, dict) else {}
    for kind in ("Exec", "ComHandler"):
        for action in _as_list(actions.get(kind)):
            if kind == "Exec":
                fields.Actions.append({"Type": "Exec", "Command": _text(action.get("Command")),
                                       "Arguments": _text(action.get("Arguments")),
                                       "WorkingDirectory": _text(action.get("WorkingDirectory"))})
            else:
                fields.Actions.append({"Type": "ComHandler", "ClassId": _text(action.get("ClassId")),
                                       "Data": _text(action.get("Data"))})
    first_exec = next((a for a in fields.Actions if a["Type"] == "Exec"), None)
    if first_exec:
        fields.Command, fields.Arguments = first_exec["Command"], first_exec["Arguments"]
        fields.WorkingDirectory = first_exec["WorkingDirectory"]
    triggers = task.get("Triggers")
    triggers = triggers if isinstance(triggers, dict) else {}
    for kind, raw in triggers.items():  # in the definition's order; unknown kinds are triggers too
        specs = _as_list(raw) or ([{}] if raw is not None else [])  # <BootTrigger/> is a trigger too
        fields.Triggers.extend(describe_trigger(kind, spec) for spec in specs)
    principals = task.get("Principals")
    principal = _as_list(principals.get("Principal"))[:1] if isinstance(principals, dict) else []
    if principal:
        fields.Principal = _text(principal[0].get("UserId") or principal[0].get("GroupId"))
        fields.RunLevel = _text(principal[0].get("RunLevel"))
        fields.LogonType = _text(principal[0].get("LogonType"))
    settings = task.get("Settings")
    fields.Hidden = _truthy(settings.get("Hidden")) if isinstance(settings, dict) else False
    info = task.get("RegistrationInfo")
    if isinstance(info, dict):
        fields.Author, fields.URI = _text(info.get("Author")), _text(info.get("URI"))
    return fields


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _element_to_mapping(element: ET.Element) -> Any:
    """An XML element as the JSON shape Defender writes: text for a leaf, a dict of children
    otherwise, a list where a child name repeats (several ``Exec`` or ``TimeTrigger``)."""
    children = list(element)
    if not children:
        return (element.text or "").strip()
    out: dict[str, Any] = {}
    repeated: set[str] = set()  # names already made lists: appended in place (30,000 actions stay linear)
    for child in children:
        name, value = _local_name(child.tag), _element_to_mapping(child)
        if name not in out:
            out[name] = value
        elif name in repeated:
            out[name].append(value)
        else:
            out[name] = [out[name], value]
            repeated.add(name)
    return out


def _parse_xml(text: str) -> tuple[dict[str, Any] | None, bool]:
    """The definition as nested dicts, and whether the XML was cut off (read as far as it goes)."""
    if _DOCTYPE.search(text):
        return None, False  # entities are how XML bombs work; a task definition never needs them
    # The declaration names UTF-16, which is how the bytes were stored, not this str.
    text = _XML_DECLARATION.sub("", text, count=1)
    truncated = False
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, ValueError):
        try:
            root = ET.fromstring(_BARE_AMPERSAND.sub("&amp;", text))
        except (ET.ParseError, ValueError):
            root, truncated = cut_xml(text), True
            if root is None:
                return None, False
    if _local_name(root.tag) != "Task":
        return None, False
    try:
        mapped = _element_to_mapping(root)
    except RecursionError:  # thousands of nested elements: no task definition looks like that
        return None, False
    return (mapped if isinstance(mapped, dict) else {}), truncated


def _cut_off(task: dict[str, Any], format_name: str) -> TaskFields:
    """The fields of a cut-off definition, marked ``Truncated``; unreadable when the cut left
    nothing to show (no action, trigger, principal, author or URI)."""
    fields = _from_mapping(task, format_name)
    if not (fields.Actions or fields.Triggers or fields.Principal or fields.Author or fields.URI):
        return TaskFields(ok=False)
    fields.Truncated = True
    return fields


def parse_task_content(content: Any) -> TaskFields:
    """The fields of one ``TaskContent`` value: a JSON string, an XML string, or (from a JSON
    export that kept it nested) an already parsed dict. Empty content gives empty fields, ok;
    content cut off mid-way gives what it holds, ``Truncated``."""
    if isinstance(content, dict):
        return _from_mapping(content, "json")
    text = _text(content).strip()
    if not text:
        return TaskFields()
    if len(text) > MAX_CONTENT_CHARS:
        return TaskFields(ok=False)
    if text.startswith("<"):
        mapped, truncated = _parse_xml(text)
        if mapped is None:
            return TaskFields(ok=False)
        return _cut_off(mapped, "xml") if truncated else _from_mapping(mapped, "xml")
    try:
        parsed = json.loads(text)
    except RecursionError:
        return TaskFields(ok=False)
    except ValueError:
        partial = cut_json(text)
        return _cut_off(partial, "json") if isinstance(partial, dict) else TaskFields(ok=False)
    if isinstance(parsed, str):  # serialised once more than usual: read what it holds
        return parse_task_content(parsed) if parsed.strip() != text else TaskFields(ok=False)
    return _from_mapping(parsed, "json") if isinstance(parsed, dict) else TaskFields(ok=False)


def parse_additional_fields(value: Any) -> tuple[dict[str, Any], bool]:
    """``AdditionalFields`` as a dict, and whether it could be read (an empty value can)."""
    fields, ok, _ = _read_additional_fields(value)
    return fields, ok


def _read_additional_fields(value: Any) -> tuple[dict[str, Any], bool, bool]:
    """``AdditionalFields`` as a dict, whether it could be read, and whether it was cut off (read
    as far as it goes: Defender cuts long values, and TaskContent is the long one)."""
    if isinstance(value, dict):
        return value, True, False
    text = _text(value).strip()
    if not text:
        return {}, True, False
    if len(text) > MAX_CONTENT_CHARS * 2:
        return {}, False, False
    try:
        parsed = json.loads(text)
    except RecursionError:
        return {}, False, False
    except ValueError:
        partial = cut_json(text)
        readable = isinstance(partial, dict) and bool(_text(partial.get("TaskName")))
        return (partial, True, True) if readable else ({}, False, False)
    return (parsed, True, False) if isinstance(parsed, dict) else ({}, False, False)


#: The fields ``read_registration`` returns, with the value of a row that holds nothing.
REGISTRATION_FIELDS: dict[str, Any] = {
    "TaskName": "", **{k: v for k, v in TaskFields().as_dict().items() if k != "ok"},
    "SubjectUserSid": "", "SubjectUserName": "", "SubjectDomainName": "", "SubjectLogonId": "", "ParsedOk": True,
}


def read_registration(additional_fields: Any) -> dict[str, Any]:
    """Everything one registration row's ``AdditionalFields`` says, flat (``REGISTRATION_FIELDS``)."""
    fields, ok, cut = _read_additional_fields(additional_fields)
    task = parse_task_content(fields.get("TaskContent"))
    out = {k: v for k, v in task.as_dict().items() if k != "ok"}
    out["Truncated"] = task.Truncated or cut
    out["TaskName"] = _text(fields.get("TaskName"))
    for key in ("SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId"):
        out[key] = _text(fields.get(key)).strip()
    out["ParsedOk"] = ok and task.ok
    return out
