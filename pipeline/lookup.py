"""Finding the one thing a user named (a contact, a feed, a source): its whole name, else a unique part of one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from pipeline.errors import InputError

T = TypeVar("T")


def one_match(
    query: str,
    items: Sequence[T],
    names: Callable[[T], Sequence[str]],
    *,
    none: str,
    several: Callable[[list[T]], str],
    key: Callable[[T], str] | None = None,
) -> T:
    """The one item with a name equal to `query`, else the one item with a name containing it.

    Case-insensitive; a whole name wins over parts, so "tom" finds Tom even beside Tomas. An empty
    query is part of nothing: it never picks the only item there is.

    Args:
        names: what the user may call an item, whole or in part.
        none: the error's message when nothing matches.
        several: the error's message, given the matches, when more than one does.
        key: an id matched whole only (a hash's parts mean nothing).

    Raises:
        InputError: when nothing or more than one item matches.
    """
    wanted = query.lower()
    exact = [
        item
        for item in items
        if any(wanted == name.lower() for name in names(item)) or (key is not None and key(item) == query)
    ]
    found = exact or [item for item in items if wanted and any(wanted in name.lower() for name in names(item))]
    if not found:
        raise InputError(none)
    if len(found) > 1:
        raise InputError(several(found))
    return found[0]
