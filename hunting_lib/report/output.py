"""Writing a hunt's result: the contract's JSON document, the activity CSV and a terminal table.

Every string here may have been written by an attacker (command lines, paths, file names). JSON
escaping keeps them inert in the document; for the terminal, control characters, escape
sequences and bidirectional overrides are shown as visible ``\\x..``/``\\u....`` escapes so that
they can neither redraw the screen nor reorder what the analyst reads (``text.safe_text``, the
same test the charts' labels use).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from hunting_lib.report.tables import short_path, short_sources
from hunting_lib.report.text import safe_text
from hunting_lib.result import HuntResult

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def markdown_text(value: object, limit: int = 200) -> str:
    """``value`` as inert Markdown: HTML escaped, Markdown syntax escaped, unsafe characters shown.

    Markdown renders raw HTML, so a file name such as ``<img src=x onerror=...>`` in a heading
    would run in the report; this returns text that displays exactly as written.
    """
    import html

    from hunting_lib.report.redact import for_display_text

    text = safe_text(for_display_text(value))  # secrets redacted unless the session keeps them
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    # Quotes need no escaping in text, and an escaped one (&#x27;) would show its '#' escaped.
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def plot_safe(values: pd.Series) -> pd.Series:
    """Text for plots that embed their data in a page's scripts (bokeh).

    Bokeh writes a plot's data as JSON inside a ``<script>`` element of the notebook output; a
    command line containing ``</script>`` would end that element and inject what follows. Angle
    brackets become their full-width look-alikes (＜ ＞), control and bidi characters visible
    escapes; the text stays readable and inert. Secrets are redacted unless the session keeps them.
    """
    from hunting_lib.report.redact import display_keeps_secrets, redact_series

    if not display_keeps_secrets():
        values = redact_series(values)
    return values.astype(object).where(values.notna(), "").astype(str).map(safe_text).str.replace("<", "\uff1c", regex=False).str.replace(
        ">", "\uff1e", regex=False)


def iso_utc(stamps: pd.Series) -> pd.Series:
    """ISO 8601 UTC with 7 fractional digits and ``Z``, the way Defender writes times; None for NaT."""
    text = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.cat(
        (stamps.dt.nanosecond // 100).astype("Int64").astype(str).str.zfill(1), sep=""
    ) + "Z"
    return text.where(stamps.notna(), None)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready records: times as ISO strings, missing values as null, lists kept as lists."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[column] = iso_utc(values)
        elif not pd.api.types.is_object_dtype(values.dtype):
            out[column] = values.astype(object).where(values.notna(), None)
    return out.to_dict(orient="records")


#: Parameters that may hold a local path (the analyst's own rules, the history database): the
#: document names the file only.
PATH_PARAMETERS = ("exclusions", "known_tasks", "history")


def hunt_document(result: HuntResult) -> dict[str, Any]:
    """The contract's JSON object: ``parameters``, ``rare_tasks`` (rank order) and ``activity``,
    and ``audit`` (``report.audit.audit_record``: version, config hashes, KQL, window, sources).

    The rows are exact, secrets included (the parity tests compare them with the KQL's rows):
    ``redacted`` is false. The report and the history redact (``report.redact``).
    """
    from hunting_lib.report.audit import audit_record

    # Files by folder and name only: the document is shared, the analyst's local paths are not.
    parameters = {**result.parameters, "sources": short_sources(result.sources)}
    for name in PATH_PARAMETERS:
        value = parameters.get(name)
        if isinstance(value, str) and ("/" in value or "\\" in value) and not value.startswith("config/"):
            parameters[name] = short_path(value, parts=1)
    # a reader's reason (``fallback``) may quote a file by its full path: the data folder by name
    folders = {str(Path(str(p)).parent.parent) for v in result.sources.values() if result.remote is None
               for p in (v if isinstance(v, (list, tuple)) else [v]) if Path(str(p)).is_absolute()}
    for key, value in parameters.items():
        if isinstance(value, str):
            for folder in sorted(folders, key=len, reverse=True):
                value = value.replace(folder.rstrip("/\\") + ("\\" if "\\" in folder else "/"), "")
            parameters[key] = value
    return {
        "parameters": parameters,
        "rare_tasks": frame_records(result.rare_tasks),
        "activity": frame_records(result.activity),
        "task_registrations": frame_records(result.task_registrations),
        "history_run": result.history_run,
        "redacted": False,
        "audit": audit_record(result, redacted=False),
    }


def write_json(result: HuntResult, path: str | Path) -> None:
    document = hunt_document(result)
    Path(path).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_activity_csv(result: HuntResult, path: str | Path) -> None:
    """The activity table as CSV, each list as a JSON array."""
    records = pd.DataFrame(frame_records(result.activity), columns=result.activity.columns)
    for column in records.columns:
        if records[column].map(lambda v: isinstance(v, list)).any():
            records[column] = records[column].map(lambda v: json.dumps(v, ensure_ascii=False))
    records.to_csv(path, index=False, encoding="utf-8")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_summary(result: HuntResult, width: int = 64) -> str:
    """A short, ranked, terminal-safe table of the rare task groups.

    ``!`` marks a group with a tripwire or critical signal (they rank first); a suppressed group
    names what suppressed it, and a group a tripwire kept names what it would have been. With a
    history, ``[new]`` marks a group the scheduler never started in earlier runs, and a verdict
    that did not suppress is named; ``[task: ...]`` is the registered task's name.
    """
    rare = result.rare_tasks
    suppressed = rare["SuppressedBy"].dropna().astype(str) if "SuppressedBy" in rare else pd.Series(dtype=str)
    known = int(suppressed.str.startswith("known:").sum())
    kept = int(rare["WouldSuppressBy"].notna().sum()) if "WouldSuppressBy" in rare else 0
    lines = [
        f"{len(rare)} rare scheduled task group(s): {len(rare) - len(suppressed)} finding(s), "
        f"{len(suppressed) - known} suppressed by exclusion rules, {known} known task(s)"
        + (f", {kept} kept by a tripwire" if kept else "")
        + f"; {len(result.activity)} task process(es) with activity in {len(result.activity_rows)} event(s)"
    ]
    if rare.empty:
        return lines[0]
    lines.append(f"{'#':>3}    {'score':>5}  {'runs':>4}  {'devs':>4}  {'file':<24}  command line")
    for rank, row in enumerate(rare.to_dict(orient="records"), start=1):
        marker = ""
        if row.get("SuppressedBy"):
            marker = f"  [suppressed: {safe_text(row['SuppressedBy'])}]"
        elif row.get("WouldSuppressBy"):
            trips = ", ".join(row.get("Tripwires") or [])
            marker = f"  [kept by {safe_text(trips)} over {safe_text(row['WouldSuppressBy'])}]"
        history, verdict = row.get("History"), row.get("Verdict")
        if isinstance(history, dict) and history.get("New"):
            marker += "  [new]"
        if isinstance(verdict, dict) and not str(row.get("SuppressedBy") or "").startswith("verdict:"):
            marker += f"  [verdict: {safe_text(verdict.get('Verdict', ''))}]"
        if row.get("TaskNames"):
            marker += f"  [task: {_clip(safe_text(row['TaskNames'][0]), 40)}]"
        flag = "!" if row.get("Critical") else " "
        lines.append(
            f"{rank:>3} {flag}  {row.get('Score', 0):>5g}  {row['Count']:>4}  {row['DeviceCount']:>4}  "
            f"{_clip(safe_text(row['FileName']), 24):<24}  "
            f"{_clip(safe_text(row['ProcessCommandLine']), width)}{marker}"
        )
    return "\n".join(lines)
