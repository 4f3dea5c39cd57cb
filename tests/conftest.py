"""Shared test helpers: small hand-built tables in the Defender shape."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from hunting_lib.engine.loader import apply_schema, ensure_columns
from hunting_lib.engine.query import seed_literals

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"
# The shared folder sits beside the checkout (and beside CI's clone).
SHARED = REPO.parent / "shared"
REAL_DATA = SHARED / "real_data"
SEED_TEXT = SHARED / "seed" / "rare_sch_task_with_activity.txt"


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def oracle(module: str, reason: str = ""):
    """Import a module a test needs as an oracle (duckdb-kql, playwright, ...): skip the test
    without it locally, fail it under CI=true, where every oracle must be there."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        message = f"{module} cannot be imported ({error}){': ' + reason if reason else ''}"
        if running_in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)


def require_shared(path: Path) -> Path:
    """``path`` under ../shared, or: skip the test locally, fail it under CI=true (where the
    shared folder is part of the contract and must be there)."""
    if not path.exists():
        message = f"{path} is missing (the shared folder must sit beside the checkout)"
        if running_in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path

SCHEDULE = seed_literals().parent_command_line
#: Rule expiry is judged on this date in every test (and in the notebooks the tests run), so that
#: no test depends on the day it runs.
PINNED_TODAY = "2026-11-15"


@pytest.fixture
def _shared_present() -> Path:
    return require_shared(SHARED)


#: For tests that read ../shared: skipped locally without it, failed under CI=true.
needs_shared = pytest.mark.usefixtures("_shared_present")


# Pinned for the whole session, not per test: module-scoped fixtures (the notebooks the browser
# tests run once) and queries rendered at collection time read the clock before any per-test
# fixture runs. A clock set to 2028 found that (`faketime -f "@2028-01-01 00:00:00" pytest`).
os.environ["HUNTING_LIB_TODAY"] = PINNED_TODAY


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch):
    monkeypatch.setenv("HUNTING_LIB_TODAY", PINNED_TODAY)  # again, should a test have changed it
T0 = pd.Timestamp("2026-11-02T08:00:00Z")


def typed(table: str, rows: list[dict]) -> pd.DataFrame:
    """A table from dicts, typed by the schema as the loader would type it."""
    frame = pd.DataFrame(rows).astype(str).replace({"None": "", "nan": ""})
    return apply_schema(frame, table, Path(f"{table}.test"))


def task_start(
    file_name: str,
    command_line: str,
    folder_path: str,
    device: str = "pc-01",
    minutes: int = 0,
    pid: int = 4000,
    parent_command_line: str = SCHEDULE,
    parent_file_name: str = "svchost.exe",
    account: str = "system",
) -> dict:
    """One DeviceProcessEvents row: the Schedule service starting a task's program."""
    when = (T0 + pd.Timedelta(minutes=minutes)).isoformat()
    return {
        "Timestamp": when,
        "DeviceName": device,
        "ActionType": "ProcessCreated",
        "AccountName": account,
        "FileName": file_name,
        "FolderPath": folder_path,
        "ProcessCommandLine": command_line,
        "ProcessId": pid,
        "ProcessCreationTime": when,
        "InitiatingProcessFileName": parent_file_name,
        "InitiatingProcessCommandLine": parent_command_line,
        "InitiatingProcessFolderPath": r"C:\Windows\System32\svchost.exe",
        "InitiatingProcessId": 1200,
        "InitiatingProcessCreationTime": T0.isoformat(),
    }


def activity(
    file_name: str,
    command_line: str,
    folder_path: str,
    pid: int = 4000,
    device: str = "pc-01",
    action: str = "ConnectionSuccess",
    minutes: int = 1,
    created_minutes: int = 0,
    **extra: object,
) -> dict:
    """One activity row whose initiating process is the given program."""
    return {
        "Timestamp": (T0 + pd.Timedelta(minutes=minutes)).isoformat(),
        "DeviceName": device,
        "ActionType": action,
        "InitiatingProcessFileName": file_name,
        "InitiatingProcessCommandLine": command_line,
        "InitiatingProcessFolderPath": folder_path,
        "InitiatingProcessId": pid,
        "InitiatingProcessCreationTime": (T0 + pd.Timedelta(minutes=created_minutes)).isoformat(),
        **extra,
    }


@pytest.fixture
def write_table(tmp_path: Path):
    """Write a table file into tmp_path and return the folder."""

    def write(name: str, frame: pd.DataFrame | str | bytes) -> Path:
        target = tmp_path / name
        if isinstance(frame, bytes):
            target.write_bytes(frame)
        elif isinstance(frame, str):
            target.write_text(frame, encoding="utf-8")
        elif name.endswith(".parquet"):
            frame.to_parquet(target)
        else:
            frame.to_csv(target, index=False)
        return tmp_path

    return write


def with_columns(table: str, frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return ensure_columns(frame, table, columns)
