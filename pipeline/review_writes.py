"""The review app's writes: each is the CLI's own library call, run now or, while a run holds the
workspace, queued on disk (data/interim) and retried in order.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import history
from pipeline.config import Config
from pipeline.errors import GiftsError, InputError, LockedError

log = logging.getLogger(__name__)

QUEUE_FILE = "review-queue.json"


def _operations(config: Config) -> dict[str, Callable[..., str]]:
    """Every write the app makes, by name: each is the CLI's own library call."""

    def at(iso: str) -> dt.datetime:
        return dt.datetime.fromisoformat(iso)

    return {
        "decision": lambda sid, decision, scope, when: history.record_decision(
            config, sid, decision, "from gifts review", at(when), scope
        ),
        "event": lambda contact, event, note, when: history.record_event(config, contact, event, note, at(when)),
        "undo": lambda action_id: history.undo_action(config, int(action_id)),
        "draft": lambda sid, text: history.save_draft(config, sid, text),
        "status": lambda interview_id, status: history.set_interview_status(config, interview_id, status),
    }


@dataclass
class Writes:
    """Runs each write now, or keeps it (in order, on disk) while the workspace lock is held, and retries."""

    config: Config
    pending: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.ops = _operations(self.config)
        path = self.path
        if path.is_file():
            try:
                self.pending = [p for p in json.loads(path.read_text(encoding="utf-8")) if p.get("op") in self.ops]
            except (OSError, ValueError, AttributeError):
                log.warning("%s: unreadable; starting with no queued changes", path)

    @property
    def path(self) -> Path:
        return self.config.paths.interim / QUEUE_FILE

    def _save(self) -> None:
        if not self.pending:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.pending), encoding="utf-8")
        tmp.replace(self.path)

    def submit(self, op: str, label: str, *args: str) -> str:
        """Write now (returns the library's message) or queue behind earlier queued writes."""
        with self.lock:
            if not self.pending:
                try:
                    return self.ops[op](*args)
                except LockedError:
                    pass
            self.pending.append({"op": op, "args": list(args), "label": label})
            self._save()
        return f"queued: {label} (a run holds the workspace; written as soon as it ends)"

    def cancel(self, index: int) -> str:
        with self.lock:
            if not 0 <= index < len(self.pending):
                raise InputError("that queued change was already written")
            gone = self.pending.pop(index)
            self._save()
        return f"cancelled: {gone['label']}"

    def flush(self) -> list[str]:
        """Write what is queued, in order, until the lock is still held; returns the messages (errors included)."""
        done: list[str] = []
        with self.lock:
            while self.pending:
                item = self.pending[0]
                try:
                    done.append(self.ops[item["op"]](*item["args"]))
                except LockedError:
                    break
                except GiftsError as exc:
                    done.append(f"not written: {item['label']}: {exc}")
                self.pending.pop(0)
                self._save()
        return done
