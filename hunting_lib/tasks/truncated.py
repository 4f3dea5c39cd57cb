r"""Task content cut off mid-way, read as far as it goes.

Recordings and Defender cut long fields: a task whose action is a long ``powershell -enc ...``
arrives as XML (or JSON) that stops in the middle of its arguments. A strict parser loses the whole
definition; these readers keep what is there. They run only after the strict parser failed, and
only accept text that is well formed up to the point where it stops: a closing tag that does not
match, or a second root element, is corruption, not a cut, and gives None.

Both readers are tolerant, never permissive about entities: the caller refuses any DOCTYPE before
either runs, and here only the five predefined entities and numeric character references are
read; any other ``&name;`` stays literal text.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

#: Deeper nesting than this is no task definition (the schema nests five levels).
MAX_DEPTH = 64
_XML_TOKEN = re.compile(
    r"<!--.*?-->"                                           # a comment
    r"|<\?.*?\?>"                                           # a processing instruction
    r"|<!\[CDATA\[(?P<cdata>.*?)(?:\]\]>|\Z)"               # CDATA, perhaps cut
    r"|<(?P<close>/)?(?P<name>[A-Za-z_][\w.:-]*)"           # a tag: its name,
    r"(?:[^<>\"']|\"[^\"]*\"|'[^']*')*?(?P<empty>/)?>"      # attributes (skipped), and whether it is empty
    r"|(?P<text>[^<]+)", re.DOTALL)
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_REFERENCE = re.compile(r"&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|lt|gt|amp|quot|apos);")
_CUT_REFERENCE = re.compile(r"&#?[0-9A-Za-z]{0,8}\Z")
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:\\\Z)?(?P<closed>")?|[{}\[\],:]|[^"{}\[\],:\s]+|\s+', re.DOTALL)
_CUT_ESCAPE = re.compile(r"(\\+)(u[0-9a-fA-F]{0,3})?\Z")


def _reference(found: re.Match) -> str:
    name = found.group(1)
    if name in _PREDEFINED:
        return _PREDEFINED[name]
    try:
        return chr(int(name[2:], 16) if name.startswith("#x") else int(name[1:]))
    except (ValueError, OverflowError):
        return found.group(0)  # no character: kept as written


def _unescape(text: str) -> str:
    return _REFERENCE.sub(_reference, text)


def cut_xml(text: str) -> ET.Element | None:
    """The element tree of XML that stops mid-way: every element opened so far, the last one's
    text up to the cut (a half-written tag or character reference at the very end is dropped).
    None when the text is not a cut-off document (complete, or broken before its end)."""
    last_open = text.rfind("<")
    if last_open >= 0 and text.find(">", last_open) < 0:
        text = text[:last_open]  # a tag cut in its middle
    root: ET.Element | None = None
    open_elements: list[ET.Element] = []
    position = 0
    while position < len(text):
        token = _XML_TOKEN.match(text, position)
        if token is None:
            return None  # a stray "<": broken, not cut
        position = token.end()
        if token.group("name"):
            name = token.group("name").rsplit(":", 1)[-1]
            if token.group("close"):
                if not open_elements or open_elements[-1].tag != name:
                    return None
                open_elements.pop()
                if not open_elements:
                    return None  # the root closed: a complete document the strict parser refused
                continue
            if root is not None and not open_elements:
                return None  # a second root
            element = ET.Element(name) if root is None else ET.SubElement(open_elements[-1], name)
            root = root if root is not None else element
            if not token.group("empty"):
                open_elements.append(element)
                if len(open_elements) > MAX_DEPTH:
                    return None
            continue
        words = token.group("text") if token.group("text") is not None else token.group("cdata")
        if words is None:
            continue  # a comment or processing instruction
        if not open_elements:
            if words.strip():
                return None  # text outside the root
            continue
        if token.group("text") is not None:
            words = _unescape(_CUT_REFERENCE.sub("", words) if position == len(text) else words)
        open_elements[-1].text = (open_elements[-1].text or "") + words
    return root if open_elements else None


def _scan_json(text: str) -> tuple[list[str], list[int], bool]:
    """The brackets still open at the end of ``text``, the offsets of the structural tokens
    after which the text could be cut cleanly (``,`` ``{`` ``[``), and whether it ends inside a
    string."""
    brackets: list[str] = []
    cuts: list[int] = []
    open_string = False
    for token in _JSON_TOKEN.finditer(text):
        word = token.group(0)
        if word.startswith('"'):
            open_string = token.group("closed") is None
        elif word in "{[":
            brackets.append(word)
            cuts.append(token.end())
        elif word in "}]":
            if not brackets or "{[".index(brackets[-1]) != "}]".index(word):
                raise ValueError("mismatched bracket")
            brackets.pop()
        elif word == ",":
            cuts.append(token.start())
    return brackets, cuts, open_string


def _closed(text: str, brackets: list[str]) -> str:
    return text + "".join("}" if b == "{" else "]" for b in reversed(brackets))


def cut_json(text: str) -> Any | None:
    """The value of JSON that stops mid-way: a string cut in its middle ends there, and a member
    cut before its value is dropped. None when the text is not cut-off JSON."""
    try:
        brackets, cuts, open_string = _scan_json(text)
    except ValueError:
        return None
    if not brackets:
        return None  # nothing left open: not a cut (or a bare value, which no task content is)
    candidates = []
    if open_string:
        found = _CUT_ESCAPE.search(text)
        if found and len(found.group(1)) % 2 == 1:  # a half-written escape at the very end
            text = text[:found.start()] + found.group(1)[:-1]
        candidates.append(_closed(text + '"', brackets))
    else:
        candidates += [_closed(text, brackets), _closed(text.rstrip() + " null", brackets)]
    if cuts:  # drop the last member, cut in its key or its value
        at = cuts[-1]
        try:
            kept_brackets, _, _ = _scan_json(text[:at])
            candidates.append(_closed(text[:at], kept_brackets))
        except ValueError:
            pass
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except (ValueError, RecursionError):
            continue
    return None
