"""`gifts` commands that set a workspace up: `init`, and `sources` (add, list, remove, OPML in and out)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline import display
from pipeline.cli_common import Settings, fail, json_option
from pipeline.errors import GiftsError


@click.command(name="init")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def init(settings: Settings, folder: Path | None) -> None:
    """Create a workspace in FOLDER (default: the --config's folder, else this one).

    Writes a gifts.toml with every key commented, interviews/ with an example (skipped by runs:
    its name starts with "_"), inbox/ for files you drop in, and a .gitignore that keeps your
    interview notes, the store and the reports out of version control. Never overwrites a gifts.toml.

    Example: gifts init ~/gifts
    """
    from pipeline.workspace import init_workspace

    target = folder
    if target is None:
        target = settings.config_path if settings.config_path.is_dir() else settings.config_path.parent
    try:
        created = init_workspace(target)
    except GiftsError as exc:
        fail(exc)
    for path in created:
        click.echo(f"created {path}{'/' if path.is_dir() else ''}")
    prefix = "" if target.resolve() == Path.cwd() else f"cd {target} && "
    click.echo(f"next: {prefix}gifts sources add https://example.org/blog  (a site or feed you read)")
    click.echo('      gifts new-interview --company "ACME" --interviewer "Their Name"')


@click.group(name="sources")
def sources() -> None:
    """List and edit the feeds the workspace reads ([sources] feeds in gifts.toml).

    Example: gifts sources add https://example.org/blog
    """


@sources.command(name="add")
@click.argument("url")
@click.option("--name", default=None, help="The name to list it under (default: the feed's own title).")
@click.option("--no-check", is_flag=True, help="Add the URL as given, without fetching it (offline workspaces).")
@click.pass_obj
def add(settings: Settings, url: str, name: str | None, no_check: bool) -> None:
    """Add a feed: its URL, or a site's URL whose feed is found for you.

    The URL is fetched once to check it (the page's <link rel="alternate"> feeds, then the usual
    paths such as /feed and /rss.xml), through the same guard as the nightly fetch; the feed's URL
    goes into [sources] feeds, the rest of gifts.toml and its comments unchanged.

    Example: gifts sources add https://example.org/blog --name "Example blog"
    """
    from pipeline.discovery import discover
    from pipeline.errors import InputError
    from pipeline.fetch import Fetcher, check_scheme
    from pipeline.sources_config import add_feeds

    try:
        config = settings.load()
        if no_check:
            try:
                check_scheme(url)
            except GiftsError as exc:
                raise InputError(str(exc)) from None
            found_url, title, how = url, "", "not checked"
        else:
            if config.fetch.offline:
                raise InputError(
                    f"{url}: fetch.offline is true in {config.path}, and adding fetches the URL once to "
                    "check it; add it with --no-check"
                )
            with Fetcher(config.fetch) as fetcher:
                found = discover(url, fetcher)
            found_url, title = found.url, found.title
            how = f"{found.entries} entries, found as {found.how}"
        added, _present = add_feeds(config, [(found_url, name or title)])
    except GiftsError as exc:
        fail(exc)
    shown = display.shown(found_url)
    if not added:
        click.echo(f"already listed: {shown}")
        return
    label = name or title
    click.echo(f"added {shown}" + (f" ({display.shown(label)})" if label else "") + f": {how}")


@sources.command(name="list")
@json_option
@click.pass_obj
def list_command(settings: Settings, as_json: bool) -> None:
    """List every feed: those in gifts.toml, then those of its OPML files.

    Example: gifts sources list --json
    """
    from pipeline.sources_config import list_feeds

    try:
        feeds = list_feeds(settings.load())
    except GiftsError as exc:
        fail(exc)
    if as_json:
        rows = [{"url": f.url, "name": f.name, "origin": f.origin} for f in feeds]
        click.echo(json.dumps(rows, indent=2))
        return
    if not feeds:
        click.echo("no feeds yet: gifts sources add URL")
    for feed in feeds:
        name = f"  {display.shown(feed.name)}" if feed.name else ""
        click.echo(f"{display.shown(feed.url)}{name}  ({feed.origin})")


@sources.command(name="remove")
@click.argument("feed")
@click.pass_obj
def remove(settings: Settings, feed: str) -> None:
    """Remove a feed from gifts.toml: FEED is its URL, its name, or a unique part of either.

    What was already fetched from it stays in the library.

    Example: gifts sources remove "Example blog"
    """
    from pipeline.sources_config import remove_feed

    try:
        removed = remove_feed(settings.load(), feed)
    except GiftsError as exc:
        fail(exc)
    click.echo(f"removed {display.shown(removed.url)}" + (f" ({display.shown(removed.name)})" if removed.name else ""))


@sources.command(name="import-opml")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_obj
def import_command(settings: Settings, file: Path) -> None:
    """Copy the feeds of an OPML file (a feed reader's export) into gifts.toml; nothing is fetched now.

    Example: gifts sources import-opml ~/Downloads/feeds.opml
    """
    from pipeline.sources_config import import_opml

    try:
        added, present = import_opml(settings.load(), file)
    except GiftsError as exc:
        fail(exc)
    click.echo(f"imported {len(added)} feeds from {file}" + (f" ({len(present)} already listed)" if present else ""))


@sources.command(name="export-opml")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def export_command(settings: Settings, file: Path | None) -> None:
    """Write every feed as OPML 2.0 to FILE (default: print it), for a feed reader or another workspace.

    Example: gifts sources export-opml feeds.opml
    """
    from pipeline.sources_config import export_opml

    try:
        text = export_opml(settings.load())
    except GiftsError as exc:
        fail(exc)
    if file is None:
        click.echo(text, nl=False)
        return
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{file}: cannot write: {exc.strerror}") from None
    click.echo(f"wrote {text.count('<outline ')} feeds to {file}")


COMMANDS = (init, sources)
