"""The notebook's verdict form: the ``verdict`` command as widgets, for the analyst reading a hunt.

An analyst who has just read a finding's pivot should record what they concluded without leaving
the notebook: pick the finding, choose benign, malicious or follow-up, sign it, add a note and,
for a benign verdict, optionally write a draft exclusion rule for review. ``submit_verdict`` does
the work (the same calls as ``python -m hunting_lib verdict``) and returns what to show; the
widgets only collect the fields, so the logic is tested without a front end. Headless
(papermill), the notebook builds no widget and nothing waits for input.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from hunting_lib.errors import BadInputError
from hunting_lib.report.definitions import task_names_text
from hunting_lib.report.history_view import verdict_text
from hunting_lib.report.text import safe_text

VERDICTS = ("benign", "malicious", "follow-up")


def _text(value: object) -> str:
    return escape(safe_text(value), quote=True)


def finding_choices(rare_tasks: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, GroupKey) per rare group, in rank order: findings first, suppressed groups after.

    The label reads as the ranking does ("#1 powershell.exe: \\Updater (gk-...)"), so the pick is
    the finding the analyst just read; suppressed groups are offered too (a known task can still
    turn out malicious).
    """
    if rare_tasks.empty or "GroupKey" not in rare_tasks:
        return []
    suppressed = rare_tasks["SuppressedBy"].notna() if "SuppressedBy" in rare_tasks else pd.Series(False, rare_tasks.index)
    ordered = pd.concat([rare_tasks[~suppressed], rare_tasks[suppressed]])
    choices = []
    for rank, row in enumerate(ordered.to_dict(orient="records"), start=1):
        names = task_names_text(row, limit=1)
        mark = " [suppressed]" if row.get("SuppressedBy") is not None and not pd.isna(row.get("SuppressedBy")) else ""
        label = f"#{rank} {safe_text(row.get('FileName', ''))}" + (f": {safe_text(names)}" if names else "") \
            + f" ({row['GroupKey']}){mark}"
        choices.append((label if len(label) <= 120 else label[:119] + "…", str(row["GroupKey"])))
    return choices


def submit_verdict(history: str | Path | None, group_key: str, verdict: str, analyst: str, note: str = "",
                   draft_rule: str | Path | None = None, expires_days: int | None = None) -> str:
    """Record a verdict (and for a benign one, optionally a draft exclusion rule); HTML saying what happened.

    The same steps as ``python -m hunting_lib verdict``: the draft rule is made and checked first,
    so a draft that cannot be written records nothing. Errors (no history file, a corrupt or
    locked one, no analyst, a draft for a key with no recorded finding) come back as one line,
    never as a traceback: the analyst fixes the field and presses the button again.
    """
    from hunting_lib import clock
    from hunting_lib.history.store import open_history
    from hunting_lib.history.verdicts import (
        BENIGN_DAYS,
        check_key,
        key_seen,
        merged_drafts,
        record_verdict,
        write_draft_rule,
    )
    from hunting_lib.history.verdicts import draft_rule as make_draft_rule

    problem = (
        "set the notebook's `history` parameter to a history file first" if not history else
        "pick a finding" if not group_key else
        f"the verdict is one of {', '.join(VERDICTS)}" if verdict not in VERDICTS else
        "the analyst's name is required" if not str(analyst or "").strip() else
        "a draft exclusion rule is written only for a benign verdict" if draft_rule and verdict != "benign" else "")
    if problem:
        return f'<p class="hl-verdict-error" data-verdict="error">Not recorded: {_text(problem)}.</p>'
    rule = None
    try:
        key = check_key(group_key)
        with open_history(history) as store:
            if draft_rule:
                expires = (pd.Timestamp(clock.now()) + pd.Timedelta(days=expires_days or BENIGN_DAYS)).date()
                rule = make_draft_rule(store, key, str(analyst), note or "", expires)
                merged_drafts(Path(draft_rule), rule)  # a bad drafts file refuses before anything is recorded
            seen = key_seen(store, key)
            recorded = record_verdict(store, key, verdict, str(analyst), note or "", expires_days)
        if rule is not None:
            rule["expires"] = pd.Timestamp(recorded["Expires"]).date()
            write_draft_rule(Path(draft_rule), rule)
    except (BadInputError, OSError, ValueError) as error:
        return f'<p class="hl-verdict-error" data-verdict="error">Not recorded: {_text(" ".join(str(error).split()))}</p>'
    lines = [f'<p data-verdict="recorded">Verdict {int(recorded["Id"])} recorded on <code>{_text(key)}</code>: '
             f"{_text(verdict_text(recorded, 200))}"
             + (f", bound to {len(recorded['SHA1s'])} SHA1(s)" if recorded.get("SHA1s") else "") + ".</p>"]
    if not seen:
        lines.append(f"<p>{_text(key)} was never seen in this history; the verdict applies when the group first "
                     "runs.</p>")
    if rule is not None:
        lines.append(f'<p data-verdict="draft-rule">Draft exclusion rule <code>{_text(rule.get("id", ""))}</code> '
                     f"written to <code>{_text(Path(draft_rule).name)}</code> for review; the shipped rules are "
                     "unchanged.</p>")
    lines.append("<p>The next hunt with this history file shows it.</p>")
    return "\n".join(lines)


def verdict_form(rare_tasks: pd.DataFrame, history: str | Path | None) -> Any:
    """The verdict widgets (ipywidgets) for a hunt's rare groups; pressing the button records."""
    import ipywidgets as widgets
    from IPython.display import HTML, display

    picker = widgets.Dropdown(options=finding_choices(rare_tasks), description="finding",
                              layout=widgets.Layout(width="60em"))
    verdict = widgets.ToggleButtons(options=list(VERDICTS), value="follow-up", description="verdict")
    analyst = widgets.Text(description="analyst", placeholder="your name")
    note = widgets.Textarea(description="note", placeholder="why", layout=widgets.Layout(width="60em"))
    draft = widgets.Text(description="draft rule", placeholder="optional: drafts.yaml (benign only)",
                         layout=widgets.Layout(width="40em"))
    button = widgets.Button(description="Record verdict", button_style="primary", layout=widgets.Layout(width="14em"))
    output = widgets.Output()

    def record(_: Any) -> None:
        output.clear_output()
        with output:
            display(HTML(submit_verdict(history, picker.value or "", verdict.value, analyst.value, note.value,
                                        draft.value.strip() or None)))

    button.on_click(record)
    return widgets.VBox([picker, verdict, analyst, note, draft, button, output])
