"""The `gifts` command line: turns library errors into one line and an exit code.

Heavy modules (pandas, torch, the pipeline stages) are imported inside the commands, so
`gifts --help` and `gifts status` answer at once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from pipeline import display
from pipeline.errors import GiftsError
from pipeline.offline import keep_offline

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.runner import RunResult

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
STAGE_COMMANDS = ("fetch", "parse", "extract", "embed", "profile", "rank", "report")


class Settings:
    def __init__(self, config_path: Path, verbose: int) -> None:
        self.config_path = config_path
        self.verbose = verbose

    def load(self, offline: bool | None = None) -> Config:
        from pipeline.config import load, with_overrides

        return with_overrides(load(self.config_path), offline=offline)


def fail(exc: GiftsError) -> NoReturn:
    click.echo(f"gifts: error: {display.shown(str(exc))}", err=True)
    sys.exit(exc.exit_code)


def _progress_factory(
    enabled: bool,
) -> Callable[[str, int], tuple[Callable[[int], None], Callable[[], None]]]:
    def factory(stage: str, total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
        if not enabled or total == 0:
            return (lambda _n: None), (lambda: None)
        from tqdm import tqdm

        bar = tqdm(total=total, desc=stage, unit="item", leave=False, file=sys.stderr)
        return bar.update, bar.close

    return factory


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).astimezone()


def _run(
    settings: Settings,
    stages: tuple[str, ...],
    offline: bool | None,
    as_json: bool,
    engine: str = "local",
    address: str | None = None,
) -> None:
    from pipeline.runner import run

    try:
        config = settings.load(offline)
        result = run(
            config,
            stages,
            now=_now(),
            progress=_progress_factory(sys.stderr.isatty() and not as_json),
            engine=engine,
            address=address,
        )
    except GiftsError as exc:
        fail(exc)
    _print_result(result, as_json)
    sys.exit(EXIT_PARTIAL if result.status == "partial" else EXIT_OK)


def _print_result(result: RunResult, as_json: bool) -> None:
    summary = result.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    shown = [
        k
        for k in (
            "fetched",
            "not_modified",
            "archive_hits",
            "new_documents",
            "extracted",
            "embedded",
            "suggestions",
            "failed",
        )
    ]
    click.echo(", ".join(f"{k} {summary[k]}" for k in shown))
    click.echo(f"run {result.run_id} {result.status} in {sum(result.timings.values()):.1f}s")
    if result.report_dir:
        click.echo(f"report: {result.report_dir / 'index.html'}")


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
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    display.redact_logs()  # messages about sources name their URLs, and a feed URL may carry a token
    ctx.obj = Settings(config_path, verbose)


offline_option = click.option(
    "--offline/--online",
    default=None,
    help="Read only the raw archive, never the network (default: the config's fetch.offline).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")


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

    _run(settings, STAGES, offline, as_json, engine, address)


def _stage_command(name: str, doc: str) -> None:
    @offline_option
    @json_option
    @click.pass_obj
    def command(settings: Settings, offline: bool | None, as_json: bool) -> None:
        _run(settings, (name,), offline, as_json)

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


@main.command(name="profile")
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
        _run(settings, ("profile",), offline, as_json)
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


@main.command(name="new-interview")
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
    from pipeline.interviews import write_scaffold

    try:
        date = dt.date.fromisoformat(day) if day else _now().date()
    except ValueError:
        fail(InputError(f"--date: {day!r} is not a YYYY-MM-DD date"))
    try:
        path = write_scaffold(settings.load().paths.interviews, company, date, position, list(interviewers))
    except GiftsError as exc:
        fail(exc)
    click.echo(f"created {path}")


@main.group(name="log")
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
    _log_event(settings, contact, "reply", note)


@log_group.command(name="thanked")
@click.argument("contact")
@click.option("--note", default=None, help="A few words to remember it by.")
@click.pass_obj
def log_thanked(settings: Settings, contact: str, note: str | None) -> None:
    """Record a thank-you you sent CONTACT without a gift (a gift is recorded with `gifts mark ID sent`).

    Example: gifts log thanked "Tom Becker"
    """
    _log_event(settings, contact, "thanked", note)


def _log_event(settings: Settings, contact: str, event: str, note: str | None) -> None:
    from pipeline.history import record_event

    try:
        message = record_event(settings.load(), contact, event, note, _now())
    except GiftsError as exc:
        fail(exc)
    click.echo(message)


@main.command()
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
        lines = forget_contact(settings.load(), contact, _now())
    except GiftsError as exc:
        fail(exc)
    for line in lines:
        click.echo(line)


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


@main.command()
@click.argument("suggestion_id", required=False)
@click.argument("decision", required=False, type=click.Choice(["sent", "skip", "never"]))
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
            counts = import_decisions(settings.load(), from_csv, _now())
            click.echo(f"recorded {counts['recorded']} decisions, {counts['already']} already recorded")
            return
        if not suggestion_id or not decision:
            raise InputError("give SUGGESTION_ID and DECISION (sent, skip, never), or --from-csv PATH")
        if (topic or whole_source) and decision != "never":
            raise InputError(f"{'--topic' if topic else '--source'} goes with never")
        if topic and whole_source:
            raise InputError("give --source or --topic, not both")
        scope = "topic" if topic else "source" if whole_source else "document"
        message = record_decision(settings.load(), suggestion_id, decision, note, _now(), scope)
    except GiftsError as exc:
        fail(exc)
    click.echo(message)


@main.command()
@click.option("--epochs", type=int, default=1, show_default=True, help="Passes over the documents.")
@click.pass_obj
def adapt(settings: Settings, epochs: int) -> None:
    """Adapt the embedding model to your own documents, without labels (title vs. body pairs).

    Saves a new model folder with its checksums under the workspace's models/ and prints the
    line that makes the nightly run use it. Takes minutes on a CPU for a few thousand documents.

    Example: gifts adapt --epochs 1
    """
    from pipeline.adapt import adapt_workspace

    try:
        config = settings.load()
        result = adapt_workspace(config, _now(), epochs=epochs)
    except GiftsError as exc:
        fail(exc)
    relative = result.folder.relative_to(config.root) if result.folder.is_relative_to(config.root) else result.folder
    click.echo(f"adapted on {result.pairs} documents in {result.steps} steps ({result.seconds:.0f}s): {result.folder}")
    click.echo(f'to use it, set in {config.path.name}: [embed] model_path = "{relative}"')


@main.group(name="eval")
def eval_group() -> None:
    """Measure the ranking core on a standard benchmark.

    Example: gifts eval beir ../shared/eval/scifact --json
    """


@eval_group.command(name="beir")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--split", default="test", show_default=True, help="Which qrels/<split>.tsv to score.")
@click.option(
    "--fusion",
    type=click.Choice(["weighted", "rrf", "dense", "lexical"]),
    default=None,
    help="Override the fusion (default: the nightly ranking's).",
)
@click.option("--dense-weight", type=float, default=None, help="Weight of the passage cosine.")
@click.option("--lexical-weight", type=float, default=None, help="Weight of scaled BM25.")
@click.option("--prf-docs", type=int, default=None, help="Dense pseudo-relevance feedback documents (0: off).")
@click.option("--bm25-k1", type=float, default=None, help="BM25 term saturation (default 1.5).")
@click.option("--bm25-b", type=float, default=None, help="BM25 length normalisation (default 0.75).")
@click.option("--model-path", type=click.Path(path_type=Path), default=None, help="Another verified model folder.")
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="Vector cache (default ~/.cache).")
@click.option(
    "--backend",
    type=click.Choice(["torch", "openvino", "openvino-int8"]),
    default="openvino-int8",  # the nightly default (EmbedSettings.backend); a test keeps them equal
    show_default=True,
    help="Embedding backend (vectors are cached per backend).",
)
@json_option
def eval_beir(
    folder: Path,
    split: str,
    fusion: str | None,
    dense_weight: float | None,
    lexical_weight: float | None,
    prf_docs: int | None,
    bm25_k1: float | None,
    bm25_b: float | None,
    model_path: Path | None,
    cache: Path | None,
    backend: str,
    as_json: bool,
) -> None:
    """Rank a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) with the nightly ranking core.

    Queries play interests and corpus documents play articles. Prints nDCG@10, Recall@100,
    MRR@10, the time to index and the time to rank. Vectors are cached, so a second run of the
    same corpus and model embeds nothing.

    Example: gifts eval beir ../shared/eval/scifact --json
    """
    from pipeline.evaluate import run_beir

    overrides = {
        "fusion": fusion,
        "dense_weight": dense_weight,
        "lexical_weight": lexical_weight,
        "prf_docs": prf_docs,
        "bm25_k1": bm25_k1,
        "bm25_b": bm25_b,
    }
    try:
        result = run_beir(folder, split=split, overrides=overrides, model_path=model_path, cache=cache, backend=backend)
    except GiftsError as exc:
        fail(exc)
    figures = result.as_json()
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    click.echo(
        f"nDCG@10 {figures['ndcg@10']:.4f}  Recall@100 {figures['recall@100']:.4f}  MRR@10 {figures['mrr@10']:.4f}"
    )
    click.echo(f"index {figures['index_s']:.1f}s (embedded {figures['embedded']})  rank {figures['rank_s']:.1f}s")


if __name__ == "__main__":  # pragma: no cover
    main()
