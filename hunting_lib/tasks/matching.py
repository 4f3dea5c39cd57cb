r"""Which runs a task's action started: its command and arguments against a launch's
``FolderPath`` and ``ProcessCommandLine``.

A definition holds what was typed at registration (``%windir%\system32\cmd.exe``,
``"%LOCALAPPDATA%\Updater\u.exe" /quiet``); a launch holds what ran (``C:\Windows\System32\cmd.exe``,
``"C:\Users\alice\AppData\Local\Updater\u.exe" /quiet``). Both sides are compared lower case,
without double quotes, with whitespace collapsed; machine-wide environment variables stand for
their standard values, and per-user ones for any user's profile folder (``C:\Users\<name>``),
so a task registered for one user matches its run under that user's profile, while a literal
path into another profile, or a different argument, does not.

Runs are compared per distinct (program, path, command line), after a merge on the program's
file name (and the device), so the cost grows with the distinct strings, never with launches.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

#: Environment variables with the same value on every standard Windows installation.
MACHINE_VARIABLES = {
    "windir": r"c:\windows", "systemroot": r"c:\windows", "systemdrive": "c:",
    "programdata": r"c:\programdata", "allusersprofile": r"c:\programdata",
    "programfiles": r"c:\program files", "programw6432": r"c:\program files",
    "programfiles(x86)": r"c:\program files (x86)",
    "commonprogramfiles": r"c:\program files\common files",
    "commonprogramfiles(x86)": r"c:\program files (x86)\common files",
    "public": r"c:\users\public", "comspec": r"c:\windows\system32\cmd.exe",
}
#: Per-user variables: a profile folder of some user, then the fixed rest.
USER_VARIABLES = {
    "userprofile": "", "localappdata": r"\appdata\local", "appdata": r"\appdata\roaming",
    "temp": r"\appdata\local\temp", "tmp": r"\appdata\local\temp",
}
_PROFILE = r"c:\\users\\[^\\]+"
#: Scripts the command interpreter runs: the Task Scheduler starts them as ``cmd.exe /c <script>``.
SCRIPT_EXTENSIONS = (".bat", ".cmd")
#: Where the interpreter of a script action lives (64- and 32-bit System32).
_INTERPRETER_PATH = r"c:\\windows\\(?:system32|syswow64|sysnative)\\cmd\.exe"
#: ``cmd.exe``, any other switches (``/d``, ``/s``, ``/e:on``), then ``/c`` and the script's command line.
_INTERPRETER_LINE = r"(?:\S*\\)?cmd(?:\.exe)?(?:\s*/(?!c)[a-z](?::[a-z0-9]+)?)*\s*/c\s*"
_VARIABLE = re.compile(r"%([^%\s\\]+)%")
_SPACES = re.compile(r"\s+")
_HAS_EXTENSION = re.compile(r"\.[a-z0-9]{1,5}$")


def normalise(text: object) -> str:
    """Lower case, no double quotes, single spaces, trimmed: how both sides are compared."""
    return _SPACES.sub(" ", str(text or "").replace('"', "").lower()).strip()


def _variable_pattern(name: str) -> str:
    """What ``%name%`` may have become in a launch (or stayed, unexpanded)."""
    literal = re.escape(f"%{name}%")
    if name in MACHINE_VARIABLES:
        return f"(?:{literal}|{re.escape(MACHINE_VARIABLES[name])})"
    if name in USER_VARIABLES:
        return f"(?:{literal}|{_PROFILE}{re.escape(USER_VARIABLES[name])})"
    if name == "homepath":
        return rf"(?:{literal}|\\users\\[^\\]+)"
    return rf"(?:{literal}|[^\\\s]+)"  # an unknown variable: one path element, whatever it is


def text_pattern(text: str) -> str:
    """A regex (no anchors) for normalised ``text``, its environment variables as they may
    appear expanded."""
    parts, last = [], 0
    for found in _VARIABLE.finditer(text):
        parts.append(re.escape(text[last:found.start()]))
        parts.append(_variable_pattern(found.group(1)))
        last = found.end()
    parts.append(re.escape(text[last:]))
    return "".join(parts)


def program_name(command: object) -> str:
    """The file name an action's command runs, lower case, ``.exe`` added when it has no
    extension (``powershell`` runs ``powershell.exe``). "" for no command."""
    text = normalise(command)
    if not text:
        return ""
    name = re.split(r"[\\/]", text)[-1]
    if name.startswith("%") and name.endswith("%") and name[1:-1] in MACHINE_VARIABLES:
        name = MACHINE_VARIABLES[name[1:-1]].rsplit("\\", 1)[-1]  # %ComSpec%
    return name if _HAS_EXTENSION.search(name) else f"{name}.exe"


def is_script(command: object) -> bool:
    """Whether an action's command is a batch script (``.bat``/``.cmd``), which runs as cmd.exe."""
    return program_name(command).endswith(SCRIPT_EXTENSIONS)


def launched_program(command: object) -> str:
    """The file name of the process an action's command starts: its program, or ``cmd.exe``
    for a batch script."""
    name = program_name(command)
    return "cmd.exe" if name.endswith(SCRIPT_EXTENSIONS) else name


def _script_patterns(command: str, arguments: str) -> tuple[re.Pattern | None, re.Pattern, str]:
    r"""A batch script's run: cmd.exe from System32 whose command line is ``/c`` and the script's.

    A script is no image Windows can start: CreateProcess runs the command interpreter for it.
    Microsoft's CreateProcessW reference (learn.microsoft.com, processthreadsapi, "To run a batch
    file") says a batch file needs ``cmd.exe`` with ``/c`` and the batch file's name; ReactOS's kernel32 (dll/win32/kernel32/client/proc.c, ``CMD_STRING``
    ``"cmd /c "``) prefixes the original command line with exactly that; the real VMware Tools
    launch in this project's yamato recording reads ``cmd.exe /c ""C:\...\resume-vm-default.bat""``
    (the whole command line quoted once more). Case (``/C``) and quotes fall away in
    ``normalise``; other switches before ``/c`` (``/d /s``) are allowed, as launchers add them.
    """
    name = program_name(command)
    has_folder = bool(re.search(r"[\\/]", command)) or command.startswith("%")
    # the script's folder shows only in the command line (FolderPath is cmd.exe's), so it must be there
    script = text_pattern(command) if has_folder else rf"(?:\S*\\)?{re.escape(name)}"
    tail = rf"\s+{text_pattern(arguments)}" if arguments else ""
    variables = list(_VARIABLE.finditer(arguments))
    literal_end = arguments[variables[-1].end():] if variables else arguments
    return re.compile(_INTERPRETER_PATH), re.compile(_INTERPRETER_LINE + script + tail), literal_end


@lru_cache(maxsize=4096)
def _action_patterns(command: str, arguments: str) -> tuple[re.Pattern | None, re.Pattern, str]:
    """(the path a launch must have, or None when the command names no folder; the command
    line it must have; the literal text that command line must end with, a cheap first test)."""
    command, arguments = normalise(command), normalise(arguments)
    if is_script(command):
        return _script_patterns(command, arguments)
    name = program_name(command)
    add_exe = "" if _HAS_EXTENSION.search(command) else r"(?:\.exe)?"
    has_folder = bool(re.search(r"[\\/]", command)) or command.startswith("%")
    path = re.compile(text_pattern(command) + add_exe) if has_folder else None
    stem = re.escape(name[:-4]) + r"(?:\.exe)?" if name.endswith(".exe") else re.escape(name)
    program = rf"(?:{text_pattern(command)}{add_exe}|(?:\S*\\)?{stem})"
    tail = rf"\s+{text_pattern(arguments)}" if arguments else ""
    variables = list(_VARIABLE.finditer(arguments))
    literal_end = arguments[variables[-1].end():] if variables else arguments
    return path, re.compile(program + tail), literal_end


def _judge(patterns: tuple[re.Pattern | None, re.Pattern, str], path: str, line: str) -> bool:
    """One launch's normalised path and command line against an action's patterns."""
    path_pattern, line_pattern, literal_end = patterns
    if line and literal_end and not line.endswith(literal_end):
        return False
    if path_pattern is not None and not path_pattern.fullmatch(path):
        return False
    return True if not line else line_pattern.fullmatch(line) is not None


def action_matches(command: str, arguments: str, folder_path: str, command_line: str) -> bool:
    """Whether a launch (``folder_path``, ``command_line``) is this action's run. A launch
    without a command line is judged by its path alone."""
    return _judge(_action_patterns(str(command or ""), str(arguments or "")), normalise(folder_path),
                  normalise(command_line))


def as_text(values: pd.Series) -> pd.Series:
    """A column as text, "" where missing, whatever its dtype (a parquet read may hand on
    categoricals, whose ``fillna("")`` raises)."""
    plain = values.astype(object)
    return plain.where(plain.notna(), "").astype(str)


def launch_program(file_names: pd.Series, folder_paths: pd.Series) -> pd.Series:
    """A launch's program file name, lower case (from its path when the name is missing)."""
    names = as_text(file_names).str.lower()
    from_path = as_text(folder_paths).str.lower().str.rsplit("\\", n=1).str[-1]
    return names.where(names.ne(""), from_path)


def _normalised(values: pd.Series) -> np.ndarray:
    """``normalise`` once per distinct value."""
    codes, uniques = pd.factorize(values, sort=False)
    return np.array([normalise(u) for u in uniques], dtype=object)[codes] if len(uniques) else \
        np.array([], dtype=object)


def match_actions(actions: pd.DataFrame, runs: pd.DataFrame, on: list[str] | None = None) -> pd.DataFrame:
    """The (action, run) pairs where the run is the action's.

    ``actions`` has ``Command`` and ``Arguments``, ``runs`` ``FileName``, ``FolderPath`` and
    ``ProcessCommandLine``; both may carry the ``on`` columns (the device), which must be equal.
    Returns the merged rows that match, with every column of both (``_x``/``_y`` on clashes).
    Each distinct action is judged against the distinct runs of its program (and device) only.
    """
    on = list(on or [])
    strings = ["Command", "Arguments", "FolderPath", "ProcessCommandLine"]
    left = actions.assign(Command=as_text(actions["Command"]), Arguments=as_text(actions["Arguments"]))
    right = runs.assign(FileName=as_text(runs["FileName"]), FolderPath=as_text(runs["FolderPath"]),
                        ProcessCommandLine=as_text(runs["ProcessCommandLine"]))
    if left.empty or right.empty:
        return left.iloc[0:0].merge(right.iloc[0:0], how="cross") if not on else \
            left.iloc[0:0].merge(right.iloc[0:0], on=on)
    left["_program"] = left["Command"].map(launched_program)  # a batch script runs as cmd.exe
    right["_program"] = launch_program(right["FileName"], right["FolderPath"])
    keys = on + ["_program"]
    wanted = left[left["_program"].ne("")][keys + strings[:2]].drop_duplicates().reset_index(drop=True)
    candidates = right[keys + strings[2:]].drop_duplicates().reset_index(drop=True)
    paths, lines = _normalised(candidates["FolderPath"]), _normalised(candidates["ProcessCommandLine"])
    by_key = candidates.groupby(keys, sort=False).indices
    hits: list[tuple[int, int]] = []
    for index, row in enumerate(wanted.itertuples(index=False, name=None)):
        positions = by_key.get(row[0] if len(keys) == 1 else tuple(row[:len(keys)]))
        if positions is None:
            continue
        patterns = _action_patterns(row[-2], row[-1])
        hits.extend((index, p) for p in positions if _judge(patterns, paths[p], lines[p]))
    if not hits:
        return left.iloc[0:0].merge(right.iloc[0:0], on=keys).drop(columns="_program")
    action_at, run_at = (list(v) for v in zip(*hits))
    judged = pd.concat([wanted.iloc[action_at].reset_index(drop=True),
                        candidates.iloc[run_at][strings[2:]].reset_index(drop=True)], axis=1)
    pairs = left.merge(judged, on=keys + strings[:2]).merge(right, on=keys + strings[2:])
    return pairs.drop(columns="_program").reset_index(drop=True)
