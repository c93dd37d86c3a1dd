"""Save a PNG of a report's first screen, as the README shows it (docs/report.png).

Usage: .venv/bin/python scripts/screenshot_report.py [REPORT_HTML] [OUT_PNG]
Defaults: the sample's latest report (run `make demo` first) and docs/report.png. Uses Debian's
Chromium through Playwright, offline, with every request aborted: the report needs none.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Route, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPORT = ROOT / "data" / "sample" / "data" / "processed" / "reports" / "latest" / "index.html"
DEFAULT_OUT = ROOT / "docs" / "report.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def screenshot(report: Path, out: Path, width: int = 1000, height: int = 1300) -> list[str]:
    """Write the screenshot; returns the URLs the page tried to load (none, for a good report)."""
    target = report.resolve().as_uri()
    blocked: list[str] = []

    def route(request_route: Route) -> None:
        if request_route.request.url == target:
            request_route.continue_()
        else:
            blocked.append(request_route.request.url)
            request_route.abort()

    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            headless=True,
            args=ARGS,
            offline=True,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.new_page()
            page.route("**/*", route)
            page.goto(target, wait_until="load")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=False)
        finally:
            context.close()
    _shrink(out)
    return blocked


def _shrink(png: Path) -> None:
    """A 256-colour palette keeps text crisp at about a third of the bytes (Pillow comes with matplotlib)."""
    from PIL import Image

    with Image.open(png) as image:
        small = image.convert("RGB").quantize(256, dither=Image.Dither.NONE)
    small.save(png, optimize=True)


def main() -> int:
    report = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_REPORT
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_OUT
    if not report.is_file():
        print(f"{report}: no report there; run `make demo` first", file=sys.stderr)
        return 2
    blocked = screenshot(report, out)
    print(f"{out} ({out.stat().st_size // 1024} KiB){'; blocked: ' + ', '.join(blocked) if blocked else ''}")
    return 1 if blocked else 0


if __name__ == "__main__":
    sys.exit(main())
