"""The data the training course grades against: which folder, its answer key, and the facts
the exercises are about (``ExerciseData``, computed once per folder and read again when the
folder is regenerated).

Every checker takes ``data_dir``; None means the folder chosen with ``use_data`` (by default the
kit's ``sample_data``).
"""

from __future__ import annotations

import warnings
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from hunting_lib.engine.columns import hunt_columns
from hunting_lib.engine.correlate import task_activity_rows
from hunting_lib.engine.loader import load_data_folder
from hunting_lib.engine.query import seed_literals
from hunting_lib.engine.rarity import GROUP_KEYS, find_rare_tasks, scheduled_task_starts
from hunting_lib.params import HuntParams
from hunting_lib.schema import PROCESS_TABLE

ANSWER_KEY_FILE = "scenarios.yaml"


# A checkout's sample_data; an installed wheel ships none, so there the default is ./sample_data and
# a missing answer key says how to write one (_answer_key_file).
_REPO_SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
_data_dir: Path = _REPO_SAMPLE if _REPO_SAMPLE.is_dir() else Path("sample_data")


def _answer_key_file(folder: Path) -> Path:
    """``folder``'s answer key, or a FileNotFoundError that says where one comes from."""
    key_file = folder / ANSWER_KEY_FILE
    if not key_file.is_file():
        raise FileNotFoundError(
            f"{folder}: no {ANSWER_KEY_FILE} (the answer key of the synthetic data the checkers grade against); "
            f"write a data folder with `python -m hunting_lib sample --output DIR` (an installed wheel ships no "
            f"sample_data) and pass it to use_data(DIR)")
    return key_file


def use_data(data_dir: str | Path) -> Path:
    """Make ``data_dir`` the folder every checker grades against (unless given its own)."""
    global _data_dir
    folder = Path(data_dir)
    _answer_key_file(folder)
    _data_dir = folder
    return folder


def load_answer_key(data_dir: str | Path | None = None) -> dict[str, Any]:
    """The answer key written by ``hunting_lib.sample.generator``: the planted scenarios and how they were made."""
    folder = Path(data_dir) if data_dir is not None else _data_dir
    return yaml.safe_load(_answer_key_file(folder).read_text(encoding="utf-8"))


def answer_key_table(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The planted scenarios as a table, one row each (for reading after the exercises)."""
    rows = []
    for s in load_answer_key(data_dir)["scenarios"]:
        devices = s.get("devices") or [s.get("device")]
        rows.append({"id": s["id"], "kind": s["kind"], "FileName": s["FileName"], "runs": s["runs"],
                     "Devices": devices, "seed_reports_it": s["seed_reports_it"], "title": s["title"]})
    return pd.DataFrame(rows)


class ExerciseData:
    """One data folder's answer key and the hunts the exercises are about, computed lazily."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @cached_property
    def key(self) -> dict[str, Any]:
        return load_answer_key(self.folder)

    @cached_property
    def scenarios(self) -> list[dict[str, Any]]:
        return list(self.key["scenarios"])

    def scenario(self, scenario_id: str) -> dict[str, Any]:
        for s in self.scenarios:
            if s["id"] == scenario_id:
                return s
        raise KeyError(f"{self.folder / ANSWER_KEY_FILE}: no scenario {scenario_id!r}")

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [s for s in self.scenarios if s["kind"] == kind]

    @staticmethod
    def group(s: dict[str, Any]) -> tuple[str, str, str]:
        return tuple(s[k] for k in GROUP_KEYS)  # type: ignore[return-value]

    @staticmethod
    def devices(s: dict[str, Any]) -> list[str]:
        return list(s.get("devices") or [s["device"]])

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(load_data_folder(self.folder, columns=hunt_columns()).tables)

    @property
    def processes(self) -> pd.DataFrame:
        return self.tables[PROCESS_TABLE]

    @cached_property
    def starts(self) -> pd.DataFrame:
        """Steps 1-3 with the seed's own parameters."""
        return scheduled_task_starts(self.processes, HuntParams(exclusions=None))

    @cached_property
    def rare(self) -> pd.DataFrame:
        """Step 4 with the seed's threshold."""
        return find_rare_tasks(self.starts, HuntParams(exclusions=None))

    @cached_property
    def rare_one_device(self) -> pd.DataFrame:
        """Step 4 with ``max_devices=1``."""
        return find_rare_tasks(self.starts, HuntParams(exclusions=None, max_devices=1))

    @cached_property
    def wider_rare(self) -> pd.DataFrame:
        """The rare groups of the kit's default (extended) scope with nothing suppressed: the
        notebook's ``wider`` hunt, which exercise 8 names groups from."""
        from hunting_lib.hunt import run_hunt

        return run_hunt(self.tables, HuntParams(exclusions=None, known_tasks=None)).rare_tasks

    @cached_property
    def published_one_device(self) -> pd.DataFrame:
        """The rare groups of the published hunt with ``max_devices=1`` (the notebook's ``one_device``)."""
        from hunting_lib.hunt import run_hunt

        return run_hunt(self.tables, HuntParams.published(max_devices=1)).rare_tasks

    def scenario_of(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Each planted scenario by its exact group."""
        return {self.group(s): s for s in self.scenarios}

    @cached_property
    def seed_rows(self) -> pd.DataFrame:
        """The seed's activity rows (its last step before the summary)."""
        return task_activity_rows(self.tables, self.rare, HuntParams(exclusions=None))

    def rare_groups(self, rare: pd.DataFrame | None = None) -> set[tuple[str, str, str]]:
        frame = self.rare if rare is None else rare
        return set(frame[GROUP_KEYS].itertuples(index=False, name=None))

    def starts_of(self, s: dict[str, Any]) -> pd.DataFrame:
        """The scenario's task starts that steps 1-3 kept."""
        key = self.group(s)
        mask = np.ones(len(self.starts), dtype=bool)
        for column, value in zip(GROUP_KEYS, key):
            mask &= (self.starts[column] == value).to_numpy()
        return self.starts.loc[mask]

    def step_counts(self) -> dict[str, int]:
        """How many rows steps 1-3 keep when done with one of the usual mistakes (for hints)."""
        seed = seed_literals()
        p = self.processes
        svchost = (p["InitiatingProcessFileName"] == seed.parent_file_name).to_numpy()
        parent_cs = svchost & (p["InitiatingProcessCommandLine"] == seed.parent_command_line).to_numpy()
        parent_lower = p["InitiatingProcessCommandLine"].str.lower()
        parent_ci = svchost & (parent_lower == seed.parent_command_line.lower()).to_numpy()
        names = p["FileName"].astype(str)
        scanner_cs = (names == seed.excluded_file_name).to_numpy()
        scanner_ci = (names.str.lower() == seed.excluded_file_name.lower()).to_numpy()
        outside = ~p["FolderPath"].astype(str).str.lower().str.startswith(seed.system_folder_prefix.lower()).to_numpy()
        shell = names.str.lower().isin([s.lower() for s in seed.shells]).to_numpy()
        shell_cs = names.isin(list(seed.shells)).to_numpy()
        return {
            "step 1 only": int(parent_cs.sum()),
            "steps 1-2 only": int((parent_cs & ~scanner_cs).sum()),
            "parent matched ignoring case": int((parent_ci & ~scanner_cs & (outside | shell)).sum()),
            "MpCmdRun dropped ignoring case": int((parent_cs & ~scanner_ci & (outside | shell)).sum()),
            "shells not kept": int((parent_cs & ~scanner_cs & outside).sum()),
            "shells compared with case": int((parent_cs & ~scanner_cs & (outside | shell_cs)).sum()),
            "System32 prefix compared with case": int((parent_cs & ~scanner_cs & (
                ~p["FolderPath"].astype(str).str.startswith(seed.system_folder_prefix).to_numpy() | shell)).sum()),
        }


@lru_cache(maxsize=8)
def _exercise_data(folder: str, stamp: int) -> ExerciseData:
    return ExerciseData(Path(folder))


def exercise_data(data_dir: str | Path | None = None) -> ExerciseData:
    """The (cached) facts of a data folder; a regenerated folder is read again."""
    folder = Path(data_dir) if data_dir is not None else _data_dir
    key_file = _answer_key_file(folder)
    return _exercise_data(str(folder.resolve()), key_file.stat().st_mtime_ns)
