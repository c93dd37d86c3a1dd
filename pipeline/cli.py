"""The `gifts` command line: turns library errors into one line and an exit code.

Heavy modules (pandas, torch, the pipeline stages) are imported inside the commands, so
`gifts --help` and `gifts status` answer at once.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline import cli_eval, cli_notify, cli_people, cli_review, cli_sources, display
from pipeline.cli_common import Settings, configure_logging, fail, json_option, offline_option, run_stages
from pipeline.db.states import SourceKind
from pipeline.errors import GiftsError
from pipeline.offline import keep_offline

if TYPE_CHECKING:
    pass

STAGE_COMMANDS = ("fetch", "parse", "extract", "embed", "profile", "rank", "report")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move the group's options found after a subcommand (`gifts run --config X -v`) before it.

    click reads a group's options only before the subcommand's name, but users (and the README)
    write them after it too. Everything after `--` is left alone.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg == "--config" and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        if arg.startswith("--config=") or arg == "--verbose" or re.fullmatch(r"-v+", arg):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


class GiftsGroup(click.Group):
    """The `gifts` group: its options (--config, -v) work before or after the subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))


@click.group(cls=GiftsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=lambda: os.environ.get("GIFTS_CONFIG", "gifts.toml"),
    show_default="$GIFTS_CONFIG or ./gifts.toml",
    help="The workspace's gifts.toml (or its folder).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="research-gifts")
@click.pass_context
def main(ctx: click.Context, config_path: Path, verbose: int) -> None:
    """Research gifts: rank articles and white papers worth sending to the people who interviewed you.

    --config and -v may go before or after the command.

    Example: gifts --config data/sample/gifts.toml run
    """
    keep_offline()  # first, so every library this process (and its workers) imports stays off the network
    # The terminal shows the project's own warnings (-v: info; -vv: every library's lines too); each
    # run also logs everything to its log file (cli_common.run_log). Credentials redacted on both.
    configure_logging(verbose)
    ctx.obj = Settings(config_path, verbose)


@main.command()
@offline_option
@json_option
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where fetch, extract, embed and rank run: this process, or Ray Data (pip install 'research-gifts[ray]').",
)
@click.option(
    "--address",
    metavar="ADDRESS",
    default=None,
    help="With --engine ray: the cluster to join (default: the config's ray.address, else a local one).",
)
@click.pass_obj
def run(settings: Settings, offline: bool | None, as_json: bool, engine: str, address: str | None) -> None:
    """Run the whole nightly job: fetch, parse, extract, profile, embed, rank, report.

    Each stage only does work whose output is missing, so re-running is cheap.
    With --engine ray the heavy stages run as Ray Data pipelines over the same batch functions,
    keeping documents and vectors in Parquet datasets (ray.dataset).
    Exit status: 0 ok, 1 some items failed (see the summary), 2 bad usage or config.

    Example: gifts --config ~/gifts/gifts.toml run --json
    """
    from pipeline.runner import STAGES

    run_stages(settings, STAGES, offline, as_json, engine, address)


def _stage_command(name: str, doc: str) -> None:
    @offline_option
    @json_option
    @click.pass_obj
    def command(settings: Settings, offline: bool | None, as_json: bool) -> None:
        run_stages(settings, (name,), offline, as_json)

    command.__doc__ = doc
    main.command(name=name)(command)


_stage_command(
    "fetch",
    "Fetch feeds (conditional GET) and the pages of entries already parsed.\n\nExample: gifts fetch --offline",
)
_stage_command(
    "parse",
    "Parse new feed bodies and scan local folders into documents, then fetch their pages.\n\nExample: gifts parse",
)
_stage_command(
    "extract",
    "Extract readable text from fetched HTML, PDF and text bodies.\n\nExample: gifts extract -v",
)
_stage_command(
    "embed",
    "Cut documents into passages and embed what the vector cache lacks.\n\nExample: gifts embed",
)
_stage_command("rank", "Rank documents for every contact of an open interview.\n\nExample: gifts rank --json")
_stage_command(
    "report",
    "Write today's report folder (index.html, report.md, suggestions.csv and .parquet).\n\nExample: gifts report",
)


@main.command()
@json_option
@click.pass_obj
def status(settings: Settings, as_json: bool) -> None:
    """Show sources and their health, document counts, contacts and the last runs.

    Example: gifts status --json
    """
    from pipeline.status import collect

    try:
        info = collect(settings.load())
    except GiftsError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True, default=str))
        return
    _print_status(info)


def _print_status(info: dict[str, Any]) -> None:
    click.echo(f"workspace {info['workspace']} ({info['config']})")
    docs = info["documents"]
    click.echo(
        "documents: " + ", ".join(f"{k} {v}" for k, v in sorted(docs.items())) if docs else "documents: none yet"
    )
    click.echo("sources:")
    for s in info["sources"]:
        health = s["state"] or "never run"
        if s["reason"]:
            health += f" ({s['reason']})"
        if s["consecutive_failures"]:
            health += f", {s['consecutive_failures']} failures in a row"
        if s.get("disabled_at"):
            health += f", disabled since {s['disabled_at'][:10]}: `gifts enable {s['id']}`"
        elif s.get("next_attempt_on") and s["consecutive_failures"]:
            health += f", next try {s['next_attempt_on']}"
        click.echo(f"  {s['title']}: {health}, {s['documents']} documents")
    # What failed, each by its URL or file path with the reason (never an internal id).
    for heading, kinds in (("sources failing:", (SourceKind.FEED, SourceKind.FOLDER)), ("pages not read:", ("page",))):
        rows = [f for f in info.get("failures", []) if f["kind"] in kinds]
        if rows:
            click.echo(heading)
            for f in rows:
                click.echo(f"  {f['where']}: {f['state']}" + (f" ({f['reason']})" if f["reason"] else ""))
    if info.get("warnings"):
        click.echo("warnings (last run):")
        for warning in info["warnings"]:
            click.echo(f"  {display.shown(warning)}")
    if info.get("failed_files"):
        click.echo("files not read:")
        for f in info["failed_files"]:
            click.echo(f"  {f['path']}: {f['state']}" + (f" ({f['reason']})" if f["reason"] else ""))
    click.echo("contacts:")
    for c in info["contacts"]:
        click.echo(f"  {c['name']} ({c['company']}, {c['status']}): {c['suggestions']} suggestions")
    click.echo("last runs:")
    for r in info["runs"]:
        click.echo(f"  #{r['id']} {r['started_at']} {r['status']}")
    for line in cli_notify.status_lines(info):  # the morning digest, when one was ever tried
        click.echo(line)


@main.command()
@click.argument("source")
@click.pass_obj
def enable(settings: Settings, source: str) -> None:
    """Re-enable a source that failed too often: clears its failures and backoff.

    SOURCE is a source id, its URL, or a unique part of its title or URL (see `gifts status`).

    Example: gifts enable https://example.org/feed.xml
    """
    from pipeline.health import enable as enable_source
    from pipeline.store import Store, WorkspaceLock

    try:
        config = settings.load()
        if not config.paths.store.exists():
            raise GiftsError(f"{config.paths.store}: no store yet; run `gifts run` first")
        with WorkspaceLock(config.paths.interim), Store(config.paths.store) as store:
            titles = enable_source(store, source)
    except GiftsError as exc:
        fail(exc)
    click.echo(f"enabled: {', '.join(map(display.shown, titles))} (tried again on the next run)")


for command in (*cli_people.COMMANDS, *cli_eval.COMMANDS, *cli_sources.COMMANDS):
    main.add_command(command)
main.add_command(cli_notify.notify)
main.add_command(cli_review.review)
