"""Charts: matplotlib SVG that is safe inline (allowlisted elements, no handlers, only #id references)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from pipeline.charts import ALLOWED_ELEMENTS, sanitize_svg, scores_by_contact_svg

HOSTILE_SVG = """<?xml version="1.0"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="alert(1)">
 <script>alert(1)</script>
 <style>@import url(https://evil.example/x.css); * { fill: red }</style>
 <metadata><a href="https://evil.example/">x</a></metadata>
 <foreignObject><body xmlns="http://www.w3.org/1999/xhtml"><script>alert(2)</script></body></foreignObject>
 <image href="https://evil.example/x.png"/>
 <a href="javascript:alert(3)"><text>link</text></a>
 <defs><clipPath id="c1"><rect width="10" height="10"/></clipPath></defs>
 <g clip-path="url(#c1)" onclick="alert(4)" style="fill: url(https://evil.example/p.svg#x)">
  <path d="M 0 0 L 1 1" style="fill: url(#c1)"/>
  <use xlink:href="#c1"/><use href="https://evil.example/sprite.svg#x"/><use xlink:href="data:image/svg+xml,x"/>
  <text onmouseover="alert(5)">Amara "quoted" &amp; 'single' &lt;b&gt;</text>
 </g>
</svg>"""


def _elements(svg: str) -> list[ET.Element]:
    return list(ET.fromstring(svg).iter())  # noqa: S314 -- our own output under test


def test_sanitize_svg_keeps_drawing_and_drops_everything_active() -> None:
    clean = sanitize_svg(HOSTILE_SVG)
    names = {e.tag.rsplit("}", 1)[-1] for e in _elements(clean)}
    assert names <= ALLOWED_ELEMENTS
    assert {"svg", "g", "path", "use", "text", "clipPath", "rect"} <= names
    assert not {"script", "style", "metadata", "foreignObject", "image", "a"} & names
    for element in _elements(clean):
        for name, value in element.attrib.items():
            assert not name.rsplit("}", 1)[-1].startswith("on")
            if name.endswith("href"):
                assert value.startswith("#")
            assert "evil.example" not in value and "javascript" not in value
    assert "alert" not in clean and "evil.example" not in clean and "DOCTYPE" not in clean
    assert 'clip-path="url(#c1)"' in clean and 'style="fill: url(#c1)"' in clean
    assert "Amara &#34;quoted&#34; &amp; &#39;single&#39; &lt;b&gt;" in clean


@pytest.mark.parametrize("text", ["", "<html><body>no svg</body></html>", "<svgx></svgx>"])
def test_sanitize_svg_refuses_what_is_not_svg(text: str) -> None:
    with pytest.raises((ValueError, ET.ParseError)):
        sanitize_svg(text)


def test_scores_chart_draws_every_contact_and_stays_safe() -> None:
    rows = [
        ('Eve <script>alert(1)</script> "x" $\\alpha$', [0.71, 0.52]),
        ("Nobody Yet", []),
        ("Sam", [0.4, 0.35, 0.3]),
    ]
    svg = scores_by_contact_svg(rows)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    texts = ["".join(e.itertext()) for e in _elements(svg) if e.tag.endswith("}text")]
    assert 'Eve <script>alert(1)</script> "x" $\\alpha$' in texts  # literal: no mathtext, no markup
    assert "Nobody Yet" in texts and "Sam" in texts
    assert "<script" not in svg and not re.search(r'href="(?!#)', svg)
    assert scores_by_contact_svg(rows) == svg  # deterministic ids, so reports diff cleanly
    assert scores_by_contact_svg([]) == ""
