"""The ``history`` and ``verdict`` commands: their options and what they print.

``cli.py`` calls ``add_history_commands`` to register both and dispatches to ``run_history`` /
``run_verdict``. Nothing heavy is imported until a command runs (``cli`` imports this module
for every command, including ``hunt``, which starts reading before pandas is loaded).
Every problem with the file or the arguments is a ``BadInputError`` (exit 2, one line).
"""

from __future__ import annotations

import argparse
from pathlib import Path

VERDICT_CHOICES = ("benign", "malicious", "follow-up")


def add_history_commands(commands) -> None:
    """Add ``history`` and ``verdict`` to the command line's subparsers."""
    history = commands.add_parser("history", help="list the runs in a hunt history file, or compare two")
    history.add_argument("--history", type=Path, required=True, metavar="PATH", help="the history file (SQLite)")
    history.add_argument("--diff", nargs=2, type=int, metavar=("RUN_A", "RUN_B"),
                         help="what appeared and vanished from run RUN_A to run RUN_B")
    history.add_argument("--width", type=int, default=60, help="characters of command line to show (default 60)")

    verdict = commands.add_parser("verdict", help="record an analyst's verdict on a task group (its GroupKey)")
    verdict.add_argument("verdict", choices=VERDICT_CHOICES)
    verdict.add_argument("--history", type=Path, required=True, metavar="PATH", help="the history file (SQLite)")
    verdict.add_argument("--group", required=True, metavar="KEY", help="the group's GroupKey (gk-...)")
    verdict.add_argument("--analyst", required=True, metavar="NAME", help="who decided")
    verdict.add_argument("--note", default="", metavar="TEXT", help="why (a draft rule's reason)")
    verdict.add_argument("--expires-days", type=int, default=None, metavar="N",
                         help="a benign verdict lapses after N days (default 90); others do not expire")
    verdict.add_argument("--draft-rule", type=Path, default=None, metavar="FILE.yaml",
                         help="benign only: also write a draft exclusion rule for review to this file")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def format_table(rows: list[list[object]], header: list[str], widths: dict[int, int] | None = None) -> str:
    """A plain text table; every cell made one printable line (attacker text stays inert)."""
    from hunting_lib.report.text import safe_text

    widths = widths or {}
    cells = [[_clip(safe_text(value), widths.get(i, 10_000)) for i, value in enumerate(row)] for row in rows]
    sizes = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(sizes[i]) for i, h in enumerate(header)).rstrip()]
    lines += ["  ".join(c.ljust(sizes[i]) for i, c in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


def _sources_text(sources: dict) -> str:
    names = []
    for value in sources.values():
        names.extend(value if isinstance(value, list) else [value])
    return ", ".join(str(n) for n in names[:4]) + (f" (+{len(names) - 4})" if len(names) > 4 else "")


def _runs_text(store) -> str:
    from hunting_lib.history.diff import list_runs, window_text
    from hunting_lib.history.runs import iso

    runs = list_runs(store)
    if runs.empty:
        return f"{store.path.name}: no runs recorded yet"
    rows = [[r.RunId, iso(r.RecordedAt), window_text(r.WindowStart, r.WindowEnd), _sources_text(r.Sources),
             r.Groups, r.Findings, r.NewFindings] for r in runs.itertuples()]
    header = ["run", "recorded at", "window", "sources", "groups", "findings", "new"]
    return f"{len(runs)} run(s) in {store.path.name}\n" + format_table(rows, header, {3: 50})


def _verdicts_text(store) -> str:
    from hunting_lib.history.verdicts import list_verdicts

    verdicts = list_verdicts(store)
    if verdicts.empty:
        return "no verdicts recorded"
    rows = [[v.Id, v.GroupKey, v.Verdict, v.Status, v.Analyst, v.At, v.Expires or "-", len(v.SHA1s), v.Note]
            for v in verdicts.itertuples()]
    header = ["id", "group", "verdict", "status", "analyst", "at", "expires", "sha1s", "note"]
    return f"{len(verdicts)} verdict(s)\n" + format_table(rows, header, {4: 24, 8: 60})


def _findings_text(title: str, frame, width: int, flag: str | None) -> str:
    from hunting_lib.engine.group_key import readable_pattern

    if frame.empty:
        return f"{title}: none"
    rows = []
    for row in frame.to_dict(orient="records"):
        score = row.get("Score")
        rows.append([row["GroupKey"], "-" if score is None else f"{float(score):g}", row["Count"],
                     row["FileName"], readable_pattern(row["GroupPattern"])]
                    + ([("yes" if row.get(flag) else "no")] if flag else []))
    header = ["group", "score", "runs", "file", "pattern"] + ([flag] if flag else [])
    return f"{title}: {len(frame)}\n" + format_table(rows, header, {3: 24, 4: width})


def run_history(args: argparse.Namespace) -> int:
    """``history``: the runs and the verdicts, or (``--diff A B``) what changed between two runs."""
    from hunting_lib.history.diff import diff_runs
    from hunting_lib.history.store import open_history

    with open_history(args.history, create=False) as store:
        if not args.diff:
            print(_runs_text(store))
            print()
            print(_verdicts_text(store))
            return 0
        run_a, run_b = args.diff
        changes = diff_runs(store, run_a, run_b)
        print(f"from run {run_a} to run {run_b} in {store.path.name}")
        print(_findings_text("findings that appeared", changes["appeared"], args.width, "WasRunning"))
        print(_findings_text("findings that vanished", changes["vanished"], args.width, "StillRunning"))
        print(f"groups the scheduler started: {len(changes['groups_appeared'])} appeared, "
              f"{len(changes['groups_vanished'])} vanished")
    return 0


def run_verdict(args: argparse.Namespace) -> int:
    """``verdict``: record it; with ``--draft-rule``, also write the draft (checked first, so a
    draft that cannot be written records nothing)."""
    import datetime as dt
    import warnings

    import pandas as pd

    from hunting_lib import clock
    from hunting_lib.errors import BadInputError, DataWarning
    from hunting_lib.history.store import open_history
    from hunting_lib.history.verdicts import (
        BENIGN_DAYS,
        check_key,
        draft_rule,
        key_seen,
        merged_drafts,
        record_verdict,
        write_draft_rule,
    )
    from hunting_lib.report.text import safe_text

    key = check_key(args.group)
    if args.draft_rule is not None and args.verdict != "benign":
        raise BadInputError(f"--draft-rule: only a benign verdict writes a draft exclusion rule (not {args.verdict})")
    with open_history(args.history, create=True) as store:
        rule = None
        if args.draft_rule is not None:
            now = pd.Timestamp(clock.now())
            expires: dt.date = (now + pd.Timedelta(days=args.expires_days or BENIGN_DAYS)).date()
            rule = draft_rule(store, key, args.analyst, args.note, expires)
            merged_drafts(args.draft_rule, rule)  # refuses a bad drafts file before anything is recorded
        if not key_seen(store, key):
            warnings.warn(f"{key} was never seen in {store.path.name}; the verdict is recorded anyway "
                          f"(it applies when the group first runs)", DataWarning, stacklevel=2)
        recorded = record_verdict(store, key, args.verdict, args.analyst, args.note, args.expires_days)
    expiry = f", expires {recorded['Expires']}" if recorded["Expires"] else ""
    bound = f", bound to {len(recorded['SHA1s'])} SHA1(s)" if recorded["SHA1s"] else ""
    print(f"verdict {recorded['Id']}: {recorded['GroupKey']} {recorded['Verdict']} by {safe_text(recorded['Analyst'])}"
          f"{expiry}{bound}")
    if rule is not None:
        rule["expires"] = pd.Timestamp(recorded["Expires"]).date()
        write_draft_rule(args.draft_rule, rule)
        print(f"wrote draft rule {rule['id']} to {args.draft_rule} (for review; the hunt does not read it)")
    return 0
