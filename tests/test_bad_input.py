"""Hostile user files: 200+ deterministic mutations of gifts.toml, an OPML file and an interview file.

Every one must end without a traceback; every rejection is one line naming the file and a line
number, exit status 2, and no store written.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FakeEmbedder

import pipeline.context
from pipeline.cli import main
from pipeline.embed import model_key

CONFIG = """[workspace]
name = "fuzz"

[paths]
interviews = "interviews"

[sources]
feeds = []
opml = ["feeds.opml"]
folders = []

[fetch]
offline = true
timeout_s = 20
max_entries_per_feed = 50

[rank]
top_k = 5
min_score = 0.3
exclude_terms = ["crypto"]
"""
OPML = """<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0">
<head><title>Feeds</title></head>
<body>
<outline text="Data">
<outline text="Pipeline Post" type="rss" xmlUrl="https://pipeline-post.example/feed.xml"/>
<outline text="Lead Dev" type="rss" xmlUrl="https://lead-dev.example/rss"/>
</outline>
</body>
</opml>
"""
INTERVIEW = """---
company: Acme Analytics
position: Data Engineer
date: 2026-11-20
status: active
interviewers:
  - name: Ada Byte
    role: CTO
    interests:
      - schema drift in data pipelines
      - mentoring junior engineers
---
Ada asked about schema drift.
"""

Mutation = Callable[[bytes, random.Random], bytes]


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(0, len(data))]


def _bom(data: bytes, rng: random.Random) -> bytes:
    return b"\xef\xbb\xbf" + data if rng.random() < 0.5 else b"\xff\xfe" + data


def _nul(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(0, len(data))
    return data[:at] + b"\x00" + data[at:]


def _not_utf8(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(0, len(data))
    return data[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xe9t\xe9", b"\xed\xa0\x80"]) + data[at:]


def _huge_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    lines.insert(rng.randrange(0, len(lines)), b"# " + b"a" * rng.choice([100_000, 2_000_000]))
    return b"\n".join(lines)


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(0, len(out))
        out[at] = rng.choice(b"[]{}<>&:=\"'-#!\n\t ,*")
    return bytes(out)


def _drop_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    del lines[rng.randrange(0, len(lines))]
    return b"\n".join(lines)


def _duplicate_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    at = rng.randrange(0, len(lines))
    lines.insert(at, lines[at])
    return b"\n".join(lines)


def _wrong_type(data: bytes, rng: random.Random) -> bytes:
    value = rng.choice([b'"five"', b"-3", b"true", b"[]", b"{}", b"1e999", b"[1, 2]", b"{ a = 1 }", b"null", b"~"])
    lines = data.split(b"\n")
    candidates = [i for i, line in enumerate(lines) if re.match(rb"^\s*-?\s*[A-Za-z_]+\s*[=:]\s*\S", line)]
    if not candidates:  # XML: an attribute gets a value of the wrong shape instead
        return re.sub(rb'(xmlUrl|text|version)="[^"]*"', lambda m: m.group(1) + b'="' + value.strip(b'"') + b'"', data)
    at = rng.choice(candidates)
    key, sep, _ = re.split(rb"([=:])", lines[at], maxsplit=1)
    lines[at] = key + sep + b" " + value
    return b"\n".join(lines)


def _deep(kind: str) -> Mutation:
    def mutate(data: bytes, rng: random.Random) -> bytes:
        depth = rng.choice([200, 5_000, 100_000])
        if kind == "toml":
            return data + b"\ndeep = " + b"[" * depth + b"]" * depth + b"\n"
        if kind == "xml":
            nest = b"<outline text='x'>" * depth + b"</outline>" * depth
            return data.replace(b"<body>", b"<body>" + nest)
        return data.replace(b"interviewers:", b"extra: " + b"[" * depth + b"]" * depth + b"\ninterviewers:")

    return mutate


def _alias_bomb(data: bytes, rng: random.Random) -> bytes:
    bomb = b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n".encode()
        for i in range(rng.randint(3, 9))
    )
    return data.replace(b"---\n", b"---\n" + bomb, 1)


def _entity_bomb(data: bytes, rng: random.Random) -> bytes:
    entities = b'<!ENTITY a "aaaaaaaaaa">' + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(rng.randint(2, 9))
    )
    return data.replace(b"<opml", b"<!DOCTYPE opml [" + entities + b"]>\n<opml", 1)


def _bad_urls(data: bytes, rng: random.Random) -> bytes:
    url = rng.choice([b"javascript:alert(1)", b"file:///etc/passwd", b"http://[::1", b"ftp://x/", b"http://", b"\x7f"])
    return data.replace(b"https://lead-dev.example/rss", url)


COMMON: list[Mutation] = [_truncate, _bom, _nul, _not_utf8, _huge_line, _flip, _drop_line, _duplicate_line, _wrong_type]
KINDS: dict[str, tuple[str, bytes, list[Mutation]]] = {
    "config": ("gifts.toml", CONFIG.encode(), [*COMMON, _deep("toml")]),
    "opml": ("feeds.opml", OPML.encode(), [*COMMON, _deep("xml"), _entity_bomb, _bad_urls]),
    "interview": ("interviews/acme.md", INTERVIEW.encode(), [*COMMON, _deep("yaml"), _alias_bomb]),
}
PER_KIND = 72


def _cases() -> list[tuple[str, int]]:
    return [(kind, n) for kind in KINDS for n in range(PER_KIND)]


@pytest.fixture(scope="module")
def fake_model() -> Callable[..., FakeEmbedder]:
    """Stands in for load_embedder(model, models_dir, ..., backend=...), under the key the runner expects."""

    def load(model: str, models: Path, *_args: object, backend: str = "torch", **_kwargs: object) -> FakeEmbedder:
        return FakeEmbedder(name=model_key(model, models, backend))

    return load


def test_at_least_200_mutations() -> None:
    assert len(_cases()) >= 200


@pytest.mark.parametrize(("kind", "n"), _cases(), ids=[f"{k}-{n}" for k, n in _cases()])
def test_mutated_file_gives_one_line_error_or_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_model: Callable[..., FakeEmbedder], kind: str, n: int
) -> None:
    monkeypatch.setattr(pipeline.context, "load_embedder", fake_model)
    rng = random.Random(f"{kind}-{n}")
    (tmp_path / "interviews").mkdir()
    files = {name: body for name, body, _ in KINDS.values()}
    name, body, mutations = KINDS[kind]
    mutate = mutations[n % len(mutations)]
    files[name] = mutate(body, rng)
    for relative, data in files.items():
        (tmp_path / relative).write_bytes(data)
    # parse reads the config and the OPML; profile reads the interviews.
    stage = "profile" if kind == "interview" else "parse"
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "gifts.toml"), stage])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{mutate.__name__}: traceback {result.exception!r}"
    )
    if result.exit_code == 0:
        return  # the mutation left a valid file
    message = result.stderr.strip()
    assert result.exit_code == 2, f"{mutate.__name__}: exit {result.exit_code}: {message}"
    assert message.count("\n") == 0, f"{mutate.__name__}: not one line: {message}"
    where = re.escape(str((tmp_path / name).resolve()))
    assert re.match(rf"^gifts: error: {where}:\d+: \S", message), f"{mutate.__name__}: {message[:300]}"
    assert not (tmp_path / "data" / "interim" / "gifts.sqlite").exists(), "a rejected input wrote to the store"
