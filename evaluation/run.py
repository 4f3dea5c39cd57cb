"""Run the hunt on every evaluation set that is present and report how the labelled attacks rank.

    python evaluation/run.py [--sets id,...] [--markdown FILE] [--published] [--update-page EVALUATION.md]

For each set of ``sets.yaml`` whose data folder exists (an absent one gets one line saying how to
fetch it), the hunt runs through the library exactly as a user runs it
(``run_hunt(folder, HuntParams())``; ``--published`` runs the published query's scope without
exclusions). The report says, per set, how much Task Scheduler traffic there was, what the hunt
kept and suppressed, and for every labelled malicious launch its rank, score and reasons, or why
it was missed: not in the hunt's scope, not rare, suppressed, or outranked by benign groups.

A label matches the rare group with the same ``FileName`` and ``FolderPath`` (without case), the
same ``ProcessCommandLine`` and the label's device among the group's ``Devices``. This is a report,
not a test: it always exits 0.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluation import manifest, task_report  # noqa: E402
from evaluation.manifest import EvalSet, Label  # noqa: E402
from evaluation.tables import task_launcher  # noqa: E402

GROUP = ["FileName", "ProcessCommandLine", "FolderPath"]
_PROCESS_COLUMNS = ["DeviceName", "FileName", "ProcessCommandLine", "FolderPath", "InitiatingProcessFileName",
                    "InitiatingProcessCommandLine"]


@dataclass
class LaunchResult:
    """How one labelled malicious launch fared."""

    label: Label
    rank: int | None = None  # 1-based position in the ranking; None when not a rare group
    score: float | None = None
    reasons: list[str] = field(default_factory=list)
    finding: bool = False
    above_benign: bool = False
    why_missed: str = ""


@dataclass
class SetReport:
    """One set's figures (the columns of the summary table)."""

    set_id: str
    devices: int = 0
    launches: int = 0
    labelled: int = 0
    rare_groups: int = 0
    findings: int = 0
    by_rule: int = 0
    by_catalogue: int = 0
    kept_by_tripwire: int = 0
    malicious_findings: int = 0
    malicious_on_top: int = 0
    results: list[LaunchResult] = field(default_factory=list)
    note: str = ""
    registrations: list[task_report.RegistrationResult] = field(default_factory=list)
    task_false_positives: task_report.FalsePositives | None = None


def _column(frame: pd.DataFrame, name: str, default: Any = None) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series([default] * len(frame), index=frame.index, dtype=object)


def _listish(value: Any) -> list:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if isinstance(value, (list, tuple, set)):
        return list(value)
    if hasattr(value, "tolist"):
        return list(value.tolist())
    return [value]


def match_labels(rare_tasks: pd.DataFrame, labels: Sequence[Label]) -> list[int | None]:
    """For each label, the position (0 = most suspicious) of its rare group, or None."""
    positions: list[int | None] = []
    rows = list(zip(rare_tasks["FileName"], rare_tasks["ProcessCommandLine"], rare_tasks["FolderPath"],
                    _column(rare_tasks, "Devices", [])))
    for label in labels:
        found = next((i for i, (name, line, path, devices) in enumerate(rows)
                      if label.matches(name, line, path, _listish(devices))), None)
        positions.append(found)
    return positions


def _suppression(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def score_set(rare_tasks: pd.DataFrame, labels: Sequence[Label], unlabelled: Sequence[Label] = ()) -> SetReport:
    """The ranking figures of one hunt result against its labels (no data needed). Groups of
    ``unlabelled`` malicious launches are neither labels nor benign."""
    report = SetReport(set_id="", labelled=len(labels), rare_groups=len(rare_tasks))
    suppressed = [_suppression(v) for v in _column(rare_tasks, "SuppressedBy")]
    would = [_suppression(v) for v in _column(rare_tasks, "WouldSuppressBy")]
    report.findings = sum(s is None for s in suppressed)
    report.by_catalogue = sum(s is not None and s.startswith("known:") for s in suppressed)
    report.by_rule = sum(s is not None and not s.startswith("known:") for s in suppressed)
    report.kept_by_tripwire = sum(s is None and w is not None for s, w in zip(suppressed, would))
    positions = match_labels(rare_tasks, labels)
    labelled_rows = {p for p in positions + match_labels(rare_tasks, unlabelled) if p is not None}
    benign_findings = [i for i, s in enumerate(suppressed) if s is None and i not in labelled_rows]
    best_benign = min(benign_findings) if benign_findings else None
    scores, reasons = _column(rare_tasks, "Score"), _column(rare_tasks, "Reasons", [])
    for label, position in zip(labels, positions):
        result = LaunchResult(label)
        if position is not None:
            result.rank = position + 1
            result.score = None if pd.isna(scores.iloc[position]) else float(scores.iloc[position])
            result.reasons = [str(r) for r in _listish(reasons.iloc[position])]
            result.finding = suppressed[position] is None
            result.above_benign = result.finding and (best_benign is None or position < best_benign)
            if not result.finding:
                result.why_missed = f"suppressed by {suppressed[position]}"
            elif not result.above_benign:
                above = [i for i in benign_findings if i < position]
                first = rare_tasks.iloc[above[0]]
                result.why_missed = (f"outranked by {len(above)} benign finding(s), first "
                                     f"{first['FileName']} `{_short(first['ProcessCommandLine'])}` "
                                     f"(score {first.get('Score', '')})")
        report.results.append(result)
    report.malicious_findings = sum(r.finding for r in report.results)
    report.malicious_on_top = sum(r.above_benign for r in report.results)
    return report


def _short(text: Any, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def read_processes(folder: Path) -> pd.DataFrame:
    """The set's process starts, only the columns the report needs (all as text)."""
    from hunting_lib.engine.files import find_table_files

    path = find_table_files(folder).get("DeviceProcessEvents")
    if path is None:
        return pd.DataFrame(columns=_PROCESS_COLUMNS)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.name.endswith((".json", ".jsonl")):
        frame = pd.read_json(path, lines=path.name.endswith(".jsonl"), dtype=False)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in _PROCESS_COLUMNS:
        if column not in frame:
            frame[column] = ""
    return frame[_PROCESS_COLUMNS].fillna("").astype(str)


def task_launches(processes: pd.DataFrame) -> pd.Series:
    """Which process starts the Task Scheduler made (same rule as the converter's count)."""
    pairs = processes[["InitiatingProcessFileName", "InitiatingProcessCommandLine"]].drop_duplicates()
    hosts = {(n, c): task_launcher(n, c) for n, c in pairs.itertuples(index=False, name=None)}
    keys = zip(processes["InitiatingProcessFileName"], processes["InitiatingProcessCommandLine"])
    return pd.Series([bool(hosts[k]) for k in keys], index=processes.index)


def explain_miss(label: Label, processes: pd.DataFrame, task_starts: pd.DataFrame | None, threshold: Any) -> str:
    """Why a labelled launch is no rare group: not in the data, not in scope, or not rare."""
    rows = processes[(processes["DeviceName"].str.lower() == label.device.lower())
                     & (processes["FileName"].str.lower() == label.FileName.lower())
                     & (processes["FolderPath"].str.lower() == label.FolderPath.lower())
                     & (processes["ProcessCommandLine"] == label.ProcessCommandLine)]
    if rows.empty:
        return "not in the data (no such process start: check the conversion or the label)"
    if task_starts is not None and len(task_starts):
        same = task_starts[(task_starts["FileName"].str.lower() == label.FileName.lower())
                           & (task_starts["FolderPath"].str.lower() == label.FolderPath.lower())
                           & (task_starts["ProcessCommandLine"] == label.ProcessCommandLine)]
        if len(same):
            return f"not rare: {len(same)} runs of this group (the threshold keeps fewer than {threshold})"
    # Explain from a start the Task Scheduler made when there is one: the same program may also
    # have been started by something else on the device.
    by_scheduler = rows[task_launches(rows)]
    parent = (by_scheduler if len(by_scheduler) else rows).iloc[0]
    shells = ("cmd.exe", "powershell.exe", "rundll32.exe", "regsvr32.exe")
    if (label.FolderPath.lower().startswith("c:\\windows\\system32\\") and label.FileName.lower() not in shells
            and task_launcher(parent["InitiatingProcessFileName"], parent["InitiatingProcessCommandLine"])):
        return ("not in scope: a System32 program the scope does not take (neither one of the published "
                "query's four shells nor in config/scope.yaml), and no host tripwire fired "
                f"(started by `{_short(parent['InitiatingProcessCommandLine'], 50)}`)")
    if not parent["InitiatingProcessCommandLine"]:
        return (f"not in scope: the parent's command line is unknown ({parent['InitiatingProcessFileName'] or '?'}"
                " without a command line, as Security 4688 records it)")
    return (f"not in scope: started by {parent['InitiatingProcessFileName']} "
            f"`{_short(parent['InitiatingProcessCommandLine'], 50)}`, from {label.FolderPath}")


def hunt_params(published: bool) -> Any:
    """HuntParams() by default; the published query's scope without exclusions with ``published``."""
    from hunting_lib.params import HuntParams

    if not published:
        return HuntParams()
    if hasattr(HuntParams, "published"):
        return HuntParams.published()
    return HuntParams(scope="published", exclusions=None)  # TypeError on a library without scopes


def run_set(evaluation_set: EvalSet, published: bool) -> SetReport:
    """Hunt one set and score it against its labels."""
    from hunting_lib.hunt import run_hunt

    labels = evaluation_set.labels()
    params = hunt_params(published)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_hunt(evaluation_set.folder, params)
    report = score_set(result.rare_tasks, labels, evaluation_set.unlabelled_malicious())
    report.set_id = evaluation_set.id
    processes = read_processes(evaluation_set.folder)
    report.devices = processes["DeviceName"].nunique()
    report.launches = int(task_launches(processes).sum()) if len(processes) else 0
    for launch in report.results:
        if launch.rank is None:
            launch.why_missed = explain_miss(launch.label, processes, getattr(result, "task_starts", None),
                                             getattr(params, "threshold", 3))
    # task definitions: where each expected registration went, and what ordinary tasks trigger
    wanted = task_report.expected_registrations(evaluation_set)
    events = task_report.registration_events(result, evaluation_set.folder)
    threshold = int(getattr(params, "threshold", 3))
    report.registrations = task_report.evaluate_registrations(evaluation_set.id, result, wanted, events, processes,
                                                              threshold)
    malicious_groups = [p for p in match_labels(result.rare_tasks, list(labels)
                                                + evaluation_set.unlabelled_malicious()) if p is not None]
    report.task_false_positives = task_report.false_positives(evaluation_set.id, result, wanted, events,
                                                              malicious_groups, processes)
    if wanted:
        seen = sum(r.found_in != "nowhere" for r in report.registrations)
        report.note = f"{seen} of {len(wanted)} expected task registrations reported"
    return report


HEADERS = ["Set", "Devices", "Task Scheduler launches", "Malicious labelled", "Rare groups", "Findings",
           "Suppressed by rule", "Suppressed by catalogue", "Kept by tripwire", "Malicious found",
           "Malicious above every benign finding"]


def _row(report: SetReport) -> list[str]:
    return [report.set_id, str(report.devices), str(report.launches), str(report.labelled), str(report.rare_groups),
            str(report.findings), str(report.by_rule), str(report.by_catalogue), str(report.kept_by_tripwire),
            str(report.malicious_findings), str(report.malicious_on_top)]


def _launch_line(launch: LaunchResult) -> str:
    label = launch.label
    head = f"{label.device}  {label.FileName}  `{_short(label.ProcessCommandLine)}`"
    if launch.rank is None:
        return f"{head}: MISSED, {launch.why_missed}"
    state = "finding" if launch.finding else "suppressed"
    tail = f"; {launch.why_missed}" if launch.why_missed else ""
    return f"{head}: rank {launch.rank} ({state}), score {launch.score}, reasons {', '.join(launch.reasons) or '-'}{tail}"


def print_report(report: SetReport) -> None:
    print(f"== {report.set_id}")
    for name, value in zip(HEADERS[1:], _row(report)[1:]):
        print(f"   {name}: {value}")
    if report.note:
        print(f"   {report.note}")
    for launch in report.results:
        print(f"   - {_launch_line(launch)}")
    for found in report.registrations:
        logon = f", network logon from {found.remote_ip or 'no address'}" if found.network_logon else ""
        print(f"   - task {found.device} {found.task_name}: {found.found_in}; signals {', '.join(found.signals) or '-'}; "
              f"registered by {found.registered_by or '?'}{logon}" + (f"; {found.why}" if found.why else "")
              + (f"; NOT AS EXPECTED: {'; '.join(found.unmet)}" if found.unmet else ""))


def markdown(reports: list[SetReport], notes: list[str], scope: str) -> str:
    lines = [f"# Evaluation on labelled recordings ({scope})", "", "| " + " | ".join(HEADERS) + " |",
             "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_row(r)) + " |" for r in reports]
    total = [sum(int(_row(r)[i]) for r in reports) for i in range(1, len(HEADERS))]
    lines.append("| **all** | " + " | ".join(str(t) for t in total) + " |")
    lines += ["", "| Set | Device | FileName | ProcessCommandLine | Rank | Score | Reasons | Missed because |",
              "|---|---|---|---|---|---|---|---|"]
    for report in reports:
        for launch in report.results:
            label = launch.label
            command = _short(label.ProcessCommandLine).replace("|", "\\|")
            lines.append(f"| {report.set_id} | {label.device} | {label.FileName} | `{command}` | "
                         f"{launch.rank or '-'} | {launch.score if launch.score is not None else '-'} | "
                         f"{', '.join(launch.reasons) or '-'} | {launch.why_missed.replace('|', '/') or '-'} |")
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n\n" + task_section(reports)


def task_section(reports: list[SetReport]) -> str:
    """The task-definitions section of the report (Markdown)."""
    results = [found for report in reports for found in report.registrations]
    positives = [report.task_false_positives for report in reports if report.task_false_positives is not None]
    return task_report.markdown_section(results, positives)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", help="comma list of set ids (default: all)")
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown to this file")
    parser.add_argument("--update-page", type=Path,
                        help="replace the generated task-definitions section of this page (EVALUATION.md)")
    parser.add_argument("--published", action="store_true",
                        help="the published query's scope, no exclusions (needs a library with scopes)")
    args = parser.parse_args(argv)
    try:
        sets = manifest.select(manifest.load(), args.sets)
    except manifest.ManifestError as exc:
        print(f"run: {exc}")
        return 0
    reports, notes = [], []
    for evaluation_set in sets:
        if not evaluation_set.present:
            how = (f"python evaluation/get_recordings.py --sets {evaluation_set.id}" if evaluation_set.fetched
                   else f"expected at {evaluation_set.path}")
            line = f"{evaluation_set.id}: absent, skipped (get it with: {how})"
            print(line)
            notes.append(line)
            continue
        try:
            report = run_set(evaluation_set, args.published)
        except TypeError as exc:
            line = f"{evaluation_set.id}: --published needs a library with hunt scopes ({exc})"
            print(line)
            notes.append(line)
            continue
        except Exception as exc:  # noqa: BLE001 - a report: one failing set must not hide the others
            line = f"{evaluation_set.id}: the hunt failed: {type(exc).__name__}: {exc}"
            print(line)
            notes.append(line)
            continue
        print_report(report)
        reports.append(report)
    if args.update_page:
        task_report.update_page(args.update_page, task_section(reports))
    if args.markdown:
        args.markdown.write_text(markdown(reports, notes, "published scope" if args.published else "default hunt"),
                                 encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
