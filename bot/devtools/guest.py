"""The guest's side of the demo and tests: follow the emailed link, fill the form."""

from __future__ import annotations

import re
from html import unescape

import httpx


def visible_text(page: str) -> str:
    """A page as the guest reads it: no style, no script, no tags."""
    body = re.sub(r"(?s)<head>.*?</head>|<script>.*?</script>", " ", page)
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", unescape(body)).strip()


class GuestVisitor:
    """A browser without JavaScript, as plain HTTP: keeps the page's cookie, posts its form."""

    def __init__(self) -> None:
        self.http = httpx.Client(timeout=30)

    def open(self, link: str) -> str:
        return self.http.get(link).text

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
        return self.http.post(link, data=form).text

    def close(self) -> None:
        self.http.close()
