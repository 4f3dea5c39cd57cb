"""The README a converted folder carries: sources, counts, what was skipped, and the mapping.

A converted folder must explain itself to someone who finds it without this code: where the events
came from, how many rows each table got, how many Task Scheduler launches there are, and which
source quirks changed values (moved clocks, skipped records).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import pandas as pd

from evaluation import readers
from evaluation.tables import TABLES

if TYPE_CHECKING:  # pragma: no cover
    from evaluation.convert import Summary

MAPPING = """\
| Source event | Table | ActionType |
|---|---|---|
| Sysmon 1 | DeviceProcessEvents | ProcessCreated |
| Security 4688 (when no Sysmon 1 repeats it) | DeviceProcessEvents | ProcessCreated |
| Sysmon 3 | DeviceNetworkEvents | ConnectionSuccess (Initiated=true), InboundConnectionAccepted (Initiated=false) |
| Sysmon 7 | DeviceImageLoadEvents | ImageLoaded |
| Sysmon 11 | DeviceFileEvents | FileCreated |
| Sysmon 12/13/14 | DeviceRegistryEvents | RegistryKeyCreated, RegistryKeyDeleted, RegistryValueDeleted, RegistryValueSet, RegistryKeyRenamed |
| Sysmon 22 | DeviceEvents | DnsQueryResponse (`AdditionalFields` = `{"DnsQueryString": ...}`) |
| Security 4624/4625 | DeviceLogonEvents | LogonSuccess, LogonFailed |
| Security 4698/4702/4699 | DeviceEvents | ScheduledTaskCreated, ScheduledTaskUpdated, ScheduledTaskDeleted (`AdditionalFields` = `{"TaskName": ..., "TaskContent": <task XML>, "Subject*": <the caller>}`) |

The column rules are those of the kit's other converted data (see `evaluation/README.md`):
Sysmon's `UtcTime` is the clock, Security events are moved onto it; command lines lose a leading
image path; `InitiatingProcess*` come from the acting process's own process start; `DeviceName`
is the lower-cased host name, `DeviceId` its SHA-1, `ReportId` a per-device counter.
Security 4688 has no parent command line: it is filled from the parent's own start when the
recording has it, and left empty otherwise, which makes that launch invisible to the hunt."""


def _range(times: pd.Series) -> str:
    if times.empty:
        return ""
    return f"{times.min()[:16].replace('T', ' ')} .. {times.max()[:16].replace('T', ' ')}"


def sources_table(summary: "Summary") -> list[str]:
    """One line per input: devices, time range, rows, Task Scheduler launches."""
    every = pd.concat([f[["_input", "_dev", "Timestamp"]].assign(_table=t) for t, f in summary.tables.items()
                       if len(f)], ignore_index=True) if any(len(f) for f in summary.tables.values()) else None
    processes = summary.tables["DeviceProcessEvents"]
    builder = summary.builder
    lines = ["| Input | Devices | Time range (UTC) | Rows | Task Scheduler launches |", "|---|---|---|---|---|"]
    for number, name in enumerate(summary.inputs):
        mine = every[every["_input"] == number] if every is not None else pd.DataFrame(columns=["_dev", "Timestamp"])
        launches = 0
        if len(processes) and builder is not None:
            rows = processes[processes["_input"] == number]
            launches = int(rows["_seq"].map(lambda s: s in builder.launch_seqs).sum())
        devices = ", ".join(sorted(set(mine["_dev"])))
        lines.append(f"| `{name}` | {devices} | {_range(mine['Timestamp'])} | {len(mine)} | {launches} |")
    return lines


def counts_table(summary: "Summary") -> list[str]:
    builder = summary.builder
    lines = ["| Table | Rows | Rows whose initiating process is a Task Scheduler launch |", "|---|---|---|"]
    for table in TABLES:
        frame = summary.tables[table]
        child = int(frame["_actor"].map(lambda a: a in builder.task_children).sum()) if len(frame) else 0
        lines.append(f"| {table} | {len(frame)} | {child} |")
    return lines


def write_readme(summary: "Summary", outdir: Path, title: str, notes: Sequence[str], licence: str,
                 command: str) -> None:
    """Write ``README.md`` next to the tables."""
    stats = summary.builder.stats
    launches = stats.launches
    total = launches.get("schedule", 0) + launches.get("netsvcs", 0) + launches.get("taskeng", 0)
    parts = [f"# {title}", "",
             "Sysmon and Windows Security events converted to the Microsoft Defender XDR advanced-hunting "
             "tables by `evaluation/convert.py`. The events are real; the table layout is a re-creation, "
             "not a Defender export. Each table is `<Table>.csv.gz` with a header row.", ""]
    if licence:
        parts += ["## Licence", "", licence, ""]
    parts += ["## Sources", ""] + sources_table(summary) + [""]
    if summary.duplicates:
        parts.append("Inputs skipped as byte-identical copies of another input: "
                     + ", ".join(f"`{a}` (= `{b}`)" for a, b in summary.duplicates) + ".")
        parts.append("")
    parts += ["## Counts", ""] + counts_table(summary) + [""]
    parts += [
        f"Task Scheduler launches (process starts whose parent is `svchost.exe ... -s Schedule`, the grouped "
        f"`svchost.exe -k netsvcs`, or `taskeng.exe`): {total} (Schedule service {launches.get('schedule', 0)}, "
        f"grouped netsvcs host {launches.get('netsvcs', 0)}, taskeng.exe {launches.get('taskeng', 0)}).",
        f"Security 4688 starts whose parent is `svchost.exe` with no parent command line in the recording "
        f"(invisible to the hunt): {launches.get('svchost_unknown', 0)}.",
        f"Security 4688 starts dropped as repeats of a Sysmon 1: {stats.skipped_4688}.",
        f"Records skipped as already read from another input: {summary.repeated_records}.",
        f"Sysmon 3/22 timestamps replaced by the moved record time (ETW clock drift): {summary.drift_replaced}.",
        f"Skipped: Sysmon 12 without EventType (create/delete unknown): {stats.skipped_registry}.",
        f"Skipped: events without a readable time: {summary.no_time}.",
    ]
    if readers.TRUNCATED or readers.BAD_LINES:
        parts.append(f"Source damage: {len(readers.TRUNCATED)} archive member(s) cut short, "
                     f"{len(readers.BAD_LINES)} JSON line(s) unreadable (skipped).")
    parts.append("")
    if notes:
        parts += ["## Notes", ""] + [note + "\n" for note in notes]
    parts += ["## Mapping", "", MAPPING, "", "## Command", "", "```", command, "```", ""]
    (outdir / "README.md").write_text("\n".join(parts), encoding="utf-8")
