"""Background generation: the everyday activity that the planted scenarios hide in.

Why this module exists: it draws, from the catalogues in ``templates`` and ``processes``, each
device's long-lived processes, everyday process creations with their conhost children and image
loads, the activity tables' events, and the everyday scheduled tasks (never rare, whatever the scale).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hunting_lib.sample.common import CONHOST, DAY, DAYS, HOUR, SEC, SYS32, T0, fake_hashes, pick_cat
from hunting_lib.sample.data import SampleData
from hunting_lib.sample.fleet import Fleet
from hunting_lib.sample.processes import DLLS, KIND_INDEX, LONG_LIVED, SHELLS, SPAWNS, TASK_DELAY, TASKS
from hunting_lib.sample.templates import BACKGROUND
from hunting_lib.schema import PROCESS_TABLE, TABLES

#: Background rows per table at scale 1.0. Process and network events dominate, as in real data.
_BASE_ROWS = {
    "DeviceProcessEvents": 12_000,
    "DeviceNetworkEvents": 15_000,
    "DeviceFileEvents": 8_000,
    "DeviceRegistryEvents": 6_500,
    "DeviceLogonEvents": 1_500,
    "DeviceImageLoadEvents": 8_500,
    "DeviceEvents": 2_500,
}
#: Everyday Task Scheduler children, as a share of background process events (real estates: 1-10%).
_TASK_SHARE = 0.06
#: Every everyday task group gets at least this many runs, so that the hunt's ``count_ < 3`` never
#: flags background noise, whatever the scale; only planted scenarios are rare.
_TASK_FLOOR = 3


# --------------------------------------------------------------------------------------------
# Background generation.
# --------------------------------------------------------------------------------------------

_HOURS_WS_WEEKDAY = np.array([1, 1, 1, 1, 1, 2, 5, 12, 16, 16, 15, 14, 12, 15, 16, 15, 13, 8, 5, 4, 3, 2, 1, 1], float)
_HOURS_WS_WEEKEND = np.array([1, 1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 1, 1], float)
_HOURS_SERVER = np.array([6, 6, 6, 6, 6, 6, 7, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 9, 8, 7, 7, 6, 6, 6], float)


def _times(rng: np.random.Generator, is_ws: np.ndarray) -> np.ndarray:
    """Event times with office hours on workstations (Mon-Fri) and a flatter curve on servers."""
    n = len(is_ws)
    day = rng.integers(0, DAYS, n)
    weekend = (day % 7) >= 5
    profile = np.where(is_ws, np.where(weekend, 1, 0), 2)
    u = rng.random(n)
    hour = np.zeros(n, np.int64)
    for k, weights in enumerate((_HOURS_WS_WEEKDAY, _HOURS_WS_WEEKEND, _HOURS_SERVER)):
        sel = profile == k
        hour[sel] = np.searchsorted(np.cumsum(weights) / weights.sum(), u[sel], side="right")
    ticks = rng.integers(0, HOUR // 100, n)
    return T0 + day * DAY + np.minimum(hour, 23) * HOUR + ticks * 100


def long_lived(data: SampleData, rng: np.random.Generator) -> None:
    """One process per device and long-lived kind, started at boot (before the window)."""
    fleet = data.fleet
    for k, kind in enumerate(LONG_LIVED):  # parents come before their children in the list
        dev = fleet.by_role(kind.where)
        parent = data.ll[dev, KIND_INDEX[kind.parent]] if kind.parent else np.full(len(dev), -1)
        created = fleet.boot[dev] + int(kind.delay_s * SEC) + rng.integers(0, 5 * SEC // 100, len(dev)) * 100
        pid = np.full(len(dev), kind.pid) if kind.pid else rng.integers(100, 3000, len(dev)) * 4
        cmd = pick_cat(fleet.sched_cmd, dev) if kind.key == "svc_schedule" else kind.cmd
        data.ll[dev, k] = data.add_procs(rng, dev, created, parent, kind.file, _cased(fleet, kind.folder, dev),
                                         cmd, kind.account, kind.integrity, kind.company, pid)


def _cased(fleet: Fleet, folder: str, dev: np.ndarray) -> Any:
    """System32 paths as each device records them: some write ``C:\\Windows\\system32\\``."""
    if not folder.startswith(SYS32):
        return folder
    variants = [folder, "C:\\Windows\\system32\\" + folder[len(SYS32):]]
    return pick_cat(variants, fleet.lower_sys32[dev].astype(np.int64))


def _eligible(data: SampleData, kind: str, where: str) -> np.ndarray:
    devices = data.fleet.by_role(where)
    return devices[data.ll[devices, KIND_INDEX[kind]] >= 0]


def background_events(data: SampleData, rng: np.random.Generator, scale: float) -> None:
    """Everyday activity in the five activity tables that are drawn from templates."""
    is_ws = data.fleet.role == "ws"
    for table in TABLES:
        templates = [t for t in BACKGROUND if t.table == table and len(_eligible(data, t.kind, t.where))]
        if not templates:
            continue
        weights = np.array([t.weight for t in templates])
        counts = rng.multinomial(int(round(_BASE_ROWS[table] * scale)), weights / weights.sum())
        for tpl, n in zip(templates, counts):
            if n == 0:
                continue
            devices = _eligible(data, tpl.kind, tpl.where)
            dev = devices[rng.integers(len(devices), size=n)]
            data.add_piece(table, data.ll[dev, KIND_INDEX[tpl.kind]], _times(rng, is_ws[dev]),
                           data.fill(tpl, dev, rng))


def _console_children(data: SampleData, rng: np.random.Generator, parent: np.ndarray, dev: np.ndarray,
                      created: np.ndarray) -> None:
    """Every console program gets a conhost.exe, a few milliseconds later."""
    if len(parent) == 0:
        return
    ts = created + rng.integers(20_000, 300_000, len(parent)) * 100
    kids = data.add_procs(rng, dev, ts, parent, "conhost.exe", CONHOST, "conhost.exe 0xffffffff -ForceV1", "parent")
    data.add_piece(PROCESS_TABLE, kids, ts, {"ActionType": "ProcessCreated"})


_FAMILIES = sorted(DLLS)


def _image_loads(data: SampleData, rng: np.random.Generator, procs: np.ndarray, families: np.ndarray,
                 created: np.ndarray) -> None:
    """DLLs loaded by given processes shortly after they start; ``families`` index ``_FAMILIES``."""
    for k, family in enumerate(_FAMILIES):
        sel = families == k
        if not sel.any():
            continue
        pool = DLLS[family]
        codes = rng.integers(len(pool), size=int(sel.sum()))
        folder = pick_cat([d + f for d, f in pool], codes)
        keys = [fake_hashes(p) for p in folder.categories]
        ts = created[sel] + rng.integers(50_000, 30_000_000, int(sel.sum())) * 100
        data.add_piece("DeviceImageLoadEvents", procs[sel], ts, {
            "ActionType": "ImageLoaded", "FolderPath": folder, "FileName": pick_cat([f for _, f in pool], codes),
            "SHA1": pick_cat([k[0] for k in keys], folder.codes),
            "SHA256": pick_cat([k[1] for k in keys], folder.codes)})


def background_processes(data: SampleData, rng: np.random.Generator, scale: float) -> None:
    """Everyday process creations, their conhost children, and the DLLs they load."""
    is_ws = data.fleet.role == "ws"
    specs = [s for s in SPAWNS if len(_eligible(data, s.parent, s.where))]
    weights = np.array([s.weight for s in specs])
    counts = rng.multinomial(int(round(_BASE_ROWS[PROCESS_TABLE] * scale)), weights / weights.sum())
    children, families, times = [], [], []
    for spec, n in zip(specs, counts):
        if n == 0:
            continue
        devices = _eligible(data, spec.parent, spec.where)
        dev = devices[rng.integers(len(devices), size=n)]
        ts = _times(rng, is_ws[dev])
        parent = data.ll[dev, KIND_INDEX[spec.parent]]
        cmd = pick_cat(spec.cmds, rng.integers(len(spec.cmds), size=n))
        kids = data.add_procs(rng, dev, ts, parent, spec.file, spec.folder, cmd, spec.account,
                              spec.integrity, spec.company)
        data.add_piece(PROCESS_TABLE, kids, ts, {"ActionType": "ProcessCreated"})
        if spec.console:
            _console_children(data, rng, kids, dev, ts)
        children.append(kids)
        families.append(np.full(n, _FAMILIES.index(spec.dlls)))
        times.append(ts)
    kids, family, ts = np.concatenate(children), np.concatenate(families), np.concatenate(times)
    # Image loads: most by freshly started processes, the rest by long-lived services.
    n_loads = int(round(_BASE_ROWS["DeviceImageLoadEvents"] * scale))
    pick = rng.integers(len(kids), size=int(n_loads * 0.85))
    _image_loads(data, rng, kids[pick], family[pick], ts[pick])
    services = _eligible(data, "svc_dcom", "all")
    sdev = services[rng.integers(len(services), size=n_loads - len(pick))]
    kinds = np.array([KIND_INDEX[k] for k in ("svc_dcom", "svc_wu", "msmpeng", "svc_bits")])
    sproc = data.ll[sdev, kinds[rng.integers(len(kinds), size=len(sdev))]]
    _image_loads(data, rng, sproc, np.full(len(sdev), _FAMILIES.index("system")), _times(rng, is_ws[sdev]))


def everyday_tasks(data: SampleData, rng: np.random.Generator, scale: float, quiet: set[int]) -> None:
    """Task Scheduler children that every office has, in volumes that are never rare.

    ``quiet`` are devices whose Schedule host has an unusual command line (the edge cases): the
    floor runs avoid them so that no everyday group depends on them for its count.
    """
    fleet = data.fleet
    is_ws = fleet.role == "ws"
    entries = [(t, fleet.by_role(t.where)) for t in TASKS]
    weights = np.array([t.rate * len(d) for t, d in entries])
    total = int(round(_TASK_SHARE * _BASE_ROWS[PROCESS_TABLE] * scale))
    counts = rng.multinomial(total, weights / weights.sum())
    for (task, devices), n in zip(entries, counts):
        normal = np.array([d for d in devices if d not in quiet])
        if "<u>" in task.folder:  # one group per user profile: each needs its own floor
            floor = np.repeat(normal, _TASK_FLOOR)
        else:
            floor = normal[rng.integers(len(normal), size=_TASK_FLOOR)]
        dev = np.concatenate([floor, devices[rng.integers(len(devices), size=max(0, n - len(floor)))]])
        ts = _times(rng, is_ws[dev])
        parent = data.ll[dev, KIND_INDEX["svc_schedule"]]
        folder = task.folder if task.file in SHELLS else _cased(fleet, task.folder, dev)
        procs = data.add_procs(rng, dev, ts, parent, task.file, folder, task.cmd, task.account,
                               "Medium" if task.account == "user" else "System")
        data.add_piece(PROCESS_TABLE, procs, ts, {"ActionType": "ProcessCreated"})
        if task.console:
            _console_children(data, rng, procs, dev, ts)
        for act in task.activity:
            sel = rng.random(len(procs)) < act.weight
            delay = rng.uniform(*TASK_DELAY, int(sel.sum())) * SEC
            data.add_piece(act.table, procs[sel], ts[sel] + (delay // 100).astype(np.int64) * 100,
                           data.fill(act, dev[sel], rng))
