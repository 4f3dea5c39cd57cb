"""The hunt notebook's hand-off section: pick findings, preview the calls, send them.

The functions do the work and return what to show, so they are tested without a front end; the
widgets only collect the choices. The preview is the ``handoff --dry-run`` plan (redacted, no
connection); sending needs a button press in a live notebook. Headless (papermill, the report),
the notebook shows only the preview table: nothing waits for input and nothing is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from hunting_lib.handoff.findings import choose_findings, load_findings
from hunting_lib.handoff.plan import Call, format_plan, handoff_plan
from hunting_lib.report.tables import second_text


def _entities_text(entities: list[dict]) -> str:
    parts = []
    for entity in entities:
        values = [str(f.get("value")) for f in entity.get("fieldMappings") or []
                  if f.get("identifier") in ("HostName", "Name", "Address", "Value")]
        if values:
            parts.append(f"{entity.get('entityType')}: {values[0]}")
    return "; ".join(parts)


def plan_table(calls: list[Call]) -> pd.DataFrame:
    """One row per call: what it creates, where, and (bookmarks) the time range and entities."""
    rows = []
    for call in calls:
        properties = call.body.get("properties", {})
        what = properties.get("displayName") or properties.get("title") or \
            str(properties.get("message") or "").split("<br>", 1)[0]
        rows.append({"Call": call.kind, "Request": f"{call.method} {call.path}", "What": what,
                     "From": properties.get("queryStartTime", ""), "To": properties.get("queryEndTime", ""),
                     "Entities": _entities_text(properties.get("entityMappings") or [])})
    table = pd.DataFrame(rows, columns=["Call", "Request", "What", "From", "To", "Entities"])
    for column in ("From", "To"):  # read to the second, as every table of the report (the call keeps 100 ns)
        table[column] = second_text(table[column].replace("", None))
    return table


def preview_handoff(findings_path: str | Path, ranks: list[int] | None = None, incident: str | None = None,
                    new_incident: str | None = None) -> tuple[list[Call], pd.DataFrame]:
    """The calls a hand-off would send (nothing is sent) and their table."""
    findings = load_findings(findings_path)
    calls = handoff_plan(findings, choose_findings(findings, ranks), incident or None, new_incident or None)
    return calls, plan_table(calls)


def finding_options(findings_path: str | Path) -> list[tuple[str, int]]:
    """(label, rank) per finding: "#1 powershell.exe (gk-...)", suppressed ones marked."""
    findings = load_findings(findings_path)
    return [(f"#{rank} {row.get('FileName')} ({row.get('GroupKey')})"
             + (f" suppressed: {row.get('SuppressedBy')}" if row.get("SuppressedBy") else ""), rank)
            for rank, row in enumerate(findings.rare_tasks, start=1)]


def handoff_form(findings_path: str | Path, workspace: str | None = None,
                 connect: Callable[[str | None], Any] | None = None, http: Callable[..., Any] | None = None):
    """The widgets: findings to pick (unsuppressed ones preselected), an incident to create or
    use, Preview (the dry run) and Send (enabled after a preview of the same choices). ``connect``
    and ``http`` stand in for msticpy's connection and the HTTP function (tests pass recorders)."""
    import ipywidgets as widgets
    from IPython.display import display

    from hunting_lib.handoff import send as sender

    options = finding_options(findings_path)
    findings = load_findings(findings_path)
    picked = [rank for rank, row in enumerate(findings.rare_tasks, start=1) if not row.get("SuppressedBy")]
    choose = widgets.SelectMultiple(options=options, value=tuple(picked), rows=min(max(len(options), 3), 10),
                                    description="findings", layout=widgets.Layout(width="70%"))
    new_incident = widgets.Text(description="new incident", placeholder="title (optional)")
    incident = widgets.Text(description="or incident", placeholder="existing incident id (optional)")
    preview_button = widgets.Button(description="Preview (dry run)")
    send_button = widgets.Button(description="Send to Sentinel", button_style="warning", disabled=True)
    output = widgets.Output()
    state: dict[str, Any] = {}

    def on_preview(_button) -> None:
        output.clear_output()
        with output:
            try:
                calls, table = preview_handoff(findings_path, list(choose.value), incident.value.strip(),
                                               new_incident.value.strip())
            except Exception as exc:  # one line, as the command line says it
                print(f"error: {exc}")
                send_button.disabled = True
                return
            state["calls"] = calls
            display(table)
            print(format_plan(calls))
            send_button.disabled = not calls

    def on_send(_button) -> None:
        send_button.disabled = True
        with output:
            try:
                client = (connect or sender.connect_sentinel)(workspace)
                for line in sender.send_plan(client, state.get("calls", []), http):
                    print(line)
            except Exception as exc:
                print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())}")

    def on_change(_change) -> None:  # a preview stands for the choices it was made from
        send_button.disabled = True

    for field in (choose, new_incident, incident):
        field.observe(on_change, names="value")
    preview_button.on_click(on_preview)
    send_button.on_click(on_send)
    return widgets.VBox([choose, widgets.HBox([new_incident, incident]),
                         widgets.HBox([preview_button, send_button]), output])
