"""What every `gifts` command shares: the settings the group passes down, one-line errors, options, the clock."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from pipeline import display
from pipeline.db.states import RunStatus
from pipeline.errors import GiftsError

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.runner import RunResult

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


class Settings:
    def __init__(self, config_path: Path, verbose: int) -> None:
        self.config_path = config_path
        self.verbose = verbose

    def load(self, offline: bool | None = None) -> Config:
        from pipeline.config import load, with_overrides

        return with_overrides(load(self.config_path), offline=offline)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FOLDER = "logs"  # under the workspace's interim folder: private, git-ignored, beside the store


class TerminalFilter(logging.Filter):
    """What reaches the terminal: the project's own warnings and errors (INFO too with -v);
    third-party libraries' records (trafilatura, pypdf, urllib3, httpx, Ray ...) only with -vv.

    Everything still reaches the run's log file (`run_log`)."""

    def __init__(self, verbose: int) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose >= 2:
            return True
        own = record.name == "pipeline" or record.name.startswith("pipeline.")
        return own and record.levelno >= (logging.INFO if self.verbose else logging.WARNING)


class TerminalHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed
    """The terminal's handler; a second `gifts` call in one process (tests) replaces the first's."""


class RunLogHandler(logging.FileHandler):
    """The run's log file's handler."""


def configure_logging(verbose: int) -> None:
    """The terminal handler (stderr, filtered by `TerminalFilter`), credentials redacted on every handler.

    The root logger passes INFO (DEBUG with -vv) so the run's log file gets every library's lines.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, TerminalHandler | RunLogHandler)]:
        root.removeHandler(handler)
        handler.close()
    terminal = TerminalHandler(sys.stderr)
    terminal.setFormatter(logging.Formatter(LOG_FORMAT))
    terminal.addFilter(TerminalFilter(verbose))
    root.addHandler(terminal)
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    # Libraries' warnings.warn() calls (Ray Data's concurrency hints, pandas deprecations) become
    # log records under "py.warnings": third-party lines, so the log file, not the terminal.
    logging.captureWarnings(True)
    display.redact_logs()  # messages about sources name their URLs, and a feed URL may carry a token


@contextmanager
def run_log(config: Config, started: dt.datetime) -> Iterator[Path]:
    """Send every log record of this run to `<interim>/logs/run-<started>.log`; yields the file's path.

    The interim folder, not `processed/`: a log is the run's working record, not something to read
    or share each morning, and it names private files and feed URLs, so it stays with the store,
    out of version control (the workspace's .gitignore keeps `data/interim/` and `*.log` out).
    """
    folder = config.paths.interim / LOG_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"run-{started.strftime('%Y%m%dT%H%M%S')}.log"
    handler = RunLogHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    display.redact_logs()
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()


def fail(exc: GiftsError) -> NoReturn:
    click.echo(f"gifts: error: {display.shown(str(exc))}", err=True)
    sys.exit(exc.exit_code)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).astimezone()


offline_option = click.option(
    "--offline/--online",
    default=None,
    help="Read only the raw archive, never the network (default: the config's fetch.offline).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")


def progress_factory(
    enabled: bool,
) -> Callable[[str, int], tuple[Callable[[int], None], Callable[[], None]]]:
    def factory(stage: str, total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
        if not enabled or total == 0:
            return (lambda _n: None), (lambda: None)
        from tqdm import tqdm

        bar = tqdm(total=total, desc=stage, unit="item", leave=False, file=sys.stderr)
        return bar.update, bar.close

    return factory


def run_stages(
    settings: Settings,
    stages: tuple[str, ...],
    offline: bool | None,
    as_json: bool,
    engine: str = "local",
    address: str | None = None,
) -> None:
    from pipeline.runner import run

    started = now()
    try:
        config = settings.load(offline)
        with run_log(config, started) as log_path:
            result = run(
                config,
                stages,
                now=started,
                progress=progress_factory(sys.stderr.isatty() and not as_json),
                engine=engine,
                address=address,
            )
    except GiftsError as exc:
        fail(exc)
    print_result(result, as_json, log_path)
    sys.exit(EXIT_PARTIAL if result.status == RunStatus.PARTIAL else EXIT_OK)


def print_result(result: RunResult, as_json: bool, log_path: Path | None = None) -> None:
    summary = result.summary()
    summary["log"] = str(log_path) if log_path else None
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
    for warning in result.warnings:
        click.echo(f"warning: {display.shown(warning)}")
    if result.report_dir:
        click.echo(f"report: {result.report_dir / 'index.html'}")
    if log_path:
        click.echo(f"log: {log_path}")
