"""Tables as an analyst reads them in the notebook and the report.

Times to the second in UTC (the nanoseconds Defender records are noise on a page), lists as
comma-separated text, and local paths by their last parts only: a report is shared, and the
analyst's home folder is nobody else's business. Command lines are never cut here; the report
template wraps them (``templates/offline/index.html.j2``).
"""

from __future__ import annotations

from pathlib import PurePath, PureWindowsPath

import pandas as pd

#: How times read in tables and summaries: UTC, to the second.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def second_text(stamps: pd.Series) -> pd.Series:
    """UTC times as ``YYYY-MM-DD HH:MM:SS`` text (floored to the second); empty for missing."""
    stamps = pd.to_datetime(stamps, utc=True, errors="coerce")
    return stamps.dt.floor("s").dt.strftime(TIME_FORMAT).fillna("")


def for_display(frame: pd.DataFrame, keep_secrets: bool | None = None) -> pd.DataFrame:
    """A copy of ``frame`` for display: times to the second, lists joined with ", ", and secrets
    in its text redacted (``report.redact``) unless ``keep_secrets`` (default: the session's
    choice, ``redact.keep_secrets_in_display``).

    Only the rendering changes; the values an export writes (findings.json) keep full precision.
    """
    from hunting_lib.report.redact import display_frame

    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
            out[column] = second_text(values)
        elif values.dtype == object:
            is_list = values.map(lambda value: isinstance(value, (list, tuple)))
            if is_list.any():
                out.loc[is_list, column] = values[is_list].map(lambda items: ", ".join(map(str, items)))
    return display_frame(out, keep_secrets)


def short_path(path: object, parts: int = 2) -> str:
    """The last ``parts`` components of a local path (``sample_data/DeviceProcessEvents.csv``).

    Works for POSIX and Windows spellings; a bare name stays as it is.
    """
    text = str(path)
    pure = PureWindowsPath(text) if "\\" in text and "/" not in text else PurePath(text)
    tail = [part for part in pure.parts if part not in (pure.anchor, "/", "\\")][-parts:]
    return "/".join(tail) if tail else text


def short_sources(sources: dict) -> dict:
    """``HuntResult.sources`` with each local file (or list of part files) by its last parts only.

    A remote hunt's sources (provider and dialect names) are not paths and pass through.
    """
    def shorten(value: object) -> object:
        if isinstance(value, (list, tuple)):
            return [shorten(item) for item in value]
        text = str(value)
        return short_path(text) if ("/" in text or "\\" in text) else text

    return {table: shorten(value) for table, value in sources.items()}
