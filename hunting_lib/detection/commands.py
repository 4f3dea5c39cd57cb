"""The ``export-rule`` command: render both detections, then print them (``--dry-run``) or write them."""

from __future__ import annotations

from pathlib import Path

from hunting_lib.detection.export import build_export, check_output_dir, write_export
from hunting_lib.errors import BadInputError
from hunting_lib.params import HuntParams

EXIT_OK = 0


def run_export_rule(params: HuntParams, output: Path, watchlist: str | None, dry_run: bool) -> int:
    """Write (or with ``dry_run`` print) the Sentinel rule and the Defender custom detection."""
    from hunting_lib.triage.exclusions import load_exclusions
    from hunting_lib.triage.known_tasks import load_known_tasks

    if params.history is not None:
        raise BadInputError("export-rule: --history is not read by a detection; sync the verdicts to a Sentinel "
                            "watchlist and pass --watchlist NAME")
    check_output_dir(output)  # a bad folder is reported before anything is rendered, dry run or not
    exported = build_export(params, load_exclusions(params.exclusions), load_known_tasks(params.known_tasks),
                            watchlist)
    if dry_run:
        for name, text in exported.files.items():
            print(f"--- would write {output / name} ({len(text):,} characters)")
            print(text, end="" if text.endswith("\n") else "\n")
        print(f"dry run: nothing written; rule id {exported.rule_id}")
        return EXIT_OK
    for path in write_export(exported, output):
        print(f"wrote {path}")
    if exported.function_name:
        print(f"save {exported.function_name}.kql as a workspace function named {exported.function_name} before "
              "importing the rule (its query is over Sentinel's 10,000 characters)")
    return EXIT_OK
