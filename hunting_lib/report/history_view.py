"""History and verdicts as the report shows them: "What's new since the last run", and short text.

With ``--history`` every rare group carries ``History`` (``New``, ``FirstSeen``, ``RunsSeen``:
whether the scheduler ever started its ``GroupKey`` in an earlier recorded run) and ``Verdict``
(an analyst's verdict in force, or None). An analyst who hunts every week reads the difference
first, so this section leads the report when history is on: the findings whose key is new, the
findings of the previous run that are gone, and the verdicts that shaped this ranking (a benign
one suppresses its group unless the binary changed or a tripwire fired).

Tables get the same facts as short text (``history_text``, ``verdict_text``) in ``New`` and
``Verdict`` columns. Everything shown may be attacker-written (command lines, task names) or
analyst-written (notes): it is HTML-escaped here.
"""

from __future__ import annotations

from html import escape
from typing import Any, Callable, Mapping

import pandas as pd

from hunting_lib.report.definitions import task_names_text
from hunting_lib.report.redact import for_display_text
from hunting_lib.report.tables import second_text
from hunting_lib.report.text import safe_text

#: Items listed per part of the section before "and N more".
LISTED = 25
#: Characters of an analyst's note shown in a table cell.
NOTE_SHOWN = 80

Redactor = Callable[[str], str]


def _session(text: str) -> str:
    """Secrets redacted unless the session keeps them (``report --keep-secrets``)."""
    return for_display_text(text)


def _text(value: object, limit: int | None = None) -> str:
    text = safe_text(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape(text, quote=True)


def _time(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return second_text(pd.Series([value], dtype=object)).iloc[0]


def _day(value: object) -> str:
    return _time(value)[:10]


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def is_new(history: object) -> bool | None:
    """``History.New`` of a group: True, False, or None without history."""
    history = _mapping(history)
    if history is None or "New" not in history:
        return None
    return bool(history["New"])


def history_text(history: object) -> str:
    """A group's history in a few words: "new", or "seen in N earlier run(s) since <day>"; "" without history."""
    new = is_new(history)
    if new is None:
        return ""
    if new:
        return "new"
    runs = int(history.get("RunsSeen") or 0)  # type: ignore[union-attr]
    first = _day(history.get("FirstSeen"))  # type: ignore[union-attr]
    return f"seen in {runs} earlier run(s)" + (f" since {first}" if first else "")


def verdict_text(verdict: object, note_limit: int = NOTE_SHOWN) -> str:
    """A verdict in force in a few words ("benign by ana on 2026-11-10, until 2027-02-08: note"); "" for none."""
    verdict = _mapping(verdict)
    if verdict is None or not verdict.get("Verdict"):
        return ""
    text = str(verdict["Verdict"])
    if verdict.get("Analyst"):
        text += f" by {verdict['Analyst']}"
    if _day(verdict.get("At")):
        text += f" on {_day(verdict.get('At'))}"
    if _day(verdict.get("Expires")):
        text += f", until {_day(verdict.get('Expires'))}"
    if verdict.get("BinaryChanged"):
        text += " (the binary changed since: not applied)"
    note = safe_text(verdict.get("Note") or "")
    if note:
        text += ": " + (note if len(note) <= note_limit else note[: note_limit - 1] + "…")
    return text


def history_columns(rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """``TaskName``, ``New`` and ``Verdict`` as short text per group, on the frame's index.

    ``New`` and ``Verdict`` are empty without history; ``TaskName`` is empty where no
    registration matched the group.
    """
    rows = rare_tasks.to_dict(orient="records")
    return pd.DataFrame({
        "TaskName": [task_names_text(row) for row in rows],
        "New": [history_text(row.get("History")) for row in rows],
        "Verdict": [verdict_text(row.get("Verdict")) for row in rows],
    }, index=rare_tasks.index)


def ranking_table(table: pd.DataFrame, rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """The triage ranking ``table`` (``triage.pipeline.readable(rare_tasks)``) with the task name
    beside the program, and with history the ``New`` and ``Verdict`` columns."""
    table = table.copy()
    extra = history_columns(rare_tasks)
    at = table.columns.get_loc("FileName") + 1 if "FileName" in table else len(table.columns)
    table.insert(at, "TaskName", extra["TaskName"].to_numpy())
    if "History" in rare_tasks or "Verdict" in rare_tasks:
        table.insert(1, "New", extra["New"].to_numpy())
        table["Verdict"] = extra["Verdict"].to_numpy()
    return table


def history_on(result: Any) -> bool:
    """Whether the hunt recorded itself in a history database (``--history``)."""
    return getattr(result, "history_run", None) is not None


def run_changes(result: Any) -> dict[str, pd.DataFrame] | None:
    """What appeared and vanished between the previous recorded run and this one
    (``history.diff.diff_runs``), or None without history or a previous run."""
    run = getattr(result, "history_run", None)
    if not run or run.get("previous_run_id") is None:
        return None
    from hunting_lib.history.diff import diff_runs
    from hunting_lib.history.store import open_history

    with open_history(result.params.history, create=False) as store:
        return diff_runs(store, int(run["previous_run_id"]), int(run["run_id"]))


def vanished_findings(changes: Mapping[str, pd.DataFrame] | None) -> pd.DataFrame:
    """The previous run's findings (rare and not suppressed then) that are not rare groups now.

    ``diff_runs``' ``vanished`` holds every rare group of the previous run that this run does not
    have, suppressed ones included; a group suppressed then was no finding, so it is left out.
    """
    vanished = changes.get("vanished") if changes else None
    if vanished is None or vanished.empty:
        return pd.DataFrame(columns=["GroupKey", "FileName", "ProcessCommandLine", "Score"])
    if "SuppressedBy" in vanished:
        vanished = vanished[vanished["SuppressedBy"].isna()]
    return vanished.reset_index(drop=True)


def _finding_item(row: Mapping[str, Any], hook: str, redact: Redactor, score: bool = True) -> str:
    names = task_names_text(row)
    parts = [f'<code>{_text(row.get("GroupKey", ""))}</code>', f'<b>{_text(row.get("FileName", ""), 80)}</b>']
    if names:
        parts.append(f"task {_text(names, 200)}")
    if score and row.get("Score") is not None and not pd.isna(row.get("Score")):
        parts.append(f"score {float(row['Score']):g}")
    if "StillRunning" in row:  # a vanished finding: why it is gone
        parts.append("still started here, no longer rare" if row["StillRunning"] else "not started in this window")
    line = redact(str(row.get("ProcessCommandLine") or ""))
    return (f'<li data-whatsnew="{hook}">' + ", ".join(parts)
            + (f': <code class="hl-wrap">{_text(line, 300)}</code>' if line else "") + "</li>")


def _listing(rows: list[Mapping[str, Any]], hook: str, redact: Redactor, score: bool = True) -> list[str]:
    items = [_finding_item(row, hook, redact, score) for row in rows[:LISTED]]
    if len(rows) > LISTED:
        items.append(f"<li>and {len(rows) - LISTED} more</li>")
    return ["<ul>", *items, "</ul>"]


def whats_new_html(result: Any, changes: Mapping[str, pd.DataFrame] | None = None,
                   redact: Redactor = _session) -> str:
    """The "What's new since the last run" section as one HTML fragment ("" without history).

    ``changes`` is ``run_changes(result)`` (passed in so the section can be built without a
    database); its ``vanished`` frame lists the previous run's rare groups this run does not have.
    ``redact`` is applied to every command line shown (by default: redacted unless the session
    keeps secrets).
    """
    if not history_on(result):
        return ""
    run = result.history_run
    rare = result.rare_tasks
    findings = result.findings
    new_mask = findings["History"].map(lambda h: is_new(h) is True) if "History" in findings else \
        pd.Series(False, index=findings.index)
    new_findings = findings[new_mask].to_dict(orient="records")
    new_rare = int(rare["History"].map(lambda h: is_new(h) is True).sum()) if "History" in rare else 0
    previous = run.get("previous_run_id")
    lines = ['<div class="hl-whatsnew" data-whatsnew="section">', "<h2>What's new since the last run</h2>",
             f'<p>This hunt is run <span data-whatsnew="run-id">{int(run["run_id"])}</span> of the history '
             f'<code>{_text(run.get("path_name", ""))}</code>; '
             + (f'the previous run is <span data-whatsnew="previous-run-id">{int(previous)}</span>.'
                if previous is not None else "it is the first run recorded there, so every group is new.") + "</p>"]
    lines.append(f'<p><b><span data-whatsnew="new-count">{len(new_findings)}</span> finding(s) with a new key</b> '
                 f"(the scheduler never started them in an earlier recorded run; {new_rare} of the "
                 f"{len(rare)} rare groups are new):</p>")
    lines += _listing(new_findings, "new-key", redact) if new_findings else ["<p>None.</p>"]
    if previous is not None:
        vanished_rows = vanished_findings(changes).to_dict(orient="records")
        lines.append(f'<p><b><span data-whatsnew="vanished-count">{len(vanished_rows)}</span> finding(s) of run '
                     f"{int(previous)} are not rare groups now</b> (no longer rare, or not started in this "
                     "window):</p>")
        lines += _listing(vanished_rows, "vanished-key", redact) if vanished_rows else ["<p>None.</p>"]
    verdicts = rare[rare["Verdict"].map(lambda v: _mapping(v) is not None)] if "Verdict" in rare else rare.iloc[:0]
    lines.append(f'<p><b><span data-whatsnew="verdict-count">{len(verdicts)}</span> verdict(s) in force</b> on '
                 "this hunt's rare groups" + (" (a benign verdict suppresses its group unless its binary changed or "
                                              "a tripwire fired):" if len(verdicts) else ".") + "</p>")
    if len(verdicts):
        lines.append("<ul>")
        for row in verdicts.head(LISTED).to_dict(orient="records"):
            state = "suppressed" if str(row.get("SuppressedBy") or "").startswith("verdict:") else (
                "still a finding" if row.get("SuppressedBy") is None or pd.isna(row.get("SuppressedBy"))
                else f"suppressed by {row['SuppressedBy']}")
            lines.append(f'<li data-whatsnew="verdict"><code>{_text(row.get("GroupKey", ""))}</code> '
                         f'<b>{_text(row.get("FileName", ""), 80)}</b>: {_text(verdict_text(row["Verdict"], 200))} '
                         f"({_text(state)})</li>")
        if len(verdicts) > LISTED:
            lines.append(f"<li>and {len(verdicts) - LISTED} more</li>")
        lines.append("</ul>")
    lines.append("</div>")
    return "\n".join(lines)
