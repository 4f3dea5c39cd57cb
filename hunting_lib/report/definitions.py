"""The task-definition card of a finding: which scheduled task ran this program, and who made it.

An analyst's first question about a rare task is "what task is this, and who created it?". The
card answers it from the group's ``TaskDefinitions`` (``hunting_lib.tasks``): per registration
the task's name, its action (command and arguments), triggers, principal and run level, who
registered it (account, and the creating process's command line), when, whether it came over a
network logon (remote IP and device), whether it was deleted, and whether it was registered
through the API or by writing the registry directly (hidden from the API). Above them it shows the
group's ``GroupKey`` and its normalised pattern beside the raw FileName, command line and path,
so the key a verdict binds to can be checked against what ran.

Every value here was written by whoever registered the task: all of it is HTML-escaped and shown
as text, and secrets in command lines are redacted unless the caller keeps them.
"""

from __future__ import annotations

from html import escape
from typing import Any, Callable, Iterable, Mapping

import pandas as pd

from hunting_lib.report.redact import for_display_text
from hunting_lib.report.tables import second_text
from hunting_lib.report.text import safe_text

#: Registrations shown per finding before "and N more" (one per device can add up on a fleet).
DEFINITIONS_SHOWN = 8
#: Devices named per registration before "and N more".
DEVICES_SHOWN = 5
#: The registration signals (``tasks.definitions``' bool columns) in words, as the card lists them.
SIGNAL_TEXT = {
    "registered_remotely": "registered remotely",
    "registered_before_first_run": "registered minutes before its first run",
    "registered_by_script_host": "registered by a script host",
    "deleted_after_run": "deleted right after running",
    "registered_outside_api": "registered outside the Task Scheduler API",
}
#: Inline alignment too: JupyterLab right-aligns table cells, and the report's stylesheet is not there.
_CELL = 'style="text-align: left; vertical-align: top"'

Redactor = Callable[[str], str]


def _text(value: object) -> str:
    return escape(safe_text(value), quote=True)


def _code(value: object) -> str:
    return f'<code class="hl-wrap">{_text(value)}</code>'


def _present(value: object) -> bool:
    """Whether a field holds something to show (None, NaN, NaT and "" do not)."""
    if value is None:
        return False
    if isinstance(value, (list, tuple, dict)):
        return len(value) > 0
    try:
        if pd.isna(value):
            return False
    except (TypeError, ValueError):
        pass
    return str(value).strip() != ""


def _flag(value: object) -> bool:
    """A bool field as the parsers may leave it: True, "true", 1."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) if _present(value) else False


def _time(value: object) -> str:
    """An ISO or Timestamp value to the second, UTC; the raw text when it is not a time."""
    if not _present(value):
        return ""
    shown = second_text(pd.Series([value], dtype=object)).iloc[0]
    return shown or safe_text(value)


def _unchanged(text: str) -> str:
    return text


def _session(text: str) -> str:
    """Secrets redacted unless the session keeps them (``report --keep-secrets``)."""
    return for_display_text(text)


def _rows(rows: Iterable[tuple[str, str]], attributes: str = "") -> str:
    body = "\n".join(f"<tr><th {_CELL}>{name}</th><td {_CELL}>{value}</td></tr>" for name, value in rows)
    return f"<table{attributes}>\n{body}\n</table>"


def action_text(definition: Mapping[str, Any], redact: Redactor = _session) -> str:
    """The action as one command line: the command, quoted when it holds a space, then the arguments.

    Redacted as a whole: a secret's rule may need the program to know an argument is one
    (``net use ... /user:NAME PASSWORD``).
    """
    command = str(definition.get("Command")) if _present(definition.get("Command")) else ""
    arguments = str(definition.get("Arguments")) if _present(definition.get("Arguments")) else ""
    if " " in command and not command.startswith('"'):
        command = f'"{command}"'
    line = " ".join(part for part in (command, arguments) if part)
    return redact(line) if line else ""


def _devices(definition: Mapping[str, Any]) -> str:
    names = definition.get("Devices")
    if not isinstance(names, (list, tuple)):
        names = [definition.get("DeviceName")] if _present(definition.get("DeviceName")) else []
    names = [str(name) for name in names if _present(name)]
    shown = ", ".join(_text(name) for name in names[:DEVICES_SHOWN])
    more = f" and {len(names) - DEVICES_SHOWN} more" if len(names) > DEVICES_SHOWN else ""
    return shown + more


def _registered_by(definition: Mapping[str, Any], redact: Redactor) -> str:
    account = definition.get("RegisteredBy")
    process = definition.get("RegisteredByProcess")
    command_line = definition.get("RegisteredByCommandLine")
    parts = [_text(account) if _present(account) else "account not recorded"]
    if _present(process):
        parts.append(f"with {_text(process)}")
    text = " ".join(parts)
    if _present(command_line):
        text += f": {_code(redact(str(command_line)))}"
    return text


def _remote(definition: Mapping[str, Any]) -> str:
    network = _flag(definition.get("RegisteredFromNetworkLogon"))
    address, device = definition.get("RemoteIP"), definition.get("RemoteDevice")
    if not network and not _present(address) and not _present(device):
        return "no (no network logon found for the caller)"
    where = ", ".join(part for part in (
        f'from <code data-definition="remote-ip">{_text(address)}</code>' if _present(address) else "",
        f"device {_text(device)}" if _present(device) else "") if part)
    return ("<b>yes</b>, over a network logon" if network else "<b>yes</b>") + (f" {where}" if where else "")


def _principal(definition: Mapping[str, Any]) -> str:
    user = definition.get("Principal")
    details = [f"run level {_text(definition.get('RunLevel'))}" if _present(definition.get("RunLevel")) else "",
               f"logon type {_text(definition.get('LogonType'))}" if _present(definition.get("LogonType")) else ""]
    details = [d for d in details if d]
    return (_text(user) if _present(user) else "not recorded") + (f" ({', '.join(details)})" if details else "")


def _source(definition: Mapping[str, Any]) -> str:
    source = str(definition.get("Source") or "")
    if source == "registry":
        text = "<b>registry only</b>: written to the TaskCache by a process other than the Schedule service"
    elif source == "api":
        text = "Task Scheduler API (a ScheduledTaskCreated/Updated event)"
    else:
        text = _text(source) or "not recorded"
    form = definition.get("Format")
    return text + (f", content as {_text(form)}" if _present(form) else "")


def definition_rows(definition: Mapping[str, Any], redact: Redactor = _session) -> list[tuple[str, str]]:
    """One registration as (label, HTML) rows, in the order an analyst asks about it."""
    triggers = definition.get("Triggers")
    triggers = [str(t) for t in triggers] if isinstance(triggers, (list, tuple)) else (
        [str(triggers)] if _present(triggers) else [])
    when = _time(definition.get("RegisteredAt"))
    updated = _time(definition.get("UpdatedAt"))
    deleted = _time(definition.get("DeletedAt"))
    rows = [
        ("Task name", f'<code data-definition="task-name">{_text(definition.get("TaskName") or "")}</code>'),
        ("Action", _code(action_text(definition, redact)) if action_text(definition, _unchanged)
         else "no command (a COM handler?)"),
        ("Triggers", "; ".join(_text(t) for t in triggers) or "none recorded"),
        ("Runs as", _principal(definition)),
        ("Registered by", _registered_by(definition, redact)),
        ("When", (f"{when} (UTC)" if when else "not recorded") + (f", updated {updated}" if updated else "")),
        ("Registered remotely", _remote(definition)),
        ("Deleted", f"<b>{deleted}</b> (UTC)" if deleted else "no"),
        ("Source", _source(definition)),
        ("Hidden", "<b>yes</b>" if _flag(definition.get("Hidden")) else "no"),
    ]
    devices = _devices(definition)
    if devices:
        rows.append(("Device", devices))
    return rows


def signals_fired(task: Mapping[str, Any]) -> list[str]:
    """The registration signals that fired for the group, in words."""
    return [text for column, text in SIGNAL_TEXT.items() if _flag(task.get(column))]


def group_key_rows(task: Mapping[str, Any], redact: Redactor = _session) -> list[tuple[str, str]]:
    """The group's key and pattern beside the raw strings it was made from."""
    rows = []
    if _present(task.get("GroupKey")):
        rows.append(("Group key", f'<code data-definition="group-key">{_text(task.get("GroupKey"))}</code>'))
    if _present(task.get("GroupPattern")):
        pattern = str(task.get("GroupPattern")).split("\u241f")
        rows.append(("Pattern", " | ".join(_code(redact(part)) for part in pattern)))
    rows += [
        ("FileName", _code(task.get("FileName", ""))),
        ("Command line", _code(redact(str(task.get("ProcessCommandLine", ""))))),
        ("FolderPath", _code(task.get("FolderPath", ""))),
    ]
    return rows


def definitions_html(task: Mapping[str, Any] | pd.Series, redact: Redactor = _session) -> str:
    """One finding's task-definition card as an HTML fragment; ``task`` is its ``rare_tasks`` row.

    ``redact`` is applied to every command line shown; by default secrets are redacted unless the
    session keeps them (``report.redact.keep_secrets_in_display``, ``report --keep-secrets``).
    """
    definitions = task.get("TaskDefinitions")
    definitions = [d for d in definitions if isinstance(d, Mapping)] if isinstance(definitions, (list, tuple)) else []
    parts = ['<div class="hl-definitions" data-definition="card">',
             "<p><b>The group</b>: its key (what history and verdicts follow) and pattern beside what ran:</p>",
             _rows(group_key_rows(task, redact), ' data-definition="group"')]
    fired = signals_fired(task)
    if fired:
        parts.append(f'<p data-definition="signals"><b>Registration signals:</b> {_text("; ".join(fired))}</p>')
    if not definitions:
        parts.append('<p data-definition="none">No task registration found for this group in the data: it was '
                     "registered before the data's window, or the export holds no ScheduledTaskCreated events.</p>")
    else:
        count = len(definitions)
        parts.append(f"<p><b>{count} task registration(s)</b> ran this program:</p>")
        for number, definition in enumerate(definitions[:DEFINITIONS_SHOWN], start=1):
            parts.append(_rows(definition_rows(definition, redact), f' data-definition="registration-{number}"'))
        if count > DEFINITIONS_SHOWN:
            parts.append(f"<p>and {count - DEFINITIONS_SHOWN} more (see <code>TaskDefinitions</code> in "
                         "findings.json).</p>")
    parts.append("</div>")
    return "\n".join(parts)


def task_names(task: Mapping[str, Any]) -> list[str]:
    """The group's task names: ``TaskNames`` when the hunt made it, else from its definitions."""
    names = task.get("TaskNames")
    if not isinstance(names, (list, tuple)):
        definitions = task.get("TaskDefinitions")
        names = [d.get("TaskName") for d in definitions if isinstance(d, Mapping)] \
            if isinstance(definitions, (list, tuple)) else []
    return list(dict.fromkeys(str(name) for name in names if _present(name)))


def task_names_text(task: Mapping[str, Any], limit: int = 3) -> str:
    """The task names as short plain text for a table cell or a summary line ("" when none)."""
    names = task_names(task)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


#: The "registered but never ran" table: few, short columns, so that it fits the page (each cell
#: wraps; the full fields are in findings.json's ``task_registrations``).
REGISTRATION_COLUMNS = ["Score", "Reasons", "Device", "Task", "Action", "Triggers", "Registered", "By", "Remote",
                        "Deleted"]


def _plain_remote(registration: Mapping[str, Any]) -> str:
    network = _flag(registration.get("RegisteredFromNetworkLogon"))
    where = " ".join(str(registration.get(k)) for k in ("RemoteIP", "RemoteDevice") if _present(registration.get(k)))
    if not network and not where:
        return ""
    return ("network logon" if network else "yes") + (f" from {where}" if where else "")


def _plain_by(registration: Mapping[str, Any], redact: Redactor) -> str:
    text = str(registration.get("RegisteredBy")) if _present(registration.get("RegisteredBy")) else "?"
    if _present(registration.get("RegisteredByProcess")):
        text += f" with {registration['RegisteredByProcess']}"
    if _present(registration.get("RegisteredByCommandLine")):
        text += f": {redact(str(registration['RegisteredByCommandLine']))}"
    return text


def registrations_for_display(registrations: pd.DataFrame | None, redact: Redactor = _session) -> pd.DataFrame:
    """The companion table (rare registrations whose task never ran) as an analyst reads it.

    One row per registration (they are few: the rare ones in the window), the action as one
    command line, who registered it with the creating process's command line, and the remote
    logon in words. Command lines are redacted as the session says. Text stays text here; the
    notebook shows the frame through ``for_display``, whose HTML escapes it.
    """
    if registrations is None or registrations.empty:
        return pd.DataFrame(columns=REGISTRATION_COLUMNS)
    rows = []
    for registration in registrations.to_dict(orient="records"):
        triggers = registration.get("Triggers")
        task = str(registration.get("TaskName") or "")
        if registration.get("Source") == "registry":
            task += " (registry only)"
        rows.append({
            "Score": registration.get("Score"),
            "Reasons": registration.get("Reasons") if isinstance(registration.get("Reasons"), list) else [],
            "Device": registration.get("DeviceName"),
            "Task": task,
            "Action": action_text(registration, redact),
            "Triggers": "; ".join(map(str, triggers)) if isinstance(triggers, (list, tuple)) else (
                str(triggers) if _present(triggers) else ""),
            "Registered": _time(registration.get("RegisteredAt")),
            "By": _plain_by(registration, redact),
            "Remote": _plain_remote(registration),
            "Deleted": _time(registration.get("DeletedAt")),
        })
    return pd.DataFrame(rows, columns=REGISTRATION_COLUMNS)
