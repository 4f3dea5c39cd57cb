"""``HuntParams``: every knob of one hunt, in one immutable object.

The defaults keep the published query's threshold, parent command line and string-keyed
correlation, and add what a fleet needs: the extended scope, the exclusion rules and the
known-task catalogue. ``HuntParams.published()`` is the published query exactly. Every choice is
recorded in the output's ``parameters`` so that a report always says how it was produced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from hunting_lib.engine.query import seed_literals
from hunting_lib.errors import BadInputError
from hunting_lib.triage.exclusions import DEFAULT_EXCLUSIONS

MatchMode = Literal["seed", "process"]
MATCH_MODES: tuple[str, ...] = ("seed", "process")
Scope = Literal["published", "extended"]
SCOPES: tuple[str, ...] = ("published", "extended")
#: The shipped known-task catalogue (``config/known_tasks.yaml``).
DEFAULT_KNOWN_TASKS = "config/known_tasks.yaml"


def parse_time(value: str | pd.Timestamp | None, name: str) -> pd.Timestamp | None:
    """An ISO 8601 bound as a UTC timestamp (a bound without a zone is taken as UTC)."""
    if value is None or value == "":
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise BadInputError(f"{name}: {value!r} is not an ISO 8601 time") from None
    if pd.isna(stamp):
        raise BadInputError(f"{name}: {value!r} is not an ISO 8601 time")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass(frozen=True)
class HuntParams:
    """Parameters of one hunt.

    - ``start``/``end``: the time window, inclusive at both ends like KQL's ``between``; None
      means the whole range of the data. It applies to every table.
    - ``threshold``: a (FileName, ProcessCommandLine, FolderPath) group is rare when its run count
      is below it (the seed's ``count_ < 3``).
    - ``max_devices``: also keep a group that ran on at most this many devices, whatever its
      count. It catches the frequent beacon on one machine that the count alone lets through.
    - ``parent_command_lines``: the Task Scheduler service's command lines to accept, compared
      exactly as the seed does (``==``).
    - ``exclusions``: the exclusions file (the shipped one by default), or None / "none" for
      none. Exclusions mark rare groups as suppressed; they never change which groups are rare.
    - ``match``: ``seed`` correlates activity by lower-cased strings as the published query does;
      ``process`` keys it on process identity.
    - ``scope``: ``published`` looks at the children of the Schedule svchost that the published
      query keeps; ``extended`` (the default) also at the launch paths it cannot see
      (``config/scope.yaml``), and counts Defender's aggregated process reports as the events
      they stand for.
    - ``known_tasks``: the known-task catalogue (the shipped one by default), or None / "none".
      A rare group whose every run matches an entry is suppressed as ``known:<task path>``.
    - ``history``: a hunt history file (SQLite), or None. The run is recorded there, each rare
      group gets ``History`` and ``Verdict``, and benign verdicts suppress. For history the window
      is half-open: a launch at exactly ``end`` is counted by the next window, not this one.
    - ``history_lookback_days``: how far back ``History.New`` looks (None: all recorded runs).
    - ``history_overlap_minutes``: read this much before ``start`` too, for events that arrived
      late; launches an earlier run already counted (same DeviceId and ReportId) are not counted
      again.

    ``HuntParams.published()`` is the published query exactly: published scope, no exclusions,
    no catalogue, seed match.
    """

    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    threshold: int = field(default_factory=lambda: seed_literals().threshold)
    max_devices: int | None = None
    parent_command_lines: tuple[str, ...] = field(
        default_factory=lambda: (seed_literals().parent_command_line,)
    )
    match: MatchMode = "seed"
    exclusions: str | None = DEFAULT_EXCLUSIONS
    scope: Scope = "extended"
    known_tasks: str | None = DEFAULT_KNOWN_TASKS
    history: str | None = None
    history_lookback_days: float | None = None
    history_overlap_minutes: float = 0.0

    @classmethod
    def published(cls, **options: Any) -> "HuntParams":
        """The published query exactly (``--published``); ``options`` may set the window."""
        return cls(**{"scope": "published", "exclusions": None, "known_tasks": None, "match": "seed", **options})

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", parse_time(self.start, "start"))
        object.__setattr__(self, "end", parse_time(self.end, "end"))
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int):
            raise BadInputError(f"threshold: {self.threshold!r} is not a whole number")
        if self.threshold < 1:
            raise BadInputError(
                f"threshold: {self.threshold} keeps nothing; the rarity test is count < threshold,"
                " so the threshold must be at least 1"
            )
        if self.max_devices is not None and (
            isinstance(self.max_devices, bool)
            or not isinstance(self.max_devices, int)
            or self.max_devices < 1
        ):
            raise BadInputError(f"max_devices: {self.max_devices!r} must be a whole number >= 1")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise BadInputError(f"start {self.start.isoformat()} is after end {self.end.isoformat()}")
        if self.match not in MATCH_MODES:
            raise BadInputError(f"match: {self.match!r} is not one of {', '.join(MATCH_MODES)}")
        if self.scope not in SCOPES:
            raise BadInputError(f"scope: {self.scope!r} is not one of {', '.join(SCOPES)}")
        if not self.parent_command_lines:
            raise BadInputError("parent_command_lines: at least one command line is needed")
        object.__setattr__(self, "parent_command_lines", tuple(self.parent_command_lines))
        if self.history is not None:
            object.__setattr__(self, "history", str(self.history))
        for name in ("history_lookback_days", "history_overlap_minutes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise BadInputError(f"{name}: {value!r} must be a number >= 0")
        if self.history_overlap_minutes and self.history is None:
            raise BadInputError("history_overlap_minutes: an overlap needs a history file (--history)")
        for name in ("exclusions", "known_tasks"):
            value = getattr(self, name)
            if value is not None and str(value).lower() == "none":
                object.__setattr__(self, name, None)
            elif value is not None:
                object.__setattr__(self, name, str(value))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready parameters, for the output's ``parameters`` key."""
        out = asdict(self)
        for key in ("start", "end"):
            out[key] = None if out[key] is None else out[key].isoformat()
        out["parent_command_lines"] = list(self.parent_command_lines)
        # by name: a local path says nothing to the reader of a report, and may say too much
        out["history"] = None if self.history is None else Path(self.history).name
        return out

    @property
    def read_start(self) -> pd.Timestamp | None:
        """Where reading starts: ``start``, less the history overlap."""
        if self.start is None or not self.history_overlap_minutes:
            return self.start
        return self.start - pd.Timedelta(minutes=self.history_overlap_minutes)
