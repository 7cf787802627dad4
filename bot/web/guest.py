"""The guest's password reset page: the link in the email Paytronix sends for merchants
whose account of record a third party holds (``GET /guest/reset?resetCode=…``).

A small WSGI app mounted by ``bot/http.py``; the workflow (``bot/workflows/
guest_resets.py``) decides, this module only reads requests and writes pages.

- No JavaScript needed: show/hide is a second form's submit button (it carries no
  password, and a password is never written back into a page, so what was typed is
  lost: the button says so, "(clears what you typed)", and the first field has the
  focus after); a tiny inline script, allowed by its hash, does the same in place,
  keeping what was typed, and drops that warning. The button names what it will do
  next: "Show passwords" or "Hide passwords".
- The form's ``action`` is left out, so it posts to the page's own URL: the code
  travels in the query string it came in and is never written into the page.
- Post/redirect/get: a submission is answered ``303 See Other`` to the page's own
  address plus ``result=<attempt>.<signature>`` (signed for this code and this
  browser's cookie), so Back and refresh never resend the form; the GET shows that
  attempt's outcome from the database, where the password never was. The POST waits
  for Paytronix at most ``wait_seconds``; past that, and while a submission with the
  link is in flight (a double tap, a second window, the link opened again), the page
  says the password is still being saved and refreshes itself (``meta refresh``, no
  JavaScript) until the outcome is there.
- CSRF: a random nonce in a ``SameSite=Strict``, ``HttpOnly`` cookie and, in the form,
  an HMAC of the code and that nonce. No server session: any process can check it.
  Cross-site fetch metadata (``Sec-Fetch-Site``) or a foreign ``Origin`` is refused too.
- Headers: a strict Content-Security-Policy (nothing from anywhere but the page's
  own hashed style and script), no referrer, no store, no framing; HSTS over HTTPS
  (``wsgi.url_scheme``: waitress sets it from a trusted load balancer's header).
- Logs: method, status, verdict and time only: never the query string or the body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote_plus

from bot.config import Settings
from bot.observability import bound, new_request_id
from bot.workflows.guest_codes import GuestKeys
from bot.workflows.guest_resets import WITH_FORM, GuestResets, PageResult, Verdict

if TYPE_CHECKING:
    from bot.app import Frontdesk

log = logging.getLogger("frontdesk.guest_page")

StartResponse = Callable[..., Any]
#: The largest form body read (two passwords of several kilobytes each fit).
MAX_BODY = 16 * 1024
_NONCE = re.compile(r"^[A-Za-z0-9_-]{32}$")

STYLE = """
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;font:1.0625rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1b1b1f;background:#fff}
header{background:#1d3a5f;color:#fff;padding:.75rem 1rem}
header p{margin:0 auto;max-width:32rem;font-weight:600}
main{max-width:32rem;margin:0 auto;padding:1rem 1rem 3rem}
h1{font-size:1.5rem;line-height:1.25;margin:.75rem 0 1rem}
label{display:block;font-weight:600;margin:1.25rem 0 .25rem}
input{display:block;width:100%;font:inherit;min-height:2.75rem;padding:.5rem .75rem;
border:2px solid #5c5c66;border-radius:.375rem;background:#fff;color:#1b1b1f}
input[aria-invalid=true]{border-color:#b3261e}
.hint{color:#45454f;margin:.25rem 0 0;font-size:.9375rem}
.field-error{color:#b3261e;font-weight:600;margin:.25rem 0 0}
button{font:inherit;font-weight:600;min-height:2.75rem;padding:.5rem 1rem;
border-radius:.375rem;border:2px solid #0b57d0;cursor:pointer}
.secondary{margin-top:.75rem;background:#fff;color:#0b57d0}
.primary{display:block;width:100%;margin-top:1.5rem;background:#0b57d0;color:#fff}
:focus-visible{outline:3px solid #1b1b1f;outline-offset:2px}
.alert{border:3px solid #b3261e;border-radius:.375rem;padding:.75rem 1rem;margin:0 0 1rem}
.alert h2{font-size:1.125rem;margin:0 0 .25rem;color:#b3261e}
.alert p{margin:.25rem 0}
.done{border-left:.375rem solid #1e7b34;padding-left:1rem}
a{color:#0b57d0}
@media (min-width:40rem){main{padding-top:2rem}.primary{width:auto}}
""".strip()

SCRIPT = (
    # A page restored from the back/forward cache is stale (the link may have been
    # used since): load it again.
    'window.addEventListener("pageshow",function(e){if(e.persisted)location.reload();});'
    '(function(){var b=document.getElementById("toggle");if(!b)return;'
    'var w=b.querySelector(".nojs");if(w)w.remove();var l=b.querySelector(".label");'
    'b.addEventListener("click",function(e){e.preventDefault();var s=b.value==="show";'
    '["password","confirmation"].forEach(function(i){var f=document.getElementById(i);'
    'if(f)f.type=s?"text":"password";});'
    'b.value=s?"hide":"show";l.textContent=s?"Hide passwords":"Show passwords";});})();'
    # "Still being saved": ask again every few seconds in the background and load the
    # page once, when it has an outcome (without JavaScript, <noscript>'s meta refresh).
    '(function(){if(!document.getElementById("saving"))return;'
    'function check(){fetch(location.href,{credentials:"same-origin",cache:"no-store"})'
    ".then(function(r){if(r.status!==202)location.reload();else setTimeout(check,3000);})"
    ".catch(function(){setTimeout(check,3000);});}"
    "setTimeout(check,3000);})();"
)


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


CSP = (
    "default-src 'none'; "
    f"style-src {_hash(STYLE)}; "
    f"script-src {_hash(SCRIPT)}; "
    "connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    ("Content-Security-Policy", CSP),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("X-Robots-Tag", "noindex, nofollow"),
]
HSTS = ("Strict-Transport-Security", "max-age=31536000")

#: HTTP status per verdict (the page is always readable, whatever the status).
STATUS = {
    Verdict.FORM: 200,
    Verdict.DONE: 200,
    Verdict.REFUSED: 200,
    Verdict.MISMATCH: 200,
    Verdict.EMPTY: 200,
    Verdict.UNCERTAIN: 200,
    Verdict.UNAVAILABLE: 503,
    Verdict.SATURATED: 503,
    Verdict.UNKNOWN_CODE: 404,
    Verdict.EXPIRED: 410,
    Verdict.USED: 410,
    Verdict.LOCKED: 410,
    Verdict.CLOSED: 410,
    Verdict.REJECTED: 410,
    Verdict.BUSY: 202,
    Verdict.LIMITED: 429,
    Verdict.FORGED: 403,
}
#: Seconds between the "still being saved" page's refreshes.
REFRESH_SECONDS = 3
#: The query parameters the page adds to its own address (beside the code's).
RESULT, VIEW = "result", "view"


class GuestPage:
    """``__call__`` is the WSGI app for ``path``."""

    def __init__(
        self,
        *,
        guests: GuestResets,
        keys: GuestKeys,
        path: str = "/guest/reset",
        code_parameter: str = "resetCode",
        code_hours: float = 24.0,
        wait_seconds: float = 5.0,
    ) -> None:
        self.guests = guests
        self.keys = keys
        self.path = path
        self.code_parameter = code_parameter
        self.code_hours = code_hours
        self.wait_seconds = wait_seconds

    # -- WSGI ----------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        with bound(request_id=new_request_id()):
            request = _Request(environ)
            status, body, extra = self._answer(request)
            headers = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
                *SECURITY_HEADERS,
                *extra,
            ]
            if request.https:
                headers.append(HSTS)
            if status == 405:
                headers.append(("Allow", "GET, POST"))
            start_response(f"{status} {HTTPStatus(status).phrase}", headers)
            log.info(
                "guest page answered",
                extra={
                    "method": request.method,
                    "status": status,
                    "verdict": request.verdict,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return [body]

    def _answer(self, request: _Request) -> tuple[int, bytes, list[tuple[str, str]]]:
        if request.method == "GET":
            return self._get(request)
        if request.method == "POST":
            return self._post(request)
        request.verdict = "method"
        return 405, _page("Not available", _message("This page only shows a form."), None), []

    def _get(self, request: _Request) -> tuple[int, bytes, list[tuple[str, str]]]:
        code = request.code(self.code_parameter)
        nonce, cookie = self._nonce(request)
        result = None
        attempt_id = self._result_of(code, nonce, request.query(RESULT)) if not cookie else None
        if attempt_id is not None:
            result = self.guests.result(code, attempt_id)
        if result is None:
            result = self.guests.open(code, request.address)
        request.verdict = result.verdict.value + ("_earlier" if result.earlier else "")
        show = request.query(VIEW) == "show"
        body = self._page_for(result, nonce, code, show=show, redrawn=request.query(VIEW) != "")
        return STATUS[result.verdict], body, cookie

    def _post(self, request: _Request) -> tuple[int, bytes, list[tuple[str, str]]]:
        length = request.content_length()
        if length is None:
            request.verdict = "bad_length"
            return 400, _page("Not accepted", _message("This form could not be read."), None), []
        if length > MAX_BODY:
            request.verdict = "too_large"
            body = _page("Too large", _message("This form was too large to accept."), None)
            return 413, body, []
        if not request.content_type.startswith("application/x-www-form-urlencoded"):
            request.verdict = "media_type"
            body = _page("Not accepted", _message("This form could not be read."), None)
            return 415, body, []
        code = request.code(self.code_parameter)
        nonce = request.cookie(_cookie_name(request.https))
        form = request.form(length) if request.same_origin() else None
        if form is UNREADABLE:
            request.verdict = "unreadable"
            return 400, _page(*UNREADABLE_PAGE, None), []
        if form is None or not self._csrf_ok(code, nonce, form.get("csrf", "")):
            result = self.guests.forged(request.address)
            request.verdict = result.verdict.value
            return STATUS[result.verdict], self._page_for(result), []
        assert nonce is not None
        if VIEW in form:  # show or hide the passwords: nothing else is read
            request.verdict = "view"
            view = "show" if form[VIEW] == "show" else "hide"
            return self._see_other(request, {VIEW: view, RESULT: None})
        submission = self.guests.submit(
            code, form.get("password", ""), form.get("confirmation", ""), request.address
        )
        if submission.attempt_id is None:
            request.verdict = Verdict.LIMITED.value
            return STATUS[Verdict.LIMITED], self._page_for(PageResult(Verdict.LIMITED)), []
        if submission.call is not None:
            try:  # Paytronix usually answers in time; if not, the next page keeps watching
                submission.call.result(timeout=self.wait_seconds)
            except FutureTimeout:
                pass
        request.verdict = "submitted"
        token = self._result_token(code, nonce, submission.attempt_id)
        return self._see_other(request, {RESULT: token, VIEW: None})

    def _see_other(
        self, request: _Request, params: dict[str, str | None]
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        """303 to this page's own address (relative: ``?query``, so a path prefix a load
        balancer adds survives), its query kept but for ``params``."""
        location = request.own_query(params)
        body = _page("One moment", _message("One moment…"), None)
        return 303, body, [("Location", location)]

    # -- results ---------------------------------------------------------------------
    def _result_token(self, code: str, nonce: str, attempt_id: int) -> str:
        digest = self.keys.digest("result", f"{code}\x00{nonce}\x00{attempt_id}")
        return f"{attempt_id}.{digest[:32]}"

    def _result_of(self, code: str, nonce: str, token: str) -> int | None:
        """The attempt a ``result`` parameter names, when it was made for this code in
        this browser (its cookie); None otherwise."""
        number, _, signature = token.partition(".")
        if not (number.isascii() and number.isdigit() and len(number) <= 18 and signature):
            return None
        message = f"{code}\x00{nonce}\x00{int(number)}"
        if any(
            hmac.compare_digest(expected[:32], signature)
            for expected in self.keys.digests("result", message)
        ):
            return int(number)
        return None

    # -- CSRF ------------------------------------------------------------------------
    def _nonce(self, request: _Request) -> tuple[str, list[tuple[str, str]]]:
        name = _cookie_name(request.https)
        nonce = request.cookie(name)
        if nonce is not None:
            return nonce, []
        nonce = secrets.token_urlsafe(24)
        attributes = "Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if request.https else "")
        return nonce, [("Set-Cookie", f"{name}={nonce}; {attributes}")]

    def token(self, code: str, nonce: str) -> str:
        return self.keys.digest("csrf", f"{code}\x00{nonce}")

    def _csrf_ok(self, code: str, nonce: str | None, token: str) -> bool:
        if nonce is None or not token:
            return False
        return any(
            hmac.compare_digest(expected, token)
            for expected in self.keys.digests("csrf", f"{code}\x00{nonce}")
        )

    # -- pages -----------------------------------------------------------------------
    def _page_for(
        self,
        result: PageResult,
        nonce: str | None = None,
        code: str = "",
        *,
        show: bool = False,
        redrawn: bool = False,
    ) -> bytes:
        merchant = result.merchant
        name = html.escape(merchant or "")
        verdict = result.verdict
        with_form = verdict is Verdict.FORM or verdict in WITH_FORM
        if with_form and nonce is not None:
            alert, field = _problem(result)
            title = "Choose a new password" + (f" – {merchant}" if merchant else "")
            if alert:
                title = "Error: " + title
            body = (
                "<h1>Choose a new password</h1>"
                + alert
                + f"<p>Type your new password twice. {name or 'Your program'} decides what a "
                "password needs: if it does not accept yours, this page will say why.</p>"
                + _form(self.token(code, nonce), field, show, focus=redrawn and not alert)
            )
            return _page(title, body, merchant, script=True)
        heading, paragraphs = self._words(result)
        body = f"<h1>{heading}</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs)
        if verdict is Verdict.DONE:
            body = f'<div class="done">{body}</div>'
        title = heading + (f" – {merchant}" if merchant else "")
        if verdict is Verdict.BUSY:  # watches for the outcome: a script, else meta refresh
            body = f'<div id="saving">{body}</div>'
            return _page(title, body, merchant, script=True, refresh=REFRESH_SECONDS)
        return _page(title, body, merchant)

    def _words(self, result: PageResult) -> tuple[str, list[str]]:
        name = html.escape(result.merchant or "")
        ask = f"ask {name} for a new reset link" if name else "ask for a new reset link"
        hours = f"{self.code_hours:g} hours"
        verdict = result.verdict
        if verdict is Verdict.DONE and result.earlier:
            return "Your new password is set", [
                "It was saved from this link a moment ago, when you first pressed Save (or "
                f"from another window): sign in to {name} with the password you typed then.",
                "Nothing was sent again. This link has done its job and will not work again. "
                "You can close this page.",
            ]
        if verdict is Verdict.DONE:
            return "Your new password is set", [
                f"You can now sign in to {name} with your new password.",
                "This link has done its job and will not work again. You can close this page.",
            ]
        if verdict is Verdict.UNCERTAIN:
            return "We could not confirm your new password", [
                f"Your new password went to {name}, but no answer came back, so we cannot "
                "tell whether it was saved.",
                "Try signing in with the new password you just chose. If it does not work, "
                f"{ask}: for your safety this link will not work again.",
                f"{name}'s support team has been told.",
            ]
        if verdict is Verdict.EXPIRED:
            return "This link has expired", [
                f"Reset links work for {hours}, and this one is older. Please {ask}.",
            ]
        if verdict is Verdict.USED:
            return "This link has already been used", [
                "A new password was set with it, so it will not work again.",
                f"Sign in with your new password. To change it again, {ask}.",
            ]
        if verdict is Verdict.LOCKED:
            return "This link no longer works", [
                f"It was tried too many times. Please {ask}.",
            ]
        if verdict is Verdict.CLOSED:
            return "This link no longer works", [
                "An earlier try with it could not be confirmed, so it was closed for your safety.",
                f"Try signing in with the password you chose then. If it does not work, {ask}.",
            ]
        if verdict is Verdict.REJECTED:
            return "This link no longer works", [
                f"{name or 'The program'} no longer accepts it, so your password was not "
                f"changed. Please {ask}.",
                f"{name}'s support team has been told." if name else "Support has been told.",
            ]
        if verdict is Verdict.BUSY:
            return "Your new password is still being saved", [
                f"{name or 'The program'} has not answered yet. Keep this page open: it "
                "checks again every few seconds and will show what happened.",
                "Please do not send another password meanwhile.",
            ]
        if verdict is Verdict.LIMITED:
            return "Too many tries", [
                "There have been too many tries from your connection. Wait an hour, then open "
                "the link from your email again.",
            ]
        if verdict is Verdict.FORGED:
            return "This form could not be accepted", [
                "It was not sent from this page, or your browser did not keep this page's cookie.",
                "Open the link from your email again (this page needs cookies).",
            ]
        return "This link does not work", [
            "It may be incomplete. Open the whole link from your email again, or ask for a new "
            "reset link.",
        ]


def _problem(result: PageResult) -> tuple[str, str | None]:
    """The alert at the top of the form, and which field it is about."""
    name = html.escape(result.merchant or "Your program")
    verdict = result.verdict
    if verdict is Verdict.REFUSED:
        left = result.tries_left or 0
        tries = f"{left} more {'try' if left == 1 else 'tries'}"
        return _alert(
            f"{name} did not accept this password",
            [
                html.escape(result.message or "No reason was given."),
                f"Your password was not changed. Choose another one and try again: "
                f"this link allows {tries}.",
            ],
        ), "password"
    if verdict is Verdict.MISMATCH:
        return _alert(
            "The two passwords are not the same",
            ['<a href="#confirmation">Type the same new password in both fields.</a>'],
        ), "confirmation"
    if verdict is Verdict.EMPTY:
        return _alert(
            "Enter a new password", ['<a href="#password">Type it in both fields.</a>']
        ), "password"
    if verdict is Verdict.UNAVAILABLE:
        return _alert(
            "Your password was not changed",
            ["We could not reach the service: try again in a few minutes."],
        ), None
    if verdict is Verdict.SATURATED:
        return _alert(
            "Your password was not changed",
            ["Many new passwords are being saved right now: try again in a minute."],
        ), None
    return "", None


def _alert(heading: str, paragraphs: list[str]) -> str:
    # Focused on load (autofocus) and an alert: read out after every failed submission.
    return (
        '<div class="alert" id="problem" role="alert" tabindex="-1" autofocus>'
        f"<h2>{heading}</h2>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</div>"
    )


def _form(token: str, invalid: str | None, show: bool, *, focus: bool = False) -> str:
    """The form; ``focus``: the first field takes it (after the show/hide reload)."""
    kind = "text" if show else "password"

    def field(name: str, label: str, hint: str | None) -> str:
        described = [f"{name}-hint"] if hint else []
        error = ""
        if invalid == name:
            described.append(f"{name}-error")
            error = (
                f'<p class="field-error" id="{name}-error">'
                + (
                    "Not accepted: see above."
                    if name == "password"
                    else "Not the same as the new password."
                )
                + "</p>"
            )
        return (
            f'<label for="{name}">{label}</label>'
            f'<input id="{name}" name="{name}" type="{kind}" autocomplete="new-password" '
            'required autocapitalize="none" autocorrect="off" spellcheck="false"'
            + (f' aria-describedby="{" ".join(described)}"' if described else "")
            + (' aria-invalid="true"' if invalid == name else "")
            + (" autofocus" if focus and name == "password" else "")
            + ">"
            + (f'<p class="hint" id="{name}-hint">{hint}</p>' if hint else "")
            + error
        )

    return (
        '<form method="post" accept-charset="utf-8" id="choose">'
        f'<input type="hidden" name="csrf" value="{token}">'
        + field("password", "New password", None)
        + field("confirmation", "Type the new password again", None)
        + '<button type="submit" form="view" name="view" id="toggle" class="secondary" '
        f'value="{"hide" if show else "show"}">'
        f'<span class="label">{"Hide passwords" if show else "Show passwords"}</span>'
        '<span class="nojs"> (clears what you typed)</span></button>'
        '<button type="submit" class="primary">Save new password</button>'
        "</form>"
        f'<form method="post" id="view"><input type="hidden" name="csrf" value="{token}"></form>'
    )


def _message(text: str) -> str:
    return f"<h1>{html.escape(text)}</h1>"


#: A form body that is not UTF-8 (the form says accept-charset="utf-8"): not the guest's
#: fault, and nothing was sent.
UNREADABLE: dict[str, str] = {"": "unreadable"}
UNREADABLE_PAGE = (
    "This form could not be read",
    "<h1>This form could not be read</h1>"
    "<p>Your browser sent it in a way this page cannot read (not as UTF-8 text), so nothing "
    "was sent and your password was not changed.</p>"
    "<p>Open the link from your email again and type your new password again. If this "
    "happens again, try another browser.</p>",
)


def _page(
    title: str,
    body: str,
    merchant: str | None,
    *,
    script: bool = False,
    refresh: int | None = None,
) -> bytes:
    header = f"<header><p>{html.escape(merchant)}</p></header>" if merchant else ""
    return (
        "<!doctype html>"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        + (
            f'<noscript><meta http-equiv="refresh" content="{refresh}"></noscript>'
            if refresh
            else ""
        )
        + f"<title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head>"
        f"<body>{header}<main>{body}</main>"
        + (f"<script>{SCRIPT}</script>" if script else "")
        + "</body></html>"
    ).encode()


def _cookie_name(https: bool) -> str:
    # __Host-: only over HTTPS, for this host alone, path /.
    return "__Host-frontdesk-guest" if https else "frontdesk-guest"


class _Request:
    """What the page reads of a request (never logged)."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        self.content_type = str(environ.get("CONTENT_TYPE", "")).lower()
        self.verdict = ""
        # Behind a trusted load balancer waitress has already put the client's own here
        # (FRONTDESK_TRUSTED_PROXY); otherwise the forwarded headers were dropped.
        self.https = environ.get("wsgi.url_scheme") == "https"
        self.address = str(environ.get("REMOTE_ADDR", ""))

    def code(self, parameter: str) -> str:
        return self.query(parameter)

    def query(self, parameter: str) -> str:
        """The first value of a query parameter ("" when absent or unreadable)."""
        try:
            query = parse_qs(
                str(self.environ.get("QUERY_STRING", "")),
                keep_blank_values=True,
                max_num_fields=20,
            )
        except ValueError:  # more fields than any link of ours has
            return ""
        values = query.get(parameter) or [""]
        return values[0]

    def own_query(self, params: dict[str, str | None]) -> str:
        """``?query`` of this request with ``params`` replaced (None: removed); the
        rest (the code among it) exactly as it came."""
        kept = [
            part
            for part in str(self.environ.get("QUERY_STRING", "")).split("&")
            if part and unquote_plus(part.split("=", 1)[0]) not in params
        ]
        kept += [f"{name}={quote(value)}" for name, value in params.items() if value is not None]
        return "?" + "&".join(kept)

    def content_length(self) -> int | None:
        try:
            return int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None

    def form(self, length: int) -> dict[str, str] | None:
        """The form's fields; UNREADABLE when it is not UTF-8; None when it is not a
        form at all (too many fields)."""
        raw = self.environ["wsgi.input"].read(length) if length else b""
        try:
            text = raw.decode("utf-8")
            parsed = parse_qs(text, keep_blank_values=True, max_num_fields=10, errors="strict")
        except UnicodeDecodeError:
            return UNREADABLE
        except ValueError:
            return None
        return {key: values[0] for key, values in parsed.items()}

    def cookie(self, name: str) -> str | None:
        for part in str(self.environ.get("HTTP_COOKIE", "")).split(";"):
            key, _, value = part.strip().partition("=")
            if key == name and _NONCE.match(value):
                return value
        return None

    def same_origin(self) -> bool:
        """Fetch metadata and Origin, where the browser sends them, say it came from here.

        (``Origin: null`` is what a no-referrer page sends for its own posts.)"""
        site = str(self.environ.get("HTTP_SEC_FETCH_SITE", "")).lower()
        if site in ("cross-site", "same-site"):
            return False
        origin = str(self.environ.get("HTTP_ORIGIN", ""))
        if origin and origin != "null":
            host = str(self.environ.get("HTTP_HOST", ""))
            expected = f"{'https' if self.https else 'http'}://{host}"
            return hmac.compare_digest(origin.lower(), expected.lower())
        return True


def guest_page(frontdesk: Frontdesk) -> GuestPage | None:
    """The page, where a location needs it (see ``bot.app``)."""
    guests = frontdesk.guest_resets
    if guests is None:
        return None
    settings: Settings = frontdesk.services.settings
    return GuestPage(
        guests=guests,
        keys=guests.codes.keys,
        path=settings.guest_page_path,
        code_parameter=settings.guest_page_code_parameter,
        code_hours=settings.guest_code_hours,
        wait_seconds=settings.guest_page_wait_seconds,
    )
