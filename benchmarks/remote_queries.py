"""The remote path at fleet scale: how many queries a weekly hunt sends, and how many rows come back.

A synthetic fleet (``tests.fake_drivers.synthetic_fleet``: every device runs three common tasks
and two per-user updaters of its own a day, plus the planted rare tasks) is loaded into the fake
Defender driver, which runs every query in duckdb-kql and enforces the advanced hunting API's
limits: 45 calls a minute, 1,500 an hour, 100,000 rows a result. The clock is fake, so the run
never sleeps; the minutes the pacing would have waited on a real tenant are reported from it.

    python benchmarks/remote_queries.py [--devices 50000] [--days 7] [--markdown FILE]

Prints one markdown table: devices, events, queries by kind, rows fetched, 429s received, hash
pieces, the wait a real tenant would impose, and this machine's time. The planted rare groups
must come back with their exact counts, or the run fails.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: A query's kind, from a marker its text carries (first match wins).
KINDS = [("| count | project SourceTable", "table_presence"), ("Count = sum(Events), Devices", "task_start_groups"),
         ("Aggregated = countif", "fleet_groups"), ("summarize Rows = count() by DeviceName", "task_activity_devices"),
         ("| project SourceTable", "activity/process rows"), ("FlaggedLaunches\n| project", "flagged_launches"),
         ("InScope\n| where FileName in", "task_starts"), ("summarize Devices = make_set(DeviceName) by RemoteIP",
                                                           "ip_devices")]


def kind(query: str) -> str:
    return next((name for marker, name in KINDS if marker in query), "other")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()

    import pandas as pd

    from hunting_lib.hunt import run_hunt
    from hunting_lib.params import HuntParams
    from hunting_lib.remote.provider import RemoteSource
    from tests.fake_drivers import FLEET_START, DefenderLimits, FakeClock, provider, synthetic_fleet

    began = time.perf_counter()
    frames = synthetic_fleet(args.devices, days=args.days)
    events = sum(len(frame) for frame in frames.values())
    clock = FakeClock()
    limits = DefenderLimits(clock)  # Defender's published limits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fake = provider(None, environment="MDE", frames=frames, defender=limits)
    loaded = time.perf_counter()
    source = RemoteSource(fake, dialect="defender", clock=clock, sleep=clock.sleep)
    params = HuntParams(start=FLEET_START, end=FLEET_START + pd.Timedelta(days=args.days))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_hunt(source, params)
    hunted = time.perf_counter()

    found = {r.FileName: (int(r.Count), int(r.DeviceCount)) for r in result.rare_tasks.itertuples()}
    expected = {"evil.exe": (2, 1), "collect.exe": (2, 2), "sync.exe": (1, 1)}
    if found != expected:
        print(f"FAIL: rare groups {found}, expected {expected}", file=sys.stderr)
        return 1
    queries = fake._query_provider.queries
    kinds = Counter(kind(q) for q in queries)
    sliced = sum("hash(DeviceName, " in q for q in queries)
    rows = [
        ("devices", f"{args.devices:,}"), ("days", str(args.days)), ("events", f"{events:,}"),
        ("queries sent (parameters.remote_queries)", str(result.parameters["remote_queries"])),
        ("  by kind", ", ".join(f"{name} {n}" for name, n in kinds.most_common())),
        ("  of them hash-split pieces", str(sliced)),
        ("rows fetched (parameters.remote_rows)", f"{result.parameters['remote_rows']:,}"),
        ("429 answers received", str(limits.refused)),
        ("pacing wait a real tenant imposes", f"{clock.now / 60:.1f} min"),
        ("query budget (default)", str(source.query_budget)),
        ("this machine: load fleet into duckdb-kql", f"{loaded - began:.0f} s"),
        ("this machine: remote hunt (duckdb-kql as the service)", f"{hunted - loaded:.0f} s"),
    ]
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    print(table)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
