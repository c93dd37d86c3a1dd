"""What every `gifts` command shares: the settings the group passes down, one-line errors, options, the clock."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from pipeline import display
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

    try:
        config = settings.load(offline)
        result = run(
            config,
            stages,
            now=now(),
            progress=progress_factory(sys.stderr.isatty() and not as_json),
            engine=engine,
            address=address,
        )
    except GiftsError as exc:
        fail(exc)
    print_result(result, as_json)
    sys.exit(EXIT_PARTIAL if result.status == "partial" else EXIT_OK)


def print_result(result: RunResult, as_json: bool) -> None:
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
