"""`gifts` commands about people and decisions: profile, new-interview, log, forget, mark."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from pipeline import display
from pipeline.cli_common import Settings, fail, json_option, now, offline_option, run_stages
from pipeline.db.states import ActionKind, ActionScope
from pipeline.errors import GiftsError


@click.command(name="profile")
@click.argument("contact", required=False)
@click.option("--show", metavar="CONTACT", default=None, help="Print what was understood about one contact, and why.")
@click.option(
    "--ban",
    "bans",
    metavar="PHRASE",
    multiple=True,
    help="Add PHRASE to CONTACT's ban: list in their interview file: no interest of theirs may contain it.",
)
@click.option(
    "--pin",
    "pins",
    metavar="PHRASE",
    multiple=True,
    help="Add PHRASE to CONTACT's pin: list in their interview file: it counts as an interest.",
)
@offline_option
@json_option
@click.pass_obj
def profile_command(
    settings: Settings,
    contact: str | None,
    show: str | None,
    bans: tuple[str, ...],
    pins: tuple[str, ...],
    offline: bool | None,
    as_json: bool,
) -> None:
    """Read interview files into contacts and interests (listed, pinned, and inferred from the notes).

    With --show CONTACT (a name, part of one, or an id), print that contact's interests instead:
    said or inferred, weight, the notes sentence each came from, and why an inferred one was kept.

    With --ban PHRASE or --pin PHRASE and a CONTACT, add the phrase to that interviewer's ban: or
    pin: list in the interview file (comments and layout kept) and print the lines that changed;
    the next `gifts profile` or `gifts run` applies it.

    Example: gifts profile --show "Priya Raman"

    Example: gifts profile --ban "night shift" Ana
    """
    if bans or pins:
        if contact is None or show is not None:
            raise click.UsageError("--ban and --pin need the CONTACT to edit, e.g. gifts profile --ban PHRASE Ana")
        _curate(settings, contact, [("ban", b) for b in bans] + [("pin", p) for p in pins], as_json)
        return
    if contact is not None:
        raise click.UsageError(f"CONTACT goes with --ban or --pin; to see one, use --show {contact!r}")
    if show is None:
        run_stages(settings, ("profile",), offline, as_json)
        return
    from pipeline.contacts import describe
    from pipeline.errors import InputError
    from pipeline.store import Store

    try:
        config = settings.load()
        if not config.paths.store.exists():
            raise InputError(f"{config.paths.store}: no store yet; run `gifts run` first")
        with Store(config.paths.store, readonly=True) as store:
            text = describe(store, show)
    except GiftsError as exc:
        fail(exc)
    click.echo(text)


def _curate(settings: Settings, contact: str, edits: list[tuple[str, str]], as_json: bool) -> None:
    """`gifts profile --ban/--pin`: one edit of the interview file per phrase, each reported as it lands."""
    from pipeline.contacts import add_to_list

    done = []
    try:
        config = settings.load()
        for key, phrase in edits:
            edit = add_to_list(config.paths.interviews, contact, key, phrase)
            done.append(edit)
            if not as_json:
                click.echo(display.shown(str(edit)))
    except GiftsError as exc:
        fail(exc)
    if as_json:
        rows = [
            {
                "file": str(e.path), "contact": e.name, "list": e.key, "phrase": e.phrase, "changed": e.changed,
                "lines": [{"line": n, "change": sign, "text": text} for n, sign, text in e.lines], "note": e.note,
            }
            for e in done
        ]  # fmt: skip
        click.echo(json.dumps(rows, indent=2))


@click.command(name="new-interview")
@click.option("--company", required=True, help="The company you interviewed with.")
@click.option("--date", "day", default=None, help="Interview date, YYYY-MM-DD (default: today).")
@click.option("--position", default=None, help="The position.")
@click.option("--interviewer", "interviewers", multiple=True, help="An interviewer's name (repeat for each).")
@click.pass_obj
def new_interview(
    settings: Settings, company: str, day: str | None, position: str | None, interviewers: tuple[str, ...]
) -> None:
    """Create a dated interview file with every field commented, ready to fill in.

    Example: gifts new-interview --company "Northwind Logistics" --interviewer "Priya Raman"
    """
    from pipeline.errors import InputError
    from pipeline.interview_files import write_scaffold

    try:
        date = dt.date.fromisoformat(day) if day else now().date()
    except ValueError:
        fail(InputError(f"--date: {day!r} is not a YYYY-MM-DD date"))
    try:
        path = write_scaffold(settings.load().paths.interviews, company, date, position, list(interviewers))
    except GiftsError as exc:
        fail(exc)
    click.echo(f"created {path}")


@click.group(name="log")
def log_group() -> None:
    """Record something a contact did or that you sent outside the report: a reply, a thank-you.

    Example: gifts log reply "Priya Raman"
    """


@log_group.command(name="reply")
@click.argument("contact")
@click.option("--note", default=None, help="A few words to remember it by.")
@click.pass_obj
def log_reply(settings: Settings, contact: str, note: str | None) -> None:
    """Record a reply from CONTACT (name or id): their follow-ups pause for cadence.reply_pause_days.

    Example: gifts log reply "Priya Raman" --note "asked for my notes on data contracts"
    """
    _log_event(settings, contact, ActionKind.REPLY, note)


@log_group.command(name="thanked")
@click.argument("contact")
@click.option("--note", default=None, help="A few words to remember it by.")
@click.pass_obj
def log_thanked(settings: Settings, contact: str, note: str | None) -> None:
    """Record a thank-you you sent CONTACT without a gift (a gift is recorded with `gifts mark ID sent`).

    Example: gifts log thanked "Tom Becker"
    """
    _log_event(settings, contact, ActionKind.THANKED, note)


def _log_event(settings: Settings, contact: str, event: str, note: str | None) -> None:
    from pipeline.history import record_event

    try:
        message = record_event(settings.load(), contact, event, note, now())
    except GiftsError as exc:
        fail(exc)
    click.echo(message)


@click.command()
@click.argument("contact")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def forget(settings: Settings, contact: str, yes: bool) -> None:
    """Remove CONTACT (name or id), their interests, suggestions and history from the store and reports.

    Every report naming them is rewritten without them (never deleted), what your notes say of them
    is redacted in the store, and the store file is vacuumed. Your interview file is not edited: the
    command names it, and later runs skip them in it.

    Example: gifts forget "Tom Becker" --yes
    """
    from pipeline.history import forget as forget_contact

    if not yes:
        click.confirm(f"Forget {contact} and everything derived about them?", abort=True)
    try:
        lines = forget_contact(settings.load(), contact, now())
    except GiftsError as exc:
        fail(exc)
    for line in lines:
        click.echo(line)


@click.command()
@click.argument("suggestion_id", required=False)
@click.argument("decision", required=False, type=click.Choice([ActionKind.SENT, ActionKind.SKIP, ActionKind.NEVER]))
@click.option("--source", "whole_source", is_flag=True, help="With never: refuse every document of its feed or folder.")
@click.option("--topic", is_flag=True, help="With never: refuse this suggestion's topic (interest) instead.")
@click.option(
    "--from-csv",
    "from_csv",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Import the decision column of an edited suggestions.csv (sent, skip, never, never source, never topic).",
)
@click.option("--note", default=None, help="A few words to remember why.")
@click.pass_obj
def mark(
    settings: Settings,
    suggestion_id: str | None,
    decision: str | None,
    whole_source: bool,
    topic: bool,
    from_csv: Path | None,
    note: str | None,
) -> None:
    """Record what you did with a suggestion: sent, skip, or never (never this document for this
    contact; with --source, nothing more from its feed or folder; with --topic, drop that interest from
    their profile). Recording the same decision twice records it once. Or import every decision
    filled in an edited suggestions.csv.

    Example: gifts mark 3f2a9c1b7e never --source
    """
    from pipeline.errors import InputError
    from pipeline.history import import_decisions, record_decision

    try:
        if from_csv is not None:
            if suggestion_id or decision:
                raise InputError("give either --from-csv or SUGGESTION_ID DECISION, not both")
            counts = import_decisions(settings.load(), from_csv, now())
            click.echo(f"recorded {counts['recorded']} decisions, {counts['already']} already recorded")
            return
        if not suggestion_id or not decision:
            raise InputError("give SUGGESTION_ID and DECISION (sent, skip, never), or --from-csv PATH")
        if (topic or whole_source) and decision != ActionKind.NEVER:
            raise InputError(f"{'--topic' if topic else '--source'} goes with never")
        if topic and whole_source:
            raise InputError("give --source or --topic, not both")
        scope = ActionScope.TOPIC if topic else ActionScope.SOURCE if whole_source else ActionScope.DOCUMENT
        message = record_decision(settings.load(), suggestion_id, decision, note, now(), scope)
    except GiftsError as exc:
        fail(exc)
    click.echo(message)


COMMANDS = (profile_command, new_interview, log_group, forget, mark)
