"""Secret redaction: passwords, tokens and keys in command lines, hidden before text leaves the kit.

Command lines hold the defenders' own secrets as well as the attacker's text: an admin's
``net use ... /user:`` password, a script's ``-Password``, a storage SAS token. The report, the
hunt history and anything handed to another service show them redacted by default (issue 15,
part 5); ``report --keep-secrets`` keeps them. The contract's ``findings.json`` stays exact (its
rows are compared with the KQL's) and says so with ``"redacted": false``.

The rules are data (``config/redaction.yaml``): each finds one secret and replaces only it with
``<redacted>``, so ``/user:FABRIKAM\\svc <redacted>`` still shows what happened. Redaction is
idempotent, never raises, and works on each distinct value once (a fleet repeats its command
lines). Every rule is linear in the text (no nested quantifiers, no unbounded gap), so a hostile
command line cannot make it slow.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from hunting_lib.errors import BadInputError

#: What a secret becomes.
REDACTED = "<redacted>"
#: The shipped rules.
DEFAULT_REDACTION = "config/redaction.yaml"
#: How deep ``redact_records`` follows nested lists and dicts (findings.json is three levels deep).
MAX_DEPTH = 64


@dataclass(frozen=True)
class RedactionRule:
    """One secret's shape: where it applies (``context``), what it is (``pattern``), what it becomes."""

    id: str
    description: str
    pattern: re.Pattern
    replacement: str
    context: re.Pattern | None = None
    #: Where the rule must not run (a pattern searched anywhere in the text).
    not_context: re.Pattern | None = None
    #: Lower-case words of which one must be in the text (a fast test: most texts hold no secret).
    hints: tuple[str, ...] = ()

    def apply(self, text: str, lowered: str | None = None) -> str:
        """``text`` with this rule's secrets redacted; ``lowered`` is ``text.lower()`` if known."""
        if self.hints and not any(hint in (lowered if lowered is not None else text.lower()) for hint in self.hints):
            return text
        if self.context is not None and self.context.search(text) is None:
            return text
        if self.not_context is not None and self.not_context.search(text) is not None:
            return text
        return self.pattern.sub(self.replacement, text)


def parse_rules(text: str, source: str = DEFAULT_REDACTION) -> tuple[RedactionRule, ...]:
    """The rules of one redaction YAML; a bad rule is an error naming the file and the rule."""
    from hunting_lib.schema import load_yaml

    try:
        raw = load_yaml(text) or {}
    except Exception as exc:  # yaml's errors name the line; keep it to one line
        raise BadInputError(f"{source}: not valid YAML ({' '.join(str(exc).split())})") from None
    rules = []
    for index, entry in enumerate(raw.get("rules") or []):
        name = entry.get("id") if isinstance(entry, dict) else None
        where = f"{source}: rule {name or index + 1}"
        if not isinstance(entry, dict) or not name or not entry.get("pattern"):
            raise BadInputError(f"{where}: each rule needs an id and a pattern")
        flags = 0 if entry.get("case_sensitive") else re.IGNORECASE
        try:
            pattern = re.compile(str(entry["pattern"]), flags)
            context, not_context = (re.compile(str(entry[key]), re.IGNORECASE) if entry.get(key) else None
                                    for key in ("context", "not_context"))
            replacement = str(entry.get("replacement", r"\1" + REDACTED))
            pattern.sub(replacement, "")  # a template naming a missing group fails here, not mid-report
        except (re.error, IndexError) as exc:
            raise BadInputError(f"{where}: bad regular expression ({exc})") from None
        hints = tuple(str(hint).lower() for hint in entry.get("hints") or ())
        rules.append(RedactionRule(str(name), str(entry.get("description", "")), pattern, replacement, context,
                                   not_context, hints))
    ids = [rule.id for rule in rules]
    if len(ids) != len(set(ids)):
        raise BadInputError(f"{source}: rule ids must be unique")
    return tuple(rules)


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> tuple[RedactionRule, ...]:
    """The rules of ``path`` (a YAML file), or the shipped ``config/redaction.yaml``."""
    if path is None or path == DEFAULT_REDACTION:
        return parse_rules(resources.files("hunting_lib").joinpath(DEFAULT_REDACTION).read_text("utf-8"))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: cannot read the redaction rules ({exc.__class__.__name__})") from None
    return parse_rules(text, Path(path).name)


def redact_text(text: object, rules: Iterable[RedactionRule] | None = None) -> Any:
    """``text`` with every secret a rule finds replaced by ``<redacted>``; anything not a string
    (None, NaN, numbers) comes back as it is."""
    if not isinstance(text, str) or not text:
        return text
    lowered = text.lower()
    for rule in load_rules() if rules is None else rules:
        redacted = rule.apply(text, lowered)
        if redacted is not text and redacted != text:
            text, lowered = redacted, redacted.lower()
    return text


def redact_series(values: Iterable[Any], rules: Iterable[RedactionRule] | None = None) -> pd.Series:
    """``values`` redacted, each distinct value once (a fleet's command lines repeat).

    Strings are redacted; lists and dicts (JSON-ready cells such as ``TaskDefinitions``) are
    redacted inside; everything else is left. Index and name are kept.
    """
    rules = tuple(load_rules() if rules is None else rules)
    series = values.copy() if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)  # two secrets may become one category
    if series.empty or not (pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype)):
        return series
    try:
        distinct = pd.unique(series.dropna())
    except TypeError:  # nested cells (lists of dicts): small frames such as rare_tasks, cell by cell
        return series.map(lambda value: redact_records(value, rules))
    changed = {}
    for value in distinct:
        if isinstance(value, str):
            redacted = redact_text(value, rules)
            if redacted != value:
                changed[value] = redacted
    if not changed:
        return series
    hit = series.isin(list(changed))
    series = series.astype(object)
    series[hit] = series[hit].map(changed)
    return series


def text_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that may hold text: object and string dtypes."""
    return [name for name, dtype in frame.dtypes.items()
            if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)]


def redact_frame(frame: pd.DataFrame, columns: Iterable[str] | None = None,
                 rules: Iterable[RedactionRule] | None = None) -> pd.DataFrame:
    """A copy of ``frame`` with ``columns`` (default: every text column) redacted.

    What the hunt history records and what a report shows go through here; the hunt's own
    frames are never changed (pivots and the seed's string match need the exact text).
    """
    rules = tuple(load_rules() if rules is None else rules)
    out = frame.copy()
    for column in text_columns(frame) if columns is None else [c for c in columns if c in frame]:
        out[column] = redact_series(out[column], rules)
    return out


def redact_records(obj: Any, rules: Iterable[RedactionRule] | None = None, _depth: int = 0) -> Any:
    """Nested dicts and lists (a findings.json document, a TaskDefinitions cell) with every string
    value redacted; keys are field names and stay. Nothing is changed in place."""
    rules = tuple(load_rules() if rules is None else rules)
    if isinstance(obj, str):
        return redact_text(obj, rules)
    if _depth >= MAX_DEPTH:
        return obj
    if isinstance(obj, dict):
        out = {key: redact_records(value, rules, _depth + 1) for key, value in obj.items()}
        command, arguments = obj.get("Command"), obj.get("Arguments")
        if isinstance(command, str) and isinstance(arguments, str) and command and arguments:
            # a task's action split in two: a rule may need the program (net use) to see the secret
            joined = redact_text(f"{command} {arguments}", rules)
            if joined.startswith(command + " "):
                out["Arguments"] = joined[len(command) + 1:]
        return out
    if isinstance(obj, (list, tuple)):
        return [redact_records(value, rules, _depth + 1) for value in obj]
    return obj


# ---------------------------------------------------------------------------------------------
# What the report shows: redacted unless the analyst keeps the secrets for this session.

#: Set by ``keep_secrets_in_display`` (the notebook's ``keep_secrets`` parameter); None: not set.
_KEEP_SECRETS: list[bool | None] = [None]


def keep_secrets_in_display(keep: bool) -> None:
    """Whether the display helpers (tables, evidence cards, summary, plots) show secrets as they
    are. The hunt notebook calls it with its ``keep_secrets`` parameter (``report --keep-secrets``)."""
    _KEEP_SECRETS[0] = bool(keep)


def display_keeps_secrets() -> bool:
    """The session's choice: ``keep_secrets_in_display``, else ``HUNTING_LIB_KEEP_SECRETS=1``, else
    False (redacted, the default)."""
    if _KEEP_SECRETS[0] is not None:
        return _KEEP_SECRETS[0]
    return os.environ.get("HUNTING_LIB_KEEP_SECRETS") == "1"


def for_display_text(value: Any, keep_secrets: bool | None = None) -> Any:
    """``value`` as the report shows it: redacted unless secrets are kept (``keep_secrets`` or the
    session's choice)."""
    keep = display_keeps_secrets() if keep_secrets is None else keep_secrets
    return value if keep else redact_records(value)


def display_redactor(keep_secrets: bool | None = None) -> Callable[[str], str]:
    """A function for the display helpers that take one (``report.definitions``,
    ``report.history_view``): ``redact_text``, or the text as it is when secrets are kept."""
    keep = display_keeps_secrets() if keep_secrets is None else keep_secrets
    return (lambda text: text) if keep else redact_text


def display_frame(frame: pd.DataFrame, keep_secrets: bool | None = None) -> pd.DataFrame:
    """``frame`` as the report shows it (see ``for_display_text``)."""
    keep = display_keeps_secrets() if keep_secrets is None else keep_secrets
    return frame if keep else redact_frame(frame)
