"""Tripwires: critical signals that nothing may suppress (``config/tripwires.yaml``).

A tripwire fires on a rare group when its signal fires (or its own test holds), unless the
group's known-task catalogue entry declares the behaviour (``unless_expected``). A group with a
tripwire stays a finding whatever exclusion rule or catalogue entry matched it: ``SuppressedBy``
is cleared, ``WouldSuppressBy`` keeps what it matched, and its ``Reasons`` gain
``matched:<id>`` and ``kept_by:<tripwire>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from hunting_lib.engine.command_line import split_command_line
from hunting_lib.engine.fleet import FleetContext, group_keys, public_ips
from hunting_lib.engine.kql_ops import in_ci
from hunting_lib.engine.paths import PathConfig, default_paths, user_writable
from hunting_lib.errors import BadInputError
from hunting_lib.schema import load_yaml
from hunting_lib.triage.scoring import ScoringConfig, default_scoring

TESTS = ("user_writable_payload", "rare_public_ip", "unexpected_shell_child")

#: Extensions of files a task runs or loads: programs, scripts, libraries, installers.
PAYLOAD_EXTENSIONS = frozenset(
    "exe dll ps1 psm1 bat cmd vbs vbe js jse wsf wsh hta sct scr cpl ocx msi msp jar py lnk com pif xll".split())
#: Programs whose first argument is a library, whatever its extension (``x.dat,Entry``).
LIBRARY_LOADERS = frozenset({"rundll32.exe", "regsvr32.exe"})
_PATH_START = re.compile(r'(?:[a-z]:\\|\\\\|%[a-z_()]+%\\)', re.IGNORECASE)
_PAYLOAD_EXTENSION = re.compile(r"\.(?:" + "|".join(sorted(PAYLOAD_EXTENSIONS)) + r")(?=$|\s)", re.IGNORECASE)


@dataclass(frozen=True)
class Tripwire:
    id: str
    signal: str | None
    test: str | None
    technique: str
    why: str
    unless_expected: frozenset[str]


@dataclass(frozen=True)
class TripwireConfig:
    tripwires: tuple[Tripwire, ...]
    few_devices: int
    common_share: float
    common_min_fleet: int

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.tripwires]


def parse_tripwires(text: str, where: str, scoring: ScoringConfig | None = None) -> TripwireConfig:
    scoring = scoring or default_scoring()
    raw = load_yaml(text)
    tripwires = []
    for item in raw.get("tripwires") or []:
        ident = item.get("id", "?")
        if bool(item.get("signal")) == bool(item.get("test")):
            raise BadInputError(f"{where}: tripwire {ident}: give exactly one of signal or test")
        if item.get("signal") and item["signal"] not in scoring.weights:
            raise BadInputError(f"{where}: tripwire {ident}: unknown signal {item['signal']!r}")
        if item.get("test") and item["test"] not in TESTS:
            raise BadInputError(f"{where}: tripwire {ident}: unknown test {item['test']!r}")
        for key in ("technique", "why"):
            if not item.get(key):
                raise BadInputError(f"{where}: tripwire {ident}: missing {key}")
        tripwires.append(Tripwire(str(ident), item.get("signal"), item.get("test"), str(item["technique"]),
                                  " ".join(str(item["why"]).split()),
                                  frozenset(item.get("unless_expected") or [])))
    return TripwireConfig(tuple(tripwires), int(raw.get("few_devices", 2)), float(raw.get("common_share", 0.5)),
                          int(raw.get("common_min_fleet", 10)))


@lru_cache(maxsize=1)
def default_tripwires() -> TripwireConfig:
    text = resources.files("hunting_lib").joinpath("config/tripwires.yaml").read_text("utf-8")
    return parse_tripwires(text, "config/tripwires.yaml")


# ---------------------------------------------------------------------------------------------
# The tests of their own


def payload_paths(command_line: str) -> list[str]:
    """Paths in a command line's arguments that name something run or loaded: a program, script
    or library by its extension, or the first argument of rundll32/regsvr32. Output redirected
    with ``>`` is not a payload."""
    program, _, arguments = split_command_line(command_line)
    loader = re.split(r"[\\/]", program)[-1].lower()
    loader = loader if loader.endswith(".exe") else loader + ".exe"
    found = []
    for match in _PATH_START.finditer(arguments):
        before = arguments[:match.start()].rstrip(" \"'")
        if before.endswith(">"):
            continue
        rest = re.split(r"[\"'<>|,\r\n]", arguments[match.start():], maxsplit=1)[0]
        extension = _PAYLOAD_EXTENSION.search(rest)
        if extension:
            found.append(rest[:extension.end()])
        elif loader in LIBRARY_LOADERS and not before.strip():
            found.append(rest.split()[0] if rest.split() else rest)
    return found


def _writable_payload_args(command_lines: pd.Series, paths: PathConfig) -> np.ndarray:
    codes, uniques = pd.factorize(command_lines.fillna("").astype(str), sort=False)
    answers = np.array([bool(user_writable(pd.Series(payload_paths(c), dtype=object), paths).any())
                        if payload_paths(c) else False for c in uniques], dtype=bool)
    return answers[codes] if len(uniques) else np.zeros(0, dtype=bool)


def _common(fleet_devices: pd.Series, fleet: FleetContext, config: TripwireConfig) -> pd.Series:
    """Groups whose task runs on so much of the fleet that it is not a deviation."""
    if fleet.devices < config.common_min_fleet:
        return pd.Series(False, index=fleet_devices.index)
    return fleet_devices >= config.common_share * fleet.devices


def fire(scored: pd.DataFrame, attributed: pd.DataFrame, fleet: FleetContext,
         config: TripwireConfig | None = None, scoring: ScoringConfig | None = None,
         paths: PathConfig | None = None) -> pd.Series:
    """Per group, the tripwires that fired (a list of ids, config order).

    ``scored`` is the output of ``scoring.score`` with ``KnownExpects`` (the behaviours its
    catalogue entry declares, a list) and ``KnownTask`` (its entry's task path or None);
    ``attributed``, the groups' activity rows with their ``TaskId``.
    """
    config, scoring, paths = config or default_tripwires(), scoring or default_scoring(), paths or default_paths()
    expects = scored.get("KnownExpects", pd.Series([[]] * len(scored), index=scored.index))
    known = scored.get("KnownTask", pd.Series(None, index=scored.index)).notna()
    # What deviates: a program (or the DLLs it loads) that a small part of the fleet runs as a
    # task; a script handed to a common program, by the task as a whole.
    program_common = _common(fleet.program_fleet_devices(scored["FolderPath"]), fleet, config)
    task_common = _common(fleet.fleet_devices(group_keys(scored)), fleet, config)
    program_payload = (pd.Series(user_writable(scored["FolderPath"], paths), index=scored.index)
                       | scored["user_writable_image_load"] | scored.get("user_writable_system32", False))
    argument_payload = pd.Series(_writable_payload_args(scored["ProcessCommandLine"], paths), index=scored.index)
    tests = {
        "user_writable_payload": (program_payload & ~program_common) | (argument_payload & ~task_common),
        "rare_public_ip": _rare_public_ip(scored, attributed, fleet, config),
        "unexpected_shell_child": scored["child_shell"] & (known | (
            ~pd.Series(user_writable(scored["FolderPath"], paths), index=scored.index)
            & scored["FolderPath"].fillna("").str.lower().str.startswith(paths.windows_home)
            & ~pd.Series(in_ci(scored["FileName"], scoring.shells), index=scored.index))),
    }
    fired = []
    for tripwire in config.tripwires:
        hit = scored[tripwire.signal] if tripwire.signal else tests[tripwire.test]
        hit = hit.astype(bool)
        if tripwire.unless_expected:
            hit &= ~expects.map(lambda e, u=tripwire.unless_expected: bool(u & set(e)))
        fired.append(hit.to_numpy())
    if not fired:
        return pd.Series([[] for _ in range(len(scored))], index=scored.index, dtype=object)
    matrix = np.column_stack(fired)
    ids = np.array(config.ids, dtype=object)
    return pd.Series([list(ids[row]) for row in matrix], index=scored.index, dtype=object)


def _rare_public_ip(scored: pd.DataFrame, rows: pd.DataFrame, fleet: FleetContext,
                    config: TripwireConfig) -> pd.Series:
    """Groups whose processes contacted a public IP that at most ``few_devices`` devices contact."""
    if rows.empty or "RemoteIP" not in rows:
        return pd.Series(False, index=scored.index)
    public = public_ips(rows["RemoteIP"])
    few = {ip for ip in public if int(fleet.ip_devices.get(ip, 1)) <= config.few_devices}
    hit = set(rows.loc[rows["RemoteIP"].isin(list(few)), "TaskId"])
    return scored["TaskId"].isin(list(hit))


def keep_tripped(scored: pd.DataFrame) -> pd.DataFrame:
    """Clear ``SuppressedBy`` where a tripwire fired; note the rule and the tripwire in Reasons."""
    out = scored.copy()
    tripped = out["Tripwires"].map(bool)
    overridden = tripped & out["SuppressedBy"].notna()
    out["WouldSuppressBy"] = out["SuppressedBy"].where(overridden, None)
    out.loc[overridden, "SuppressedBy"] = None
    out["Reasons"] = [
        reasons + ([f"matched:{would}"] + [f"kept_by:{t}" for t in trips] if isinstance(would, str) else [])
        for reasons, would, trips in zip(out["Reasons"], out["WouldSuppressBy"], out["Tripwires"])
    ]
    return out
