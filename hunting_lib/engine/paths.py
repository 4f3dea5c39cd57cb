"""Windows folders as triage reads them: user-writable, protected, Windows' own.

The lists live in ``config/paths.yaml``. Everything here works on a column's distinct values,
since telemetry repeats the same few hundred paths and command lines.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from hunting_lib.engine.kql_ops import on_uniques
from hunting_lib.engine.settings import PathConfig, default_paths  # noqa: F401 (re-exported)


def _writable_texts(texts: pd.Index, config: PathConfig) -> np.ndarray:
    return np.array([config.is_user_writable(t) for t in texts], dtype=bool)


def user_writable(values: pd.Series, config: PathConfig | None = None) -> np.ndarray:
    """Values (paths, or command lines holding paths) that name a user-writable folder.

    Folders that only administrators can write to (Defender's platform folder under
    ProgramData) do not count, even though their parent does.
    """
    config = config or default_paths()
    return on_uniques(values.fillna("").astype(str), lambda u: _writable_texts(u, config))


def outside_windows(values: pd.Series, config: PathConfig | None = None) -> np.ndarray:
    """Paths outside Windows' own folders: not under C:\\Windows\\, or in a user-writable part of it."""
    config = config or default_paths()
    home = config.windows_home
    return on_uniques(values.fillna("").astype(str), lambda u: ~u.str.lower().str.startswith(home)
                      | _writable_texts(u, config))


# ---------------------------------------------------------------------------------------------
# One name for one program across users and versions

_USER_PROFILE = re.compile(r"([a-z]:\\users\\)[^\\]+", re.IGNORECASE)
_GUID = re.compile(r"\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?", re.IGNORECASE)
_VERSION = re.compile(r"\d+(?:[._-]\d+)+")


def normalise_path(text: str) -> str:
    """A path (or command line) with the user's profile folder, GUIDs and version numbers made
    generic, lower case: per-user copies and versions of one program share it."""
    text = _USER_PROFILE.sub(r"\1*", text.lower())
    text = _GUID.sub("{guid}", text)
    return _VERSION.sub("#", text)


def normalised(values: pd.Series) -> pd.Series:
    """``normalise_path`` over a column, once per distinct value."""
    codes, uniques = pd.factorize(values.fillna("").astype(str), sort=False)
    mapped = np.array([normalise_path(u) for u in uniques], dtype=object)
    return pd.Series(mapped[codes] if len(uniques) else [], index=values.index, dtype=object)
