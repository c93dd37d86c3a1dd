"""Every setting a workspace can change, with its default: the defaults live here, in code.

`config.py` reads a workspace's `gifts.toml` into these; a key the file leaves out keeps its default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Paths:
    interviews: Path
    raw: Path
    interim: Path
    processed: Path
    models: Path
    templates: Path

    @property
    def store(self) -> Path:
        return self.interim / "gifts.sqlite"

    @property
    def reports(self) -> Path:
        return self.processed / "reports"


@dataclass(frozen=True, slots=True)
class Sources:
    feeds: tuple[str, ...] = ()
    opml: tuple[Path, ...] = ()
    folders: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class FetchSettings:
    offline: bool = False
    timeout_s: float = 20.0
    max_bytes: int = 15 * 1024 * 1024
    max_redirects: int = 5
    allow_private_networks: bool = False
    fetch_articles: bool = True
    max_entries_per_feed: int = 50
    # Pages are fetched this many at a time (never more than two at once from one host). A night
    # gives each source's pages `source_budget_s` seconds of fetching and all pages `run_budget_s`
    # of wall time; pages not started by then wait, pending, for the next night (0: no budget).
    page_workers: int = 8
    source_budget_s: float = 120.0
    run_budget_s: float = 1200.0
    user_agent: str = "research-gifts/0.1 (personal reading assistant; +https://pypi.org/project/research-gifts/)"


# The embedding backends (pipeline/backends.py runs the fast ones): named here, beside the other
# choices a config makes, so validating a config never imports the backends.
BACKENDS = ("torch", "openvino", "openvino-int8")


@dataclass(frozen=True, slots=True)
class EmbedSettings:
    model: str = "all-MiniLM-L6-v2"
    model_path: Path | None = None
    batch_size: int = 32
    passage_words: int = 180
    passage_overlap: int = 40
    max_passages: int = 24
    # "openvino-int8" (static int8 + bf16 on OpenVINO, measured 3.7x the torch path with the same
    # SciFact nDCG@10), "openvino" (bf16) or "torch" (sentence-transformers); see pipeline/backends.py.
    backend: str = "openvino-int8"


@dataclass(frozen=True, slots=True)
class RetrievalSettings:
    """How dense and lexical scores are combined (defaults are what the nightly run uses).

    The nightly rank stage's are `RankSettings.retrieval`, set by [rank] keys (config.RETRIEVAL_KEYS);
    `gifts eval beir` starts from the same defaults and may change any of them.
    """

    dense_weight: float = 0.7
    lexical_weight: float = 0.3
    fusion: str = "weighted"  # weighted | rrf | dense | lexical
    rrf_k: int = 60
    prf_docs: int = 0  # dense pseudo-relevance feedback: how many top documents (0: off)
    prf_weight: float = 0.5
    # Above `ann_threshold` documents, each query scores only candidates from an approximate index
    # (faiss IVF, pipeline/ann.py) and BM25's best; below it every document is scored exactly.
    # Measured on benchmarks/scale_bench.py (200k documents): nprobe 32 gives recall@10 0.999
    # (16: 0.989); 400 candidates keep 99.7% of brute force's top 5 (200: 98.6%).
    ann_threshold: int = 50_000
    ann_nprobe: int = 32  # inverted lists the approximate index scans per query
    ann_candidates: int = 400  # passages from the approximate index, and BM25 documents, per query
    bm25_k1: float = 1.5  # bm25s's defaults; Anserini's BEIR baseline uses 0.9 / 0.4
    bm25_b: float = 0.75

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RankSettings:
    top_k: int = 5
    min_score: float = 0.30
    half_life_days: float = 60.0
    freshness_weight: float = 0.10
    quality_weight: float = 0.05
    # How documents are retrieved and their dense and lexical scores fused; a workspace file sets
    # its fusion weights and approximate-index keys under [rank] like the rest.
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    min_words: int = 150
    exclude_sources: tuple[str, ...] = ()
    exclude_terms: tuple[str, ...] = ()
    # No filler: the score the report shows must clear `score_floor` (an inferred interest's,
    # `inferred_floor`) and `relative_floor` times the best score for the same interest. One story
    # once: articles published within `story_days` whose document vectors reach `story_cosine`, or
    # whose headlines share `story_title_overlap` of their words, are one suggestion. All measured
    # on SciFact by benchmarks/calibrate_rank.py (README, design notes).
    score_floor: float = 0.50
    relative_floor: float = 0.75
    inferred_floor: float = 0.525
    story_cosine: float = 0.80
    story_title_overlap: float = 0.4
    story_days: int = 3
    # Interest coverage: a suggestion's text must hold `min_coverage` of its interest's distinct
    # content words, weighted by BM25 IDF (0: off). Measured by benchmarks/calibrate_rank.py: the most
    # precise share keeping 95% of the relevant documents, for full claims and short noun phrases.
    min_coverage: float = 0.3
    # Of one story's articles scoring within `story_margin` (a share) of its best, the longest stands
    # for it: a gap that small is no more than the freshness nudge, so completeness decides.
    story_margin: float = 0.10
    # A listed interest is read with what the notes say about the person: its query vector is the
    # blend (1 - notes_weight) * interest + notes_weight * notes (0: the interest alone). Measured on
    # benchmarks/gift_eval (README, design notes): 0.5, the even blend, in the flat top of the curve.
    notes_weight: float = 0.5


@dataclass(frozen=True, slots=True)
class InterestSettings:
    """Interests inferred from an interview's notes (key phrases scored with the embedding model)."""

    infer: bool = True
    max_inferred: int = 3
    inferred_weight: float = 0.8
    min_similarity: float = 0.35
    duplicate_similarity: float = 0.7


@dataclass(frozen=True, slots=True)
class CadenceSettings:
    """When a follow-up is due; an interview's `cadence:` front matter overrides these per interview."""

    thank_you_hours: int = 24
    min_gap_days: int = 7
    max_per_month: int = 3
    reply_pause_days: int = 14
    min_gift_score: float = 0.35


@dataclass(frozen=True, slots=True)
class HistorySettings:
    colleague_window_days: int = 90


@dataclass(frozen=True, slots=True)
class FeedbackSettings:
    enabled: bool = True
    min_decisions: int = 50
    holdout: float = 0.3
    pool: int = 3


TONES = ("warm", "formal", "brief")


@dataclass(frozen=True, slots=True)
class DraftSettings:
    tone: str = "warm"
    signature: str = ""


@dataclass(frozen=True, slots=True)
class RaySettings:
    """The Ray engine (`gifts run --engine ray`); the local engine ignores this section."""

    address: str = ""  # a running cluster (ray://host:10001 or host:6379); empty: a local one per run
    dataset: str = ""  # Parquet datasets: a folder or an object-store URI; empty: <processed>/dataset
    workers: int = 2  # actors per pool (embedding, ranking); each loads the model once
    batch_size: int = 256  # rows per Ray Data block
    num_cpus: int = 0  # CPUs of a local cluster; 0: all of this machine's


SECURITIES = ("starttls", "ssl", "none")


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """The optional morning digest by email (pipeline/notify.py): off unless `enabled`.

    The password is never in the file: `password_env` names the environment variable holding it.
    """

    enabled: bool = False
    smtp_host: str = ""
    smtp_port: int = 587
    security: str = "starttls"  # starttls | ssl (implicit TLS, port 465) | none (a relay on this machine only)
    user: str = ""  # empty: no login
    password_env: str = ""
    sender: str = ""
    to: tuple[str, ...] = ()
    review_url: str = ""  # a link to the review app in the digest; empty: none
    timeout_s: float = 30.0


SEARCH_SERVICES = ("arxiv", "hackernews", "crossref", "googlenews")


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """Search sources built from each active interview's interests (pipeline/search.py): off unless
    `enabled`, because the query terms (interests, company names) are then sent to these services."""

    enabled: bool = False
    services: tuple[str, ...] = SEARCH_SERVICES
    items_per_query: int = 10
    every_days: int = 1  # each query is asked at most once in this many days
    company_news: bool = True  # one Google News query per active interview's company
    min_interval_s: float = 1.0  # at most one request to a service's host per this many seconds
    arxiv_url: str = "http://export.arxiv.org/api/query"
    hackernews_url: str = "https://hn.algolia.com/api/v1/search_by_date"
    crossref_url: str = "https://api.crossref.org/works"
    googlenews_url: str = "https://news.google.com/rss/search"


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    root: Path
    name: str
    paths: Paths
    sources: Sources = field(default_factory=Sources)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    embed: EmbedSettings = field(default_factory=EmbedSettings)
    rank: RankSettings = field(default_factory=RankSettings)
    interests: InterestSettings = field(default_factory=InterestSettings)
    cadence: CadenceSettings = field(default_factory=CadenceSettings)
    history: HistorySettings = field(default_factory=HistorySettings)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)
    drafts: DraftSettings = field(default_factory=DraftSettings)
    ray: RaySettings = field(default_factory=RaySettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    search: SearchSettings = field(default_factory=SearchSettings)
