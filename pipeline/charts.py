"""Charts for the report: matplotlib figures rendered to inline SVG that is safe to paste into HTML.

Labels come from feeds and notes, so the SVG is rebuilt from an allowlist of elements and
attributes: no scripts, no event handlers, no references outside the document itself.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ALLOWED_ELEMENTS = frozenset(
    {"svg", "g", "defs", "path", "use", "clipPath", "rect", "circle", "ellipse", "line", "polyline",
     "polygon", "text", "tspan", "title", "desc"}
)  # fmt: skip
_LOCAL_URL = re.compile(r"url\(\s*#[\w.:-]+\s*\)")


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _refers_outside(value: str) -> bool:
    """True when a value points anywhere but inside this SVG (url(#id) is the only form allowed)."""
    rest = _LOCAL_URL.sub("", value).lower()
    return "url(" in rest or "@import" in rest or "javascript:" in rest or "expression(" in rest


def sanitize_svg(svg: str) -> str:
    """Rebuild an SVG keeping only drawing elements, no `on*` attributes and only `#id` references.

    `<style>` elements go too: inline in HTML their rules would apply to the whole page.

    Raises:
        ValueError: when the text is not an SVG document.
    """
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("not an SVG document")
    # The prolog (XML declaration, DOCTYPE with its external DTD) is dropped before parsing, so the
    # parser never sees an entity declaration; the rest is matplotlib's own escaped output.
    root = ET.fromstring(svg[start:])  # noqa: S314 -- no DTD left to expand, and the tree is filtered below
    if _local(root.tag) != "svg":
        raise ValueError("not an SVG document")
    _clean(root)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    # ElementTree leaves quotes in text nodes as they are; escape them too, as Jinja does, so
    # quote characters from a label never appear raw anywhere in the page. NUL cannot occur in
    # parsed XML, so it is a safe placeholder.
    for node in root.iter():
        node.text = _mark_quotes(node.text)
        node.tail = _mark_quotes(node.tail)
    return ET.tostring(root, encoding="unicode").replace("\x00q", "&#34;").replace("\x00a", "&#39;")


def _mark_quotes(text: str | None) -> str | None:
    return None if text is None else text.replace('"', "\x00q").replace("'", "\x00a")


def _clean(element: ET.Element) -> None:
    for child in list(element):
        if not isinstance(child.tag, str) or _local(child.tag) not in ALLOWED_ELEMENTS:
            element.remove(child)
            continue
        _clean(child)
    for name, value in list(element.attrib.items()):
        local = _local(name).lower()
        if local.startswith("on") or _refers_outside(value):
            del element.attrib[name]
        elif local == "href" and not value.startswith("#"):
            del element.attrib[name]


def scores_by_contact_svg(rows: Sequence[tuple[str, Sequence[float]]]) -> str:
    """A dot plot of every suggestion's score, one line per contact, as sanitised inline SVG.

    Args:
        rows: (contact label, scores best first) in display order; contacts without suggestions
            keep their line, empty, so the gap is visible.
    Returns:
        An `<svg>` element (no XML prolog), or "" when there is nothing to draw.
    """
    if not rows:
        return ""
    # A bare Figure, not pyplot: no global backend switch, no figure registry to leak into.
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context(
        {
            "svg.fonttype": "none",  # text stays text: smaller, selectable, and escaped by the writer
            "svg.hashsalt": "research-gifts",  # stable ids, so the same data gives the same file
            "text.parse_math": False,  # a "$" in a name must not start mathtext
            "font.family": "sans-serif",
            "font.size": 9,
        }
    ):
        figure = Figure(figsize=(7.2, 0.42 * len(rows) + 0.9))
        axes = figure.subplots()
        labels = [label for label, _ in rows]
        for y, (_, scores) in enumerate(rows):
            xs = list(scores)
            axes.scatter(xs, [y] * len(xs), s=[60 if i == 0 else 28 for i in range(len(xs))], color="#3b6ea5")
            for rank, x in enumerate(xs, start=1):
                # Alternate above and below so close scores keep readable rank labels.
                offset = (0, 6) if rank % 2 else (0, -12)
                axes.annotate(str(rank), (x, y), xytext=offset, textcoords="offset points", ha="center", size=7)
        axes.set_yticks(range(len(rows)), labels)
        axes.invert_yaxis()
        axes.set_xlim(0, 1)
        axes.set_ylim(len(rows) - 0.5, -0.7)
        axes.set_xlabel("score (1 = best suggestion; numbers are ranks)")
        axes.grid(axis="x", color="#e4e4e4")
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return sanitize_svg(buffer.getvalue())
