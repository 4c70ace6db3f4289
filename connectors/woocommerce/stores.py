"""A WooCommerce store is known to Nudge by its host name."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def store_host(text: str) -> str | None:
    """The host name in a host or URL (its path and port dropped), when it is a real one:
    DNS labels with a top-level domain, an IP address, or localhost."""
    parts = urlsplit(text if "//" in text else f"//{text}")
    if parts.scheme not in ("", "http", "https") or "@" in parts.netloc:
        return None
    try:
        host = parts.hostname
    except ValueError:
        return None
    if not host or len(host) > 253:
        return None
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if host == "localhost":
        return host
    labels = host.split(".")
    if len(labels) < 2 or not labels[-1].isalpha():
        return None
    return host if all(HOST_LABEL.match(label) for label in labels) else None
