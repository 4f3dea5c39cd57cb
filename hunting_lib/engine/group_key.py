"""``GroupKey``: one name for a task group that survives next week and the next machine.

A rare group is a (FileName, ProcessCommandLine, FolderPath) triple, and the triple changes for
reasons a hunter does not care about: each user's copy of an updater lives under that user's
profile, an updater's folder carries its version (``...\\Update\\1.3.187.41\\``), and installers
name tasks and folders after GUIDs. History and verdicts need a key that is the same for all of
them, and different for anything else.

``group_pattern`` lower-cases the triple and replaces, in this order:

- a user profile folder (``C:\\Users\\<name>\\``, also ``\\Documents and Settings\\``) with
  ``%USERPROFILE%\\``;
- GUIDs, braced or not, with ``<GUID>``;
- version-like digit runs (two or more dot-separated numbers, ``1.3.187.41``, ``24.08``) right
  after a folder separator, ``_``, ``-`` or ``v``, with ``<VER>``; dotted numbers after ``//``, a
  UNC ``\\\\`` or a space are addresses (another C2 server is another task) and stay.

``group_key`` is a short hash of that pattern (``gk-`` and 16 hex digits): a value an analyst can
paste on a command line (``verdict --group gk-...``) whatever quotes and backslashes the command
line holds. The pattern itself is kept beside it (``GroupPattern``), and the raw strings stay in
their columns, so a report shows both.
"""

from __future__ import annotations

import hashlib
import re

import pandas as pd

_PROFILE = re.compile(r"(?<![a-z0-9])(?:[a-z]:)?\\(?:users|documents and settings)\\(?!public\\|default\\)"
                      r"[^\\\"'\s]+\\", re.IGNORECASE)
_GUID = re.compile(r"\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?", re.IGNORECASE)
_VERSION = re.compile(r"(?<![0-9.])\d+(?:\.\d+)+(?![\w.]*\d)")
#: What may come right before a version: a folder, a name's separator, a "v"; not a URL's "//", a
#: UNC path's "\\\\" or an argument's space, where dotted numbers are addresses that tell tasks apart.
_VERSION_AFTER = ("\\", "_", "-", "v")
#: Separates the three fields in the pattern (a character no path or command line holds).
FIELD_SEPARATOR = "\u241f"


def normalise_text(text: str) -> str:
    """One field lower-cased, with profiles, GUIDs and versions replaced by placeholders."""
    text = str(text).lower()
    text = _PROFILE.sub(r"%userprofile%\\", text)
    text = _GUID.sub("<guid>", text)
    return _VERSION.sub(lambda m: "<ver>" if _is_version(m.string, m.start()) else m.group(0), text)


def _is_version(text: str, at: int) -> bool:
    before = text[max(0, at - 2):at]
    if at == 0:
        return True
    return before[-1:] in _VERSION_AFTER and before != "\\\\"


def _per_unique(values: pd.Series, function) -> pd.Series:
    """``function`` once per distinct value, broadcast back to every row."""
    codes, uniques = pd.factorize(values.fillna("").astype(str), sort=False)
    mapped = pd.Index(uniques, dtype=object).map(function).to_numpy(dtype=object)
    return pd.Series(mapped[codes] if len(uniques) else [], index=values.index, dtype=object)


def _normalised(values: pd.Series) -> pd.Series:
    return _per_unique(values, normalise_text)


def group_pattern(file_names: pd.Series, command_lines: pd.Series, folder_paths: pd.Series) -> pd.Series:
    """The normalised triple, fields joined by ``FIELD_SEPARATOR``."""
    return (_normalised(file_names) + FIELD_SEPARATOR + _normalised(command_lines) + FIELD_SEPARATOR
            + _normalised(folder_paths))


def key_of_pattern(pattern: str) -> str:
    return "gk-" + hashlib.sha1(pattern.encode("utf-8")).hexdigest()[:16]


def group_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with FileName, ProcessCommandLine, FolderPath) plus ``GroupKey`` and
    ``GroupPattern``."""
    out = frame.copy()
    if out.empty:
        out["GroupPattern"] = pd.Series(dtype=object)
        out["GroupKey"] = pd.Series(dtype=object)
        return out
    out["GroupPattern"] = group_pattern(out["FileName"], out["ProcessCommandLine"], out["FolderPath"])
    out["GroupKey"] = _per_unique(out["GroupPattern"], key_of_pattern)
    return out


def readable_pattern(pattern: str) -> str:
    """The pattern as one line: ``file | command line | folder``."""
    return pattern.replace(FIELD_SEPARATOR, " | ")


def identify_groups(rare_tasks: pd.DataFrame, task_starts: pd.DataFrame) -> pd.DataFrame:
    """The rare groups with ``GroupKey``, ``GroupPattern`` and ``SHA1s`` (the distinct hashes of
    their launches' binaries, sorted): what history and verdicts bind to. A verdict made on one
    binary must not carry over to a replaced one, hence the hashes."""
    from hunting_lib.engine.correlate import attribute_launches

    out = group_keys(rare_tasks)
    if out.empty or "SHA1" not in task_starts.columns:
        out["SHA1s"] = [[] for _ in range(len(out))]
        return out
    launches = attribute_launches(task_starts[["FileName", "ProcessCommandLine", "FolderPath", "SHA1"]], out)
    hashes = launches["SHA1"].fillna("").astype(str).str.lower()
    launches = launches.assign(SHA1=hashes)[hashes != ""].drop_duplicates(["TaskId", "SHA1"])
    per_group = launches.sort_values("SHA1").groupby("TaskId", sort=False)["SHA1"].agg(list)
    out["SHA1s"] = [per_group.get(task, []) for task in out["TaskId"]]
    return out
