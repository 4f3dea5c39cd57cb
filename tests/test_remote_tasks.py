"""Task definitions and history through a remote hunt equal the local engine's: the three
task-row queries (``task_registrations``, ``task_cache``, ``task_logons``) read what the local
readers read, and the history records the same group counts.

The "remote" side is a real msticpy QueryProvider whose driver runs the rendered KQL in duckdb-kql
over the sample data (tests/fake_drivers.py).
"""

from __future__ import annotations

import json
import sqlite3
import warnings

import pytest

from tests.conftest import SAMPLE_DATA, oracle

oracle("duckdb_kql", "duckdb-kql runs the rendered KQL")

from hunting_lib.hunt import run_hunt  # noqa: E402
from hunting_lib.params import HuntParams  # noqa: E402
from tests.fake_drivers import provider  # noqa: E402

WINDOW = dict(start="2026-11-02T00:00:00Z", end="2026-11-10T00:00:00Z")
SIGNALS = ["registered_remotely", "registered_before_first_run", "registered_by_script_host", "deleted_after_run",
           "registered_outside_api"]


@pytest.fixture(scope="module")
def hunts():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = HuntParams(**WINDOW)
        return run_hunt(provider(SAMPLE_DATA), params), run_hunt(SAMPLE_DATA, params)


def _text(value) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def test_remote_task_definitions_equal_the_local_ones(hunts):
    remote, local = hunts
    by_key = lambda r: {k: (d, [bool(r.rare_tasks.at[i, s]) for s in SIGNALS])  # noqa: E731
                        for i, (k, d) in enumerate(zip(r.rare_tasks["GroupKey"], r.rare_tasks["TaskDefinitions"]))}
    remote_defs, local_defs = by_key(remote), by_key(local)
    assert sum(1 for d, _ in local_defs.values() if d) >= 6
    assert any(any(signals) for _, signals in local_defs.values())
    assert _text(remote_defs) == _text(local_defs)
    assert _text(remote.task_registrations.to_dict("records")) == _text(local.task_registrations.to_dict("records"))
    assert len(local.task_registrations) >= 1


def test_a_remote_hunt_records_the_same_group_counts(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        remote = run_hunt(provider(SAMPLE_DATA), HuntParams(**WINDOW, history=str(tmp_path / "remote.sqlite")))
        local = run_hunt(SAMPLE_DATA, HuntParams(**WINDOW, history=str(tmp_path / "local.sqlite")))
    assert remote.history_run["run_id"] == local.history_run["run_id"] == 1
    query = ("select g.group_key, c.count, c.device_count from group_counts c join groups g on g.id = c.group_id "
             "order by 1, 2, 3")
    counts = []
    for name in ("remote", "local"):
        with sqlite3.connect(tmp_path / f"{name}.sqlite") as db:
            counts.append(db.execute(query).fetchall())
    assert len(counts[1]) > 20 and counts[0] == counts[1]
    assert all(t["New"] for t in remote.rare_tasks["History"])
