"""IP addresses: public or not. Standard library only, so the parquet scan can use it too."""

from __future__ import annotations

import ipaddress


def ip_kind(value: str) -> str:
    """``public``, ``private`` (RFC 1918, loopback, link-local, ...) or ``invalid``."""
    try:
        address = ipaddress.ip_address(str(value).strip().strip("[]"))
    except ValueError:
        return "invalid"
    return "public" if address.is_global else "private"
