"""Exclusion rules: known-good scheduled tasks, as reviewable YAML.

A rule marks a Task Scheduler start as expected. It never deletes anything: the rarity step
counts every start exactly as the published query does, and a rare group whose starts all match
one rule is kept in the results with ``SuppressedBy`` set to that rule's id and ranked after
every unsuppressed group. A group with even one start that no rule covers (for example the
same backup binary, but run by an unexpected account) stays unsuppressed.

Rule format (see ``config/exclusions.yaml``)::

    - id: backup-veeam-agent          # unique, used in outputs
      enabled: true
      description: what the rule covers
      reason: why it is safe to suppress
      owner: who answers for it
      expires: 2027-06-30             # a date; after it the rule is ignored, with a warning
      case_sensitive: false           # optional; comparisons ignore case by default
      when:                           # every condition must hold
        FolderPath: {startswith: 'C:\\Program Files\\Veeam\\'}
        AccountName: {equals: [system]}

Fields: FileName, ProcessCommandLine, Arguments (the command line without its program token, so a
rule does not depend on how the program was spelt), FolderPath, AccountName. Operators: equals,
not_equals (none of the values), contains, startswith, endswith, regex (a search; anchor it with
^ and $). A list of values means any of them.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import yaml

from hunting_lib import clock
from hunting_lib.engine.command_line import arguments
from hunting_lib.engine.kql_ops import on_uniques
from hunting_lib.errors import BadInputError, DataWarning
from hunting_lib.schema import load_yaml

DEFAULT_EXCLUSIONS = "config/exclusions.yaml"
FIELDS: tuple[str, ...] = ("FileName", "ProcessCommandLine", "Arguments", "FolderPath", "AccountName")
OPERATORS: tuple[str, ...] = ("equals", "not_equals", "contains", "startswith", "endswith", "regex")
_RULE_KEYS = {"id", "enabled", "description", "reason", "owner", "expires", "case_sensitive", "when", "warning"}
_REQUIRED = ("id", "description", "reason", "owner", "expires", "when")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Condition:
    """One test on one field: ``field op any-of values``."""

    field: str
    operator: str
    values: tuple[str, ...]
    case_sensitive: bool = False

    def evaluate(self, uniques: pd.Index) -> np.ndarray:
        """The test on distinct values of the field (the caller maps the answer back to rows)."""
        texts = uniques if self.case_sensitive else uniques.str.lower()
        wanted = self.values if self.case_sensitive else tuple(v.lower() for v in self.values)
        if self.operator == "equals":
            return np.asarray(texts.isin(wanted))
        if self.operator == "not_equals":
            return ~np.asarray(texts.isin(wanted))
        if self.operator == "regex":
            flags = 0 if self.case_sensitive else re.IGNORECASE
            pattern = re.compile("|".join(f"(?:{v})" for v in self.values), flags)
            return np.array([pattern.search(t) is not None for t in uniques], dtype=bool)
        method = {"contains": "contains", "startswith": "startswith", "endswith": "endswith"}[self.operator]
        result = np.zeros(len(texts), dtype=bool)
        for value in wanted:
            if method == "contains":
                result |= np.asarray(texts.str.contains(value, regex=False))
            else:
                result |= np.asarray(getattr(texts.str, method)(value))
        return result


@dataclass(frozen=True)
class ExclusionRule:
    """A known-good scheduled task, with who owns the decision and until when."""

    id: str
    description: str
    reason: str
    owner: str
    expires: dt.date
    conditions: tuple[Condition, ...]
    enabled: bool = True
    warning: str = ""

    def matches(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows of ``frame`` (task starts) that satisfy every condition of the rule."""
        mask = np.ones(len(frame), dtype=bool)
        for condition in self.conditions:
            values = _field(frame, condition.field)
            if values is None:
                return np.zeros(len(frame), dtype=bool)
            mask &= on_uniques(values, condition.evaluate)
        return mask


def _field(frame: pd.DataFrame, name: str) -> pd.Series | None:
    """A rule field's values: a column, or ``Arguments`` (the command line without its program)."""
    if name in frame.columns:
        return frame[name]
    if name == "Arguments" and "ProcessCommandLine" in frame.columns:
        return arguments(frame["ProcessCommandLine"])
    return None


def _today() -> dt.date:
    return clock.today()


def _fail(source: str, rule: str, field: str, problem: str) -> BadInputError:
    return BadInputError(f"{source}: rule {rule}: field {field}: {problem}")


def _parse_conditions(source: str, rule_id: str, when: object, case_sensitive: bool) -> tuple[Condition, ...]:
    if not isinstance(when, dict) or not when:
        raise _fail(source, rule_id, "when", "needs at least one field with a condition")
    conditions = []
    for field, tests in when.items():
        if field not in FIELDS:
            raise _fail(source, rule_id, f"when.{field}", f"unknown field (use {', '.join(FIELDS)})")
        if not isinstance(tests, dict) or not tests:
            raise _fail(source, rule_id, f"when.{field}", "needs operators, e.g. {startswith: 'C:\\\\...'}")
        for operator, values in tests.items():
            where = f"when.{field}.{operator}"
            if operator not in OPERATORS:
                raise _fail(source, rule_id, where, f"unknown operator (use {', '.join(OPERATORS)})")
            values = values if isinstance(values, list) else [values]
            if not values or not all(isinstance(v, str) and v != "" for v in values):
                raise _fail(source, rule_id, where, "values must be non-empty strings")
            if operator == "regex":
                for value in values:
                    try:
                        re.compile(value)
                    except re.error as exc:
                        raise _fail(source, rule_id, where, f"invalid regex ({exc})") from None
            conditions.append(Condition(field, operator, tuple(values), case_sensitive))
    return tuple(conditions)


def _parse_rule(source: str, index: int, raw: object, seen: set[str]) -> ExclusionRule:
    if not isinstance(raw, dict):
        raise _fail(source, f"#{index + 1}", "(rule)", "each rule must be a mapping")
    rule_id = raw.get("id")
    name = rule_id if isinstance(rule_id, str) else f"#{index + 1}"
    for key in raw:
        if key not in _RULE_KEYS:
            raise _fail(source, name, str(key), f"unknown field (use {', '.join(sorted(_RULE_KEYS))})")
    for key in _REQUIRED:
        if raw.get(key) in (None, ""):
            raise _fail(source, name, key, "is required")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise _fail(source, name, "id", "must be letters, digits, '.', '_' or '-' (at most 64)")
    if rule_id in seen:
        raise _fail(source, name, "id", "is used by another rule")
    seen.add(rule_id)
    for key in ("description", "reason", "owner"):
        if not isinstance(raw[key], str):
            raise _fail(source, name, key, "must be text")
    expires = raw["expires"]
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise _fail(source, name, "expires", f"{expires!r} is not a date (YYYY-MM-DD)") from None
    if not isinstance(expires, dt.date):
        raise _fail(source, name, "expires", "must be a date (YYYY-MM-DD)")
    enabled = raw.get("enabled", True)
    case_sensitive = raw.get("case_sensitive", False)
    for key, value in (("enabled", enabled), ("case_sensitive", case_sensitive)):
        if not isinstance(value, bool):
            raise _fail(source, name, key, "must be true or false")
    return ExclusionRule(
        id=rule_id,
        description=raw["description"].strip(),
        reason=raw["reason"].strip(),
        owner=raw["owner"].strip(),
        expires=expires,
        conditions=_parse_conditions(source, name, raw["when"], case_sensitive),
        enabled=enabled,
        warning=str(raw.get("warning") or "").strip(),
    )


def parse_exclusions(text: str, source: str = "exclusions") -> list[ExclusionRule]:
    """Every rule of an exclusions document, enabled or not, validated."""
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise BadInputError(f"{source}: not valid YAML{where}") from None
    if document is None:
        return []
    if not isinstance(document, dict) or not isinstance(document.get("rules", []), list):
        raise BadInputError(f"{source}: expected a mapping with a 'rules' list")
    seen: set[str] = set()
    return [_parse_rule(source, i, raw, seen) for i, raw in enumerate(document.get("rules") or [])]


def load_exclusions(
    path: str | Path | None = DEFAULT_EXCLUSIONS, today: dt.date | None = None
) -> list[ExclusionRule]:
    """The rules in force: enabled and not expired. ``None`` or "none" means no exclusions.

    The default is the shipped file. An expired rule is left out with a warning that names it, so
    that a suppression nobody re-approved does not keep hiding tasks.
    """
    if path is None or str(path).lower() == "none":
        return []
    if str(path) == DEFAULT_EXCLUSIONS:
        text = resources.files("hunting_lib").joinpath(DEFAULT_EXCLUSIONS).read_text("utf-8")
        source = DEFAULT_EXCLUSIONS
    else:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInputError(f"{file}: cannot read the exclusions file ({exc.__class__.__name__})") from None
        source = str(file)
    today = today or _today()
    rules = []
    for rule in parse_exclusions(text, source):
        if not rule.enabled:
            continue
        if rule.expires < today:
            warnings.warn(
                f"{source}: rule {rule.id} expired on {rule.expires.isoformat()} and is ignored; "
                f"ask {rule.owner} to review it",
                DataWarning,
                stacklevel=2,
            )
            continue
        rules.append(rule)
    return rules


def suppressing_rule(task_starts: pd.DataFrame, rules: Iterable[ExclusionRule]) -> pd.Series:
    """Per task start, the id of the first rule (in file order) that matches it, else ""."""
    result = np.full(len(task_starts), "", dtype=object)
    for rule in rules:
        free = result == ""
        if not free.any():
            break
        result[free & rule.matches(task_starts)] = rule.id
    return pd.Series(result, index=task_starts.index, dtype=object)
