"""Build the offline sample workspace from the hand-written articles in data/sample/articles/.

Each article's front matter names a feed of a fictional small web (hosts under the reserved
`.example` TLD). This script renders that web, RSS 2.0, Atom and RSS 1.0 feeds, an HTML page per
article (a different template per site) and reportlab PDFs for the white papers, and records every
feed, page and PDF in the raw archive at data/sample/data/raw, so the pipeline can run offline.
Articles of the `inbox` feed become local files in data/sample/inbox/, and the five feeds are
listed in data/sample/sources.opml. Output is deterministic: two runs give identical bytes.

Run from the repository root: .venv/bin/python scripts/build_sample.py
"""

from __future__ import annotations

import html
import io
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from pathlib import Path
from string import Template

import yaml
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pipeline.archive import Archive, ArchiveEntry  # noqa: E402 -- needs ROOT on sys.path first

SAMPLE = ROOT / "data" / "sample"
FETCHED_AT = "2026-11-25T06:00:00Z"
LAST_MODIFIED = "Wed, 25 Nov 2026 06:00:00 GMT"
TRACKING = "?utm_source=rss&utm_medium=feed"
ISO = "%Y-%m-%dT%H:%M:%SZ"  # Atom and Dublin Core dates
CONTENT_TYPES = {
    "rss2": "application/rss+xml",
    "atom": "application/atom+xml",
    "rdf": "application/rdf+xml",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}
esc = html.escape
Block = tuple[str, str | list[str]]  # (p | h2 | h3 | ul, text or bullet items)


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    author: str
    published: date
    feed: str
    format: str  # html | pdf | text
    summary: str
    blocks: tuple[Block, ...]

    @property
    def stamp(self) -> datetime:
        return datetime.combine(self.published, time(9, 0), UTC)


@dataclass(frozen=True)
class Site:
    feed: str
    title: str
    feed_url: str
    feed_type: str  # rss2 | atom | rdf
    page: str  # page URL below the home page, formatted with the article's slug and date d

    @property
    def home(self) -> str:
        return self.feed_url.rsplit("/", 1)[0] + "/"


# fmt: off
SITES = [
    Site("pipeline-post", "The Pipeline Post", "https://pipeline-post.example/feed.xml", "rss2",
         "{d:%Y}/{d:%m}/{slug}/"),
    Site("lead-dev-notes", "Lead Dev Notes", "https://lead-dev-notes.example/atom.xml", "atom",
         "posts/{slug}.html"),
    Site("white-papers", "Research Digest: White Papers", "https://papers.research-digest.example/feed.atom", "atom",
         "papers/{slug}.pdf"),
    Site("clinical-ai-review", "Clinical AI Review", "https://clinical-ai-review.example/index.rdf", "rdf",
         "articles/{slug}"),
    Site("grid-weekly", "Grid & Product Weekly", "https://gridweekly.example/rss", "rss2",
         "{d:%Y}/{d:%m}/{d:%d}/{slug}.html"),
]
# fmt: on
FOLDERS = {"Engineering": SITES[:3], "Health & Energy": SITES[3:]}  # OPML folders
INBOX_SITE = Site("inbox", "Field Notes on Accessible Software", "https://a11y-notes.example/feed", "", "notes/{slug}")

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title | $site</title>
<meta name="description" content="$summary"><meta name="author" content="$author">
<link rel="canonical" href="$url"><link rel="stylesheet" href="/assets/$layout.css">
</head>
<body class="$layout">
<header class="$layout-masthead"><a class="brand" href="/">$site</a>
<nav class="$layout-nav" aria-label="Main"><ul>$nav</ul></nav></header>
$crumbs
<main id="content"><article class="$layout-article">
<h1>$title</h1>
$byline
<div class="$layout-body">
$body
</div></article>
$related</main>
<footer class="$layout-footer"><section class="newsletter"><p>$newsletter</p>
<form action="/subscribe/"><input type="email" name="email"><button>Subscribe</button></form></section>
<div class="cookie-banner" role="dialog"><p>$cookies</p><button>Accept</button></div>
<p class="copyright">&copy; 2026 $site. All rights reserved. <a href="/privacy/">Privacy</a></p></footer>
</body>
</html>
""")
# Per site: layout name, nav labels, breadcrumb and byline (templates over the page's fields),
# then the footer's newsletter pitch and cookie notice.
# fmt: off
THEMES = {
    "pipeline-post": (
        "post", "Streaming|Data quality|Archive|About",
        '<nav class="breadcrumb"><a href="/">Home</a> &rsaquo; <a href="/$year/">$year</a></nav>',
        '<p class="post-meta">By $author &middot; $time &middot; $minutes min read</p>',
        "Get the Post every Thursday: one email a week, no spam.", "We use cookies to count visits.",
    ),
    "lead-dev-notes": (
        "h-entry", "Posts|Tags|Talks|Now",
        '<ol class="crumbs"><li><a href="/">Home</a></li><li><a href="/posts/">Posts</a></li></ol>',
        '<div class="entry-meta">Posted $time by <span class="p-author h-card">$author</span></div>',
        "Like these notes? Join 4,000 engineering leads who get new posts by email.",
        "This site uses only essential cookies.",
    ),
    "clinical-ai-review": (
        "journal", "Articles|Privacy|Evaluation|Editorial board|Submit",
        '<nav class="breadcrumbs"><a href="/">Home</a> &gt; <a href="/articles/">Articles</a></nav>',
        '<div class="article-byline"><span class="contrib">$author</span>, $time</div>',
        "Email alerts: receive a monthly digest of new articles from the journal.",
        "We use cookies to improve your experience. By browsing you agree to our cookie policy.",
    ),
    "grid-weekly": (
        "story", "Storage|Markets|Product|Research|Events",
        '<div class="breadcrumb"><a href="/">Home</a> / <a href="/$year/$month/">$month/$year</a></div>',
        '<div class="byline">by <span class="byline-author">$author</span> | $time</div>',
        "Grid &amp; Product Weekly lands in your inbox every Monday. Subscribe for free.",
        "Cookies help us deliver our services. Manage your preferences at any time.",
    ),
    "inbox": (
        "note", "Notes|About",
        '<nav class="crumbs"><a href="/">Home</a> &gt; <a href="/notes/">Notes</a></nav>',
        '<p class="meta">$author &middot; $time</p>',
        "New field notes arrive by email about once a month.", "This site sets no tracking cookies.",
    ),
}
# fmt: on


def parse_markdown(text: str) -> tuple[Block, ...]:
    """Paragraphs, `##`/`###` headings and `-` bullet lists: the only Markdown the articles use."""
    blocks: list[Block] = []
    for chunk in text.strip().split("\n\n"):
        lines = [line.strip() for line in chunk.strip().splitlines()]
        if lines[0].startswith(("## ", "### ")):
            level, _, heading = lines[0].partition(" ")
            blocks.append((f"h{len(level)}", heading))
        elif all(line.startswith("- ") for line in lines):
            blocks.append(("ul", [line[2:] for line in lines]))
        else:
            blocks.append(("p", " ".join(lines)))
    return tuple(blocks)


def load_articles() -> list[Article]:
    articles = []
    for path in sorted((SAMPLE / "articles").glob("*/*.md")):
        _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
        meta = yaml.safe_load(front)
        fields = {key: meta[key] for key in ("title", "author", "published", "feed", "format")}
        articles.append(
            Article(slug=path.stem.split("-", 1)[1], summary=meta["summary"], blocks=parse_markdown(body), **fields)
        )
    return articles


def body_html(article: Article) -> str:
    out = []
    for kind, content in article.blocks:
        if isinstance(content, list):
            items = "\n".join(f"<li>{esc(item)}</li>" for item in content)
            out.append(f"<ul>\n{items}\n</ul>")
        else:
            out.append(f"<{kind}>{esc(content)}</{kind}>")
    return "\n".join(out)


def plain_text(article: Article) -> str:
    lines = [article.title, f"{article.author}, {article.published.isoformat()}", ""]
    for _, content in article.blocks:
        lines.extend([f"- {item}" for item in content] if isinstance(content, list) else [content])
        lines.append("")
    return "\n".join(lines)


def page_url(site: Site, article: Article) -> str:
    return site.home + site.page.format(slug=article.slug, d=article.published)


def render_page(site: Site, article: Article, neighbours: list[Article]) -> bytes:
    layout, nav, crumbs, byline, newsletter, cookies = THEMES[site.feed]
    d = article.published
    fields = {
        "title": esc(article.title),
        "site": esc(site.title),
        "summary": esc(article.summary),
        "author": esc(article.author),
        "iso": d.isoformat(),
        "url": esc(page_url(site, article)),
        "year": f"{d:%Y}",
        "month": f"{d:%m}",
        "layout": layout,
        "time": f'<time datetime="{d.isoformat()}">{d:%B} {d.day}, {d.year}</time>',
        "minutes": max(1, round(len(plain_text(article).split()) / 230)),
    }
    related = "".join(f'<li><a href="{esc(page_url(site, other))}">{esc(other.title)}</a></li>' for other in neighbours)
    return PAGE.substitute(
        fields,
        body=body_html(article),
        newsletter=newsletter,
        cookies=cookies,
        nav="".join(f'<li><a href="/{s.lower().replace(" ", "-")}/">{s}</a></li>' for s in nav.split("|")),
        crumbs=Template(crumbs).substitute(fields),
        byline=Template(byline).substitute(fields),
        related=related and f'<aside class="related"><h2>Related</h2><ul>{related}</ul></aside>',
    ).encode("utf-8")


def render_pdf(article: Article, publisher: str) -> bytes:
    """A white paper; `invariant=1` keeps dates and document ids out, so the bytes are stable."""
    styles, buffer, d = getSampleStyleSheet(), io.BytesIO(), article.published
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=article.title,
        author=article.author,
        subject=article.summary,
        creator=publisher,
        invariant=1,
    )
    story = [
        Paragraph(esc(article.title), styles["Title"]),
        Paragraph(f"{esc(article.author)}, {esc(publisher)}, {d:%B} {d.day}, {d.year}", styles["Italic"]),
        Spacer(1, 6 * mm),
    ]
    for kind, content in article.blocks:
        if isinstance(content, list):
            story += [Paragraph(esc(item), styles["BodyText"], bulletText="\u2022") for item in content]
            story.append(Spacer(1, 2 * mm))
        else:
            style = {"h2": "Heading2", "h3": "Heading3", "p": "BodyText"}[kind]
            story.append(Paragraph(esc(content), styles[style]))
    doc.build(story)
    return buffer.getvalue()


def rss2(site: Site, items: list[tuple[Article, str]]) -> str:
    entries = "".join(
        f"""    <item>
      <title>{esc(a.title)}</title>
      <link>{esc(link)}</link>
      <guid isPermaLink="false">{site.feed}:{a.published:%Y}:{a.slug}</guid>
      <pubDate>{format_datetime(a.stamp, usegmt=True)}</pubDate>
      <dc:creator>{esc(a.author)}</dc:creator>
      <description>{esc(a.summary)}</description>
    </item>
"""
        for a, link in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>{esc(site.title)}</title><link>{site.home}</link><language>en</language>
    <description>New articles from {esc(site.title)}</description>
    <lastBuildDate>{format_datetime(items[0][0].stamp, usegmt=True)}</lastBuildDate>
    <atom:link href="{site.feed_url}" rel="self" type="application/rss+xml"/>
{entries}  </channel>
</rss>
"""


def atom(site: Site, items: list[tuple[Article, str]]) -> str:
    host = site.home.split("/")[2]
    entries = ""
    for a, link in items:
        links = f'<link rel="alternate" type="text/html" href="{link}"/>'
        if a.format == "pdf":
            links = (
                f'<link rel="alternate" type="application/pdf" href="{link}"/>\n'
                f'    <link rel="enclosure" type="application/pdf" href="{link}"/>'
            )
        entries += f"""  <entry>
    <title>{esc(a.title)}</title>
    {links}
    <id>tag:{host},{a.published.isoformat()}:{a.slug}</id>
    <published>{a.stamp:{ISO}}</published><updated>{a.stamp:{ISO}}</updated>
    <author><name>{esc(a.author)}</name></author>
    <summary>{esc(a.summary)}</summary>
  </entry>
"""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>{esc(site.title)}</title>
  <id>tag:{host},2026:feed</id>
  <link rel="self" type="application/atom+xml" href="{site.feed_url}"/>
  <link rel="alternate" type="text/html" href="{site.home}"/>
  <updated>{items[0][0].stamp:{ISO}}</updated>
{entries}</feed>
"""


def rdf(site: Site, items: list[tuple[Article, str]]) -> str:
    seq = "".join(f'      <rdf:li rdf:resource="{link}"/>\n' for _, link in items)
    entries = "".join(
        f"""  <item rdf:about="{link}">
    <title>{esc(a.title)}</title>
    <link>{link}</link>
    <description>{esc(a.summary)}</description>
    <dc:date>{a.stamp:{ISO}}</dc:date>
    <dc:creator>{esc(a.author)}</dc:creator>
  </item>
"""
        for a, link in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="{site.feed_url}">
    <title>{esc(site.title)}</title><link>{site.home}</link>
    <description>Practice notes on clinical machine learning and health data privacy</description>
    <dc:date>{items[0][0].stamp:{ISO}}</dc:date>
    <items><rdf:Seq>
{seq}    </rdf:Seq></items>
  </channel>
{entries}</rdf:RDF>
"""


def opml() -> str:
    body = ""
    for folder, sites in FOLDERS.items():
        body += f'    <outline text="{esc(folder)}" title="{esc(folder)}">\n'
        body += "".join(
            f'      <outline type="rss" text="{esc(s.title)}" title="{esc(s.title)}"'
            f' xmlUrl="{s.feed_url}" htmlUrl="{s.home}"/>\n'
            for s in sites
        )
        body += "    </outline>\n"
    return f"""<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0">
  <head><title>research-gifts sample sources</title><dateCreated>{LAST_MODIFIED}</dateCreated></head>
  <body>
{body}  </body>
</opml>
"""


def store(archive: Archive, url: str, body: bytes, content_type: str) -> None:
    sha = archive.put(body)
    etag = f'"{sha[:16]}"'
    archive.record(ArchiveEntry(url, sha, content_type, FETCHED_AT, etag, LAST_MODIFIED, final_url=None))


def build_site(archive: Archive, site: Site, articles: list[Article]) -> None:
    """Archive one site's pages or PDFs, then its feed with the newest entries first."""
    items = sorted(articles, key=lambda a: (a.published, a.slug), reverse=True)
    for index, article in enumerate(items):
        if article.format == "pdf":
            body = render_pdf(article, site.title)
        else:
            neighbours = [a for a in items[max(0, index - 2) : index + 3] if a is not article]
            body = render_page(site, article, neighbours[:3])
        store(archive, page_url(site, article), body, CONTENT_TYPES[article.format])
    # The second item's link carries tracking parameters; the pipeline drops them (and any
    # fragment) before fetching, so the page is archived under the clean URL above.
    links = [
        page_url(site, a) + (TRACKING if site.feed == "pipeline-post" and i == 1 else "") for i, a in enumerate(items)
    ]
    render = {"rss2": rss2, "atom": atom, "rdf": rdf}[site.feed_type]
    feed = render(site, list(zip(items, links, strict=True)))
    store(archive, site.feed_url, feed.encode("utf-8"), CONTENT_TYPES[site.feed_type])


def build_inbox(folder: Path, articles: list[Article]) -> None:
    """Local files as a user would drop them in: a saved web page, a PDF and plain notes."""
    folder.mkdir(parents=True)
    for article in articles:
        target = folder / f"{article.slug}.{'txt' if article.format == 'text' else article.format}"
        if article.format == "html":
            target.write_bytes(render_page(INBOX_SITE, article, []))
        elif article.format == "pdf":
            target.write_bytes(render_pdf(article, "Data Platform Guild"))
        else:
            target.write_text(plain_text(article), encoding="utf-8")


def main() -> None:
    articles = load_articles()
    raw, inbox = SAMPLE / "data" / "raw", SAMPLE / "inbox"
    for folder in (raw, inbox):
        shutil.rmtree(folder, ignore_errors=True)
    archive = Archive(raw)
    for site in SITES:
        build_site(archive, site, [a for a in articles if a.feed == site.feed])
    build_inbox(inbox, [a for a in articles if a.feed == "inbox"])
    (SAMPLE / "sources.opml").write_text(opml(), encoding="utf-8")
    web = [a for a in articles if a.feed != "inbox"]
    pdfs = sum(a.format == "pdf" for a in web)
    objects = sum(1 for _ in (raw / "objects").glob("*/*"))
    print(
        f"{len(SITES)} feeds, {len(web) - pdfs} pages, {pdfs} PDFs, {len(articles) - len(web)}"
        f" inbox files, {objects} archive objects in {raw.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
