"""The ``handoff`` command: findings to Microsoft Sentinel as bookmarks, optionally into an
incident, and (``--sync-watchlist``) verdicts and exclusion keys to a watchlist.

``cli.py`` calls ``add_handoff_command`` and dispatches to ``run_handoff``. Nothing heavy is
imported until the command runs. ``--dry-run`` builds the same calls and prints them; it never
connects, so it needs no credentials and sends nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _rank(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rank (1 = the first finding)") from None


def add_handoff_command(commands) -> None:
    """Add ``handoff`` to the command line's subparsers."""
    handoff = commands.add_parser("handoff", help="send findings to Microsoft Sentinel as bookmarks (and an incident)")
    handoff.add_argument("--findings", type=Path, required=True, metavar="FILE.json",
                         help="the findings file (hunt --output FILE.json)")
    handoff.add_argument("--finding", type=_rank, action="extend", nargs="+", metavar="N",
                         help="findings by rank (1 = the first): --finding 1 3, or repeated (default: every "
                              "unsuppressed one)")
    case = handoff.add_mutually_exclusive_group()
    case.add_argument("--incident", metavar="ID", help="add the bookmarks (and a comment) to this incident")
    case.add_argument("--new-incident", metavar="TITLE", help="create an incident with this title for the bookmarks")
    handoff.add_argument("--workspace", metavar="NAME", help="the workspace in msticpyconfig.yaml (default: its default)")
    handoff.add_argument("--dry-run", action="store_true", help="print every call that would be sent; send nothing")
    handoff.add_argument("--sync-watchlist", metavar="NAME",
                         help="also copy verdicts (from --history) and exclusion keys to this Sentinel watchlist")
    handoff.add_argument("--history", type=Path, metavar="PATH", help="the hunt history file whose verdicts to sync")


def _check_incident(incident: str | None) -> None:
    from hunting_lib.errors import BadInputError

    if incident is not None and (not incident.strip() or any(c in incident for c in "/?#\\") or len(incident) > 256):
        raise BadInputError(f"--incident {incident!r}: give the incident's id (a GUID) or its title, without / ? # \\")


def run_handoff(args: argparse.Namespace, client: Any = None, http: Any = None) -> int:
    """``handoff``: plan, then print (``--dry-run``) or send. ``client`` and ``http`` stand in for
    the msticpy client and the HTTP function (tests pass recorders)."""
    from hunting_lib.errors import BadInputError
    from hunting_lib.handoff import send
    from hunting_lib.handoff.findings import choose_findings, load_findings
    from hunting_lib.handoff.plan import format_plan, handoff_plan
    from hunting_lib.handoff.watchlist import (
        check_watchlist_name,
        recorded_groups,
        sync_watchlist,
        watchlist_items,
        watchlist_plan,
    )

    findings = load_findings(args.findings)
    chosen = choose_findings(findings, args.finding)
    _check_incident(args.incident)
    if args.new_incident is not None and not args.new_incident.strip():
        raise BadInputError("--new-incident: the incident needs a title")
    if args.history is not None and not args.sync_watchlist:
        raise BadInputError("--history: only used with --sync-watchlist (its verdicts go to the watchlist)")
    items = None
    if args.sync_watchlist:
        check_watchlist_name(args.sync_watchlist)
        verdicts = None
        if args.history is not None:
            from hunting_lib.history.store import open_history
            from hunting_lib.history.verdicts import current_verdicts

            with open_history(args.history, create=False) as store:
                verdicts = current_verdicts(store)
                recorded = recorded_groups(store, list(verdicts["GroupKey"]))
        items = watchlist_items(verdicts, findings, recorded if verdicts is not None else None)
    if not chosen and (args.incident or args.new_incident):
        raise BadInputError(f"{findings.path}: no unsuppressed finding to put in an incident; choose some with "
                            f"--finding N")
    calls = handoff_plan(findings, chosen, args.incident, args.new_incident)
    if args.dry_run:
        plan = calls + (watchlist_plan(args.sync_watchlist, items) if items is not None else [])
        if plan:
            print(format_plan(plan))
            print()
        print(f"dry run: {len(calls)} call(s) for {len(chosen)} finding(s)"
              + (f", and a sync of {len(items)} watchlist item(s)" if items is not None else "")
              + "; nothing sent ({workspace} is the workspace's resource path)")
        return 0
    if not calls and items is None:
        print(f"{findings.path}: no unsuppressed finding; nothing sent (choose findings with --finding N)")
        return 0
    client = client if client is not None else send.connect_sentinel(args.workspace)
    for line in send.send_plan(client, calls, http):
        print(line)
    if items is not None:
        counts = sync_watchlist(client, args.sync_watchlist, items, http)
        print(f"watchlist {args.sync_watchlist}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
        if counts["only_in_watchlist"]:
            print(f"watchlist {args.sync_watchlist}: {counts['only_in_watchlist']} item(s) have no verdict or exclusion "
                  f"here and were left as they are (nothing is deleted)")
    return 0
