"""The values the store's state and kind columns hold, by name, for every module to use.

Plain `str` constants, not an Enum: they are bound as SQL parameters, compared with the strings the
store hands back, used as counter keys and written to Parquet by the Ray engine, all exactly as the
bare strings were. A value here is stored in users' databases: never rename one, add new names.
"""

from __future__ import annotations

from typing import Final


class DocState:
    """`documents.state`: where a document is on its way to being ranked."""

    PENDING: Final = "pending"  # waiting for its page or its extraction
    EXTRACTED: Final = "extracted"  # has text: passages, vectors and ranking use it
    EXTRACT_FAILED: Final = "extract_failed"
    TOO_LARGE: Final = "too_large"
    BLOCKED: Final = "blocked"  # refused by this machine's rules (robots.txt, a link, an address)
    DUPLICATE: Final = "duplicate"  # a near-copy of an earlier document (`duplicate_of`)


class SourceState:
    """`sources.state` and `source_runs.state`: how a source did on its latest night."""

    NEW: Final = "new"
    NOT_MODIFIED: Final = "not_modified"
    FAILED: Final = "failed"
    QUARANTINED: Final = "quarantined"  # its body could not be parsed; those bytes are not parsed again
    BACKOFF_SKIP: Final = "backoff_skip"
    DISABLED: Final = "disabled"
    REMOVED: Final = "removed"  # no longer configured; its documents stay


class SourceKind:
    """`sources.kind`."""

    FEED: Final = "feed"
    FOLDER: Final = "folder"


class InterviewStatus:
    """`interviews.status`, as the interview file's front matter gives it."""

    ACTIVE: Final = "active"
    OFFER: Final = "offer"
    FILLED: Final = "filled"
    REJECTED: Final = "rejected"


class ActionKind:
    """`actions.action`: a decision on a suggestion, or an event with a contact."""

    SENT: Final = "sent"
    SKIP: Final = "skip"
    NEVER: Final = "never"
    REPLY: Final = "reply"
    THANKED: Final = "thanked"  # a thank-you sent without a gift


class ActionScope:
    """`actions.scope` of a `never`: what is refused."""

    DOCUMENT: Final = "document"
    SOURCE: Final = "source"
    TOPIC: Final = "topic"


class RunStatus:
    """`runs.status`."""

    RUNNING: Final = "running"
    OK: Final = "ok"
    PARTIAL: Final = "partial"
    FAILED: Final = "failed"
    KILLED: Final = "killed"  # found still running by the next run: it was killed mid-way
