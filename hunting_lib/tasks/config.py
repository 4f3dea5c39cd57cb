"""``config/task_definitions.yaml`` read: the windows of the time signals, the script hosts and
the registration signals' default weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from hunting_lib.schema import load_yaml

DEFAULT_TASK_CONFIG = "config/task_definitions.yaml"


@dataclass(frozen=True)
class TaskConfig:
    """``config/task_definitions.yaml``: the windows of the time signals, the script hosts, and
    the registration signals' default weights."""

    minutes_before_first_run: float = 60
    minutes_deleted_after_run: float = 60
    registry_link_hours: float = 24
    script_hosts: tuple[str, ...] = ()
    task_tools: tuple[str, ...] = ("schtasks.exe", "at.exe")
    registration_weights: dict[str, float] = field(default_factory=dict)


def load_task_config(path: str | Path | None = None) -> TaskConfig:
    """Read a task-definitions file (the shipped one by default, read once)."""
    return _default_task_config() if path is None else _parse_config(Path(path).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _default_task_config() -> TaskConfig:
    return _parse_config(resources.files("hunting_lib").joinpath(DEFAULT_TASK_CONFIG).read_text("utf-8"))


def _parse_config(text: str) -> TaskConfig:
    raw = load_yaml(text) or {}
    lower = lambda key, default=(): tuple(str(v).lower() for v in raw.get(key, default))  # noqa: E731
    return TaskConfig(
        minutes_before_first_run=float(raw.get("minutes_before_first_run", 60)),
        minutes_deleted_after_run=float(raw.get("minutes_deleted_after_run", 60)),
        registry_link_hours=float(raw.get("registry_link_hours", 24)),
        script_hosts=lower("script_hosts"),
        task_tools=lower("task_tools", ("schtasks.exe", "at.exe")),
        registration_weights={str(k): float(v) for k, v in (raw.get("registration_weights") or {}).items()},
    )


def by_script_host(rows: pd.DataFrame, config: TaskConfig) -> pd.Series:
    """Registrations made by a script host, or by schtasks/at started from one."""
    process = rows["RegisteredByProcess"].fillna("").astype(str).str.lower()
    parent = rows["RegisteredByParent"].fillna("").astype(str).str.lower()
    return process.isin(config.script_hosts) | (process.isin(config.task_tools) & parent.isin(config.script_hosts))


