"""The known-task catalogue: the tasks Windows and common vendors register, as reviewable data.

``config/known_tasks.yaml`` lists each task with its path in the Task Scheduler library, the
program it runs (full path), an argument pattern, the account class it runs as, the behaviours
it really has (``expects``) and a reference. A Task Scheduler launch *matches* an entry when all
three hold: the program's FolderPath is the entry's binary (case-insensitive, variables expanded,
System32 also as SysWOW64), its arguments match the pattern in full, and its account is of the
entry's class. A rare group whose every launch matches is suppressed as ``known:<task path>``.

The catalogue also says what a task's launch must *not* look like: a known task's program name
and arguments on the command line of another binary, or from another folder
(``other_binary``): the %windir% hijack of SilentCleanup, or a planted copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from hunting_lib.engine.command_line import program_file_name, split_command_line
from hunting_lib.errors import BadInputError
from hunting_lib.schema import load_yaml

DEFAULT_KNOWN_TASKS = "config/known_tasks.yaml"
ACCOUNT_CLASSES = ("system", "service", "system_or_service", "user", "any")
EXPECTATIONS = ("public_network", "user_profile_binary", "child_processes", "shell_children",
                "registry_autostart", "user_writable_dll")
_KEYS = {"task", "binary", "arguments", "account", "expects", "reference", "note"}
_REQUIRED = ("task", "binary", "arguments", "account", "expects", "reference")

#: What each path variable means; ``*`` in a binary path is one path segment.
_VARIABLES = {
    "%windir%": r"c:\windows", "%systemroot%": r"c:\windows", "%systemdrive%": "c:",
    "%programfiles%": r"c:\program files", "%programfiles(x86)%": r"c:\program files (x86)",
    "%commonprogramfiles%": r"c:\program files\common files",
    "%commonprogramfiles(x86)%": r"c:\program files (x86)\common files",
    "%programdata%": r"c:\programdata",
    "%localappdata%": "\0users\0\\appdata\\local", "%appdata%": "\0users\0\\appdata\\roaming",
}
_SYSTEM_ACCOUNTS = {"system", "nt authority\\system", "local system", "localsystem", "s-1-5-18"}
_SERVICE_ACCOUNTS = {"local service", "network service", "nt authority\\local service",
                     "nt authority\\network service", "localservice", "networkservice", "s-1-5-19", "s-1-5-20"}


@lru_cache(maxsize=None)
def _compiled(pattern: str, flags: int) -> re.Pattern:
    return re.compile(pattern, flags)


@dataclass(frozen=True)
class KnownTask:
    """One catalogue entry. Its patterns compile on first use: a hunt only ever tries the entries
    whose program name is one of its launches' (``entries_for``)."""

    task: str
    binaries: tuple[str, ...]
    binary_source: str
    binary_names: frozenset[str]
    arguments_source: str
    account: str
    expects: frozenset[str]
    reference: str

    @property
    def id(self) -> str:
        return f"known:{self.task}"

    @property
    def binary_pattern(self) -> re.Pattern:
        return _compiled(self.binary_source, 0)

    @property
    def arguments(self) -> re.Pattern:
        return _compiled(self.arguments_source, re.IGNORECASE | re.DOTALL)


def binary_regex(path: str) -> str:
    """A catalogue path as a regular expression over lower-cased FolderPath values."""
    text = path.strip().lower()
    for variable, value in sorted(_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(variable, value)
    parts = []
    for piece in re.split(r"(\*|\0users\0|\\system32\\)", text):
        if piece == "*":
            parts.append(r"[^\\]+")
        elif piece == "\0users\0":
            parts.append(r"c:\\users\\[^\\]+")
        elif piece == "\\system32\\":
            parts.append(r"\\(?:system32|syswow64|sysnative)\\")
        else:
            parts.append(re.escape(piece))
    return "".join(parts)


def _entry(raw: object, where: str, validate: bool = True) -> KnownTask:
    if not isinstance(raw, dict):
        raise BadInputError(f"{where}: an entry must be a mapping")
    name = raw.get("task", "?")
    for key in _REQUIRED:
        if key not in raw or raw[key] is None:
            raise BadInputError(f"{where}: entry {name!r}: missing {key!r}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise BadInputError(f"{where}: entry {name!r}: unknown field(s) {', '.join(sorted(unknown))}")
    if not str(raw["task"]).startswith("\\"):
        raise BadInputError(f"{where}: entry {name!r}: task must be a library path starting with \\")
    binaries = (raw["binary"],) if isinstance(raw["binary"], str) else tuple(raw["binary"])
    if not binaries or not all(isinstance(b, str) and b.strip() for b in binaries):
        raise BadInputError(f"{where}: entry {name!r}: binary must be a path or a list of paths")
    if raw["account"] not in ACCOUNT_CLASSES:
        raise BadInputError(f"{where}: entry {name!r}: account {raw['account']!r} is not one of "
                            f"{', '.join(ACCOUNT_CLASSES)}")
    expects = raw["expects"] or []
    if not isinstance(expects, list) or any(e not in EXPECTATIONS for e in expects):
        raise BadInputError(f"{where}: entry {name!r}: expects must be a list of {', '.join(EXPECTATIONS)}")
    if not str(raw["reference"]).strip():
        raise BadInputError(f"{where}: entry {name!r}: reference is empty")
    entry = KnownTask(str(raw["task"]), binaries, "|".join(f"(?:{binary_regex(b)})" for b in binaries),
                      frozenset(program_file_name(b) for b in binaries), str(raw["arguments"]), raw["account"],
                      frozenset(expects), str(raw["reference"]))
    if validate:
        try:
            entry.arguments, entry.binary_pattern  # noqa: B018 (compiling is the check)
        except re.error as exc:
            raise BadInputError(f"{where}: entry {name!r}: bad pattern: {exc}") from None
    return entry


def parse_known_tasks(text: str, where: str, validate: bool = True) -> tuple[KnownTask, ...]:
    """A catalogue file's entries; one-line ``BadInputError`` for anything malformed. Without
    ``validate`` the patterns are compiled when first used (the shipped file, which the tests
    compile whole)."""
    try:
        document = load_yaml(text)
    except Exception as exc:
        raise BadInputError(f"{where}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(document, dict) or not isinstance(document.get("tasks"), list):
        raise BadInputError(f"{where}: expected a mapping with a 'tasks' list")
    return tuple(_entry(raw, where, validate) for raw in document["tasks"])


@lru_cache(maxsize=4)
def load_known_tasks(path: str | None = DEFAULT_KNOWN_TASKS) -> tuple[KnownTask, ...]:
    """The catalogue at ``path`` (the shipped one by default); ``None`` for no catalogue."""
    if path is None:
        return ()
    if path == DEFAULT_KNOWN_TASKS:
        text = resources.files("hunting_lib").joinpath(path).read_text("utf-8")
        return parse_known_tasks(text, path, validate=False)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"known tasks {path}: {exc.strerror or exc}") from None
    return parse_known_tasks(text, str(path))


def account_class(account: str) -> str:
    """``system``, ``service``, ``user``, or ``unknown`` (no account recorded)."""
    text = (account or "").strip().lower()
    if not text:
        return "unknown"
    if text in _SYSTEM_ACCOUNTS:
        return "system"
    if text in _SERVICE_ACCOUNTS:
        return "service"
    return "user"


def _account_fits(entry: str, actual: str) -> bool:
    if entry == "any" or actual == "unknown":  # an export without accounts cannot refute it
        return True
    if entry == "system_or_service":
        return actual in ("system", "service")
    return entry == actual


_LAUNCH_KEYS = ["FileName", "FolderPath", "ProcessCommandLine", "AccountName"]


def _launches(starts: pd.DataFrame) -> pd.DataFrame:
    """The distinct (FileName, FolderPath, ProcessCommandLine, AccountName) of some launches."""
    frame = starts.reindex(columns=_LAUNCH_KEYS).fillna("").astype(str)
    return frame.drop_duplicates()


@lru_cache(maxsize=8)
def entries_for(catalogue: tuple[KnownTask, ...]) -> dict[str, tuple[KnownTask, ...]]:
    """The catalogue's entries by the lower-cased file names of their programs, in file order."""
    index: dict[str, list[KnownTask]] = {}
    for entry in catalogue:
        for name in entry.binary_names:
            index.setdefault(name, []).append(entry)
    return {name: tuple(entries) for name, entries in index.items()}


def _match_one(launch: tuple[str, str, str, str], catalogue: tuple[KnownTask, ...]) -> KnownTask | None:
    file_name, folder, command_line, account = launch
    program, glued, arguments = split_command_line(command_line)
    named = program_file_name(program)
    if glued or (named and named != file_name.lower() and "~" not in program):
        return None  # the command line runs something else than the file: never "known"
    folder, actual = folder.lower(), account_class(account)
    for entry in entries_for(catalogue).get(file_name.lower(), ()):
        if (entry.binary_pattern.fullmatch(folder) and entry.arguments.fullmatch(arguments)
                and _account_fits(entry.account, actual)):
            return entry
    return None


def match_launches(starts: pd.DataFrame, catalogue: tuple[KnownTask, ...]) -> pd.Series:
    """Per launch, the first catalogue entry it matches (None for none)."""
    if not catalogue or starts.empty:
        return pd.Series(None, index=starts.index, dtype=object)
    launches = _launches(starts)
    found = {tuple(row): _match_one(tuple(row), catalogue) for row in launches.itertuples(index=False)}
    keys = starts.reindex(columns=_LAUNCH_KEYS).fillna("").astype(str).itertuples(index=False, name=None)
    return pd.Series([found[k] for k in keys], index=starts.index, dtype=object)


def _other_binary_one(file_name: str, folder: str, command_line: str,
                      catalogue: tuple[KnownTask, ...]) -> str | None:
    program, glued, arguments = split_command_line(command_line)
    # The program a known task's arguments follow: the glued text of a hijacked quote, else
    # the command line's own program token.
    invoked = program_file_name(glued) if glued else program_file_name(program)
    for entry in entries_for(catalogue).get(invoked, ()):
        if entry.arguments.fullmatch("") is not None:
            continue
        if not entry.arguments.fullmatch(arguments):
            continue
        if file_name.lower() not in entry.binary_names or not entry.binary_pattern.fullmatch(folder.lower()):
            return entry.task
    return None


def other_binary(starts: pd.DataFrame, catalogue: tuple[KnownTask, ...]) -> pd.Series:
    """Per launch, the known task whose program and arguments it carries while another file, or
    the same name from another folder, ran (None for none). Only entries that require
    arguments take part: a bare program name proves nothing."""
    if not catalogue or starts.empty:
        return pd.Series(None, index=starts.index, dtype=object)
    keys = starts.reindex(columns=["FileName", "FolderPath", "ProcessCommandLine"]).fillna("").astype(str)
    distinct = keys.drop_duplicates()
    found = {tuple(r): _other_binary_one(*r, catalogue) for r in distinct.itertuples(index=False, name=None)}
    return pd.Series([found[k] for k in keys.itertuples(index=False, name=None)], index=starts.index, dtype=object)


def catalogue_program_names(catalogue: tuple[KnownTask, ...], windows_only: bool = True) -> frozenset[str]:
    """The program names the catalogue's entries run (those under C:\\Windows only, by default)."""
    names = set()
    for entry in catalogue:
        for binary in entry.binaries:
            if not windows_only or binary.lower().startswith(("%windir%", "%systemroot%", "c:\\windows\\")):
                names.add(program_file_name(binary))
    return frozenset(names)
