"""The guest's side of the demo and tests: follow the emailed link, fill the form."""

from __future__ import annotations

import re
import time
from html import unescape

import httpx


def visible_text(page: str) -> str:
    """A page as the guest reads it: no style, no script, no tags."""
    body = re.sub(r"(?s)<head>.*?</head>|<script>.*?</script>", " ", page)
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", unescape(body)).strip()


class GuestVisitor:
    """A browser without JavaScript, as plain HTTP: keeps the page's cookie, posts its form,
    follows the page's redirects and its own refreshes while it says "still being saved"."""

    def __init__(self) -> None:
        self.http = httpx.Client(timeout=30, follow_redirects=True)

    def open(self, link: str) -> str:
        return self.settle(self.http.get(link)).text

    def settle(self, page: httpx.Response, seconds: float = 60) -> httpx.Response:
        """Reload a page that refreshes itself (``meta refresh``) until it stops."""
        deadline = time.monotonic() + seconds
        while 'http-equiv="refresh"' in page.text and time.monotonic() < deadline:
            time.sleep(1)
            page = self.http.get(page.url)
        return page

    def choose(self, link: str, password: str, confirmation: str | None = None) -> str:
        """Open the link, type the password twice and press Save: the answer's page."""
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', self.open(link))
        if token is None:
            raise AssertionError("the page has no form")
        form = {
            "csrf": token.group(1),
            "password": password,
            "confirmation": password if confirmation is None else confirmation,
        }
        return self.settle(self.http.post(link, data=form)).text

    def close(self) -> None:
        self.http.close()
