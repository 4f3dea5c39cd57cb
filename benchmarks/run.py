"""``make bench``: the kit's ``hunt`` against duckdb-kql running the published query, same files.

For each size it generates the sample data set once (parquet, cached under ``bench_data/``),
then runs, alternating so that drift in the machine hits all alike:

- ``python -m hunting_lib hunt --data-dir DIR --published --output x.json``: the published query
  exactly, end to end (interpreter start, reading the files, rarity, correlation, triage, JSON out);
- ``python -m hunting_lib hunt --data-dir DIR --output x.json``: the default hunt (the extended
  scope, exclusion rules, known-task catalogue, tripwires and the fleet baseline);
- ``benchmarks/seed_on_duckdb.py DIR``: the seed KQL, unmodified, through duckdb-kql over
  DuckDB views on the same parquet files (DuckDB scans them itself), also from interpreter start.

Each run is a fresh process; its wall time is measured around it and its peak RSS comes from
the kernel (``wait4``). The published run's result and duckdb-kql's are compared: the same
(process, device) rows with the same Actions, FileNames and RemoteIPs sets, or the run fails.
Targets at 10M events: ``--published`` at most 1.0x duckdb-kql's time, the default hunt at most
1.5x, both at most 1 GB. Prints a markdown table; ``--markdown`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Sample scales: the generator writes about 55,000 events per unit of scale. From 100M on the
#: generator writes each table as a folder of daily parts (``<Table>/d=2026-11-02/part-0000.parquet``,
#: streamed cohort by cohort), and both engines read those folders as they are.
SIZES = {"1M": 18.0, "10M": 180.0, "30M": 540.0, "100M": 1834.0}


def generate(size: str, cache: Path) -> Path:
    folder = cache / f"scale-{SIZES[size]:g}"
    if not (folder / "scenarios.yaml").exists():  # the generator writes the answer key last
        print(f"generating {size} events in {folder} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "hunting_lib", "sample", "--output", str(folder),
                        "--scale", str(SIZES[size]), "--format", "parquet", "--seed", "7"],
                       check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return folder


def events_in(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.rglob("*.parquet"))


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and its children now (Linux /proc), in KiB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
            with open(f"/proc/{current}/task/{current}/children", encoding="ascii") as children:
                pending += [int(child) for child in children.read().split()]
        except (OSError, ValueError):
            continue
    return total


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one run, children included.

    The kit's ``hunt`` scans in a child process, so the peak is the larger of the biggest
    single process (the kernel's figure from ``wait4``) and the whole tree sampled every 5 ms.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampled, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            sampled[0] = max(sampled[0], _tree_rss_kib(process.pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{errors}")
    return wall, max(usage.ru_maxrss, sampled[0]) / 1024 / 1024  # KiB on Linux


def activity_key(row: dict) -> tuple:
    """One summary row, comparable across the two engines.

    duckdb-kql returns the sets as JSON text and keeps the "" that ``union`` fills in for tables
    without the column; the kit leaves those out (see ``kql_ops.make_set``).
    """
    def as_set(value: object) -> tuple:
        values = json.loads(value) if isinstance(value, str) else value
        return tuple(sorted(v for v in values if v not in ("", None)))

    return (row["InitiatingProcessFileName"], int(row["InitiatingProcessId"]), row["InitiatingProcessCommandLine"],
            row["DeviceName"], as_set(row["Actions"]), as_set(row["FileNames"]), as_set(row["RemoteIPs"]))


def same_answer(kit_json: Path, duck_json: Path) -> int:
    kit = sorted(activity_key(r) for r in json.loads(kit_json.read_text())["activity"])
    duck = sorted(activity_key(r) for r in json.loads(duck_json.read_text()))
    if kit != duck:
        raise SystemExit(f"the kit and duckdb-kql disagree: {len(kit)} vs {len(duck)} activity rows")
    return len(kit)


def spread(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,10M", help="comma-separated, from " + ", ".join(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=REPO / "bench_data")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)

    rows, medians = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes.split(","):
            folder = generate(size, args.cache)
            kit_json, duck_json = Path(scratch) / "kit.json", Path(scratch) / "duck.json"
            default_json = Path(scratch) / "default.json"
            commands = {
                "kit --published": [sys.executable, "-m", "hunting_lib", "hunt", "--data-dir", str(folder),
                                    "--published", "--output", str(kit_json)],
                # The same, with the scan in the hunt's own process after pandas is imported: what
                # the early scan in a child process (hunting_lib/engine/early_scan.py) saves.
                "kit --published, one process": ["env", "HUNTING_LIB_EARLY_SCAN=0", sys.executable, "-m", "hunting_lib",
                                                 "hunt", "--data-dir", str(folder), "--published", "--output",
                                                 str(Path(scratch) / "one.json")],
                "kit (default)": [sys.executable, "-m", "hunting_lib", "hunt", "--data-dir", str(folder),
                                  "--output", str(default_json)],
                "duckdb-kql": [sys.executable, str(REPO / "benchmarks" / "seed_on_duckdb.py"), str(folder),
                               str(duck_json)],
            }
            for command in commands.values():  # warm the page cache and the bytecode caches
                timed(command)
            answer = same_answer(kit_json, duck_json)
            assert same_answer(Path(scratch) / "one.json", duck_json) == answer
            default_rows = len(json.loads(default_json.read_text(encoding="utf-8"))["activity"])
            runs: dict[str, list[tuple[float, float]]] = {engine: [] for engine in commands}
            for _ in range(args.repeats):
                for engine, command in commands.items():
                    runs[engine].append(timed(command))
            events = events_in(folder)
            for engine, measured in runs.items():
                walls, rss = [m[0] for m in measured], [m[1] for m in measured]
                medians[(size, engine)] = statistics.median(walls)
                shown = default_rows if engine == "kit (default)" else answer
                rows.append(f"| {size} | {events:,} | {engine} | {spread(walls)} | {spread(rss)} | {shown} |")
            for engine in ("kit --published", "kit (default)"):
                ratio = medians[(size, engine)] / medians[(size, "duckdb-kql")]
                rows.append(f"| {size} | | {engine} / duckdb-kql | {ratio:.2f} | | |")
            saved = medians[(size, "kit --published, one process")] - medians[(size, "kit --published")]
            rows.append(f"| {size} | | early scan saves (s) | {saved:.2f} | | |")
    sizes = args.sizes.split(",")
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; {args.repeats} alternating runs per engine and size.",
        "",
        "| size | events | engine | wall s, median (min-max) | peak RSS GB, median (min-max) | activity rows |",
        "|---|---:|---|---|---|---:|",
        *rows,
    ]
    if "1M" in sizes and "10M" in sizes:
        lines += ["", "kit --published 10M / 1M time ratio: "
                      f"{medians[('10M', 'kit --published')] / medians[('1M', 'kit --published')]:.2f}"]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
