"""The scope and folder settings (``config/scope.yaml``, ``config/paths.yaml``), without pandas.

The parquet scan reads them in a process that never imports pandas (``scan.py``), and the
pandas steps (``scope.py``, ``paths.py``) read the same objects, so both sides decide which launch
is in scope from one definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from hunting_lib.errors import BadInputError
from hunting_lib.schema import load_yaml


def _config(name: str) -> dict:
    return load_yaml(resources.files("hunting_lib").joinpath(f"config/{name}").read_text("utf-8"))


# ---------------------------------------------------------------------------------------------
# Folders


@dataclass(frozen=True)
class PathConfig:
    """The folder lists of ``config/paths.yaml``, lower case."""

    user_writable: tuple[str, ...]
    user_writable_system32: tuple[str, ...]
    protected: tuple[str, ...]
    windows_home: str
    windows_programs: frozenset[str]

    @property
    def all_user_writable(self) -> tuple[str, ...]:
        return self.user_writable + self.user_writable_system32

    def is_user_writable(self, text: str) -> bool:
        """A path, or a command line holding one, that names a user-writable folder (a protected
        folder inside one does not count)."""
        lowered = text.lower()
        for folder in self.protected:
            lowered = lowered.replace(folder, "<protected>\\")
        return any(folder in lowered for folder in self.all_user_writable)


@lru_cache(maxsize=1)
def default_paths() -> PathConfig:
    """The shipped ``config/paths.yaml``."""
    raw = _config("paths.yaml")
    lower = lambda key: tuple(str(v).lower() for v in raw.get(key) or [])  # noqa: E731
    return PathConfig(
        user_writable=lower("user_writable"),
        user_writable_system32=lower("user_writable_system32"),
        protected=lower("protected"),
        windows_home=str(raw["windows_home"]).lower(),
        windows_programs=frozenset(lower("windows_programs")),
    )


# ---------------------------------------------------------------------------------------------
# Scope


@dataclass(frozen=True)
class TaskHost:
    """A process that starts tasks' programs, recognised by its name and command line.

    ``pattern`` is a regular expression over the host's whole command line (case-insensitive,
    the same in Python and in KQL's RE2), made from the templates in ``scope.yaml`` by
    ``host_pattern``; None accepts any command line.
    """

    id: str
    file_name: str
    pattern: str | None
    label: str
    not_on_devices_with: str | None = None
    not_children: frozenset[str] = frozenset()

    @property
    def regex(self) -> re.Pattern | None:
        return None if self.pattern is None else _compiled(self.pattern)


@lru_cache(maxsize=None)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


def host_pattern(templates: list[str]) -> str:
    """A regular expression for command lines written like any of ``templates``: any case, any
    run of spaces or tabs between words, and any folder (quoted or not) before the program.
    It has no anchors: match it whole (Python's fullmatch, KQL's ^...$)."""
    forms = []
    for template in templates:
        words = template.split()
        program = re.escape(words[0].lower())
        rest = "".join(r"[ \t]+" + re.escape(word.lower()) for word in words[1:])
        forms.append(r'[ \t]*"?(?:[^" \t]*[\\/])?' + program + '"?' + rest + r"[ \t]*")
    return "|".join(f"(?:{form})" for form in forms)


@dataclass(frozen=True)
class HostTripwire:
    """A per-process test that brings a System32 task host's run into scope."""

    id: str
    table: str
    test: str
    technique: str
    label: str


@dataclass(frozen=True)
class ScopeConfig:
    hosts: tuple[TaskHost, ...]
    system32_lolbins: frozenset[str]
    system32_recon: frozenset[str]
    headless_conhost: str
    scanner_homes: tuple[str, ...]
    host_tripwires: tuple[HostTripwire, ...]
    shells: frozenset[str]

    def host_of(self, file_name: str, command_line: str) -> str | None:
        """The id of the task host a parent process is (None when it is none)."""
        name = (file_name or "").lower()
        for host in self.hosts:
            if name != host.file_name:
                continue
            if host.regex is None or host.regex.fullmatch(command_line or ""):
                return host.id
        return None

    @property
    def host_names(self) -> frozenset[str]:
        return frozenset(host.file_name for host in self.hosts)


@lru_cache(maxsize=1)
def default_scope() -> ScopeConfig:
    """The shipped ``config/scope.yaml`` (and the shells list of ``config/scoring.yaml``)."""
    raw = _config("scope.yaml")
    hosts = []
    for item in raw["task_hosts"]:
        lines = item["command_lines"]
        hosts.append(TaskHost(
            id=item["id"], file_name=item["file_name"].lower(),
            pattern=None if lines == "any" else host_pattern(list(lines)),
            label=item["label"], not_on_devices_with=item.get("not_on_devices_with"),
            not_children=frozenset(str(c).lower() for c in item.get("not_children") or [])))
    tripwires = tuple(HostTripwire(t["id"], t["table"], t["test"], t["technique"], t["label"])
                      for t in raw.get("host_tripwires") or [])
    for tripwire in tripwires:
        if tripwire.test not in ("user_writable_path", "shell"):
            raise BadInputError(f"scope.yaml: host tripwire {tripwire.id}: unknown test {tripwire.test!r}")
    return ScopeConfig(
        hosts=tuple(hosts),
        system32_lolbins=frozenset(str(v).lower() for v in raw.get("system32_lolbins") or []),
        system32_recon=frozenset(str(v).lower() for v in raw.get("system32_recon") or []),
        headless_conhost=str(raw.get("headless_conhost") or "--headless").lower(),
        scanner_homes=tuple(str(v).lower() for v in raw.get("scanner_homes") or []),
        host_tripwires=tripwires,
        shells=frozenset(str(v).lower() for v in _config("scoring.yaml").get("shells") or []),
    )
