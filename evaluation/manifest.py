"""The evaluation sets (``sets.yaml``): where each comes from, its licence, and its labels.

A set is either fetched (``source`` pins a public repository at one commit, with each file's
SHA-256, and ``get_recordings.py`` converts it into ``data/<id>/``) or already a data folder in
the checkout's neighbourhood (``path``, relative to the repository). Labels name the malicious
Task Scheduler launches the way the hunt reports them, so that matching a label to a rare group is
a comparison of strings, not a judgement: device, ``FileName``, ``ProcessCommandLine`` exactly as
the converter writes it, and ``FolderPath``. The kit's synthetic sample takes its labels from its
own answer key (``sample_data/scenarios.yaml``) instead of repeating them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import yaml

EVALUATION = Path(__file__).resolve().parent
REPOSITORY = EVALUATION.parent
MANIFEST = EVALUATION / "sets.yaml"
DATA = EVALUATION / "data"
LABEL_FIELDS = ("device", "FileName", "ProcessCommandLine", "FolderPath", "time", "techniques", "why")
_SET_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ManifestError(ValueError):
    """``sets.yaml`` is not what the evaluation needs (the message says where)."""


@dataclass(frozen=True)
class Label:
    """One malicious Task Scheduler launch, as the hunt's rare groups name it."""

    device: str
    FileName: str
    ProcessCommandLine: str
    FolderPath: str
    time: str
    techniques: tuple[str, ...]
    why: str

    def matches(self, file_name: str, command_line: str, folder_path: str, devices: Iterable[str]) -> bool:
        """The rare group (FileName, ProcessCommandLine, FolderPath, Devices) is this launch's: names
        and paths compared without case, the command line exactly, the device among the group's."""
        return (str(file_name).lower() == self.FileName.lower()
                and str(folder_path).lower() == self.FolderPath.lower()
                and str(command_line) == self.ProcessCommandLine
                and self.device.lower() in {str(d).lower() for d in devices})


@dataclass(frozen=True)
class SourceFile:
    path: str
    sha256: str


@dataclass
class EvalSet:
    """One evaluation set of ``sets.yaml``."""

    id: str
    title: str
    kind: str  # "real" or "synthetic"
    repository: str
    commit: str
    files: list[SourceFile]
    licence: dict[str, str]
    shows: str
    covers: list[str]
    path: str | None  # a data folder that exists already (relative to the repository)
    convert: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def folder(self) -> Path:
        """Where the set's tables are: its ``path``, or ``evaluation/data/<id>``."""
        return (REPOSITORY / self.path).resolve() if self.path else DATA / self.id

    @property
    def fetched(self) -> bool:
        """True for the sets ``get_recordings.py`` downloads and converts."""
        return self.path is None

    @property
    def present(self) -> bool:
        folder = self.folder
        return folder.is_dir() and any(folder.glob("DeviceProcessEvents.*"))

    def labels(self) -> list[Label]:
        """The malicious launches: listed in the manifest, or read from the answer key it names."""
        if "labels_from" in self.raw:
            return scenario_labels(self.raw["labels_from"])
        return [_label(self.id, i, entry) for i, entry in enumerate(self.raw.get("malicious") or [])]

    def unlabelled_malicious(self) -> list[Label]:
        """Malicious launches that are not labels (the answer key's scenarios the published query
        cannot report): never counted as benign either."""
        spec = self.raw.get("labels_from")
        if not spec:
            return []
        return scenario_labels({**spec, "seed_reports_it": not spec.get("seed_reports_it", True)})

    def registrations(self) -> list[dict[str, str]]:
        """Task registrations (Security 4698/4702) the set shows, for information."""
        return list(self.raw.get("registrations") or [])


def _label(set_id: str, index: int, entry: dict[str, Any]) -> Label:
    missing = [name for name in LABEL_FIELDS if name not in entry or entry[name] in (None, "", [])]
    if missing:
        raise ManifestError(f"sets.yaml: {set_id}: malicious[{index}] lacks {', '.join(missing)}")
    when = entry["time"]
    when = when.isoformat().replace("+00:00", "Z") if hasattr(when, "isoformat") else str(when)
    techniques = entry["techniques"]
    techniques = (techniques,) if isinstance(techniques, str) else tuple(str(t) for t in techniques)
    return Label(str(entry["device"]), str(entry["FileName"]), str(entry["ProcessCommandLine"]),
                 str(entry["FolderPath"]), when, techniques, " ".join(str(entry["why"]).split()))


def scenario_labels(spec: dict[str, Any]) -> list[Label]:
    """Labels from the sample data's answer key: the scenarios of the given ``kind`` whose
    ``seed_reports_it`` is as given. The time is the first run in the sample's process table."""
    key = REPOSITORY / spec["file"]
    scenarios = yaml.safe_load(key.read_text(encoding="utf-8")).get("scenarios", [])
    chosen = [s for s in scenarios if s.get("kind") == spec.get("kind", "malicious")
              and bool(s.get("seed_reports_it")) == bool(spec.get("seed_reports_it", True))]
    first_runs = _first_runs(key.parent, chosen)
    labels = []
    for s in chosen:
        technique = s.get("technique") or "T1053.005"
        labels.append(Label(
            device=str(s["device"]), FileName=str(s["FileName"]), ProcessCommandLine=str(s["ProcessCommandLine"]),
            FolderPath=str(s["FolderPath"]), time=first_runs.get(s["id"], ""),
            techniques=tuple(dict.fromkeys(["T1053.005", technique])), why=" ".join(str(s.get("why", "")).split()),
        ))
    return labels


def _first_runs(folder: Path, scenarios: list[dict[str, Any]]) -> dict[str, str]:
    """Each scenario's first launch time in the sample's process table (empty when not found)."""
    files = sorted(folder.glob("DeviceProcessEvents.csv*"))
    if not files or not scenarios:
        return {}
    columns = ["Timestamp", "DeviceName", "FileName", "ProcessCommandLine", "FolderPath"]
    table = pd.read_csv(files[0], dtype=str, keep_default_na=False, usecols=columns)
    out = {}
    for s in scenarios:
        rows = table[(table["DeviceName"] == s["device"]) & (table["ProcessCommandLine"] == s["ProcessCommandLine"])
                     & (table["FileName"].str.lower() == str(s["FileName"]).lower())]
        out[s["id"]] = rows["Timestamp"].min() if len(rows) else ""
    return out


def _require(entry: dict[str, Any], name: str, where: str) -> Any:
    value = entry.get(name)
    if value in (None, "", [], {}):
        raise ManifestError(f"sets.yaml: {where} lacks {name}")
    return value


def load(path: Path = MANIFEST) -> list[EvalSet]:
    """All sets of the manifest, checked: ids, licence, source pins and labels."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    sets, seen = [], set()
    for entry in raw.get("sets") or []:
        set_id = str(_require(entry, "id", "a set"))
        if not _SET_ID.match(set_id) or set_id in seen:
            raise ManifestError(f"sets.yaml: {set_id!r} is not a unique lower-case id")
        seen.add(set_id)
        kind = str(_require(entry, "kind", set_id))
        if kind not in ("real", "synthetic"):
            raise ManifestError(f"sets.yaml: {set_id}: kind must be real or synthetic")
        licence = _require(entry, "licence", set_id)
        for name in ("name", "attribution"):
            _require(licence, name, f"{set_id}: licence")
        source = entry.get("source") or {}
        files = []
        if kind == "real":
            repository = str(_require(source, "repository", f"{set_id}: source"))
            commit = str(_require(source, "commit", f"{set_id}: source"))
            if not _COMMIT.match(commit):
                raise ManifestError(f"sets.yaml: {set_id}: commit must be 40 lower-case hex digits")
            for item in _require(source, "files", f"{set_id}: source"):
                sha = str(_require(item, "sha256", f"{set_id}: a source file"))
                if not _SHA256.match(sha):
                    raise ManifestError(f"sets.yaml: {set_id}: {item.get('path')}: sha256 must be 64 hex digits")
                files.append(SourceFile(str(_require(item, "path", f"{set_id}: a source file")), sha))
        else:
            repository, commit = str(source.get("repository", "")), str(source.get("commit", ""))
        if entry.get("path") is None and kind != "real":
            raise ManifestError(f"sets.yaml: {set_id}: a synthetic set needs a path")
        if "malicious" not in entry and "labels_from" not in entry:
            raise ManifestError(f"sets.yaml: {set_id} lacks malicious (an empty list when it has none)")
        evaluation_set = EvalSet(
            id=set_id, title=str(_require(entry, "title", set_id)), kind=kind, repository=repository,
            commit=commit, files=files, licence={k: str(v) for k, v in licence.items()},
            shows=" ".join(str(_require(entry, "shows", set_id)).split()), covers=list(entry.get("covers") or []),
            path=entry.get("path"), convert=dict(entry.get("convert") or {}), raw=entry,
        )
        evaluation_set.labels()  # checks every label's fields now, not in the middle of a run
        sets.append(evaluation_set)
    return sets


def select(sets: list[EvalSet], ids: str | None) -> list[EvalSet]:
    """The sets named in a comma list (all when None); an unknown id is an error."""
    if not ids:
        return sets
    wanted = [i.strip() for i in ids.split(",") if i.strip()]
    known = {s.id: s for s in sets}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise ManifestError(f"unknown set(s): {', '.join(unknown)} (known: {', '.join(known)})")
    return [known[i] for i in wanted]
