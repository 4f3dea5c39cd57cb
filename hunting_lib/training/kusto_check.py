"""Microsoft's Kusto parser, from Python: ``node check.js`` in the checkout's ``tests/kusto``.

duckdb-kql runs KQL but is more lenient than Kusto and does not implement every operator, so
its errors alone cannot tell a trainee's typo from valid KQL the local engine lacks. Kusto.Language
(the parser behind the Sentinel, Defender and ADX editors, as the npm package
``@kusto/language-service-next``) can: it parses and analyses a query against the tables' schema.

The package lives beside the tests (``npm ci --prefix tests/kusto``); ``HUNTING_LIB_KUSTO_DIR``
points elsewhere (an installed wheel has no ``tests/``). Without node or the package the callers
fall back to duckdb-kql's own classification and say so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

from hunting_lib.schema import TABLES, table_columns

#: Environment variable naming the folder that holds ``check.js`` and its ``node_modules``.
KUSTO_DIR_VARIABLE = "HUNTING_LIB_KUSTO_DIR"
#: In a checkout: ``tests/kusto`` beside the package.
_CHECKOUT_KUSTO = Path(__file__).resolve().parents[2] / "tests" / "kusto"
PACKAGE_FILE = Path("node_modules") / "@kusto" / "language-service-next" / "package.json"
DATABASE = "hunting"


def kusto_dir() -> Path:
    """Where ``check.js`` and the npm package are: ``$HUNTING_LIB_KUSTO_DIR``, else the checkout's."""
    chosen = os.environ.get(KUSTO_DIR_VARIABLE, "").strip()
    return Path(chosen) if chosen else _CHECKOUT_KUSTO


def missing_reason(folder: Path | None = None) -> str:
    """Why the parser cannot run, or "" when it can."""
    folder = folder or kusto_dir()
    if shutil.which("node") is None:
        return "node is not on PATH (Microsoft's Kusto parser needs Node.js)"
    if not (folder / PACKAGE_FILE).is_file():
        return (f"@kusto/language-service-next is not installed in {folder}; run: npm ci --prefix tests/kusto "
                f"(or point {KUSTO_DIR_VARIABLE} at a folder that has it)")
    if not (folder / "check.js").is_file():
        return f"{folder / 'check.js'} is missing"
    return ""


def kusto_available(folder: Path | None = None) -> bool:
    """True when node, ``check.js`` and the installed npm package are all there."""
    return missing_reason(folder) == ""


def default_schema() -> dict[str, dict[str, str]]:
    """The seven tables with every column and its Defender type."""
    return {table: table_columns(table) for table in TABLES}


def analyse(queries: Sequence[str], texts: Sequence[str] = (), schema: Mapping[str, Mapping[str, str]] | None = None,
            database: str = DATABASE, folder: Path | None = None, timeout: float = 600) -> dict[str, list]:
    """Kusto's answers for a batch, from one Node process: ``{"queries": [...], "tokens": [...]}``.

    Per query, its Error diagnostics after parsing and semantic analysis (``code``, ``message``,
    ``start``, ``length``; [] means clean); per text, the lexer's tokens. Starting Node and
    warming up Kusto.Language costs about two CPU seconds, so send everything at once.
    """
    folder = folder or kusto_dir()
    request = {"schema": dict(schema or default_schema()), "database": database,
               "queries": list(queries), "tokens": list(texts)}
    # ensure_ascii sends NUL, U+2028 and the like as JSON escapes; JSON.parse restores them.
    payload = json.dumps(request, ensure_ascii=True).encode("ascii")
    done = subprocess.run(["node", str(folder / "check.js")], input=payload, capture_output=True, timeout=timeout,
                          cwd=folder)
    if done.returncode != 0:
        raise RuntimeError(f"check.js exited with {done.returncode}: {done.stderr.decode('utf-8', 'replace')}")
    answer = json.loads(done.stdout.decode("utf-8"))
    if len(answer["queries"]) != len(request["queries"]) or len(answer["tokens"]) != len(request["tokens"]):
        raise RuntimeError("check.js answered a different number of items than it was asked")
    return answer


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset (Kusto reports offsets)."""
    before = text[:max(0, offset)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
