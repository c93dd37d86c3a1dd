"""Draft notes in the candidate's voice: a thank-you and a follow-up, from Jinja2 templates.

The defaults ship in `pipeline/templates/notes/`; a workspace gets its own copies under
`templates/notes/` the first time a report is written, and its copies win from then on. Drafts are
text for the user to edit and send; nothing is ever sent from here.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from pipeline.errors import ConfigError

TEMPLATES = {"thank_you": "thank_you.txt.j2", "follow_up": "follow_up.txt.j2"}
MAX_WHY_WORDS = 45


@dataclass(frozen=True, slots=True)
class Gift:
    title: str
    source: str
    url: str | None
    why: str  # one sentence of the best passage


def install_templates(folder: Path) -> list[Path]:
    """Copy the default note templates into `folder/notes/` where absent; never overwrite the user's."""
    target = folder / "notes"
    copied = []
    defaults = importlib.resources.files("pipeline").joinpath("templates", "notes")
    for name in TEMPLATES.values():
        path = target / name
        if not path.exists():
            target.mkdir(parents=True, exist_ok=True)
            path.write_text(defaults.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
            copied.append(path)
    return copied


def environment(folder: Path | None) -> jinja2.Environment:
    """Templates from the workspace's `templates/notes/` first, then the packaged defaults.

    Plain text, no autoescape: a draft is pasted into an e-mail; the HTML report escapes it.
    """
    loaders: list[jinja2.BaseLoader] = []
    if folder is not None:
        loaders.append(jinja2.FileSystemLoader(folder / "notes"))
    loaders.append(jinja2.PackageLoader("pipeline", "templates/notes"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=False,  # noqa: S701 -- plain-text e-mail drafts; the HTML report escapes them
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def _words(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 3}


def relevance_sentence(passage: str, *about: str | None) -> str:
    """The sentence of `passage` sharing most words with `about` (an interest, a quote), shortened.

    Passages are cut at word counts, so a fragment before the first full stop or after the last
    one is only used when nothing else is there.
    """
    text = re.sub(r"\s+", " ", passage.replace("...", " ")).strip()
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])", text) if p.strip()]
    whole = [p for p in parts if p[0].isupper() and p[-1] in ".!?"] or parts
    if not whole:
        return ""
    wanted = set().union(*(_words(a) for a in about if a))
    best = max(whole, key=lambda s: (len(wanted & _words(s)), -abs(len(s.split()) - 20)))
    words = best.split()
    return best if len(words) <= MAX_WHY_WORDS else " ".join(words[:MAX_WHY_WORDS]).rstrip(",;:") + " ..."


def human_day(iso: str) -> str:
    """2026-11-24 -> 24 November."""
    day = dt.date.fromisoformat(iso[:10])
    return f"{day.day} {day.strftime('%B')}"


def note(
    env: jinja2.Environment,
    kind: str,
    *,
    tone: str,
    signature: str,
    name: str,
    company: str,
    position: str | None,
    interview_date: str,
    interest: Mapping[str, Any] | None,
    gift: Gift | None,
) -> str:
    """One draft note; `kind` is thank_you or follow_up (a follow-up needs a gift).

    Raises:
        ConfigError: when the workspace's template does not render, naming the template.
    """
    if kind not in TEMPLATES:
        raise ValueError(f"unknown note kind {kind!r}")
    name_ = TEMPLATES[kind]
    try:
        text = env.get_template(name_).render(
            tone=tone,
            signature=signature,
            first_name=name.split()[0],
            name=name,
            company=company,
            position=position or "open",
            day=human_day(interview_date),
            interest=dict(interest) if interest else None,
            gift=gift,
        )
    except jinja2.TemplateError as exc:
        where = getattr(exc, "filename", None) or name_
        line = getattr(exc, "lineno", None)
        raise ConfigError(f"{where}{f':{line}' if line else ''}: draft template: {exc.message}") from None
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
