"""The sample generator written by day (``partition="day"``): the same events as the in-memory
generator at a small scale, and memory bounded by design at any scale (one cohort of at most
``COHORT_SCALE`` in memory at a time), checked by instrumenting the generator, not by timing."""

from __future__ import annotations

import gc
import warnings
import weakref
from pathlib import Path

import pytest
from pandas.testing import assert_frame_equal

from hunting_lib.engine.files import table_parts
from hunting_lib.engine.loader import load_data_folder
from hunting_lib.errors import DataWarning
from hunting_lib.hunt import run_hunt
from hunting_lib.params import HuntParams
from hunting_lib.sample import generator
from hunting_lib.sample.data import SampleData
from hunting_lib.schema import PROCESS_TABLE, TABLES


def load(folder: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load_data_folder(folder)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("single")
    generator.generate_sample(folder, scale=0.5, fmt="parquet", partition=None)
    return folder


def test_by_day_holds_the_same_events_as_in_memory(tmp_path, single):
    generator.generate_sample(tmp_path, scale=0.5, fmt="parquet", partition="day")
    parts = table_parts(tmp_path / PROCESS_TABLE)
    assert len(parts) == 8 and all(p.parent.name.startswith("d=2026-11-") for p in parts)
    expected, streamed = load(single), load(tmp_path)
    for table in TABLES:
        assert len(expected[table]) > 0
        assert_frame_equal(expected[table], streamed[table], obj=table)
    assert (single / "scenarios.yaml").read_text() == (tmp_path / "scenarios.yaml").read_text()


def test_each_day_part_holds_that_day_only(tmp_path):
    generator.generate_sample(tmp_path, scale=0.5, fmt="csv", partition="day")
    for part in table_parts(tmp_path / "DeviceNetworkEvents"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            from hunting_lib.engine.loader import load_table
            days = load_table(part, "DeviceNetworkEvents")["Timestamp"].dt.strftime("%Y-%m-%d")
        assert set(days) == {part.parent.name.removeprefix("d=")}


def test_one_cohort_in_memory_at_a_time(tmp_path, single, monkeypatch):
    """Cohorts of at most COHORT_SCALE each; the one before is gone when the next is generated."""
    monkeypatch.setattr(generator, "COHORT_SCALE", 0.5)
    alive: weakref.WeakSet = weakref.WeakSet()
    scales: list[float] = []
    original_generate = generator._generate

    def watched(scale: float, seed: int, cohort: int = 0):
        gc.collect()
        assert len(alive) == 0, "a cohort's data is still held when the next is generated"
        scales.append(scale)
        fleet, data, scenarios = original_generate(scale, seed, cohort)
        assert isinstance(data, SampleData)
        alive.add(data)
        return fleet, data, scenarios

    monkeypatch.setattr(generator, "_generate", watched)
    counts = generator.generate_sample(tmp_path, scale=1.4, fmt="parquet", partition="day")
    assert len(scales) == 3 and max(scales) <= 0.5
    streamed, first = load(tmp_path), load(single)
    assert {t: len(f) for t, f in streamed.tables.items()} == counts
    # cohort 0 is the in-memory data set at its scale; later cohorts are other sites' devices
    names = streamed[PROCESS_TABLE]["DeviceName"]
    cohort0 = ~names.str.contains(r"\.c00[12]\.", regex=True)
    assert set(names[~cohort0].str.extract(r"\.(c00\d)\.")[0]) == {"c001", "c002"}
    assert names[cohort0].nunique() == first[PROCESS_TABLE]["DeviceName"].nunique()
    assert streamed[PROCESS_TABLE]["ReportId"].is_unique
    # ReportIds are unique across all tables and cohorts
    ids = [streamed[t]["ReportId"] for t in TABLES]
    assert sum(len(i) for i in ids) == len(set().union(*[set(i) for i in ids]))
    # background cohorts add no rare task: the hunt finds the planted groups of cohort 0
    params = HuntParams(exclusions=None)
    keys = ["FileName", "ProcessCommandLine", "FolderPath", "Count"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        found = run_hunt(tmp_path, params, indicators=False).rare_tasks[keys]
        alone = run_hunt(single, params, indicators=False).rare_tasks[keys]
    assert len(alone) > 0
    assert_frame_equal(found.sort_values(keys).reset_index(drop=True), alone.sort_values(keys).reset_index(drop=True))


def test_large_scales_partition_by_default(monkeypatch, tmp_path):
    """Above AUTO_PARTITION_SCALE the default writes by day; the cohort plan stays bounded."""
    assert generator._cohorts(1000.0, "day") == [40.0] * 25
    assert generator._cohorts(180.0, None) == [180.0]
    assert all(s <= generator.COHORT_SCALE for s in generator._cohorts(1834.0, "day"))
    monkeypatch.setattr(generator, "AUTO_PARTITION_SCALE", 0.2)
    generator.generate_sample(tmp_path, scale=0.3, fmt="parquet")
    assert (tmp_path / PROCESS_TABLE).is_dir() and not (tmp_path / f"{PROCESS_TABLE}.parquet").exists()
