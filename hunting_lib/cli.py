"""``python -m hunting_lib``: the commands of the contract.

Exit status: 0 on success, 2 for bad input or bad arguments (one line on stderr, never a
traceback), 1 for anything else. Data warnings go to stderr, one line each.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Sequence

from hunting_lib.errors import BadInputError, DataWarning
from hunting_lib.handoff.commands import add_handoff_command, run_handoff
from hunting_lib.history.commands import add_history_commands, run_history, run_verdict

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit status 2, one line
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    return value


def _add_hunt_options(parser: argparse.ArgumentParser, data_required: bool) -> None:
    parser.add_argument("--data-dir", required=data_required, type=Path, help="the data folder")
    parser.add_argument("--start", help="window start, ISO 8601 (default: the data's first event)")
    parser.add_argument("--end", help="window end, ISO 8601, inclusive (default: the data's last event)")
    parser.add_argument("--threshold", type=_positive_int, default=None,
                        help="a group is rare when its run count is below this (default: the seed's 3)")
    parser.add_argument("--max-devices", type=_positive_int, default=None,
                        help="also keep groups seen on at most N devices, whatever their count")
    parser.add_argument("--exclusions", default=None, metavar="PATH|none",
                        help="exclusions YAML (default: the shipped file); none: no exclusion rules and "
                             "no known-task catalogue")
    parser.add_argument("--known-tasks", default=None, metavar="PATH|none",
                        help="known-task catalogue YAML (default: the shipped file); none for no catalogue")
    parser.add_argument("--scope", choices=["published", "extended"], default=None,
                        help="published: the Schedule service's children the published query keeps; "
                             "extended (default): also taskeng.exe, the grouped svchost, System32 "
                             "LOLBins and user-writable folders, and task hosts that fire a tripwire")
    parser.add_argument("--published", action="store_true",
                        help="the published query exactly: published scope, no exclusions, no "
                             "catalogue, seed match")
    parser.add_argument("--match", choices=["seed", "process"], default="seed",
                        help="seed: the published string match; process: process identity")
    parser.add_argument("--date-order", choices=["auto", "dmy", "mdy"], default="auto",
                        help="for Log Analytics times like 03/04/2026: day or month first")
    parser.add_argument("--history", default=None, metavar="PATH",
                        help="hunt history (SQLite file, created if absent): record this run, mark each rare group "
                             "New or seen before, show verdicts; benign verdicts suppress. For history the window "
                             "is [start, end): a launch at exactly --end counts in the next window")
    parser.add_argument("--history-lookback-days", type=float, default=None, metavar="DAYS",
                        help="how far back New looks in the history (default: every recorded run)")
    parser.add_argument("--history-overlap-minutes", type=float, default=0.0, metavar="MINUTES",
                        help="also read this long before --start, for late events; launches an earlier run "
                             "counted (same DeviceId and ReportId) are not counted again")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m hunting_lib", description="Rare scheduled task hunting kit")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    hunt = commands.add_parser("hunt", help="run the hunt on a data folder")
    _add_hunt_options(hunt, data_required=True)
    hunt.add_argument("--output", type=Path, help="write .json (full result) or .csv (activity)")
    hunt.add_argument("--indicators", action="store_true",
                      help="add each rare task's IPs, URLs and domains (msticpy IoCExtract; loads msticpy)")

    report = commands.add_parser("report", help="run the hunt notebook and write one HTML report")
    _add_hunt_options(report, data_required=True)
    report.add_argument("--output", type=Path, required=True, help="the .html report to write")
    report.add_argument("--show-code", action="store_true",
                        help="include the notebook's code cells (left out by default: the report opens with the summary)")
    report.add_argument("--keep-secrets", action="store_true",
                        help="show passwords, tokens and keys in command lines as they are (redacted by default; "
                             "rules in config/redaction.yaml)")
    # The default since code is hidden; still accepted so that older scripts keep working.
    report.add_argument("--hide-code", action="store_true", help=argparse.SUPPRESS)

    kql = commands.add_parser("kql", help="print the hunt as one KQL query")
    _add_hunt_options(kql, data_required=False)
    kql.add_argument("--dialect", choices=["defender", "sentinel", "adx"], default="defender")
    kql.add_argument("--part", choices=["hunt", "rare_tasks"], default="hunt",
                     help="hunt: the activity summary (the published query's result); "
                          "rare_tasks: the rare groups with SuppressedBy")

    sample = commands.add_parser("sample", help="write the synthetic sample data set")
    sample.add_argument("--output", type=Path, default=Path("sample_data"))
    sample.add_argument("--scale", type=float, default=1.0)
    sample.add_argument("--format", choices=["csv", "parquet"], default="csv")
    sample.add_argument("--seed", type=int, default=None)
    sample.add_argument("--partition", choices=["auto", "day", "none"], default="auto",
                        help="day: each table a folder of daily parts, streamed in bounded memory; "
                             "auto (default): by day above scale 200")
    add_history_commands(commands)  # history, verdict

    export = commands.add_parser("export-rule", help="write the hunt as a Sentinel analytics rule and a Defender XDR "
                                                     "custom detection")
    _add_hunt_options(export, data_required=False)
    export.add_argument("--output", type=Path, required=True, help="the folder to write the rule files into")
    export.add_argument("--watchlist", default=None, metavar="NAME",
                        help="leave out the groups this Sentinel watchlist marks benign (_GetWatchlist)")
    export.add_argument("--dry-run", action="store_true", help="print what would be written; write nothing")
    add_handoff_command(commands)
    return parser


def _params(args: argparse.Namespace):
    from hunting_lib.params import HuntParams

    options = {"start": args.start, "end": args.end, "max_devices": args.max_devices, "match": args.match}
    memory = {"history": getattr(args, "history", None),
              "history_lookback_days": getattr(args, "history_lookback_days", None),
              "history_overlap_minutes": getattr(args, "history_overlap_minutes", 0.0) or 0.0}
    options.update(memory)
    if args.threshold is not None:
        options["threshold"] = args.threshold
    if args.exclusions is not None:
        options["exclusions"] = args.exclusions
        if str(args.exclusions).lower() == "none":
            options["known_tasks"] = None  # the contract: no rules and no catalogue
    if args.known_tasks is not None:
        options["known_tasks"] = args.known_tasks
    if args.scope is not None:
        options["scope"] = args.scope
    if args.published:
        clashes = [name for name, given in (("--exclusions", args.exclusions), ("--known-tasks", args.known_tasks),
                                            ("--scope", args.scope)) if given is not None]
        if args.match != "seed":
            clashes.append("--match process")
        if clashes:
            raise BadInputError(f"--published is the published query exactly; it cannot be combined with "
                                f"{', '.join(clashes)}")
        return HuntParams.published(start=args.start, end=args.end, max_devices=args.max_devices, **memory,
                                    **({"threshold": args.threshold} if args.threshold is not None else {}))
    return HuntParams(**options)


def _early_scan(args: argparse.Namespace):
    """Start reading a parquet folder in a thread before pandas is imported (the scan needs none).

    Only for the default window and parent command line, whose values need no parsing; any
    other hunt scans once its parameters are built.
    """
    if args.match != "seed" or args.start is not None or args.end is not None:
        return None
    if os.environ.get("HUNTING_LIB_EARLY_SCAN") == "0":  # ``make bench`` measures what this saves
        return None
    if (args.threshold is not None and args.threshold < 1) or (args.max_devices is not None and args.max_devices < 1):
        return None  # the parameters will be refused; nothing to read
    from hunting_lib.engine.early_scan import start_scan
    from hunting_lib.engine.query import seed_literals
    from hunting_lib.engine.scan import ScanRequest

    seed = seed_literals()
    threshold = seed.threshold if args.threshold is None else args.threshold
    scope = "published" if args.published else (args.scope or "extended")
    return start_scan(args.data_dir, ScanRequest(threshold, args.max_devices, (seed.parent_command_line,),
                                                 scope=scope))


def _cmd_hunt(args: argparse.Namespace) -> int:
    early = _early_scan(args)
    try:
        return _hunt(args, early)
    finally:
        if early is not None:
            early.close()


def _hunt(args: argparse.Namespace, early) -> int:
    from hunting_lib.engine.fast_load import load_for_hunt
    from hunting_lib.hunt import hunt_columns, run_hunt
    from hunting_lib.report.output import format_summary, write_activity_csv, write_json

    params = _params(args)
    suffix = args.output.suffix.lower() if args.output is not None else ""
    if args.output is not None and suffix not in (".json", ".csv"):
        raise BadInputError(f"--output {args.output}: use a .json or .csv file name")
    folder = load_for_hunt(args.data_dir, params, hunt_columns(), date_order=args.date_order, early=early)
    result = run_hunt(folder, params, indicators=args.indicators)
    if args.output is None:
        print(format_summary(result))
        return EXIT_OK
    if args.output.parent and not args.output.parent.exists():
        args.output.parent.mkdir(parents=True)
    (write_json if suffix == ".json" else write_activity_csv)(result, args.output)
    print(format_summary(result))
    print(f"wrote {args.output}")
    return EXIT_OK


def _cmd_kql(args: argparse.Namespace) -> int:
    from hunting_lib.remote.kql import render_hunt_kql, render_rare_tasks_kql
    from hunting_lib.triage.exclusions import load_exclusions

    params = _params(args)
    if params.match != "seed":
        raise BadInputError("kql: --match process is not rendered as KQL yet; use --match seed")
    if args.part == "hunt":
        print(render_hunt_kql(params, target=args.dialect))
    else:
        print(render_rare_tasks_kql(params, load_exclusions(params.exclusions), target=args.dialect))
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from hunting_lib.engine.fast_load import load_for_hunt
    from hunting_lib.hunt import hunt_columns
    from hunting_lib.report.runner import ReportError, build_report

    # Bad input is found here, with exit 2 and its one line, before a notebook runs. Read as
    # `hunt` reads it (a parquet folder through the scan, in a child process), never whole: at
    # fleet scale a whole load here cost gigabytes that the report never used.
    early = _early_scan(args)
    try:
        load_for_hunt(args.data_dir, _params(args), hunt_columns(), date_order=args.date_order, early=early)
    finally:
        if early is not None:
            early.close()
    try:
        path = build_report(args.data_dir, args.output, _params(args), show_code=args.show_code and not args.hide_code,
                            date_order=args.date_order, keep_secrets=args.keep_secrets)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"wrote {path}")
    return EXIT_OK


def _cmd_sample(args: argparse.Namespace) -> int:
    from hunting_lib.sample.generator import generate_sample

    if args.scale <= 0:
        raise BadInputError(f"--scale {args.scale}: must be above 0")
    options = {} if args.seed is None else {"seed": args.seed}
    partition = None if args.partition == "none" else args.partition
    counts = generate_sample(args.output, scale=args.scale, fmt=args.format, partition=partition, **options)
    print(f"wrote {sum(counts.values())} events in {len(counts)} tables to {args.output}")
    return EXIT_OK


def _cmd_export_rule(args: argparse.Namespace) -> int:
    from hunting_lib.detection.commands import run_export_rule

    return run_export_rule(_params(args), args.output, args.watchlist, args.dry_run)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    prefix = "warning" if issubclass(category, DataWarning) else category.__name__
    print(f"{prefix}: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"hunt": _cmd_hunt, "kql": _cmd_kql, "report": _cmd_report, "sample": _cmd_sample,
                "history": run_history, "verdict": run_verdict, "export-rule": _cmd_export_rule,
                "handoff": run_handoff}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # third-party noise; our own data warnings are shown
        warnings.simplefilter("always", DataWarning)
        warnings.showwarning = _show_warning
        try:
            return commands[args.command](args)
        except BadInputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return EXIT_FAILURE
        except BrokenPipeError:  # `hunt | head`: the reader had enough, which is no error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_OK
        except Exception as exc:  # the contract: one line, never a traceback (unless asked)
            if os.environ.get("HUNTING_LIB_DEBUG"):
                raise
            detail = " ".join(str(exc).split())
            print(f"error: {type(exc).__name__}: {detail} (set HUNTING_LIB_DEBUG=1 for details)",
                  file=sys.stderr)
            return EXIT_FAILURE
