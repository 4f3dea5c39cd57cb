"""The notebook report's cost at fleet scale: ``python -m hunting_lib report`` on the sample data
and on about 10M events in parquet, each a fresh process (papermill's parent and the kernel).

Issue 14's targets at 10M events: at most 1.5x the report's time on the sample data, and at most
1 GB peak resident memory for the whole process tree (sampled from /proc, as ``run.py`` does).
The report's exported ``findings.json`` must equal what ``hunt --output x.json`` writes for the
same folder and parameters (rare groups, activity and parameters, the readers' own fields aside),
or the run fails. Prints a markdown table; ``--markdown`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from run import REPO, SIZES, events_in, generate, timed

#: Parameters that say how the data was read, not what the hunt found (the report's kernel runs
#: elsewhere, so it names the same files by absolute paths).
READER_FIELDS = {"sources", "reader", "fallback"}


def comparable(path: Path) -> dict:
    found = json.loads(path.read_text())
    found["parameters"] = {k: v for k, v in found["parameters"].items() if k not in READER_FIELDS}
    return found


def same_findings(report_json: Path, hunt_json: Path) -> int:
    """The number of rare groups, when the report's findings equal the CLI's; fails otherwise."""
    report, hunt = comparable(report_json), comparable(hunt_json)
    for key in sorted(set(report) | set(hunt)):
        if report.get(key) != hunt.get(key):
            raise SystemExit(f"{report_json} and {hunt_json} differ in {key!r}")
    return len(hunt["rare_tasks"])


def spread(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10M", choices=sorted(SIZES), help="the parquet data set to time")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each report, alternating")
    parser.add_argument("--cache", type=Path, default=REPO / "bench_data", help="where data sets are kept")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    folders = {"sample": REPO / "sample_data", args.size: generate(args.size, args.cache)}
    python = [sys.executable, "-m", "hunting_lib"]
    times: dict[str, list[float]] = {name: [] for name in folders}
    peaks: dict[str, list[float]] = {name: [] for name in folders}
    groups: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for name, folder in folders.items():
                out = Path(scratch) / f"{name}-{repeat}"
                wall, peak = timed(python + ["report", "--data-dir", str(folder), "--output", str(out / "report.html")])
                times[name].append(wall)
                peaks[name].append(peak)
                print(f"{name} run {repeat + 1}: {wall:.1f} s, {peak:.2f} GB", file=sys.stderr, flush=True)
                if repeat == 0:  # the answer does not change between runs: checked once
                    hunt = ["hunt", "--data-dir", str(folder), "--indicators", "--output", str(out / "hunt.json")]
                    timed(python + hunt)
                    groups[name] = same_findings(out / "findings.json", out / "hunt.json")
    base = statistics.median(times["sample"])
    lines = ["| data | events | report s, median (range) | x sample | peak GB, tree (max) | rare groups, = hunt |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, folder in folders.items():
        lines.append(f"| {name} ({folder.name}) | {events_in(folder) if name != 'sample' else 'csv.gz'} | "
                     f"{spread(times[name], 1)} | {statistics.median(times[name]) / base:.2f} | "
                     f"{max(peaks[name]):.2f} | {groups[name]} |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
