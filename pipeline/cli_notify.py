"""`gifts notify`: send the morning digest now, or one test message; and its lines in `gifts status`."""

from __future__ import annotations

from typing import Any

import click

from pipeline.cli_common import Settings, fail, now
from pipeline.errors import GiftsError


@click.command()
@click.option("--test", "test", is_flag=True, help="Send one test message instead of the digest.")
@click.pass_obj
def notify(settings: Settings, test: bool) -> None:
    """Email what is due today (the morning digest) with the [notify] settings, now.

    The nightly run sends it by itself when notify.enabled is true; this command sends it even when
    it is not, so the settings can be tried first. Nothing is sent when nothing is due. The SMTP
    password is read from the environment variable notify.password_env names.

    Example: gifts notify --test
    """
    from pipeline import notify as digest
    from pipeline.store import Store, WorkspaceLock

    try:
        config = settings.load()
        if test:
            message = digest.build_test_message(config, now())
            digest.send(message, config.notify)
            click.echo(f"test message sent to {', '.join(config.notify.to)}")
            return
        if not config.paths.store.exists():
            raise GiftsError(f"{config.paths.store}: no store yet; run `gifts run` first")
        with WorkspaceLock(config.paths.interim), Store(config.paths.store) as store:
            outcome = digest.send_digest(store, config, now())
    except GiftsError as exc:
        fail(exc)
    click.echo("nothing is due today: no digest sent" if outcome == "nothing_due" else "digest sent")


def status_lines(info: dict[str, Any]) -> list[str]:
    """The digest's lines for `gifts status`: its latest outcome, and a failure not yet followed by a send."""
    recorded = info.get("notify") or {}
    last, sent, failed = recorded.get("last"), recorded.get("last_sent"), recorded.get("last_failed")
    if last is None:
        return []
    lines = []
    outcome = {"sent": "sent", "nothing_due": "nothing due, not sent", "failed": "FAILED"}.get(last["outcome"], "?")
    line = f"digest: {outcome} {last['at']}"
    if last["outcome"] == "sent":
        line += f" ({last['due']} due)"
    if last["outcome"] == "failed" and last.get("error"):
        line += f": {last['error']}"
    lines.append(line)
    if failed is not None and last["outcome"] != "failed" and (sent is None or failed["at"] > sent["at"]):
        lines.append(f"digest: last send FAILED {failed['at']}: {failed.get('error') or 'unknown error'}")
    return lines
