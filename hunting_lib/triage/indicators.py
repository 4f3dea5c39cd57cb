"""Decoding hidden commands and extracting indicators (IPs, URLs, domains) from command lines.

Two msticpy parts are used, each wrapped where it falls short:

- ``msticpy.transform.base64unpack`` finds base64 blobs, but decodes them as UTF-8 first unless a
  process-wide ``utf16`` switch is set, so a PowerShell ``-EncodedCommand`` (always UTF-16LE)
  comes back as ``I\\x00E\\x00X\\x00...``. It also rewrites the input with XML markup. The wrapper
  keeps msticpy's blob finding and its raw bytes, and decodes the bytes itself: UTF-16LE when
  the bytes look like it, else UTF-8, else nothing (binary).
- ``msticpy.transform.iocextract.IoCExtract`` validates domains with ``tldextract``, which by
  default tries to download the public suffix list at first use: a hang or a failure on an
  offline analyst machine. The wrapper points tldextract at its bundled snapshot first. IoCExtract
  also reports file names as domains: ``payload.zip`` in ``C:\\Users\\a\\payload.zip``, or
  ``a.ps`` cut from ``a.ps1``. A "domain" is dropped only where the command line uses it as a file
  (``_is_file_name``): a path, the program, a script host's script or a path switch's value. Its
  top-level domain alone decides nothing: ``.zip``, ``.mov``, ``.sh`` and ``.py`` are real ones
  (``.zip`` and ``.mov`` are used in phishing), so ``http://evil.zip/x`` and ``curl evil.sh`` keep
  their domains.

A PowerShell ``-EncodedCommand`` argument is decoded here without msticpy: its format is fixed
(base64 of UTF-16LE), msticpy's unpacker gets it wrong (above), and importing msticpy costs the
``hunt`` command more than half a second. msticpy's unpacker still looks at every other base64 run.
msticpy is imported only when a command line has something it must decode or extract.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from typing import Iterable

import pandas as pd

from hunting_lib.engine.addresses import ip_kind  # noqa: F401 (part of this module's API)

# A run of base64 long enough to hold a command; checked before importing msticpy at all.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")
# PowerShell's -EncodedCommand switch starts with "-", "/" or a Unicode dash; its name is -e, -ec
# or any prefix of "encodedcommand" from "en" on (PowerShell accepts every unambiguous prefix).
_SWITCH_DASHES = "-/\u2013\u2014\u2015"
_BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/]+={0,2}")

# Where a command line uses a token as a file (``_is_file_name``). Each pattern is matched
# against the text before the token, within its command: the text after the last line break,
# ``&``, ``|`` or ``;``, or after ``cmd /c`` (a command of its own).
_COMMAND_START = re.compile(r"[\n&|;]|\bcmd(?:\.exe)?\"?\s+/[ck]\s", re.IGNORECASE)
# A path: after a separator, unless that is "//" or "\\" opening a URL's host or a UNC server
# (``http://evil.zip/x``, ``\\evil.zip\share``); or after a drive (``C:payload.zip``).
_AFTER_SEPARATOR = re.compile(r"[\\/]$")
_AUTHORITY = re.compile(r"(?:^|[\s\"'=(,:])(?://|\\\\)$")
_AFTER_DRIVE = re.compile(r"(?:^|[\s\"'=(,])[A-Za-z]:$")
# The program itself (``payload.zip -x``), possibly quoted.
_PROGRAM = re.compile(r"^\s*[\"']?$")
# The script a script host runs: its first argument that is not a switch (``python -u x.py``).
_HOSTS = r"(?:python[\d.]*w?|pythonw|py|pyw|bash|sh|zsh|dash|ksh|perl|ruby|node|php|wscript|cscript)"
_SCRIPT_OF_HOST = re.compile(
    r"^\s*(?:\"(?:[^\"]*[\\/])?" + _HOSTS + r"(?:\.exe)?\"|(?:[^\s\"]*[\\/])?" + _HOSTS + r"(?:\.exe)?)"
    r"(?:\s+[-/][^\s]*)*\s+[\"']?$", re.IGNORECASE)
# The value of a switch that names a file (PowerShell's -File, -OutFile, -Path; curl's and
# wget's -o/--output; tar's -f).
_PATH_SWITCH = re.compile(
    r"(?:^|\s)(?:--?|/)(?:file|filepath|outfile|outputfile|path|literalpath|destination|destinationpath|o|output|"
    r"output-document|out|f|xf|cf|zxf|xzf|xvf|zxvf)(?:\s+|[:=])[\"']?$", re.IGNORECASE)
_FILE_USES = (_PROGRAM, _SCRIPT_OF_HOST, _PATH_SWITCH, _AFTER_DRIVE)


def _decode_bytes(raw: bytes) -> str | None:
    """Text from decoded base64 bytes: UTF-16LE (PowerShell) or UTF-8; None for binary."""
    if len(raw) >= 4 and len(raw) % 2 == 0:
        odd = raw[1::2]
        if odd.count(0) >= 0.9 * len(odd):
            try:
                return raw.decode("utf-16-le")
            except UnicodeDecodeError:
                pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return text if text and printable >= 0.95 * len(text) else None


def _is_encoded_command_switch(name: str) -> bool:
    name = name.lower()
    if not name.isalpha():
        return False
    return name in ("e", "ec") or (len(name) >= 2 and "encodedcommand".startswith(name))


def powershell_encoded_commands(command_line: str) -> tuple[list[str], str]:
    """The scripts passed to PowerShell's ``-EncodedCommand``, and the command line without them.

    The rest is returned so that other base64 in it can still be looked for.
    """
    texts, rest = [], command_line
    tokens = command_line.split()
    for switch, argument in zip(tokens, tokens[1:]):
        if switch[0] not in _SWITCH_DASHES or not _is_encoded_command_switch(switch[1:]):
            continue
        blob = argument.strip("'\"")
        if not _BASE64_TOKEN.fullmatch(blob):
            continue
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        text = _decode_bytes(raw)
        if text is not None:
            texts.append(text)
            rest = rest.replace(blob, " ", 1)
    return texts, rest


def _may_hide_text(text: str) -> bool:
    """Whether some base64-looking run in ``text`` decodes to text: the gate before msticpy.

    Long words (``GoogleChromeStandaloneEnterprise64``) look like base64 and are common in
    command lines; importing msticpy to learn they decode to noise costs half a second. A run
    is cut to whole 4-character blocks, as msticpy's pattern cuts it.
    """
    for match in _BASE64_RUN.finditer(text):
        run = match.group(0).rstrip("=")
        for start in range(4):  # the blob may start a few characters into the run
            block = run[start:]
            block = block[: len(block) - len(block) % 4]
            if len(block) < 16:
                break
            try:
                raw = base64.b64decode(block, validate=True)
            except (binascii.Error, ValueError):
                continue
            # A cut UTF-16 text can end on half a character: try it without the last byte too.
            if _decode_bytes(raw) is not None or _decode_bytes(raw[:-1]) is not None:
                return True
    return False


def decode_command_line(command_line: str) -> list[str]:
    """The texts hidden as base64 in a command line (e.g. ``-enc``), in order; [] if none."""
    if not isinstance(command_line, str) or not _BASE64_RUN.search(command_line):
        return []
    texts, rest = powershell_encoded_commands(command_line)
    if _may_hide_text(rest):
        from msticpy.transform import base64unpack  # heavy import, only when needed

        _, found = base64unpack.unpack(rest)
        if found is not None and not found.empty and "input_bytes" in found:
            for raw in found["input_bytes"]:
                if isinstance(raw, (bytes, bytearray)):
                    text = _decode_bytes(bytes(raw))
                    if text:
                        texts.append(text)
    return list(dict.fromkeys(texts))


def decoded_texts(command_lines: pd.Series) -> pd.Series:
    """``decode_command_line`` for a column, joined by newlines; each distinct line decoded once."""
    uniques = pd.Series(command_lines.unique())
    decoded = uniques.map(lambda c: "\n".join(decode_command_line(c)))
    return command_lines.map(dict(zip(uniques, decoded))).fillna("")


@lru_cache(maxsize=1)
def _offline_ioc_extractor():
    """An IoCExtract whose domain check never touches the network."""
    import tldextract
    from msticpy.transform.iocextract import IoCExtract

    # msticpy calls tldextract.extract(); give it an extractor that reads only the suffix list
    # snapshot bundled with tldextract (no URLs, no cache directory to fill).
    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    tldextract.extract = offline
    tldextract.tldextract.TLD_EXTRACTOR = offline
    return IoCExtract()


def _used_as_file(before: str) -> bool:
    """Whether a token preceded by ``before`` is, there, a file: a path, the program, a script
    host's script or a path switch's value (see the patterns above)."""
    if _AFTER_SEPARATOR.search(before):
        return not _AUTHORITY.search(before)
    starts = [m.end() for m in _COMMAND_START.finditer(before)]
    command = before[starts[-1]:] if starts else before
    return any(pattern.search(command) for pattern in _FILE_USES)


def _is_file_name(domain: str, source: str) -> bool:
    """A 'domain' that is really a file name: everywhere it appears in ``source``, it is part of a
    longer token (``a.ps`` of ``a.ps1``) or used as a file (``_used_as_file``). One use as a
    host (``curl evil.zip``, ``http://evil.zip/``, ``-Uri setup.mov``) keeps it a domain."""
    found = False
    for match in re.finditer(r"(?<![\w.-])" + re.escape(domain), source, flags=re.IGNORECASE):
        found = True
        after = source[match.end(): match.end() + 1]
        if after and (after.isalnum() or after == "_"):
            continue
        if not _used_as_file(source[: match.start()]):
            return False
    return found


def extract_indicators(texts: Iterable[str]) -> pd.DataFrame:
    """IPs, URLs and domains in the given texts, one row per (Source, Type, Value).

    ``Source`` is the text the indicator came from. URLs lose trailing quotes and brackets that
    the extractor keeps; IPs get ``IPKind`` (public/private).
    """
    columns = ["Source", "Type", "Value", "IPKind"]
    unique_texts = [t for t in dict.fromkeys(texts) if isinstance(t, str) and t.strip()]
    if not unique_texts:
        return pd.DataFrame(columns=columns)
    extractor = _offline_ioc_extractor()
    rows = []
    for text in unique_texts:
        found = extractor.extract(text, ioc_types=["ipv4", "ipv6", "dns", "url"])
        for ioc_type, values in found.items():
            for value in sorted(values):
                if ioc_type == "url":
                    value = value.rstrip("'\");,]}>")
                if ioc_type == "dns" and _is_file_name(value, text):
                    continue
                kind = ip_kind(value) if ioc_type in ("ipv4", "ipv6") else ""
                rows.append((text, ioc_type, value, kind))
    return pd.DataFrame(rows, columns=columns).drop_duplicates().reset_index(drop=True)
