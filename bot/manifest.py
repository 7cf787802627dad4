"""The Slack app manifest for one public address: ``frontdesk manifest --url https://…``.

The manifest (``bot/manifest.yml``, package data, so an installed frontdesk has it;
``manifest.yml`` at the repository's root links to it) names its address in every
place Slack needs one (each slash command, interactivity, events). The one place
to set it is this command, which writes the manifest with every one of them
pointing at ``<url>/slack/events``, where ``frontdesk serve`` listens.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

#: The manifest the app is built with (its commands, scopes, events, steps).
MANIFEST = Path(__file__).with_name("manifest.yml")
#: Where Slack sends everything (``bot/http.py`` serves it).
EVENTS_PATH = "/slack/events"

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_URL_LINE = re.compile(r"^(\s*(?:request_)?url:\s*)\S+(/slack/events)\s*$", re.MULTILINE)


def public_origin(url: str) -> str:
    """``https://host[:port]`` from what an operator typed; ValueError says what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(
            f"{url!r} is not an https address: Slack only sends requests to https://host"
        )
    if parts.path not in ("", "/", EVENTS_PATH) or parts.query or parts.fragment:
        raise ValueError(
            f"{url!r} has a path: give only https://host (frontdesk listens on {EVENTS_PATH})"
        )
    if parts.username or parts.password:
        raise ValueError(f"{url!r} carries credentials: give only https://host")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 and parts.netloc.rpartition("]")[2].count(":"):
        raise ValueError(f"{url!r} has no valid port: give https://host or https://host:port")
    suffix = f":{port}" if port else ""
    return f"https://{_host(url, parts.hostname)}{suffix}"


def _host(url: str, hostname: str) -> str:
    """The host as it goes in a URL: a DNS name in ASCII (an international name as
    IDNA, ``xn--…``) or an IP address; ValueError for anything else."""
    try:
        return (
            f"[{ipaddress.IPv6Address(hostname)}]"
            if ":" in hostname
            else str(ipaddress.IPv4Address(hostname))
        )
    except ValueError:
        pass
    try:
        ascii_name = hostname.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.split(".")
    if not ascii_name or len(ascii_name) > 253 or not all(map(_LABEL.fullmatch, labels)):
        raise ValueError(
            f"{url!r} does not name a host: give https://host, e.g. https://frontdesk.example.com"
        )
    return ascii_name


def manifest_for(url: str, source: Path = MANIFEST) -> str:
    """The manifest's text with every request URL at ``url`` (comments kept)."""
    origin = public_origin(url)
    text = source.read_text()
    updated, count = _URL_LINE.subn(lambda m: f"{m.group(1)}{origin}{m.group(2)}", text)
    if count == 0:
        raise ValueError(f"{source} names no {EVENTS_PATH} address to set")
    return updated
