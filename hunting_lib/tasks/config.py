"""``config/task_definitions.yaml`` read: the windows of the time signals, the script hosts and
the registration signals' default weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from hunting_lib.errors import BadInputError, describe_value
from hunting_lib.schema import load_yaml

DEFAULT_TASK_CONFIG = "config/task_definitions.yaml"


@dataclass(frozen=True)
class TaskConfig:
    """``config/task_definitions.yaml``: the windows of the time signals, the script hosts, and
    the registration signals' default weights."""

    minutes_before_first_run: float = 60
    minutes_deleted_after_run: float = 60
    registry_link_hours: float = 24
    logon_address_seconds: float = 10
    script_hosts: tuple[str, ...] = ()
    task_tools: tuple[str, ...] = ("schtasks.exe", "at.exe")
    registration_weights: dict[str, float] = field(default_factory=dict)


def load_task_config(path: str | Path | None = None) -> TaskConfig:
    """Read a task-definitions file (the shipped one by default, read once). A file that is not
    YAML or holds a value of the wrong kind is a ``BadInputError`` naming the file and the key."""
    if path is None:
        return _default_task_config()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BadInputError(f"{path}: cannot be read ({error.__class__.__name__})") from None
    return _parse_config(text, str(path))


@lru_cache(maxsize=1)
def _default_task_config() -> TaskConfig:
    return _parse_config(resources.files("hunting_lib").joinpath(DEFAULT_TASK_CONFIG).read_text("utf-8"),
                         DEFAULT_TASK_CONFIG)


def _parse_config(text: str, name: str) -> TaskConfig:
    try:
        raw = load_yaml(text) or {}
    except yaml.YAMLError:
        raise BadInputError(f"{name}: not valid YAML") from None
    if not isinstance(raw, dict):
        raise BadInputError(f"{name}: expected a mapping of settings")

    def number(key: str, default: float) -> float:
        try:
            value = float(raw.get(key, default))
        except (TypeError, ValueError):
            raise BadInputError(f"{name}: {key}: {describe_value(raw.get(key))} is not a number") from None
        if not value >= 0:
            raise BadInputError(f"{name}: {key}: {describe_value(raw.get(key))} must be 0 or more")
        return value

    def names(key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        values = raw.get(key, default)
        if not isinstance(values, (list, tuple)):
            raise BadInputError(f"{name}: {key}: expected a list of file names")
        return tuple(str(v).lower() for v in values)

    weights = raw.get("registration_weights") or {}
    if not isinstance(weights, dict):
        raise BadInputError(f"{name}: registration_weights: expected a mapping of signal to weight")
    return TaskConfig(
        minutes_before_first_run=number("minutes_before_first_run", 60),
        minutes_deleted_after_run=number("minutes_deleted_after_run", 60),
        registry_link_hours=number("registry_link_hours", 24),
        logon_address_seconds=number("logon_address_seconds", 10),
        script_hosts=names("script_hosts"),
        task_tools=names("task_tools", ("schtasks.exe", "at.exe")),
        registration_weights={str(k): _weight(name, k, v) for k, v in weights.items()},
    )


def _weight(name: str, key: object, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadInputError(f"{name}: registration_weights: {key}: {describe_value(value)} is not a number") from None


def by_script_host(rows: pd.DataFrame, config: TaskConfig) -> pd.Series:
    """Registrations made by a script host, or by schtasks/at started from one."""
    process = rows["RegisteredByProcess"].fillna("").astype(str).str.lower()
    parent = rows["RegisteredByParent"].fillna("").astype(str).str.lower()
    return process.isin(config.script_hosts) | (process.isin(config.task_tools) & parent.isin(config.script_hosts))


