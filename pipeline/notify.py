"""The morning digest: one email with what is due today (plain text and HTML), sent over SMTP.

Opt-in (`[notify] enabled`): besides fetches of the user's sources, it is the only thing that leaves
the machine, and it goes only to the user's own mail server. No remote images, no tracking links.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import smtplib
import ssl
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import jinja2

from pipeline.config import Config, NotifySettings
from pipeline.display import shown
from pipeline.errors import GiftsError
from pipeline.store import Store

log = logging.getLogger(__name__)

# Store meta keys: the latest outcome, the latest successful send, the latest failure.
META_LAST, META_SENT, META_FAILED = "notify_last", "notify_last_sent", "notify_last_failed"
ERROR_CHARS = 300
# The EHLO name: never the machine's own name (smtplib would look it up, and send it).
EHLO_NAME = "localhost"


class NotifyError(GiftsError):
    """The digest could not be built or sent: missing settings, no password, or the server said no."""


@dataclass(frozen=True, slots=True)
class DueItem:
    """One follow-up due today, as the digest shows it (every field already cleaned for display)."""

    name: str
    company: str
    kind: str  # thank_you | gift
    why: str
    draft: str
    title: str | None  # the gift's title; None for a thank-you with no gift
    href: str | None  # the gift's http(s) link; None for a local file or no gift
    path: str | None  # a local file's path (the user's own folder)


def due_today(store: Store, config: Config, now: dt.datetime) -> list[DueItem]:
    """What the report's "Due today" lists, with each gift's link and draft note (pipeline.report)."""
    from pipeline.cards import gather
    from pipeline.followups import follow_ups

    cards, _, _ = gather(store, (config.rank.retrieval.dense_weight, config.rank.retrieval.lexical_weight))
    due, _ = follow_ups(store, config, now, cards)
    rows = {s["id"]: s for card in cards for s in card.suggestions}
    items = []
    for d in due:
        gift = rows.get(d["suggestion_id"]) if d["suggestion_id"] else None
        items.append(
            DueItem(
                name=shown(d["name"]),
                company=shown(d["company"]),
                kind=d["kind"],
                why=shown(d["why"] or ""),
                draft=shown(d["draft"] or ""),
                title=gift["title"] if gift else None,
                href=gift["href"] if gift else None,
                path=(gift["path"] or None) if gift else None,
            )
        )
    return items


def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline", "templates/notify"),
        autoescape=autoescape,  # noqa: S701 -- only the plain-text part is rendered without it
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _message(settings: NotifySettings, subject: str, now: dt.datetime, template: str, **context: Any) -> EmailMessage:
    """A multipart/alternative message: `<template>.txt.j2` first, `<template>.html.j2` preferred."""
    context = {**context, "subject": subject}
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.to)
    message["Date"] = format_datetime(now)
    # The sender's domain, not the machine's name (make_msgid would look it up).
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_environment(False).get_template(f"{template}.txt.j2").render(**context))
    message.add_alternative(_environment(True).get_template(f"{template}.html.j2").render(**context), subtype="html")
    return message


def build_digest(config: Config, items: list[DueItem], now: dt.datetime) -> EmailMessage | None:
    """The digest for `items`, or None when nothing is due (then nothing is sent)."""
    if not items:
        return None
    count = len(items)
    subject = f"Research gifts: {count} follow-up{'s' if count != 1 else ''} due today ({now:%d %B %Y})"
    return _message(
        config.notify,
        subject,
        now,
        "digest",
        items=items,
        workspace=shown(config.name),
        review_url=config.notify.review_url or None,
        date=f"{now:%A %d %B %Y}",
    )


def build_test_message(config: Config, now: dt.datetime) -> EmailMessage:
    """One test message with the same structure as the digest (`gifts notify --test`)."""
    return _message(
        config.notify,
        "Research gifts: test message",
        now,
        "test",
        workspace=shown(config.name),
        config_path=str(config.path),
        review_url=config.notify.review_url or None,
        date=f"{now:%A %d %B %Y %H:%M}",
    )


def send(
    message: EmailMessage,
    settings: NotifySettings,
    *,
    environ: Mapping[str, str] = os.environ,
    context: ssl.SSLContext | None = None,
) -> None:
    """Send one message with the `[notify]` settings.

    Args:
        environ: where the variable named by `password_env` is read.
        context: the TLS context (tests pass one trusting their own certificate); None: the system's roots.
    Raises:
        NotifyError: a missing setting or password, or anything the connection or the server refused.
    """
    missing = [key for key in ("smtp_host", "sender", "to") if not getattr(settings, key)]
    if missing:
        raise NotifyError(f"notify: set {', '.join('notify.' + k for k in missing)} in the config")
    password = ""
    if settings.user:
        password = environ.get(settings.password_env, "")
        if not password:
            raise NotifyError(
                f"notify: the environment variable {settings.password_env} (notify.password_env) is empty"
            )
    tls = context or ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                local_hostname=EHLO_NAME,
                timeout=settings.timeout_s,
                context=tls,
            )
        else:
            smtp = smtplib.SMTP(
                settings.smtp_host, settings.smtp_port, local_hostname=EHLO_NAME, timeout=settings.timeout_s
            )
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=tls)
            if settings.user:
                smtp.login(settings.user, password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:  # ssl.SSLError and socket timeouts are OSErrors
        raise NotifyError(f"notify: {settings.smtp_host}:{settings.smtp_port}: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        text = f"{exc.smtp_code} {' '.join(str(error).split())}"
    return str(shown(f"{type(exc).__name__}: {text}"))[:ERROR_CHARS]


def record(store: Store, outcome: str, now: dt.datetime, *, due: int = 0, error: str | None = None) -> None:
    """Keep the outcome (sent | nothing_due | failed) in the store's meta table, for `gifts status`."""
    entry = json.dumps({"at": now.isoformat(timespec="seconds"), "outcome": outcome, "due": due, "error": error})
    with store.transaction():
        store.set_meta(META_LAST, entry)
        if outcome == "sent":
            store.set_meta(META_SENT, entry)
        elif outcome == "failed":
            store.set_meta(META_FAILED, entry)


def recorded(store: Store) -> dict[str, Any]:
    """{"last", "last_sent", "last_failed"}: each an outcome dict or None (for `gifts status`)."""
    out: dict[str, Any] = {}
    for name, key in (("last", META_LAST), ("last_sent", META_SENT), ("last_failed", META_FAILED)):
        raw = store.get_meta(key)
        out[name] = json.loads(raw) if raw else None
    return out


def send_digest(store: Store, config: Config, now: dt.datetime, **options: Any) -> str:
    """Build and send today's digest, record the outcome and return it (sent | nothing_due).

    Raises:
        NotifyError: after recording the failure.
    """
    items = due_today(store, config, now)
    message = build_digest(config, items, now)
    if message is None:
        record(store, "nothing_due", now)
        return "nothing_due"
    try:
        send(message, config.notify, **options)
    except NotifyError as exc:
        record(store, "failed", now, due=len(items), error=str(exc))
        raise
    record(store, "sent", now, due=len(items))
    return "sent"


def after_run(store: Store, config: Config, now: dt.datetime) -> Counter[str]:
    """The nightly run's digest: never raises, so a mail problem never fails the run; returns its counts."""
    try:
        outcome = send_digest(store, config, now)
    except NotifyError as exc:
        log.warning("morning digest not sent: %s", exc)
        return Counter({"notify_failed": 1})
    except Exception as exc:  # a digest bug must not cost the night's report; it is recorded and shown
        log.warning("morning digest not built: %s", exc, exc_info=True)
        record(store, "failed", now, error=_describe(exc))
        return Counter({"notify_failed": 1})
    return Counter({"notify_sent": 1}) if outcome == "sent" else Counter()
