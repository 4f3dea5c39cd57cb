"""Convert Sysmon / Windows Security recordings into the seven Defender XDR tables.

    python evaluation/convert.py INPUT... -o OUTDIR [--title TEXT] [--note TEXT]... [--licence TEXT]
                                 [--input-name NAME]... [--image-load-hashes SHA1,SHA256,MD5] [--host NAME]

Inputs: ``.evtx``, Windows event ``.xml`` (or Splunk ``XmlWinEventLog`` lines), ``.json`` /
``.jsonl`` (NXLog, the flat OTRF/Azure layout, Winlogbeat 6/7, evtx_dump JSON, a bare array of
Sysmon event fields, whose device ``--host`` names), and ``.zip`` / ``.tar.gz`` archives of those. Output: ``<Table>.csv.gz`` with a header row for each table, and a
``README.md`` that lists the sources, the counts and what the conversion had to skip.

Why a converter at all: the kit must be judged on real attack recordings, and those exist as
Sysmon and Security logs, not as Defender exports. The mapping follows the one the kit's other
real data was converted with (``shared/real_data/otrf_sysmon/README.md``) so that both read alike;
``evaluation/README.md`` explains each rule. ``evtx`` (pyevtx-rs) is needed for ``.evtx`` inputs
only: ``pip install 'evtx>=0.14,<1'``.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluation import clock, readers  # noqa: E402
from evaluation import fields as F  # noqa: E402
from evaluation.readers import SECURITY, SYSMON, Event  # noqa: E402
from evaluation.tables import COLUMNS, SECURITY_EVENTS, SECURITY_PROCESS_MODES, SYSMON_TABLES, TABLES, TableBuilder  # noqa: E402

#: Sysmon events kept whole (the mapped ones); of the others only the clock and process ids count.
_SYSMON_KEPT = set(SYSMON_TABLES)
_PID_FIELDS = ("UtcTime", "ProcessGuid", "ProcessId", "SourceProcessGuid", "SourceProcessGUID", "SourceProcessId", "TargetProcessGuid",
               "TargetProcessGUID", "TargetProcessId")


@dataclass
class Summary:
    """What one conversion read, wrote and skipped."""

    inputs: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (skipped, same as)
    repeated_records: int = 0
    no_time: int = 0
    drift_replaced: int = 0
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    builder: TableBuilder | None = None


def _record_key(ev: Event) -> tuple:
    return (ev.provider, ev.event_id, ev.host.lower(), ev.record_time, ev.record_number, tuple(sorted(ev.data.items())))


def load_inputs(paths: Sequence[Path], names: Sequence[str], summary: Summary) -> list[Event]:
    """Every event of every input, in input order; byte-identical inputs and records already read
    from an earlier input are skipped (identical records inside one input are all kept: without
    a record number two real events cannot be told from one)."""
    events: list[Event] = []
    seen_files: dict[str, str] = {}
    seen_records: set[tuple] = set()
    for path, name in zip(paths, names):
        raw = Path(path).read_bytes()
        digest = readers.content_digest(raw, Path(path).name)
        if digest in seen_files:
            summary.duplicates.append((name, seen_files[digest]))
            continue
        seen_files[digest] = name
        summary.inputs.append(name)
        mine: set[tuple] = set()
        for ev in readers.read_bytes(raw, Path(path).name):
            if ev.provider == SECURITY and ev.event_id not in SECURITY_EVENTS:
                continue
            if ev.provider not in (SYSMON, SECURITY):
                continue
            key = _record_key(ev)
            if key in seen_records:
                summary.repeated_records += 1
                continue
            mine.add(key)
            if ev.provider == SYSMON and ev.event_id not in _SYSMON_KEPT:
                ev.data = {k: ev.data[k] for k in _PID_FIELDS if k in ev.data}  # its clock and ids count
            ev.input, ev.input_name = len(summary.inputs) - 1, name
            events.append(ev)
        seen_records |= mine
    for position, ev in enumerate(events):
        ev.seq = position
    return events


def device_names(hosts: Iterable[str]) -> dict[str, str]:
    """Host as written -> DeviceName: lower case, and a bare NetBIOS name joined to the FQDN with
    the same first label when the recordings name exactly one such FQDN (else the first, sorted)."""
    lowered = {host: host.strip().lower() for host in hosts}
    fqdns: dict[str, list[str]] = defaultdict(list)
    for name in sorted(set(lowered.values())):
        if "." in name:
            fqdns[name.split(".", 1)[0]].append(name)
    return {host: (fqdns[name][0] if "." not in name and fqdns.get(name) else name) for host, name in lowered.items()}


def assign_times(events: list[Event], summary: Summary) -> list[Event]:
    """``ts`` (ns) and ``ts_text`` on every event, per the clock rules (``clock``); events without
    any readable time are dropped (and counted)."""
    if not events:
        return events
    sysmon = np.array([ev.provider == SYSMON for ev in events])
    ids = np.array([ev.event_id for ev in events])
    record_ns = F.parse_times([ev.record_time for ev in events])
    local = np.array([ev.local_time for ev in events])
    fallback_ns = F.parse_times([ev.fallback_time for ev in events])
    record_ns = np.where(local | (record_ns != F.NAT), record_ns, fallback_ns)
    utc_ns = F.parse_times([ev.get("UtcTime") if ev.provider == SYSMON else "" for ev in events])
    group = pd.factorize(pd.Series([f"{ev.input}|{ev.dev}" for ev in events]))[0]
    network_dns = sysmon & np.isin(ids, (3, 22))
    wanted = ~sysmon | network_dns
    moved, estimated = clock.moved_record_times(group, sysmon & ~network_dns, record_ns, utc_ns, fallback_ns, wanted)
    drift = network_dns & clock.drifted(utc_ns, moved, estimated)
    summary.drift_replaced = int(drift.sum())
    ts = np.where(sysmon & ~drift, utc_ns, moved)
    ts = np.where(sysmon & (ts == F.NAT), np.where(moved != F.NAT, moved, record_ns), ts)
    texts = F.format_times(ts)
    kept = []
    for ev, value, text in zip(events, ts, texts):
        if value == F.NAT:
            summary.no_time += 1
            continue
        ev.ts, ev.ts_text = int(value), text
        kept.append(ev)
    return kept


def report_ids(frames: dict[str, pd.DataFrame]) -> None:
    """``ReportId``: a counter per device, over all tables, in input order then record order.

    The rows this converter adds to the reference mapping (Security 4688 starts and the task
    events 4698/4702/4699) are numbered after all the others of their device, so that every other
    row keeps the number the reference conversion gives it."""
    parts = [pd.DataFrame({"table": table, "row": np.arange(len(frame)), "dev": frame["_dev"],
                           "extra": frame["_extra"].astype(bool), "input": frame["_input"], "seq": frame["_seq"]})
             for table, frame in frames.items() if len(frame)]
    if not parts:
        return
    every = pd.concat(parts, ignore_index=True).sort_values(["extra", "input", "seq", "table"], kind="stable")
    every["ReportId"] = every.groupby("dev", sort=False).cumcount() + 1
    for table, rows in every.groupby("table", sort=False):
        frames[table].loc[rows["row"].to_numpy(), "ReportId"] = rows["ReportId"].to_numpy().astype(str)


def name_hostless(events: list[Event], host: str | None) -> None:
    """Give ``host`` to the records that name none (Sysmon fields exported without their System
    part). Without a ``host`` such records are refused: a device must never be guessed."""
    hostless = [ev for ev in events if not ev.host.strip()]
    if not hostless:
        return
    if not host or not host.strip():
        raise readers.InputError(f"{len(hostless)} records name no host ({hostless[0].input_name}); "
                                 "give the device's name with --host")
    for ev in hostless:
        ev.host = host.strip()


def convert(paths: Sequence[Path], names: Sequence[str] | None = None,
            image_load_hashes: Iterable[str] = ("SHA1", "SHA256", "MD5"), security_processes: str = "auto",
            host: str | None = None) -> Summary:
    """Read the inputs and build the tables (in memory; ``write`` puts them on disk). ``host``
    names the device of records that carry no host of their own."""
    summary = Summary()
    readers.TRUNCATED.clear()
    readers.BAD_LINES.clear()
    names = list(names) if names else [Path(p).name for p in paths]
    events = load_inputs(paths, names, summary)
    name_hostless(events, host)
    devices = device_names({ev.host for ev in events})
    for ev in events:
        ev.dev = devices[ev.host]
    events = assign_times(events, summary)
    builder = TableBuilder(events, image_load_hashes, security_processes)
    frames = builder.build()
    for table, frame in frames.items():
        frame["DeviceName"] = frame["_dev"]
        frame["DeviceId"] = frame["_dev"].map(F.device_id) if len(frame) else ""
    report_ids(frames)
    for table in TABLES:
        frames[table] = frames[table].sort_values(["_input", "_ts", "_seq"], kind="stable").reset_index(drop=True)
    summary.tables, summary.builder = frames, builder
    return summary


def write(summary: Summary, outdir: Path) -> None:
    """The tables as ``<Table>.csv.gz`` (header row, empty cells for missing values; gzip without
    a timestamp, so the same inputs give the same bytes)."""
    outdir.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        frame = summary.tables[table]
        frame[COLUMNS[table]].to_csv(outdir / f"{table}.csv.gz", index=False,
                                     compression={"method": "gzip", "mtime": 0})


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, help=".evtx, .xml, .json, .jsonl, .zip or .tar.gz files")
    parser.add_argument("-o", "--output", required=True, type=Path, help="folder for the tables and README.md")
    parser.add_argument("--title", default="Converted Sysmon and Security recordings as Defender XDR tables")
    parser.add_argument("--note", action="append", default=[], help="a paragraph for the README (repeatable)")
    parser.add_argument("--licence", default="", help="the sources' licence and attribution, for the README")
    parser.add_argument("--input-name", action="append", default=[],
                        help="the name each input is listed under (repeat once per input, in order)")
    parser.add_argument("--security-processes", choices=SECURITY_PROCESS_MODES, default="auto",
                        help="map Security 4688 process starts: auto (default) for hosts of an input without "
                             "Sysmon 1, all (repeats of a Sysmon 1 dropped), or none")
    parser.add_argument("--image-load-hashes", default="SHA1,SHA256,MD5",
                        help="which hashes of loaded DLLs to keep (comma list; fewer keeps the folder small)")
    parser.add_argument("--host", help="the device name for records that carry none (Sysmon fields exported "
                                       "without their System part); refused without it")
    args = parser.parse_args(argv)
    if args.input_name and len(args.input_name) != len(args.inputs):
        parser.error("--input-name must be given once per input")
    for path in args.inputs:
        if not path.is_file():
            parser.error(f"{path}: no such file")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from evaluation.convert_readme import write_readme

    args = parse_args(argv)
    names = args.input_name or [p.name for p in args.inputs]
    try:
        hashes = [h.strip() for h in args.image_load_hashes.split(",") if h.strip()]
        summary = convert(args.inputs, names, hashes, args.security_processes, args.host)
    except readers.InputError as exc:
        print(f"convert: {exc}", file=sys.stderr)
        return 2
    write(summary, args.output)
    command = "python evaluation/convert.py " + " ".join(names) + f" -o {args.output.name}"
    write_readme(summary, args.output, args.title, args.note, args.licence, command)
    total = sum(len(f) for f in summary.tables.values())
    print(f"{args.output}: {total} rows in {len(TABLES)} tables from {len(summary.inputs)} inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
