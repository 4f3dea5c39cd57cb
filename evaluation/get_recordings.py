"""Fetch the evaluation sets' recordings at their pinned commits and convert them.

    python evaluation/get_recordings.py [--sets id,...] [--mirror-root DIR] [--force] [--list] [--reconvert]

For each set of ``sets.yaml`` with a ``source`` (and no ``path``), every file is read at the
pinned commit, from GitHub (``raw.githubusercontent.com``; Git LFS files from
``media.githubusercontent.com``) or, with ``--mirror-root DIR``, from local mirrors laid out
as ``DIR/<owner>+<name>/repo`` (a bare repository, or a clone whose ``.git`` is read;
``git show <commit>:<path>``). Each file's SHA-256 must match the
manifest's: a moved tag or an edited file never silently changes the evaluation. The raw files
go to ``evaluation/data/raw/<id>/`` and the converted tables to ``evaluation/data/<id>/``.

Nothing is written outside ``evaluation/data/`` (paths are checked after resolving), and nothing
there is committed: the recordings belong to their publishers, the manifest only points at them.
``--reconvert`` converts again from the raw files already there (no network).
Exit status: 0 when every wanted set is present afterwards, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluation import manifest  # noqa: E402
from evaluation.manifest import DATA, EvalSet  # noqa: E402

RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
LFS_URL = "https://media.githubusercontent.com/media/{repo}/{commit}/{path}"
LFS_POINTER = b"version https://git-lfs.github.com/spec/"
STAMP = ".sources.json"
TIMEOUT_S = 120


class FetchError(RuntimeError):
    """A file could not be obtained or is not the pinned one (the message says which)."""


def inside_data(path: Path) -> Path:
    """``path`` resolved, refused unless it lies inside ``evaluation/data``."""
    resolved = path.resolve()
    root = DATA.resolve()
    if resolved != root and root not in resolved.parents:
        raise FetchError(f"refusing to write outside {root}: {resolved}")
    return resolved


def _from_mirror(mirror_root: Path, evaluation_set: EvalSet, path: str) -> bytes:
    git_dir = mirror_root / evaluation_set.repository.replace("/", "+") / "repo"
    if (git_dir / ".git").is_dir():  # a clone with a work tree rather than a bare mirror
        git_dir = git_dir / ".git"
    if not git_dir.is_dir():
        raise FetchError(f"{evaluation_set.id}: no mirror of {evaluation_set.repository} at {git_dir}")
    done = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{evaluation_set.commit}:{path}"],
                          capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FetchError(f"{evaluation_set.id}: {path}: {message[-1] if message else 'git show failed'}")
    if done.stdout.startswith(LFS_POINTER):
        raise FetchError(f"{evaluation_set.id}: {path} is a Git LFS file the mirror does not hold; "
                         "fetch it from GitHub (run without --mirror-root)")
    return done.stdout


def _download(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "hunting-kit-evaluation"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 (https only)
            return response.read()
    except OSError as exc:
        raise FetchError(f"{url}: {exc}") from exc


def _from_github(evaluation_set: EvalSet, path: str) -> bytes:
    values = {"repo": evaluation_set.repository, "commit": evaluation_set.commit,
              "path": urllib.parse.quote(path, safe="/")}
    raw = _download(RAW_URL.format(**values))
    if raw.startswith(LFS_POINTER):  # the file lives in Git LFS: the pointer names it
        raw = _download(LFS_URL.format(**values))
    return raw


def fetch_file(evaluation_set: EvalSet, path: str, sha256: str, mirror_root: Path | None) -> bytes:
    """One source file's bytes, checked against the manifest's SHA-256."""
    raw = _from_mirror(mirror_root, evaluation_set, path) if mirror_root else _from_github(evaluation_set, path)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise FetchError(f"{evaluation_set.id}: {path}: SHA-256 {digest} is not the pinned {sha256}")
    return raw


def _stamp(evaluation_set: EvalSet) -> dict[str, object]:
    return {"repository": evaluation_set.repository, "commit": evaluation_set.commit,
            "files": {f.path: f.sha256 for f in evaluation_set.files}, "convert": evaluation_set.convert}


def is_current(evaluation_set: EvalSet) -> bool:
    """The set's folder holds tables converted from exactly the pinned files."""
    stamp = DATA / evaluation_set.id / STAMP
    try:
        return evaluation_set.present and json.loads(stamp.read_text(encoding="utf-8")) == _stamp(evaluation_set)
    except (OSError, ValueError):
        return False


def licence_text(evaluation_set: EvalSet) -> str:
    licence = evaluation_set.licence
    line = licence.get("copyright", "")
    copyright_line = f" {line if line.lower().startswith('copyright') else 'Copyright: ' + line}." if line else ""
    return (f"{licence['name']}.{copyright_line} {licence['attribution']}, "
            f"https://github.com/{evaluation_set.repository} at commit {evaluation_set.commit}.")


def _raw_name(number: int, source_path: str) -> str:
    """The local name of a set's ``number``-th raw file (its suffix kept, for the readers)."""
    suffix = ".tar.gz" if source_path.endswith(".tar.gz") else Path(source_path).suffix
    return f"{number:02d}{suffix or '.log'}"


def raw_files(evaluation_set: EvalSet) -> list[Path]:
    """The set's raw files already in ``evaluation/data/raw/<id>/``, each checked against the
    manifest's SHA-256 (a ``FetchError`` names the first that is absent or differs)."""
    raw_dir = inside_data(DATA / "raw" / evaluation_set.id)
    paths = []
    for number, source in enumerate(evaluation_set.files, start=1):
        local = raw_dir / _raw_name(number, source.path)
        if not local.is_file():
            raise FetchError(f"{evaluation_set.id}: {local.name} ({source.path}) is not in {raw_dir.parent.name}/"
                             f"{raw_dir.name}; fetch the set first")
        digest = hashlib.sha256(local.read_bytes()).hexdigest()
        if digest != source.sha256:
            raise FetchError(f"{evaluation_set.id}: {local.name}: SHA-256 {digest} is not the pinned {source.sha256}")
        paths.append(local)
    return paths


def get_set(evaluation_set: EvalSet, mirror_root: Path | None) -> None:
    """Fetch, check and convert one set into ``evaluation/data/<id>/``."""
    raw_dir = inside_data(DATA / "raw" / evaluation_set.id)
    # Every file first, so that a failed download leaves what was there untouched.
    fetched = [fetch_file(evaluation_set, source.path, source.sha256, mirror_root) for source in evaluation_set.files]
    if raw_dir.exists():
        shutil.rmtree(raw_dir)
    raw_dir.mkdir(parents=True)
    for number, (source, data) in enumerate(zip(evaluation_set.files, fetched), start=1):
        inside_data(raw_dir / _raw_name(number, source.path)).write_bytes(data)
    convert_set(evaluation_set, raw_files(evaluation_set))


def convert_set(evaluation_set: EvalSet, paths: list[Path]) -> None:
    """Convert the set's checked raw files (in manifest order) into ``evaluation/data/<id>/``."""
    from evaluation import convert
    from evaluation.convert_readme import write_readme

    out_dir = inside_data(DATA / evaluation_set.id)
    names = [source.path for source in evaluation_set.files]
    if out_dir.exists():
        shutil.rmtree(out_dir)
    summary = convert.convert(paths, names, security_processes=evaluation_set.convert.get("security_processes", "auto"),
                              host=evaluation_set.convert.get("host"))
    convert.write(summary, out_dir)
    command = f"python evaluation/get_recordings.py --sets {evaluation_set.id}"
    write_readme(summary, out_dir, evaluation_set.title, [evaluation_set.shows], licence_text(evaluation_set), command)
    inside_data(out_dir / STAMP).write_text(json.dumps(_stamp(evaluation_set), indent=1), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", help="comma list of set ids (default: all)")
    parser.add_argument("--mirror-root", type=Path, help="read bare git mirrors DIR/<owner>+<name>/repo instead of GitHub")
    parser.add_argument("--force", action="store_true", help="fetch and convert again even when present")
    parser.add_argument("--list", action="store_true", help="list the sets and whether they are present")
    parser.add_argument("--reconvert", action="store_true",
                        help="convert again from the raw files already in evaluation/data/raw/ (checked against "
                             "their SHA-256; no network), e.g. after the converter changed")
    args = parser.parse_args(argv)
    try:
        sets = manifest.select(manifest.load(), args.sets)
    except manifest.ManifestError as exc:
        print(f"get_recordings: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for evaluation_set in sets:
        if not evaluation_set.fetched:
            state = "present" if evaluation_set.present else "absent"
            print(f"{evaluation_set.id}: {state} at {evaluation_set.path} (not fetched: kept in place)")
            continue
        if args.reconvert and not args.list:
            try:
                convert_set(evaluation_set, raw_files(evaluation_set))
            except (FetchError, OSError, ValueError) as exc:
                failed += 1
                print(f"{evaluation_set.id}: FAILED: {exc}", file=sys.stderr)
                continue
            print(f"{evaluation_set.id}: converted again into {DATA.name}/{evaluation_set.id}/")
            continue
        if args.list or (is_current(evaluation_set) and not args.force):
            state = "present" if is_current(evaluation_set) else "absent"
            print(f"{evaluation_set.id}: {state} ({len(evaluation_set.files)} file(s) from {evaluation_set.repository})")
            continue
        try:
            get_set(evaluation_set, args.mirror_root)
        except (FetchError, OSError, ValueError) as exc:
            failed += 1
            print(f"{evaluation_set.id}: FAILED: {exc}", file=sys.stderr)
            continue
        print(f"{evaluation_set.id}: converted into {DATA.name}/{evaluation_set.id}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
