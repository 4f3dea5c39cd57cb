"""The evidence card that leads each finding's pivot: the facts before the timeline and the tree.

What ran (the command line and, when it was encoded, the decoded text) and the task that ran it,
the indicators in it, what its processes did (events by table and action), where (devices,
accounts) and when (first and last run), and with history whether earlier runs saw its key and
the verdict in force. Built from the finding's row and the timeline the pivot already read, so the card
costs no extra read. Every value is attacker-written and HTML-escaped.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from hunting_lib.report.definitions import task_names_text
from hunting_lib.report.history_view import history_text, verdict_text
from hunting_lib.report.redact import for_display_text
from hunting_lib.report.tables import second_text
from hunting_lib.report.text import safe_text

#: Devices and accounts listed by name before "and N more".
NAMES_SHOWN = 5


def _text(value: object) -> str:
    # secrets in command lines redacted unless the session keeps them (report --keep-secrets)
    return escape(safe_text(for_display_text(value)), quote=True)


def _names(values: object) -> str:
    names = [str(v) for v in (values if isinstance(values, (list, tuple)) else []) if str(v)]
    shown = ", ".join(_text(name) for name in names[:NAMES_SHOWN])
    more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
    return (shown + more) or "none recorded"


def actions(timeline: pd.DataFrame) -> pd.DataFrame:
    """Events of the task's processes per table and action (the Task Scheduler's own starts left out)."""
    own = timeline[timeline["Depth"].fillna(0) >= 0] if "Depth" in timeline else timeline
    return (own.groupby(["Table", "ActionType"], dropna=False).size().rename("Events").reset_index()
            .sort_values(["Events", "Table", "ActionType"], ascending=[False, True, True], kind="stable"))


def evidence_card_html(task: pd.Series, timeline: pd.DataFrame) -> str:
    """One finding's evidence card as an HTML fragment; ``task`` is its ``rare_tasks`` row."""
    decoded = str(task.get("DecodedCommand") or "")
    indicators = [str(i) for i in (task.get("Indicators") or [])]
    tripwires = [str(t) for t in (task.get("Tripwires") or [])]
    first, last = second_text(pd.Series([task.get("FirstSeen"), task.get("LastSeen")]))
    did = actions(timeline)
    rows = [
        ("Command line", f'<code class="hl-wrap">{_text(task.get("ProcessCommandLine", ""))}</code>'),
        ("Program", f'<code class="hl-wrap">{_text(task.get("FolderPath", ""))}</code>'),
    ]
    if decoded:
        rows.append(("Decoded command", f'<code class="hl-wrap" data-evidence="decoded">{_text(decoded)}</code>'))
    rows += [
        ("Indicators", ", ".join(f"<code>{_text(i)}</code>" for i in indicators) or "none in the command line"),
        ("Tripwires", ", ".join(_text(t) for t in tripwires) or "none"),
        ("What it did", "; ".join(f"{int(n)} {_text(action)} ({_text(table)})" for table, action, n in
                                  did[["Table", "ActionType", "Events"]].itertuples(index=False)) or "no activity recorded"),
        ("Where", f"{int(task.get('DeviceCount', 0))} device(s): {_names(task.get('Devices'))}; "
                  f"account(s): {_names(task.get('Accounts'))}"),
        ("When", f"{int(task.get('Count', 0))} run(s), first {first or '?'}, last {last or '?'} (UTC)"),
    ]
    # Which task ran it (the definitions card below has the rest), and with history what earlier
    # runs knew of it
    names = task_names_text(task, limit=5)
    rows.insert(2, ("Task", f'<code data-evidence="task-name">{_text(names)}</code>' if names
                    else "no registration found in the data"))
    if "History" in task:
        rows.append(("History", _text(history_text(task.get("History")) or "not recorded")))
    if "Verdict" in task:
        rows.append(("Verdict", _text(verdict_text(task.get("Verdict"), 400) or "none")))
    # Inline alignment too: JupyterLab right-aligns table cells, and the report's stylesheet is not there.
    cell = 'style="text-align: left; vertical-align: top"'
    body = "\n".join(f"<tr><th {cell}>{name}</th><td {cell}>{value}</td></tr>" for name, value in rows)
    return f'<div class="hl-evidence" data-evidence="card"><table>\n{body}\n</table></div>'
