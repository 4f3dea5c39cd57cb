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

* Every planted task is registered before it runs, as Defender records it: a ``ScheduledTaskCreated``
  row (TaskContent in Defender's JSON or event 4698's XML, the caller in ``Subject*``) and the
  Schedule service's TaskCache writes; one task comes over RPC from a network logon, two are
  deleted after their run, one is written straight into the registry and hidden, and one is
  registered but never runs in the window. The answer key's ``registration`` lists those rows.

The steps live in the package's modules: ``common`` (time window, accounts, helpers), ``fleet``,
the catalogues ``templates`` and ``processes``, ``data`` (the process list and event pieces),
``background``, the scenarios (``planter``, ``attacks``, ``pitfalls``), how their tasks were
registered (``registrations``, with the definitions of ``taskdefs``) and ``writer``. This module
runs them in order and writes the answer key.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hunting_lib.engine.progress import progress
from hunting_lib.sample.attacks import Attacks
from hunting_lib.sample.background import background_events, background_processes, everyday_tasks, long_lived
from hunting_lib.sample.common import WINDOW_END, WINDOW_START
from hunting_lib.sample.data import SampleData
from hunting_lib.sample.fleet import Fleet, make_fleet
from hunting_lib.sample.pitfalls import Pitfalls
from hunting_lib.sample.planter import Scenario
from hunting_lib.sample.registrations import REGISTRATION_MARK
from hunting_lib.sample.writer import build_table, iso7, write_csv, write_days, write_parquet
from hunting_lib.schema import PROCESS_TABLE, TABLES

__all__ = ["generate_sample", "WINDOW_START", "WINDOW_END"]


class _Planter(Attacks, Pitfalls):
    """All the scenarios on one shared state, planted in a fixed order (part of the random stream)."""

    def plant_all(self) -> list[Scenario]:
        for plant in (self.mal_encoded_powershell, self.mal_rundll32_user_dll, self.mal_regsvr32_scriptlet,
                      self.mal_masquerade_appdata, self.mal_atexec, self.mal_hourly_beacon, self.mal_hidden_registry_task,
                      self.mal_registered_never_ran, self.fp_maintenance,
                      self.fp_patching, self.fp_backup, self.fp_report, self.fp_eventlog, self.edge_case_variants,
                      self.edge_case_parents, self.edge_case_outputs):
            plant()
        return self.scenarios


def _registration_record(s: Scenario, fleet: Fleet, report_ids: dict) -> dict[str, Any] | None:
    """How the scenario's task was registered (None for a scenario that is no task): the earliest
    registration's facts, every registration row's ReportId (all devices), and one entry per device
    when the task was registered on more than one."""
    if not s.registrations:
        return None

    def facts(r: dict[str, Any]) -> dict[str, Any]:
        return {"device": fleet.names[r["device"]], "task_name": r["task_name"],
                "registered_at": str(iso7(np.array([r["registered_at"]]))[0]),
                "registered_by": r["registered_by"], "registered_by_process": r["registered_by_process"],
                "format": r["format"], "remote": r["remote"], "remote_ip": r["remote_ip"],
                "deleted_at": None if r["deleted_at"] is None else str(iso7(np.array([r["deleted_at"]]))[0]),
                "registry_only": r["registry_only"], "hidden": r["hidden"], "ran": s.runs > 0}

    ordered = sorted(s.registrations, key=lambda r: r["registered_at"])
    record = facts(ordered[0])
    record["report_ids"] = report_ids
    if len(ordered) > 1:
        record["devices"] = [facts(r) for r in ordered]
    return record


def _scenario_record(s: Scenario, fleet: Fleet, report_ids: dict, related: dict,
                     registration: dict) -> dict[str, Any]:
    """One entry of scenarios.yaml (``related``: rows tied to the scenario outside its process tree;
    ``registration``: the rows that registered, hid or deleted its task, a subset of ``related`` or,
    when the task's own process wrote them, of ``report_ids``)."""
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
    record["registration"] = _registration_record(s, fleet, registration)
    return record


#: The largest scale generated in memory at once (about 2.2M events, well under 1 GB while
#: generated). A larger data set written by day is generated cohort by cohort (``_cohorts``).
COHORT_SCALE = 40.0
#: Above this scale the data set is written by day even when no partition was asked for: the
#: in-memory generator would need more than 2 GB (10M events, scale 180, stays single files).
AUTO_PARTITION_SCALE = 200.0


def _cohort_fleet(fleet: Fleet, cohort: int) -> Fleet:
    """Cohort ``cohort``'s fleet as a site of its own: its devices' names and ids are unique."""
    fleet.names = [f"{name.split('.', 1)[0]}.c{cohort:03d}.{name.split('.', 1)[1]}" for name in fleet.names]
    fleet.ids = [hashlib.sha1(name.encode()).hexdigest() for name in fleet.names]
    return fleet


def _generate(scale: float, seed: int, cohort: int = 0) -> tuple[Fleet, SampleData, list[Scenario]]:
    """One in-memory data set: cohort 0 is the generator's data set for ``seed`` (the planted
    scenarios included); a later cohort is everyday background only, on a fleet of its own."""
    # Independent streams, so that the background does not shift when a scenario changes.
    root = np.random.default_rng(seed if cohort == 0 else [seed, cohort])
    rng_fleet, rng_plan, rng_bg, rng_tasks = root.spawn(4)

    fleet = make_fleet(rng_fleet, scale)
    if cohort:
        fleet = _cohort_fleet(fleet, cohort)
    data = SampleData(fleet, seed)
    planter = _Planter(data, rng_plan) if cohort == 0 else None  # picks the edge-case devices first
    long_lived(data, rng_bg)
    background_processes(data, rng_bg, scale)
    background_events(data, rng_bg, scale)
    quiet = {planter.lower_parent_dev, planter.no_s_flag_dev} if planter is not None else set()
    everyday_tasks(data, rng_tasks, scale, quiet)
    scenarios = planter.plant_all() if planter is not None else []
    data.freeze()
    return fleet, data, scenarios


def _cohorts(scale: float, partition: str | None) -> list[float]:
    """The scale of each cohort generated in turn: one for a single-file data set (as always);
    for a data set written by day, as many equal cohorts of at most ``COHORT_SCALE`` as needed."""
    if partition is None:
        return [scale]
    count = max(1, math.ceil(scale / COHORT_SCALE))
    return [scale / count] * count


def generate_sample(output_dir: str | Path, scale: float = 1.0, fmt: str = "csv", seed: int = 7,
                    partition: str | None = "auto") -> dict[str, int]:
    """Write the seven tables and ``scenarios.yaml`` into ``output_dir``; return rows per table.

    ``scale`` multiplies the background volume: 1.0 gives about 60k rows on 46 devices over 8 days,
    about 18 gives 1M rows and 180 gives 10M (the fleet grows with the square root of the scale).
    ``fmt`` is "csv" (``<Table>.csv.gz``) or "parquet" (``<Table>.parquet``). The same ``seed``
    always gives byte-identical files; another seed plants the same scenarios on other devices,
    users, hosts and times. ``scenarios.yaml`` is the answer key: what was planted, which rows
    (ReportId, unique across all tables) belong to it, and what the published query does with it.

    ``partition="day"`` writes each table as a folder of daily parts (``<Table>/d=2026-11-02/
    part-0000.parquet``, as a pipeline's export would), streaming: the data set is generated in
    cohorts of devices of at most ``COHORT_SCALE`` each, written and dropped before the next, so
    memory stays bounded at any scale. Cohort 0 is exactly the single-file data set at its scale,
    scenarios and answer key included; later cohorts add everyday background on sites of their
    own (device names ``*.c001.*``), which never holds a rare task. ``"auto"`` (the default)
    partitions above ``AUTO_PARTITION_SCALE``; ``None`` never does.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    if scale <= 0:
        raise ValueError("scale must be positive")
    if partition == "auto":
        partition = "day" if scale > AUTO_PARTITION_SCALE else None
    if partition not in (None, "day"):
        raise ValueError(f"partition must be 'day', 'auto' or None, not {partition!r}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {t: 0 for t in TABLES}
    next_id, key = 1, {}
    for cohort, cohort_scale in enumerate(progress(_cohorts(scale, partition), "generating", unit="cohort")):
        fleet, data, scenarios = _generate(cohort_scale, seed, cohort)
        next_id, records = _write_cohort(out, data, scenarios, fleet, fmt, partition, cohort, next_id, counts)
        if cohort == 0:
            key = {"devices": len(fleet.names), "scenarios": records}
        else:
            key["devices"] += len(fleet.names)
        del fleet, data, scenarios  # one cohort in memory at a time

    answer = {
        "seed": seed,
        "scale": scale,
        "window": {"start": WINDOW_START, "end": WINDOW_END},
        "devices": key["devices"],
        "rows": counts,
        "scenarios": key["scenarios"],
    }
    text = yaml.safe_dump(answer, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None)
    header = "# Answer key of the planted scenarios; written by hunting_lib.sample.\n"
    (out / "scenarios.yaml").write_text(header + text, encoding="utf-8")
    return counts


def _write_cohort(out: Path, data: SampleData, scenarios: list[Scenario], fleet: Fleet, fmt: str,
                  partition: str | None, cohort: int, next_id: int,
                  counts: dict[str, int]) -> tuple[int, list[dict[str, Any]]]:
    """Write one cohort's tables (ReportIds from ``next_id`` on) and add to ``counts``; return
    the next free ReportId and the answer key's scenario records."""
    ids: list[dict[str, list[int]]] = [{} for _ in scenarios]
    rel_ids: list[dict[str, list[int]]] = [{} for _ in scenarios]
    reg_ids: list[dict[str, list[int]]] = [{} for _ in scenarios]
    for table in TABLES:
        cols, scn, marked = build_table(data, table, next_id)
        n = len(scn)
        registration = marked >= REGISTRATION_MARK
        rel = np.where(registration, marked - REGISTRATION_MARK, marked)
        for k in np.unique(scn[scn >= 0]):
            ids[k][table] = sorted(int(x) for x in cols["ReportId"][scn == k])
        for k in np.unique(rel[rel >= 0]):
            # A registration row its task's own process made (registry-only tasks) is activity, not related.
            related = (rel == k) & (scn != k)
            if related.any():
                rel_ids[k][table] = sorted(int(x) for x in cols["ReportId"][related])
        for k in np.unique(rel[registration]):
            reg_ids[k][table] = sorted(int(x) for x in cols["ReportId"][registration & (rel == k)])
        if partition == "day":
            write_days(out / table, table, cols, n, fmt, f"part-{cohort:04d}")
        elif fmt == "csv":
            write_csv(out / f"{table}.csv.gz", table, cols, n)
        else:
            write_parquet(out / f"{table}.parquet", table, cols, n)
        counts[table] += n
        next_id += n
        del cols
    return next_id, [_scenario_record(s, fleet, ids[k], rel_ids[k], reg_ids[k]) for k, s in enumerate(scenarios)]
