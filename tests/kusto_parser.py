"""Microsoft's Kusto parser, from Python: ``node tests/kusto/check.js`` once per batch.

duckdb-kql executes KQL but is more lenient than Kusto; this wrapper asks Kusto.Language itself
(the parser behind the Sentinel, Defender and ADX editors) whether a query parses and analyses
against the seven tables, and how its lexer cuts a text into tokens. The schema comes from
``hunting_lib.schema``, the same file the local engine types its columns with.

``make test`` installs the npm package (``npm ci --prefix tests/kusto``). Without node or the
package the checks cannot run: ``require_kusto()`` then fails the test under CI and skips it
locally, so CI can never pass with the parser checks silently missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

from hunting_lib.schema import TABLES, table_columns
from hunting_lib.training import kusto_check

KUSTO_DIR = Path(__file__).resolve().parent / "kusto"
CHECK_JS = KUSTO_DIR / "check.js"
PACKAGE = KUSTO_DIR / "node_modules" / "@kusto" / "language-service-next" / "package.json"
DATABASE = "hunting"


def kusto_available() -> bool:
    """True when node and the installed npm package are both there."""
    return shutil.which("node") is not None and PACKAGE.is_file() and CHECK_JS.is_file()


def missing_reason() -> str:
    if shutil.which("node") is None:
        return "node is not on PATH (the Kusto parser checks need Node.js)"
    if not PACKAGE.is_file():
        return "@kusto/language-service-next is not installed; run: npm ci --prefix tests/kusto"
    return f"{CHECK_JS.name} is missing"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_kusto() -> None:
    """Fail (under CI=true) or skip (locally) the calling test when the parser cannot run."""
    import pytest

    if kusto_available():
        return
    if in_ci():
        pytest.fail(f"Kusto parser checks cannot run in CI: {missing_reason()}", pytrace=False)
    pytest.skip(f"Kusto parser checks skipped: {missing_reason()}")


def schema() -> dict[str, dict[str, str]]:
    """The seven tables with every column and its Defender type (Sentinel columns included)."""
    return {table: table_columns(table) for table in TABLES + ENRICHMENT_TABLES}


#: Tables remote hunts read besides the seven (signatures of the rare programs' files).
ENRICHMENT_TABLES = ("DeviceFileCertificateInfo",)
#: Defender XDR's FileProfile() is a built-in function of advanced hunting that Kusto.Language does
#: not know. Queries that invoke it are checked with it declared first, with the inputs it takes
#: and the output columns Microsoft documents for it.
FILE_PROFILE = ("let FileProfile = (T:(SHA1:string)) { T | extend GlobalPrevalence = long(null), "
                "GlobalFirstSeen = datetime(null), GlobalLastSeen = datetime(null), Signer = '', Issuer = '', "
                "SignerHash = '', IsCertificateValid = bool(null), IsRootSignerMicrosoft = bool(null), "
                "SignatureState = '', IsExecutable = bool(null), ThreatName = '', Publisher = '', "
                "SoftwareName = '' };\n")


def analyse(queries: Sequence[str], texts: Sequence[str] = (), timeout: float = 600) -> dict[str, list]:
    """Both answers for a batch, from one Node process: ``{"queries": [...], "tokens": [...]}``.

    Loading and warming up Kusto.Language costs a Node process about two CPU seconds, and each
    full hunt query about 50 ms after that, so callers should send everything they have at once.
    (Splitting a batch over two processes was measured to cost half as much CPU again.)
    """
    # the Node call lives in the library (the training course checks trainees' KQL with it)
    return kusto_check.analyse(queries, texts, schema=schema(), database=DATABASE, folder=KUSTO_DIR, timeout=timeout)


def check_queries(queries: list[str]) -> list[list[dict]]:
    """Per query, Kusto's Error diagnostics (code, message, start, length); [] means clean."""
    return analyse(queries)["queries"] if queries else []


def tokens(texts: list[str]) -> list[list[dict]]:
    """Per text, the Kusto lexer's tokens (kind, text, trivia, diagnostics; value for strings),
    ending with an EndOfTextToken."""
    return analyse([], texts)["tokens"] if texts else []
