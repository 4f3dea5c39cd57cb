"""The two ways the kit reports trouble with its input.

``BadInputError`` stops the run: the command line turns it into one line on stderr and exit
status 2. ``DataWarning`` lets the run go on but says what was coerced, filled or skipped, with
counts, so that no row is ever lost without a word.
"""

from __future__ import annotations


class BadInputError(Exception):
    """Input the kit cannot use. The message is one line naming the file, column and row."""

    def __init__(self, message: str) -> None:
        # One line, always: a message built from hostile data must not forge extra lines.
        super().__init__(" ".join(str(message).split("\n")))


class DataWarning(UserWarning):
    """Input the kit could use only after coercing or skipping part of it."""


def describe_value(value: object, limit: int = 60) -> str:
    """A short, single-line, escaped rendering of a data value for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
