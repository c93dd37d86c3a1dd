"""`gifts review`: serve the local review app on 127.0.0.1 and open it in the browser."""

from __future__ import annotations

import click

from pipeline import display
from pipeline.cli_common import Settings, fail
from pipeline.errors import GiftsError


@click.command(name="review")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free one).")
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening a browser.")
@click.option(
    "--host",
    default=None,
    metavar="HOST",
    help="Listen on HOST instead of 127.0.0.1. Anything but loopback exposes your notes to the network.",
)
@click.pass_obj
def review(settings: Settings, port: int, no_browser: bool, host: str | None) -> None:
    """Review today's suggestions and act on them in a local web app (127.0.0.1 only).

    Shows what is due first, then each person: interests with the notes sentence each came from,
    suggested gifts with why, and the draft note. Sent, Skip, Never (document, source, topic) with
    Undo, edit and copy the draft, open it in mail, log a reply, change an interview's status, add
    an interview. The address holds a random token for this launch; keep it to yourself.
    Ctrl+C stops the app.

    Example: gifts review --port 8765
    """
    import webbrowser

    from pipeline.review import bind, is_loopback, serve

    try:
        config = settings.load()
        if host is not None and not is_loopback(host):
            click.echo(
                f"gifts: warning: serving on {host}: anyone who can reach it and gets the token sees your notes",
                err=True,
            )
        sock = bind(host or "127.0.0.1", port, allow_remote=host is not None)
    except GiftsError as exc:
        fail(exc)

    def ready(app: object) -> None:
        url = str(getattr(app, "url", ""))
        click.echo(f"review app for {display.shown(config.name)}: {url}")
        click.echo("Ctrl+C stops it.")
        if not no_browser:
            webbrowser.open(url)

    serve(config, sock, ready=ready)


COMMANDS = (review,)
