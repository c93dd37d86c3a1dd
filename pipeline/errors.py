"""Typed errors raised by library code; the CLI turns them into one line and an exit code."""

from __future__ import annotations


class GiftsError(Exception):
    """Base class for every error the CLI reports as one clear line."""

    exit_code = 1


class ConfigError(GiftsError):
    """A configuration, OPML or interview file is wrong; names the file, line and key."""

    exit_code = 2


class InputError(GiftsError):
    """Bad usage: an unknown suggestion id, contact, or argument."""

    exit_code = 2


class LockedError(GiftsError):
    """Another run holds the workspace lock."""

    exit_code = 2


class ModelError(GiftsError):
    """The embedding model is missing or its files fail their checksum."""

    exit_code = 2


class FetchError(GiftsError):
    """One URL could not be fetched; carries a short machine-readable reason."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
