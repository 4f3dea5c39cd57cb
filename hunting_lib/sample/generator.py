"""Seeded, realistic Defender XDR data for the rare-scheduled-task hunt (MITRE T1053.005).

Why this module exists: the published hunt (``queries/rare_sch_task_with_activity.yaml``) can only
be judged on data whose answer is known. ``generate_sample`` writes the seven tables the hunt reads,
shaped like advanced-hunting exports, with a known set of planted scheduled tasks (malicious ones,
the published false positives and the edge cases where the published text slips) hidden among an
office's everyday activity, and writes the answer key next to them in ``scenarios.yaml``.

How it is built:

* Every process of the data set is one row of a process list. Events point at a row of that list
  for their ``InitiatingProcess*`` columns, so an activity row always carries exactly the file
  name, command line, folder, pid and creation time of the process that made it, and process
  trees are real trees.
* Background volume (everything that is not a planted scenario) is drawn vectorised from small
  catalogues: per table a list of event templates whose column values are pools. Only the ~20
  planted scenarios are written row by row.
* Strings are held as pandas Categoricals (codes into small pools), which keeps a 10-million-row
  data set in a few hundred MB and lets parquet be written in chunks.
* Randomness comes only from ``numpy.random.Generator(seed)``; there is no wall clock and no
  Python ``hash()``, so a seed always gives byte-identical files.

The steps live in the package's modules: ``common`` (time window, accounts, helpers), ``fleet``,
the catalogues ``templates`` and ``processes``, ``data`` (the process list and event pieces),
``background``, the scenarios (``planter``, ``attacks``, ``pitfalls``) and ``writer``. This module
runs them in order and writes the answer key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hunting_lib.sample.attacks import Attacks
from hunting_lib.sample.background import background_events, background_processes, everyday_tasks, long_lived
from hunting_lib.sample.common import WINDOW_END, WINDOW_START
from hunting_lib.sample.data import SampleData
from hunting_lib.sample.fleet import Fleet, make_fleet
from hunting_lib.sample.pitfalls import Pitfalls
from hunting_lib.sample.planter import Scenario
from hunting_lib.sample.writer import build_table, write_csv, write_parquet
from hunting_lib.schema import PROCESS_TABLE, TABLES

__all__ = ["generate_sample", "WINDOW_START", "WINDOW_END"]


class _Planter(Attacks, Pitfalls):
    """All the scenarios on one shared state, planted in a fixed order (part of the random stream)."""

    def plant_all(self) -> list[Scenario]:
        for plant in (self.mal_encoded_powershell, self.mal_rundll32_user_dll, self.mal_regsvr32_scriptlet,
                      self.mal_masquerade_appdata, self.mal_atexec, self.mal_hourly_beacon, self.fp_maintenance,
                      self.fp_patching, self.fp_backup, self.fp_report, self.fp_eventlog, self.edge_case_variants,
                      self.edge_case_parents, self.edge_case_outputs):
            plant()
        return self.scenarios


def _scenario_record(s: Scenario, fleet: Fleet, report_ids: dict, related: dict) -> dict[str, Any]:
    """One entry of scenarios.yaml (``related``: rows tied to the scenario outside its process tree)."""
    names = [fleet.names[d] for d in s.devices]
    record: dict[str, Any] = {"id": s.id, "kind": s.kind, "title": s.title, "technique": s.technique, "why": s.why}
    if s.seed_false_positive:
        record["seed_false_positive"] = s.seed_false_positive
    record.update({"device": names[0]} if len(names) == 1 else {"devices": names})
    record.update({"account": s.account, "FileName": s.file, "ProcessCommandLine": s.cmd, "FolderPath": s.folder,
                   "launched_by": s.launched_by})
    if s.task_name:
        record["task_name"] = s.task_name
    record.update({
        "runs": s.runs,
        "seed_reports_it": s.seed_reports_it,
        # A table holds activity if it has rows besides the task's own start rows.
        "activity_tables": sorted(t for t, ids in report_ids.items()
                                  if len(ids) > (s.runs if t == PROCESS_TABLE else 0)),
        "report_ids": report_ids,
    })
    if related:
        record["related_report_ids"] = related
    return record


def generate_sample(output_dir: str | Path, scale: float = 1.0, fmt: str = "csv", seed: int = 7) -> dict[str, int]:
    """Write the seven tables and ``scenarios.yaml`` into ``output_dir``; return rows per table.

    ``scale`` multiplies the background volume: 1.0 gives about 60k rows on 46 devices over 8 days,
    about 18 gives 1M rows and 180 gives 10M (the fleet grows with the square root of the scale).
    ``fmt`` is "csv" (``<Table>.csv.gz``) or "parquet" (``<Table>.parquet``). The same ``seed``
    always gives byte-identical files; another seed plants the same scenarios on other devices,
    users, hosts and times. ``scenarios.yaml`` is the answer key: what was planted, which rows
    (ReportId, unique across all tables) belong to it, and what the published query does with it.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    if scale <= 0:
        raise ValueError("scale must be positive")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Independent streams, so that the background does not shift when a scenario changes.
    rng_fleet, rng_plan, rng_bg, rng_tasks = np.random.default_rng(seed).spawn(4)

    fleet = make_fleet(rng_fleet, scale)
    data = SampleData(fleet, seed)
    planter = _Planter(data, rng_plan)  # picks the edge-case devices before their processes exist
    long_lived(data, rng_bg)
    background_processes(data, rng_bg, scale)
    background_events(data, rng_bg, scale)
    everyday_tasks(data, rng_tasks, scale, {planter.lower_parent_dev, planter.no_s_flag_dev})
    scenarios = planter.plant_all()
    data.freeze()

    counts: dict[str, int] = {}
    ids: list[dict[str, list[int]]] = [{} for _ in scenarios]
    rel_ids: list[dict[str, list[int]]] = [{} for _ in scenarios]
    next_id = 1
    for table in TABLES:
        cols, scn, rel = build_table(data, table, next_id)
        n = len(scn)
        for k in np.unique(scn[scn >= 0]):
            ids[k][table] = sorted(int(x) for x in cols["ReportId"][scn == k])
        for k in np.unique(rel[rel >= 0]):
            rel_ids[k][table] = sorted(int(x) for x in cols["ReportId"][rel == k])
        if fmt == "csv":
            write_csv(out / f"{table}.csv.gz", table, cols, n)
        else:
            write_parquet(out / f"{table}.parquet", table, cols, n)
        counts[table] = n
        next_id += n
        del cols

    key = {
        "seed": seed,
        "scale": scale,
        "window": {"start": WINDOW_START, "end": WINDOW_END},
        "devices": len(fleet.names),
        "rows": counts,
        "scenarios": [_scenario_record(s, fleet, ids[k], rel_ids[k]) for k, s in enumerate(scenarios)],
    }
    text = yaml.safe_dump(key, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None)
    header = "# Answer key of the planted scenarios; written by hunting_lib.sample.\n"
    (out / "scenarios.yaml").write_text(header + text, encoding="utf-8")
    return counts
