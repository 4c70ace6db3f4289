"""A WooCommerce store is known to Nudge by its address without the scheme: its host name
for a store at the root of its host (``shop.example.com``), its host and path for one
installed below it (``example.com/shop``). That is its shop's ``domain``, and
``https://<store>`` is the site's home URL, under which WordPress answers ``/wp-json/...``
and ``/wc-auth/v1/authorize``. WooCommerce names the same address in every delivery's
``X-WC-Webhook-Source`` (``home_url('/')``), and the companion plugin makes the same key
from it (``nudge_store_key`` in ``wordpress/nudge/includes/signing.php``)."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# One path segment as WordPress's home URL has it: unreserved characters or %-escapes.
PATH_SEGMENT = re.compile(r"^(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})+$")
MAX_KEY = 255  # the shop's domain column


def store_key(text: str) -> str | None:
    """The store a host or URL names: its host name in lower case, then its path without the
    trailing slash (kept as written: a web server's paths may be case-sensitive). The scheme,
    port, query and fragment are dropped. None unless the host is a real one (DNS labels with
    a top-level domain, an IP address, or localhost) and the path plain."""
    text = text.strip()
    try:
        parts = urlsplit(text if "//" in text else f"//{text}")
    except ValueError:  # an unbalanced "[" or "]": no address at all
        return None
    if parts.scheme.lower() not in ("", "http", "https") or "@" in parts.netloc:
        return None
    host = _host(parts)
    if host is None:
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if any(s in (".", "..") or not PATH_SEGMENT.match(s) for s in segments):
        return None
    key = "/".join([host, *segments])
    return key if len(key) <= MAX_KEY else None


def host_of(store: str) -> str:
    """The host name of a store key (``example.com/shop`` → ``example.com``)."""
    return store.partition("/")[0]


def sent_by(source: str, store: str) -> bool:
    """Whether a delivery naming ``source`` (its ``X-WC-Webhook-Source`` as a store key) can
    come from ``store``, the store its address names. A leading ``www.`` is not a difference
    (a store added by hand as ``example.com`` may call itself ``www.example.com``). A store
    known by its host alone takes any path on that host: before stores had paths, a store in
    a folder could only be added by its host, and it keeps working."""
    source, store = source.removeprefix("www."), store.removeprefix("www.")
    if "/" not in store:
        return host_of(source) == store
    return source == store


def store_url(store: str) -> str:
    """The store's home URL, without its trailing slash: what its REST API is under."""
    return f"https://{store}"


def _host(parts: SplitResult) -> str | None:
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
