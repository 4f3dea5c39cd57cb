"""Reading a Windows command line: the program it names, and the arguments it passes.

Windows hands a new process one string; the program is its first token. A quoted token ends at
the closing quote, and whatever touches that quote without a space belongs to the same token
(``"C:\\Windows\\system32\\cmd.exe"\\system32\\cleanmgr.exe`` still runs cmd.exe). An unquoted
token ends at the first space, except that ``C:\\Program Files\\x\\y.exe -a`` is read up to the
first ``.exe`` (or .com, .bat, .cmd) followed by a space, as CreateProcess would find it.

Triage reads three things from this: the arguments (for exclusion rules and the known-task
catalogue, which must not depend on how the program was spelt), the program's file name (which
must be the file that ran), and text glued onto a quoted program (the mark of the %windir%
hijack that turns a built-in task into ``cmd.exe``). Everything works on distinct values, as
telemetry repeats the same command lines many times.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Whitespace as Windows' parser and KQL's RE2 both see it (ASCII only: Python's ``\s`` would also
#: take Unicode spaces, and the KQL rendering of ``Arguments`` must split the same way).
SPACE = "\t\n\f\r "
_WS = "[\\t\\n\\f\\r ]"
_NOT_WS = "[^\\t\\n\\f\\r ]"
#: The three ways a command line names its program, tried in this order. Each is written in the
#: common subset of Python's re and RE2 (no look-around), so ``kql.arguments_kql`` can render the
#: same tests; ``arguments`` is the last group of each.
QUOTED = f'(?s)^{_WS}*"([^"]*)"({_NOT_WS}*)(.*)$'
UNQUOTED_EXE = f'(?is)^{_WS}*([^"]+?\\.(?:exe|com|bat|cmd|scr|pif))((?:{_WS}.*)?)$'
UNQUOTED = f"(?s)^{_WS}*({_NOT_WS}*)(.*)$"
_QUOTED, _UNQUOTED_EXE, _UNQUOTED = (re.compile(p) for p in (QUOTED, UNQUOTED_EXE, UNQUOTED))


def split_command_line(command_line: str) -> tuple[str, str, str]:
    """``(program, glued, arguments)`` of one command line.

    ``glued`` is text stuck to a quoted program without a space ("" normally);
    ``arguments`` is the rest with the surrounding whitespace removed.
    """
    text = command_line or ""
    match = _QUOTED.match(text)
    if match:
        return match[1], match[2], match[3].strip(SPACE)
    match = _UNQUOTED_EXE.match(text)
    if match:
        return match[1], "", match[2].strip(SPACE)
    match = _UNQUOTED.match(text)
    return match[1], "", match[2].strip(SPACE)


def program_file_name(program: str) -> str:
    """The lower-cased file name a program token names (``.exe`` added when it has no extension)."""
    name = re.split(r"[\\/]", program.strip(SPACE))[-1].strip(SPACE).lower()
    if name and "." not in name:
        name += ".exe"
    return name


def _names_a_program(token: str) -> bool:
    """A token that can be a program: not an option, not a number, no 8.3 short name."""
    token = token.strip()
    return bool(token) and token[0] not in "-/" and not token.isdigit() and "~" not in token


def _per_unique(values: pd.Series, function) -> pd.Series:
    """``function`` applied once per distinct string, broadcast back to the rows."""
    codes, uniques = pd.factorize(values.fillna("").astype(str), sort=False)
    answers = pd.Series([function(u) for u in uniques], dtype=object)
    if len(answers) == 0:
        return pd.Series([], index=values.index, dtype=object)
    return pd.Series(answers.to_numpy()[codes], index=values.index, dtype=object)


def arguments(command_lines: pd.Series) -> pd.Series:
    """Each command line's arguments: everything after the program token, stripped."""
    return _per_unique(command_lines, lambda c: split_command_line(c)[2])


def named_programs(command_lines: pd.Series) -> pd.Series:
    """Each command line's program, as a lower-cased file name ("" when there is none)."""
    return _per_unique(command_lines, lambda c: program_file_name(split_command_line(c)[0]))


def glued_text(command_lines: pd.Series) -> pd.Series:
    """Text stuck to the closing quote of each command line's program ("" for none)."""
    return _per_unique(command_lines, lambda c: split_command_line(c)[1])


def program_mismatch(command_lines: pd.Series, file_names: pd.Series) -> np.ndarray:
    """Rows whose command line names a program other than the file that ran.

    Left out, because Windows and real programs write them: command lines that start with an
    argument instead of a program (``/setautostart``, ``-c``, a bare number), 8.3 short names
    (``PROGRA~1``), and programs named without a path whose file name differs only by case or
    by the missing ``.exe``.
    """
    named = named_programs(command_lines)
    ran = file_names.fillna("").astype(str).str.lower()
    program = _per_unique(command_lines, lambda c: split_command_line(c)[0])
    comparable = (named != "") & (ran != "") & program.map(_names_a_program)
    return (comparable & (named != ran)).to_numpy(dtype=bool)
