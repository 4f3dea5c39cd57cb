"""Task definitions as Defender and Windows write them: TaskContent (JSON or event 4698's XML),
the TaskCache ``Actions`` blob, triggers in device-local time, paths with environment variables.

Why this module exists: the planted registrations (``registrations``) and the fleet's everyday
task updates (``templates``) write the same definitions; these are plain functions of a
``TaskSpec``, with no generator state.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from hunting_lib.sample.common import DAY, HOUR, SYSTEM, compact_json

#: The fleet is in Finland: task triggers are written in device-local time, EET (UTC+2) in November.
LOCAL_OFFSET = 2 * HOUR
_TASK_XMLNS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
#: What a Schedule service-written SD value looks like (a self-relative security descriptor).
SD_PREFIX = "01000480"


@dataclass
class TaskSpec:
    """A task definition: what runs, when, and as whom (the fields of TaskContent)."""

    command: str
    arguments: str = ""
    triggers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    user_id: str = SYSTEM[2]
    run_level: str = "HighestAvailable"
    logon_type: str = "ServiceAccount"
    hidden: bool = False
    working_directory: str = ""


def local_time(ns: int) -> str:
    """A device-local (EET) trigger time, as Task Scheduler writes it: no zone, whole seconds."""
    return str(np.datetime64(ns + LOCAL_OFFSET, "ns").astype("M8[s]"))


def time_trigger(ns: int, every: str = "") -> tuple[str, dict[str, Any]]:
    """A one-shot trigger at ``ns`` (UTC), optionally repeated (``PT1H``)."""
    fields: dict[str, Any] = {"StartBoundary": local_time(ns), "Enabled": "true"}
    if every:
        fields["Repetition"] = {"Interval": every, "StopAtDurationEnd": "false"}
    return "TimeTrigger", fields


def daily_trigger(ns: int) -> tuple[str, dict[str, Any]]:
    return "CalendarTrigger", {"StartBoundary": local_time(ns), "Enabled": "true",
                               "ScheduleByDay": {"DaysInterval": "1"}}


def weekly_trigger(ns: int, *days: str) -> tuple[str, dict[str, Any]]:
    """Every week on ``days`` (``Monday``...), at ``ns``'s local time of day, from four weeks before."""
    return "CalendarTrigger", {"StartBoundary": local_time(ns - 28 * DAY), "Enabled": "true",
                               "ScheduleByWeek": {"WeeksInterval": "1", "DaysOfWeek": {d: "" for d in days}}}


_ENV = (("c:\\users\\public\\", "%PUBLIC%\\"), ("\\appdata\\local\\", "%LOCALAPPDATA%\\"),
        ("\\appdata\\roaming\\", "%APPDATA%\\"), ("c:\\programdata\\", "%ProgramData%\\"),
        ("c:\\windows\\", "%windir%\\"))


def env_path(path: str) -> str:
    """``path`` as an installer or attacker writes it in a task: with an environment variable."""
    low = path.lower()
    for folder, variable in _ENV:
        at = low.find(folder)
        if at == 0 or (at > 0 and folder.startswith("\\") and low.startswith("c:\\users\\")):
            return variable + path[at + len(folder):]
    return path


def logon_trigger(user: str = "") -> tuple[str, dict[str, Any]]:
    return "LogonTrigger", ({"Enabled": "true", "UserId": user} if user else {"Enabled": "true"})


def boot_trigger() -> tuple[str, dict[str, Any]]:
    return "BootTrigger", {"Enabled": "true", "Delay": "PT2M"}


def _definition(spec: TaskSpec, name: str, author: str, date: str) -> dict[str, Any]:
    triggers: dict[str, Any] = {}
    for kind, fields in spec.triggers:  # a second trigger of one type makes a list, as Defender writes it
        triggers[kind] = [triggers[kind], fields] if kind in triggers else fields
    action = {"Command": spec.command, "Arguments": spec.arguments}
    if spec.working_directory:
        action["WorkingDirectory"] = spec.working_directory
    return {
        "Triggers": triggers,
        "Principals": {"Principal": {"UserId": spec.user_id, "RunLevel": spec.run_level,
                                     "LogonType": spec.logon_type}},
        "Settings": {"Hidden": "true" if spec.hidden else "false", "Enabled": "true",
                     "MultipleInstancesPolicy": "IgnoreNew", "DisallowStartIfOnBatteries": "false",
                     "ExecutionTimeLimit": "PT72H"},
        "Actions": {"Exec": action},
        "RegistrationInfo": {"Author": author, "URI": name, "Date": date},
    }


def content_json(spec: TaskSpec, name: str, author: str, date: str) -> str:
    """Defender's TaskContent: the definition as a JSON object serialised to a string."""
    return compact_json(_definition(spec, name, author, date))


def _xml(tag: str, value: Any) -> str:
    if isinstance(value, list):
        return "".join(_xml(tag, v) for v in value)
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(_xml(k, v) for k, v in value.items()) + f"</{tag}>"
    return f"<{tag} />" if value == "" else f"<{tag}>{escape(str(value))}</{tag}>"


def content_xml(spec: TaskSpec, name: str, author: str, date: str) -> str:
    """Event 4698's TaskContent: the Task Scheduler XML of the definition."""
    d = _definition(spec, name, author, date)
    principal = "".join(_xml(k, v) for k, v in d["Principals"]["Principal"].items())
    return ('<?xml version="1.0" encoding="UTF-16"?>'
            f'<Task version="1.2" xmlns={quoteattr(_TASK_XMLNS)}>'
            + _xml("RegistrationInfo", {"Date": date, "Author": author, "URI": name})
            + _xml("Triggers", d["Triggers"])
            + f'<Principals><Principal id="Author">{principal}</Principal></Principals>'
            + _xml("Settings", d["Settings"])
            + '<Actions Context="Author">' + _xml("Exec", d["Actions"]["Exec"]) + "</Actions></Task>")


def actions_blob(command: str, arguments: str, working_directory: str = "") -> str:
    """The TaskCache ``Actions`` value as hex text: a version, the context, then one exec action
    (magic 0x6666) whose command, arguments and folder are length-prefixed UTF-16LE strings."""
    def text(value: str) -> bytes:
        data = value.encode("utf-16-le")
        return struct.pack("<I", len(data)) + data

    blob = (struct.pack("<H", 3) + text("Author") + struct.pack("<H", 0x6666) + text("")
            + text(command) + text(arguments) + text(working_directory) + struct.pack("<H", 0))
    return blob.hex().upper()


def filetime(ns: int) -> bytes:
    return struct.pack("<Q", ns // 100 + 116_444_736_000_000_000)
