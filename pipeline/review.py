"""`gifts review`: the local web app where the candidate acts on the report (Starlette on 127.0.0.1).

Safe by construction: a random token per launch (query once, then an HttpOnly SameSite=Strict
cookie) on every request, the Host header checked (DNS rebinding), every change a POST with a CSRF
field and a same-origin Origin, a strict Content-Security-Policy, and nothing remote. Every action
calls the same library function as the CLI (`pipeline.history`, `pipeline.interviews`); while a run
holds the workspace lock the app queues its writes (on disk, in data/interim; pipeline.review_writes)
and says so. What the page shows is pipeline.review_page.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import re
import secrets
import socket
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.config import Config
from pipeline.db.states import ActionKind, ActionScope
from pipeline.errors import GiftsError, InputError
from pipeline.interview_files import write_interview
from pipeline.interviews import STATUSES
from pipeline.review_page import environment, page_context
from pipeline.review_writes import Writes

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost",)
# The report's policy, with what an app needs from itself only: its own script, stylesheet, form posts.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
    " form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",  # not no-referrer: that would make a form's Origin "null"
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
STATIC = {"review.js": "text/javascript", "review.css": "text/css"}
RETRY_S = 2.0
_FIELD = re.compile(r":\d+: (\w+): ")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int, allow_remote: bool = False) -> socket.socket:
    """A listening socket on host:port (0: any free port); anything but loopback needs allow_remote.

    Raises:
        InputError: a non-loopback host without allow_remote, or a port in use.
    """
    if not is_loopback(host) and not allow_remote:
        raise InputError(f"--host {host}: the review app serves only 127.0.0.1 unless asked explicitly")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise InputError(f"{host}:{port}: cannot listen: {exc.strerror}") from None
    sock.listen(64)
    return sock


@dataclass
class Review:
    """One launch of the app: its secrets, where it listens, the workspace and the clock."""

    config: Config
    port: int
    host: str = "127.0.0.1"
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC).astimezone())
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    messages: deque[str] = field(default_factory=lambda: deque(maxlen=8))

    def __post_init__(self) -> None:
        names = {self.host, "127.0.0.1", "localhost"} if is_loopback(self.host) else {self.host}
        shown_names = {f"[{n}]" if ":" in n else n for n in names}
        self.hosts = frozenset(f"{n}:{self.port}" for n in shown_names)
        self.origins = frozenset(f"http://{h}" for h in self.hosts)
        self.cookie = f"gifts_review_{self.port}"
        self.writes = Writes(self.config)
        self.env = environment()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"


class Guard:
    """ASGI middleware: Host, token, methods and Origin are checked before any route runs; headers added."""

    def __init__(self, app: ASGIApp, review: Review) -> None:
        self.app = app
        self.review = review

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        response = self.refusal(Request(scope))
        if response is not None:
            await response(scope, receive, secured)
            return
        await self.app(scope, receive, secured)

    def refusal(self, request: Request) -> Response | None:
        """The response that refuses this request, or None to let it through."""
        review = self.review
        if request.headers.get("host", "") not in review.hosts:
            return PlainTextResponse("unknown Host header: open the address gifts review printed", 421)
        if request.method not in ("GET", "HEAD", "POST"):
            return PlainTextResponse("method not allowed", 405)
        given = request.query_params.get("token")
        if given is not None:
            if not secrets.compare_digest(given, review.token):
                return PlainTextResponse("wrong token: open the address gifts review printed", 403)
            if request.method != "GET":
                return PlainTextResponse("the token goes in a GET's address only", 403)
            # Once: the token moves into a cookie scripts cannot read, and the address loses it.
            target = request.url.path + ("?" + q if (q := _without_token(request)) else "")
            redirect = RedirectResponse(target, 303)
            redirect.set_cookie(review.cookie, review.token, httponly=True, samesite="strict", path="/")
            return redirect
        if not secrets.compare_digest(request.cookies.get(review.cookie, ""), review.token):
            return PlainTextResponse("not signed in: open the address gifts review printed (it holds the token)", 403)
        if request.method == "POST":
            origin = request.headers.get("origin")
            referer = request.headers.get("referer", "")
            if origin is not None:
                if origin not in review.origins:
                    return PlainTextResponse("cross-site request refused", 403)
            elif not any(referer == o or referer.startswith(o + "/") for o in review.origins):
                return PlainTextResponse("cross-site request refused (no Origin or Referer)", 403)
        return None


def _without_token(request: Request) -> str:
    return urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])


Handler = Callable[[Request, Review, FormData], Awaitable[Response]]


def _posted(review: Review, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A POST route: the CSRF field is checked before the handler sees the form."""

    async def endpoint(request: Request) -> Response:
        async with request.form(max_files=0, max_fields=64, max_part_size=64 * 1024) as form:
            if not secrets.compare_digest(str(form.get("csrf", "")), review.csrf):
                return PlainTextResponse("missing or wrong CSRF field: reload the page", 403)
            try:
                return await handler(request, review, form)
            except GiftsError as exc:
                review.messages.append(f"error: {exc}")
                return _back(form)

    return endpoint


def _back(form: FormData) -> Response:
    anchor = re.sub(r"[^A-Za-z0-9_-]", "", str(form.get("back", "")))
    return RedirectResponse("/" + (f"#{anchor}" if anchor else ""), 303)


def _text(form: FormData, key: str) -> str:
    value = form.get(key, "")
    return value if isinstance(value, str) else ""


async def _decide(request: Request, review: Review, form: FormData) -> Response:
    op = _text(form, "op")
    choices = {
        "sent": (ActionKind.SENT, ActionScope.DOCUMENT),
        "skip": (ActionKind.SKIP, ActionScope.DOCUMENT),
        "never-document": (ActionKind.NEVER, ActionScope.DOCUMENT),
        "never-source": (ActionKind.NEVER, ActionScope.SOURCE),
        "never-topic": (ActionKind.NEVER, ActionScope.TOPIC),
    }
    if op not in choices:
        raise InputError(f"unknown action {op!r}")
    decision, scope = choices[op]
    sid = _text(form, "suggestion_id")
    when = review.clock().isoformat(timespec="seconds")
    review.messages.append(review.writes.submit("decision", f"{op} {sid}", sid, decision, scope, when))
    return _back(form)


async def _undo(request: Request, review: Review, form: FormData) -> Response:
    action_id = _text(form, "action_id")
    if not action_id.isdigit():
        raise InputError("undo: no action given")
    review.messages.append(review.writes.submit("undo", f"undo #{action_id}", action_id))
    return _back(form)


async def _draft(request: Request, review: Review, form: FormData) -> Response:
    sid = _text(form, "suggestion_id")
    review.messages.append(review.writes.submit("draft", f"draft of {sid}", sid, _text(form, "text")))
    return _back(form)


async def _reply(request: Request, review: Review, form: FormData) -> Response:
    contact = _text(form, "contact_id")
    when = review.clock().isoformat(timespec="seconds")
    note = _text(form, "note").strip() or None
    review.messages.append(
        review.writes.submit("event", f"reply from {contact}", contact, ActionKind.REPLY, note or "", when)
    )
    return _back(form)


async def _status(request: Request, review: Review, form: FormData) -> Response:
    interview, status = _text(form, "interview_id"), _text(form, "status")
    if status not in STATUSES:
        raise InputError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    review.messages.append(review.writes.submit("status", f"{interview}: {status}", interview, status))
    return _back(form)


async def _cancel(request: Request, review: Review, form: FormData) -> Response:
    review.messages.append(review.writes.cancel(int(_text(form, "index") or -1)))
    return _back(form)


PERSON_ROWS = 3


def _interview_form(form: FormData | None) -> dict[str, Any]:
    values: dict[str, Any] = {k: _text(form, k) if form else "" for k in ("company", "date", "position", "notes")}
    values["people"] = [
        {k: _text(form, f"{k}{n}") if form else "" for k in ("name", "role", "email", "interests")}
        for n in range(PERSON_ROWS)
    ]
    return values


async def _new_interview(request: Request, review: Review, form: FormData) -> Response:
    values = _interview_form(form)
    errors: dict[str, str] = {}
    try:
        day = dt.date.fromisoformat(values["date"].strip())
    except ValueError:
        errors["date"] = f"{values['date']!r} is not a YYYY-MM-DD date"
    if not values["company"].strip():
        errors["company"] = "required"
    if not errors:
        people = [
            {**p, "interests": [line for line in p["interests"].splitlines() if line.strip()]} for p in values["people"]
        ]
        try:
            path = write_interview(
                review.config.paths.interviews, values["company"], day, values["position"].strip() or None,
                people, values["notes"],
            )  # fmt: skip
        except GiftsError as exc:
            text = str(exc)
            found = _FIELD.search(text)
            errors[found.group(1) if found else "form"] = text
        else:
            review.messages.append(f"created {path}: read by the next `gifts run` (or `gifts profile`)")
            return RedirectResponse("/", 303)
    # 200, not 422: the browser logs any 4xx page as a console error, and this one is a normal answer.
    return _render(review, "new.html.j2", values=values, errors=errors)


def _render(review: Review, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = review.env.get_template(template).render(csrf=review.csrf, **context)
    return HTMLResponse(html, status)


def create_app(review: Review) -> ASGIApp:
    """The app for one launch, wrapped in its Guard."""

    async def index(request: Request) -> Response:
        review.messages.extend(review.writes.flush())
        context = page_context(review.config, review.clock())
        messages = list(review.messages)
        review.messages.clear()
        return _render(review, "page.html.j2", messages=messages, pending=list(review.writes.pending), **context)

    async def new_form(request: Request) -> Response:
        return _render(review, "new.html.j2", values=_interview_form(None), errors={})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found", 404)
        text = resources.files("pipeline").joinpath("templates", "review", name).read_text(encoding="utf-8")
        return Response(text, media_type=STATIC[name])

    posts = {"/act": _decide, "/undo": _undo, "/draft": _draft, "/reply": _reply, "/status": _status}
    posts |= {"/cancel": _cancel, "/new": _new_interview}
    routes = [
        Route("/", index, methods=["GET"]),
        Route("/new", new_form, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        *(Route(path, _posted(review, handler), methods=["POST"]) for path, handler in posts.items()),
    ]
    return Guard(Starlette(routes=routes), review)


def server_for(review: Review) -> Any:
    """A uvicorn server for the app (run it with `.run(sockets=[sock])`; set `.should_exit` to stop)."""
    import uvicorn

    config = uvicorn.Config(create_app(review), log_level="warning", access_log=False, server_header=False)
    return uvicorn.Server(config)


def serve(
    config: Config,
    sock: socket.socket,
    *,
    clock: Callable[[], dt.datetime] | None = None,
    ready: Callable[[Review], None] | None = None,
) -> None:
    """Serve the app on a socket from `bind` until interrupted; queued writes are retried meanwhile."""
    host, port = sock.getsockname()[:2]
    review = Review(config, port, host) if clock is None else Review(config, port, host, clock)
    server = server_for(review)
    stop = threading.Event()

    def retry() -> None:
        while not stop.wait(RETRY_S):
            if review.writes.pending:
                review.messages.extend(review.writes.flush())

    threading.Thread(target=retry, name="review-queue", daemon=True).start()
    if ready is not None:
        ready(review)
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()
        if review.writes.pending:
            log.warning(
                "%d change(s) still queued in %s: written when `gifts review` next starts",
                len(review.writes.pending),
                review.writes.path,
            )
