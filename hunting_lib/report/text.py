"""Attacker-written text made safe to show: the one test of which characters must be escaped.

Command lines, paths, file names and device names may hold characters that hide or reorder what
the analyst reads: controls and escape sequences that redraw a terminal, bidirectional overrides
that turn ``exe.txt`` into ``txt.exe``, zero-width and look-alike spaces. Every place that shows
such text (the terminal table, Markdown, bokeh data, chart labels) replaces them with visible
escapes (``\\x1b``, ``\\u202e``) through this module.
"""

from __future__ import annotations


def is_safe(ch: str) -> bool:
    """Whether a character can be shown as it is.

    Python's ``isprintable`` is false exactly for control (Cc), format (Cf: the bidi overrides
    U+202A-202E and U+2066-2069, the marks U+200E, U+200F and U+061C, zero-width characters),
    separator other than space (Zs, Zl, Zp), surrogate, private-use and unassigned characters:
    the ones an attacker uses to disguise a name.
    """
    return ch.isprintable()


def escape_char(ch: str) -> str:
    """A visible stand-in for a character that would otherwise be invisible or reorder text
    (what Python's ``unicode_escape`` writes for it)."""
    named = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
    if ch in named:
        return named[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def display_units(text: str) -> list[str]:
    """The text as display units: one per character, escaped where it is not safe to show.

    Shortening works on units, so an escape is never cut in half.
    """
    return [ch if is_safe(ch) else escape_char(ch) for ch in text]


def safe_text(value: object) -> str:
    """``value`` as one printable line: unsafe characters become visible escapes."""
    text = "" if value is None else str(value)
    if text.isprintable():  # the usual case, tested at C speed
        return text
    return "".join(display_units(text))
