"""A document's title from its content: the PDF's own title or largest heading, the HTML page's heading.

A local file has only a name; these rules find what a person would recognise it by, and refuse
what is no title at all: "Untitled", "Microsoft Word - x.docx", a file name, a site's name shared
by every page, or a section heading such as "Abstract¶".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MAX_TITLE_CHARS = 200
MAX_HEADING_WORDS = 24
# Permalink marks documentation generators append to headings (Sphinx and MkDocs ¶, §, ⚓). A "#"
# is one only as a link of its own (Node.js "Path#"), never in text: "C#" is a title.
_PERMALINK = "¶§⚓🔗\u200b"
# Headings that name a section or a page part, not the document: never a title.
GENERIC_HEADINGS = frozenset(
    {
        "abstract", "introduction", "contents", "table of contents", "toc", "summary", "executive summary",
        "overview", "preface", "foreword", "background", "conclusion", "conclusions", "references",
        "bibliography", "acknowledgements", "acknowledgments", "appendix", "index", "navigation", "menu",
        "main menu", "search", "on this page", "in this article", "skip to content", "skip to main content",
        "home", "related", "related articles", "share", "comments", "footnotes", "keywords", "untitled",
        "untitled document", "no title", "document", "title", "presentation", "powerpoint presentation",
        "white paper", "whitepaper", "draft", "confidential", "unknown",
    }
)  # fmt: skip
_SECTION_NUMBER = re.compile(
    r"^(?:(?:[0-9]+(?:\.[0-9]+)*|[ivxlc]+)[.)]?\s+)+", re.I
)  # "1.", "II.", "2.3 " before a heading
_FILE_NAME = re.compile(
    r"(?:^|[\\/])[^\\/\s]*\.(?:pdf|docx?|odt|rtf|txt|tex|dvi|html?|pptx?|xlsx?|indd|qxd|pages|key|md|ps|eps)$", re.I
)
_WORD_PROCESSOR = re.compile(r"^(?:microsoft\s+(?:word|powerpoint|excel)|word|powerpoint)\s*-\s", re.I)
_PLACEHOLDER = re.compile(r"^(?:untitled|document|presentation|slide|page|new document)[\s\d_-]*$", re.I)
_TITLE_SEPARATOR = re.compile("\\s+[|\u2013\u2014\u2022\u00b7:-]\\s+")  # "Page | Site", "Page \u2014 Site"
# Class or id names of a site's banner; not "header" alone, which pages also use around their own title.
_SITE_BANNER = re.compile(
    r"(?<![\w-])(?:masthead|navbar|topbar|site-(?:header|title|name|branding)|brand|logo)(?![\w-])", re.I
)
# A line ending on one of these words goes on on the next: "A Maturity Model for" / "Data Quality Testing".
_JOINING_WORDS = frozenset("a an and for from in of on or the to with".split())
_NOT_A_TITLE_LINE = re.compile(
    r"https?://|www\.|@|©|\bcopyright\b|all rights reserved|^page\s+\d+|^\d+\s*(?:of|/)\s*\d+$", re.I
)


def clean_heading(raw: str | None) -> str:
    """Whitespace collapsed and permalink marks ("Abstract¶") stripped from both ends."""
    text = " ".join((raw or "").split())
    return text.strip(_PERMALINK + " ").strip()


def is_generic(text: str) -> bool:
    """A section heading ("Abstract", "1. Introduction", "Contents:") rather than a document's title."""
    key = _SECTION_NUMBER.sub("", clean_heading(text)).strip(" :.").casefold()
    return key in GENERIC_HEADINGS


def meaningful(raw: str | None) -> str | None:
    """The title cleaned, or None when it is no title: empty, placeholder, file name, generic heading.

    Examples refused: "Untitled", "Microsoft Word - report.docx", "final_v3.pdf", "C:\\tmp\\a.pdf",
    "report_final_v3", "Abstract¶", "12345".
    """
    text = clean_heading(raw)
    if not text or len(text) > MAX_TITLE_CHARS * 2 or not any(ch.isalpha() for ch in text):
        return None
    if _WORD_PROCESSOR.match(text) or _PLACEHOLDER.match(text) or _FILE_NAME.search(text) or is_generic(text):
        return None
    if " " not in text and ("_" in text or "/" in text or "\\" in text):
        return None  # a file stem or path: "report_final_v3", "docs/intro"
    return text if len(text) <= MAX_TITLE_CHARS else text[:MAX_TITLE_CHARS].rsplit(" ", 1)[0]


def _title_line(line: str) -> str | None:
    """`line` as a title when it reads like one: short, not a sentence, not a byline or page furniture."""
    text = meaningful(line)
    if text is None or len(text.split()) > MAX_HEADING_WORDS or _NOT_A_TITLE_LINE.search(text):
        return None
    if text.endswith(".") and len(text.split()) > 6:
        return None  # a sentence of the body
    return text


def first_heading(text: str, lines: int = 30) -> str | None:
    """The first short line of extracted text that reads like a title, within its first `lines` lines.

    A title broken over two lines ("... Engineers:" then "Design Principles ...", or a line ending
    on "of", "and" ...) is joined again with the line right below it.
    """
    rows = [r.strip() for r in text.splitlines()[: lines * 2]]
    for n, row in enumerate(rows):
        title = _title_line(row.lstrip("#").strip()) if row else None
        if title is None:
            continue
        following = rows[n + 1] if n + 1 < len(rows) else ""
        last = title.rsplit(" ", 1)[-1].casefold()
        if following and (title.endswith((":", "-", "\u2013", ",")) or last in _JOINING_WORDS):
            joined = _title_line(f"{title} {following}")
            if joined is not None and len(joined) <= MAX_TITLE_CHARS:
                return joined
        return title
    return None


def markdown_title(text: str, lines: int = 40) -> str | None:
    """The first meaningful Markdown heading (`# ...`) of a text file, else its first title-like line."""
    for row in text.splitlines()[:lines]:
        match = re.match(r"^#{1,6}\s+(.+?)(?:\s+#+)?$", row.strip())  # "## Title ##": the closing #s go
        if match and (title := _title_line(match.group(1))):
            return title
    return first_heading(text, lines)


def largest_text(runs: Iterable[tuple[float, str]], min_ratio: float = 1.2) -> str | None:
    """The title of a PDF page from its text runs (font size, text): the first meaningful block set in a
    size at least `min_ratio` times the body's (the size holding most characters), largest size first."""
    runs = [(round(size, 1), text) for size, text in runs if text.strip()]
    if not runs:
        return None
    chars: dict[float, int] = {}
    for size, text in runs:
        chars[size] = chars.get(size, 0) + len(text.strip())
    body = max(chars, key=lambda s: chars[s])
    for size in sorted((s for s in chars if s >= body * min_ratio), reverse=True):
        block: list[str] = []
        for run_size, text in runs:
            if run_size == size:
                block.append(text)
            elif block:
                title = _title_line(" ".join(block))
                if title:
                    return title
                block = []
        if block and (title := _title_line(" ".join(block))):
            return title
    return None


def _key(text: str) -> str:
    return " ".join(re.sub(r"\W+", " ", text.casefold()).split())


def _in_page_chrome(element: Any) -> bool:
    """In the site's navigation, footer, sidebar or top banner, not the page's own content.

    A banner (<header>, role=banner, a "masthead" or "site-header" class) counts only outside <article>
    and <main>: an article's own header holds its title.
    """
    banner = False
    for parent in (element, *element.iterancestors()):
        tag = parent.tag if isinstance(parent.tag, str) else ""
        role = (parent.get("role") or "").lower()
        if tag in ("nav", "footer", "aside") or role in ("navigation", "contentinfo", "complementary"):
            return True
        if tag in ("article", "main") or role == "main":
            return False
        names = f"{parent.get('class') or ''} {parent.get('id') or ''}"
        banner = banner or tag == "header" or role == "banner" or bool(_SITE_BANNER.search(names))
    return banner


def _heading_text(element: Any) -> str:
    """A heading's text without its permalink anchors (an <a> holding only "#", "¶", "§" ...)."""
    text = " ".join(element.text_content().split())
    for anchor in element.iter("a"):
        mark = anchor.text_content().strip()
        if mark and all(ch in _PERMALINK + "#" for ch in mark):
            if text.endswith(mark):
                text = text[: -len(mark)].rstrip()
            elif text.startswith(mark):
                text = text[len(mark) :].lstrip()
    return text


def html_title(tree: Any, fallback: str | None = None) -> str | None:
    """The page's own title from a parsed HTML tree (lxml), `fallback` (trafilatura's) when nothing better.

    1. a part of <title> that the page's content confirms as a heading (or og:title, or `fallback`):
       "Path | Node.js v20 Documentation" with a heading "Path#" gives "Path";
    2. the first h1 of the page's content (not in its header, navigation or footer);
    3. <title>, without the parts that repeat the site's banner heading, else og:title;
    4. the first h2 or h3 of the content, then `fallback`.
    Generic section headings ("Abstract¶", "Contents") never count.
    """
    content: list[tuple[int, str]] = []
    chrome: set[str] = set()
    for element in tree.iter("h1", "h2", "h3"):
        text = meaningful(_heading_text(element))
        if text is None:
            continue
        if _in_page_chrome(element):
            chrome.add(_key(text))
        else:
            content.append((int(element.tag[1]), text))
    head_title = tree.find(".//head/title")
    full = meaningful(head_title.text_content()) if head_title is not None else None
    og = tree.xpath("string(//meta[@property='og:title']/@content)")
    og_title = meaningful(str(og)) if og else None
    segments = _TITLE_SEPARATOR.split(full) if full else []
    parts = [p for p in (meaningful(s) for s in segments) if p]
    part_keys = {_key(p) for p in parts} | ({_key(full)} if full else set())
    for candidate in [*(text for _, text in content), og_title, meaningful(fallback)]:
        if candidate and _key(candidate) in part_keys and _key(candidate) not in chrome:
            return candidate
    h1 = next((text for level, text in content if level == 1), None)
    if h1:
        return h1
    if full:
        own = [p for p in parts if _key(p) not in chrome]
        if len(segments) == 1 and _key(full) not in chrome:
            return full
        if len(own) == 1:
            return own[0]
        if own and og_title is None:
            return full
    if og_title and _key(og_title) not in chrome:
        return og_title
    if content:
        return content[0][1]
    title = meaningful(fallback)
    return title if title and _key(title) not in chrome else None
