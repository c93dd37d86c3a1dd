"""Search sources: one query per enabled service for each interest of each active interview, and
one company-news query per active interview's company (opt-in: `[search] enabled`).

Each query is a feed URL; `sources.configured_sources` turns them into sources like any other, so
conditional GET, health, backoff and the fetch guard apply to them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from pipeline.config import Config, SearchSettings
from pipeline.interviews import OPEN_STATUSES, Interview, read_interviews

# A search source's origin starts with this; its every_days spacing is applied by `ingest.fetch_feeds`.
ORIGIN_PREFIX = "search: "

SERVICE_NAMES = {"arxiv": "arXiv", "hackernews": "Hacker News", "crossref": "Crossref", "googlenews": "Google News"}


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One question asked of one service: the URL is the source's location."""

    service: str
    terms: str
    url: str
    origin: str  # "search: <interest>" or "search: company news for <company>"
    title: str  # names the service and the terms


def is_search(origin: str | None) -> bool:
    return bool(origin) and str(origin).startswith(ORIGIN_PREFIX)


def query_url(service: str, terms: str, settings: SearchSettings) -> str:
    """The URL that asks `service` for the newest items on `terms` (every parameter URL-encoded)."""
    n = settings.items_per_query
    params: list[tuple[str, str | int]]
    if service == "arxiv":
        # A phrase in every field; quotes inside the terms would end it early.
        phrase = terms.replace('"', " ")
        params = [("search_query", f'all:"{phrase}"'), ("sortBy", "submittedDate"), ("max_results", n)]
    elif service == "hackernews":
        params = [("query", terms), ("tags", "story"), ("hitsPerPage", n)]
    elif service == "crossref":
        params = [("query", terms), ("rows", n), ("sort", "published"), ("order", "desc")]
    elif service == "googlenews":
        params = [("q", terms), ("hl", "en-US"), ("gl", "US"), ("ceid", "US:en")]
    else:
        raise ValueError(f"unknown search service {service!r}")
    base = getattr(settings, f"{service}_url")
    joiner = "&" if urlsplit(base).query else "?"
    return f"{base}{joiner}{urlencode(params)}"


def _terms(text: str) -> str:
    return " ".join(text.split())


def queries_for(interviews: list[Interview], settings: SearchSettings) -> list[SearchQuery]:
    """Every query for the open interviews (active or offer), in a stable order, without repeats.

    A filled or rejected interview asks nothing: its queries drop out of the configured sources,
    so `ingest.sync_sources` marks them removed and they are never fetched again.
    """
    found: dict[str, SearchQuery] = {}

    def add(service: str, terms: str, origin: str) -> None:
        url = query_url(service, terms, settings)
        title = f"{SERVICE_NAMES[service]} search: {terms}"
        found.setdefault(url, SearchQuery(service, terms, url, origin, title))

    for interview in interviews:
        if interview.status not in OPEN_STATUSES:
            continue
        for contact in interview.contacts:
            for interest in contact.interests:
                terms = _terms(interest.text)
                for service in settings.services:
                    add(service, terms, f"{ORIGIN_PREFIX}{terms}")
        if settings.company_news:
            company = _terms(interview.company)
            add("googlenews", f'"{company}"', f"{ORIGIN_PREFIX}company news for {company}")
    return list(found.values())


def search_queries(config: Config) -> list[SearchQuery]:
    """The workspace's queries: none unless `[search] enabled`, nor without an interviews folder.

    Raises:
        ConfigError: an interview file that does not parse (as the profile stage would).
    """
    settings = config.search
    if not settings.enabled or not config.paths.interviews.is_dir():
        return []
    return queries_for(read_interviews(config.paths.interviews), settings)
