"""The report's first screen: what was hunted, what to review and why, what was set aside.

An analyst should know in a minute whether the hunt needs them: the data window, the devices and
events it covered, each finding to review with one line of reasons in words, how many rare groups
were suppressed and by what, and any data-quality warning. Every figure carries a
``data-summary`` attribute so tests (and scripts) can read it off the page.

All text here may be attacker-written (file names, command lines): it is HTML-escaped, never
trusted as markup.
"""

from __future__ import annotations

from html import escape
from typing import Iterable

import pandas as pd

from hunting_lib.report.definitions import task_names_text
from hunting_lib.report.history_view import history_text, verdict_text
from hunting_lib.report.redact import for_display_text
from hunting_lib.report.tables import second_text
from hunting_lib.report.text import safe_text
from hunting_lib.result import HuntResult

#: Reasons shown per finding in the summary's one line; the pivot shows them all.
REASONS_PER_LINE = 3


def _text(value: object, limit: int = 160) -> str:
    """Escaped, terminal- and bidi-safe text, clipped to ``limit`` characters."""
    text = safe_text(for_display_text(value))  # secrets redacted unless the session keeps them
    return escape(text if len(text) <= limit else text[: limit - 1] + "…", quote=True)


def data_window(result: HuntResult) -> tuple[str, str]:
    """(first, last) time the hunt covered: the window asked for, else the data's own range."""
    start, end = result.params.start, result.params.end
    if start is not None and end is not None:
        return tuple(second_text(pd.Series([start, end])))  # type: ignore[return-value]
    if result.data:
        stamps = pd.concat([table["Timestamp"].agg(["min", "max"]) for table in result.data.values()
                            if "Timestamp" in table and len(table)], ignore_index=True)
    else:
        stamps = result.task_starts["Timestamp"].agg(["min", "max"]) if len(result.task_starts) else pd.Series([])
    low = start if start is not None else (stamps.min() if len(stamps) else None)
    high = end if end is not None else (stamps.max() if len(stamps) else None)
    first, last = second_text(pd.Series([low, high]))
    return first or "?", last or "?"


def event_count(result: HuntResult) -> int | None:
    """Events across the hunt's tables: the loaded tables' rows, or for a scanned hunt the row
    counts its parquet files record in their footers (nothing is read for it). None when unknown
    (a remote hunt, or a scan of text files)."""
    if result.data:
        return sum(len(table) for table in result.data.values())
    if result.remote is not None or not result.sources:
        return None
    from pathlib import Path

    import pyarrow.parquet as pq

    from hunting_lib.engine.files import parquet_parts

    total = 0
    for source in result.sources.values():
        for path in source if isinstance(source, (list, tuple)) else [source]:
            parts = parquet_parts(Path(path)) if Path(path).exists() else None
            if parts is None:
                return None
            total += sum(pq.ParquetFile(part).metadata.num_rows for part in parts)
    return total


def suppressed_by(result: HuntResult) -> pd.Series:
    """Suppressed groups per cause: each exclusion rule by name, the known-task catalogue as one."""
    causes = result.suppressed["SuppressedBy"].astype(str)
    causes = causes.where(~causes.str.startswith("known:"), "known Windows or vendor tasks")
    causes = causes.where(~causes.str.startswith("verdict:"), "an analyst's benign verdict")
    return causes.value_counts()


def finding_line(rank: int, finding: pd.Series) -> str:
    """One finding as a list item: rank, program, its task's name, score, tripwire mark, whether
    its key is new (with history), the verdict in force, and its first reasons."""
    reasons = list(finding.get("ReasonText") or [])
    shown = "; ".join(reasons[:REASONS_PER_LINE]) + (f"; and {len(reasons) - REASONS_PER_LINE} more"
                                                      if len(reasons) > REASONS_PER_LINE else "")
    tripwire = ' <span class="hl-tripwire">tripwire</span>' if finding.get("Critical") else ""
    names = task_names_text(finding)
    task = f' <span data-finding="task-name">task {_text(names, 200)}</span>' if names else ""
    seen = history_text(finding.get("History"))
    history = (' <span class="hl-new" data-finding="new">new</span>' if seen == "new" else
               f' <span data-finding="seen">({_text(seen)})</span>' if seen else "")
    verdict = verdict_text(finding.get("Verdict"))
    verdict = f' <span data-finding="verdict">verdict: {_text(verdict, 200)}</span>' if verdict else ""
    return (f'<li data-summary="finding"><b>#{rank} {_text(finding["FileName"], 80)}</b>{task} '
            f'(score {float(finding["Score"]):g}, {int(finding["Count"])} run(s) on {int(finding["DeviceCount"])} '
            f'device(s)){tripwire}{history}{verdict}: {_text(shown or "no reason fired", 400)}</li>')


def summary_html(result: HuntResult, warnings: Iterable[object] = ()) -> str:
    """The summary as one HTML fragment (display it with ``IPython.display.HTML``)."""
    first, last = data_window(result)
    events = event_count(result)
    findings = result.findings
    causes = suppressed_by(result)
    warning_texts = [str(getattr(w, "message", w)) for w in warnings]
    events_text = f'<span data-summary="events">{events:,}</span> events' if events is not None else "events: not loaded here"
    lines = [
        '<div class="hl-summary" data-summary="summary">',
        "<h2>Summary</h2>",
        f'<p>Data from <span data-summary="window-start">{first}</span> to <span data-summary="window-end">{last}</span> '
        f'(UTC): <span data-summary="devices">{result.fleet.devices}</span> devices with scheduled task launches, '
        f"{events_text}, threshold {result.params.threshold}"
        + (f", at most {result.params.max_devices} device(s)" if result.params.max_devices else "") + ".</p>",
        f'<p><b><span data-summary="findings">{len(findings)}</span> finding(s) to review</b> of '
        f'<span data-summary="rare-groups">{len(result.rare_tasks)}</span> rare scheduled task groups'
        + (f" ({int(findings['Critical'].sum())} with a tripwire)" if len(findings) else "") + ":</p>",
    ]
    if len(findings):
        lines.append('<ol class="hl-findings">')
        lines += [finding_line(rank, row) for rank, (_, row) in enumerate(findings.iterrows(), start=1)]
        lines.append("</ol>")
    else:
        lines.append("<p>Nothing to review with these parameters.</p>")
    lines.append(f'<p><span data-summary="suppressed">{len(result.suppressed)}</span> rare group(s) suppressed'
                 + (": " + ", ".join(f"{_text(cause, 120)} ({count})" for cause, count in causes.items())
                    if len(causes) else "") + ".</p>")
    if warning_texts:
        lines.append(f'<p><b><span data-summary="warnings">{len(warning_texts)}</span> data-quality warning(s):</b></p><ul>')
        lines += [f"<li>{_text(text, 400)}</li>" for text in warning_texts]
        lines.append("</ul>")
    else:
        lines.append('<p>Data quality: <span data-summary="warnings">0</span> warnings.</p>')
    lines.append("</div>")
    return "\n".join(lines)
