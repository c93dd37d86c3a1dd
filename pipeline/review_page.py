"""The review app's page: what it shows (the report's own context plus each person's history) and its templates."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import quote, urlencode

import jinja2

from pipeline import history
from pipeline.config import Config
from pipeline.display import shown
from pipeline.escaping import html_field
from pipeline.report import report_context
from pipeline.store import Store

_EMAIL = re.compile(r"[^@\s<>\"',;:?&]+@[^@\s<>\"',;:?&]+\.[A-Za-z]{2,}")


def environment() -> jinja2.Environment:
    """The page's templates, under the report's HTML rule."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline", "templates/review"),
        autoescape=True,
        finalize=html_field,  # the report's HTML rule: shown (bidi stripped, URL credentials redacted), escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mailto"] = mailto
    return env


def mailto(email: str | None, subject: str, body: str) -> str:
    """A mailto: link with recipient (when it looks like one address), subject and body filled in."""
    to = email.strip() if email and _EMAIL.fullmatch(email.strip()) else ""
    return f"mailto:{quote(to, safe='@')}?" + urlencode({"subject": subject, "body": body}, quote_via=quote)


def page_context(config: Config, now: dt.datetime) -> dict[str, Any]:
    """Everything the page shows, from the report's own functions plus each person's history."""
    if not config.paths.store.exists():
        return {"missing": f"{config.paths.store}: no store yet; run `gifts run` first"}
    with Store(config.paths.store, readonly=True) as store:
        context = report_context(store, config, now)
        people = {
            r["id"]: dict(r)
            for r in store.query(
                "SELECT c.id, c.email, c.interview_id, i.status, i.date FROM contacts c"
                " JOIN interviews i ON i.id = c.interview_id"
            )
        }
        interviews = [
            {key: shown(v) for key, v in dict(r).items()}
            for r in store.query("SELECT id, company, position, date, status FROM interviews ORDER BY date DESC")
        ]
        done: dict[str, list[dict[str, Any]]] = {}
        for r in store.query(
            "SELECT id, suggestion_id, action, scope, at FROM actions WHERE suggestion_id IS NOT NULL"
        ):
            done.setdefault(r["suggestion_id"], []).append(dict(r))
        histories = {card.contact_id: history.contact_history(store, card.contact_id) for card in context["cards"]}
    context.update({"missing": None, "people": people, "interviews": interviews, "done": done, "histories": histories})
    return context
