"""Tests for pipeline.sources: OPML reading and its refusals, configured sources, folder files."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, SAMPLE

from pipeline.config import load
from pipeline.errors import ConfigError
from pipeline.runner import run
from pipeline.sources import FolderRefused, configured_sources, folder_files, read_opml, source_id
from pipeline.store import Store

OPML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'


def opml(tmp_path: Path, body: str, name: str = "feeds.opml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def outline(url: str, title: str = "A feed") -> str:
    return f'<outline type="rss" text="{title}" title="{title}" xmlUrl="{url}"/>'


def document(*outlines: str) -> str:
    return OPML_HEAD + '<opml version="2.0"><head/><body>' + "".join(outlines) + "</body></opml>"


def test_sample_opml_gives_five_feeds() -> None:
    feeds = read_opml(SAMPLE / "sources.opml")
    assert len(feeds) == 5
    assert feeds[0] == ("https://pipeline-post.example/feed.xml", "The Pipeline Post")
    assert ("https://gridweekly.example/rss", "Grid & Product Weekly") in feeds  # entity-decoded title
    assert all(url.startswith("https://") for url, _ in feeds)


def test_nested_folders_are_walked_and_outlines_without_url_skipped(tmp_path: Path) -> None:
    body = document(
        '<outline text="Folder">',
        outline("https://a.example/feed", "A"),
        '<outline text="Inner">' + outline("https://b.example/rss", "B") + "</outline>",
        "</outline>",
        '<outline text="No feed here" htmlUrl="https://c.example/"/>',
        '<outline xmlurl="http://d.example/atom" text="Lower-case attribute"/>',
    )
    assert read_opml(opml(tmp_path, body)) == [
        ("https://a.example/feed", "A"),
        ("https://b.example/rss", "B"),
        ("http://d.example/atom", "Lower-case attribute"),
    ]


def test_title_falls_back_to_the_url(tmp_path: Path) -> None:
    path = opml(tmp_path, document('<outline xmlUrl="  https://a.example/feed  "/>'))
    assert read_opml(path) == [("https://a.example/feed", "https://a.example/feed")]


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE opml [<!ENTITY lol "lol">]>',
        '<!doctype opml SYSTEM "file:///etc/passwd">',
        "<!DOCTYPE opml>",
    ],
    ids=["internal-entity", "external-dtd", "bare-doctype"],
)
def test_doctype_or_entities_are_refused(tmp_path: Path, prolog: str) -> None:
    body = OPML_HEAD + prolog + '<opml version="2.0"><body>' + outline("https://a.example/f") + "</body></opml>"
    path = opml(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        read_opml(path)
    assert str(info.value).startswith(f"{path}:2: ")  # the DOCTYPE's line, after the XML declaration
    assert "DOCTYPE" in str(info.value)


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    body = (
        OPML_HEAD + f"<!DOCTYPE opml [{entities}]>" + document(outline("https://a.example/f", "&i;"))[len(OPML_HEAD) :]
    )
    with pytest.raises(ConfigError, match="refused"):
        read_opml(opml(tmp_path, body))


def test_doctype_in_utf16_is_refused(tmp_path: Path) -> None:
    text = (
        '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE opml [<!ENTITY t "Injected">]>'
        '<opml version="2.0"><body><outline text="&t;" xmlUrl="https://a.example/feed"/></body></opml>'
    )
    path = tmp_path / "utf16.opml"
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(ConfigError, match="DOCTYPE"):
        read_opml(path)


def test_malformed_opml_names_file_and_line(tmp_path: Path) -> None:
    body = (
        OPML_HEAD
        + '<opml version="2.0">\n<body>\n'
        + outline("https://a.example/f")
        + "\n<outline text='x'>\n</body>\n"
    )
    path = opml(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        read_opml(path)
    message = str(info.value)
    assert message.startswith(f"{path}:6: not well-formed OPML")


def test_wrong_root_element(tmp_path: Path) -> None:
    path = opml(tmp_path, OPML_HEAD + "<rss><channel/></rss>")
    with pytest.raises(ConfigError, match=r"root element is <rss>, expected <opml>"):
        read_opml(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read OPML file"):
        read_opml(tmp_path / "absent.opml")


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "file:///etc/passwd", "ftp://a.example/feed", "https://", "feed.example/rss"]
)
def test_non_http_xml_url_is_refused(tmp_path: Path, url: str) -> None:
    path = opml(tmp_path, document(outline("https://ok.example/feed"), outline(url)))
    with pytest.raises(ConfigError) as info:
        read_opml(path)
    assert str(info.value).startswith(str(path))
    assert repr(url) in str(info.value)


def test_non_http_xml_url_error_names_the_line(tmp_path: Path) -> None:
    body = OPML_HEAD + '<opml version="2.0"><body>\n' + outline("https://ok.example/f") + "\n" + outline("javascript:x")
    path = opml(tmp_path, body + "\n</body></opml>")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:4: "):
        read_opml(path)


def test_sample_workspace_sources(workspace: Path) -> None:
    config = load(workspace)
    sources = configured_sources(config)
    feeds = [s for s in sources if s.kind == "feed"]
    folders = [s for s in sources if s.kind == "folder"]
    assert len(feeds) == 5
    assert {s.origin for s in feeds} == {"sources.opml"}
    assert feeds[0].title == "The Pipeline Post"
    assert feeds[0].id == source_id("feed", "https://pipeline-post.example/feed.xml")
    assert len(folders) == 1
    assert folders[0].location == str(workspace.parent / "inbox")
    assert folders[0].title == "inbox"
    assert folders[0].id == source_id("folder", "inbox")


def test_configured_sources_deduplicate(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    opml(
        tmp_path,
        document(outline("https://a.example/feed", "A from OPML"), outline("https://b.example/rss", "B")),
        "one.opml",
    )
    opml(tmp_path, document(outline("https://b.example/rss", "B again")), "two.opml")
    path = tmp_path / "gifts.toml"
    path.write_text(
        "[sources]\n"
        'feeds = ["https://a.example/feed", "https://c.example/atom", "https://c.example/atom"]\n'
        'opml = ["one.opml", "two.opml"]\n'
        'folders = ["inbox", "./inbox", "inbox/../inbox"]\n',
        encoding="utf-8",
    )
    sources = configured_sources(load(path))
    assert [(s.kind, s.location, s.origin) for s in sources] == [
        ("feed", "https://a.example/feed", "config"),  # the config's own list comes first and wins
        ("feed", "https://c.example/atom", "config"),
        ("feed", "https://b.example/rss", "one.opml"),
        ("folder", str((tmp_path / "inbox").resolve()), "config"),
    ]
    assert sources[2].title == "B"
    assert len({s.id for s in sources}) == 4


def test_missing_source_folder_is_kept_as_a_source(tmp_path: Path) -> None:
    """A missing folder does not stop the run: its source fails, and a warning names the config line."""
    path = tmp_path / "gifts.toml"
    path.write_text('[sources]\nfolders = ["nowhere"]\n', encoding="utf-8")
    (source,) = configured_sources(load(path))
    assert (source.kind, source.location) == ("folder", str((tmp_path / "nowhere").resolve()))


def test_source_id_is_stable_and_kind_prefixed() -> None:
    assert source_id("feed", "https://a.example/feed") == source_id("feed", "https://a.example/feed")
    assert source_id("feed", "https://a.example/feed").startswith("feed-")
    assert len(source_id("feed", "x")) == len("feed-") + 12
    assert source_id("feed", "https://a.example/feed") != source_id("feed", "https://b.example/feed")


def test_folder_files_lists_supported_files_sorted(tmp_path: Path) -> None:
    for name in ["b.PDF", "a.html", "notes.md", "z.txt", "sub/deep.htm", ".hidden.txt", "image.png", "x.docx"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.pdf").mkdir()
    listing = folder_files(tmp_path)
    found = [(f.relative, f.kind) for f in listing.files]
    assert found == [
        ("a.html", "html"),
        ("b.PDF", "pdf"),
        ("notes.md", "text"),
        ("sub/deep.htm", "html"),
        ("z.txt", "text"),
    ]
    assert listing.too_large == () and listing.skipped == ()


def test_sample_inbox_files() -> None:
    kinds = {f.path.name: f.kind for f in folder_files(SAMPLE / "inbox").files}
    assert kinds == {
        "accessibility-audits-internal-tools.html": "html",
        "mentoring-programs-junior-data-engineers.pdf": "pdf",
        "on-call-practices-data-teams-notes.txt": "text",
    }


# -- a folder reads only what is in it (issue 12) ---------------------------------------------------


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder beside the workspace holding a secret file and a folder of papers."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "environ").write_text("AWS_SECRET=TOKEN-123\n", encoding="utf-8")
    (folder / "papers").mkdir()
    (folder / "papers" / "paper.txt").write_text("TOKEN-456 in a paper elsewhere\n", encoding="utf-8")
    return folder


def test_links_are_never_followed_and_are_named(tmp_path: Path, outside: Path) -> None:
    (tmp_path / "real.txt").write_text("a note", encoding="utf-8")
    (tmp_path / "env.txt").symlink_to(outside / "environ")
    (tmp_path / "linked").symlink_to(outside / "papers", target_is_directory=True)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inside.md").symlink_to(tmp_path / "real.txt")  # even a link within the folder
    listing = folder_files(tmp_path)
    assert [f.relative for f in listing.files] == ["real.txt"]
    assert listing.skipped == (
        "env.txt: a symbolic link, not followed",
        "linked: a symbolic link, not followed",
        "sub/inside.md: a symbolic link, not followed",
    )


def test_a_pipe_is_skipped_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "wait.txt")  # reading it would block the run for ever
    listing = folder_files(tmp_path)
    assert listing.files == () and listing.skipped == ("wait.txt: not a regular file, not read",)


def test_a_file_over_the_cap_is_refused_from_its_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.pdf"
    with big.open("wb") as handle:
        handle.truncate(2 * 1024**3)  # 2 GiB, sparse: no disk used, and nothing may read it
    (tmp_path / "small.txt").write_bytes(b"x" * 100)
    opened = _spy_opens(monkeypatch)
    listing = folder_files(tmp_path, max_bytes=1000)
    assert [f.relative for f in listing.files] == ["small.txt"]
    assert [(f.relative, f.size) for f in listing.too_large] == [("big.pdf", 2 * 1024**3)]
    assert listing.files[0].read(listing.max_bytes) == b"x" * 100
    assert str(big) not in opened


def test_read_refuses_a_file_swapped_or_grown_since_it_was_listed(tmp_path: Path, outside: Path) -> None:
    (tmp_path / "a.txt").write_text("fine", encoding="utf-8")
    (tmp_path / "b.txt").write_text("fine", encoding="utf-8")
    (tmp_path / "c.txt").write_text("fine", encoding="utf-8")
    a, b, c = folder_files(tmp_path, max_bytes=100).files
    (tmp_path / "a.txt").unlink()
    (tmp_path / "a.txt").symlink_to(outside / "environ")
    with pytest.raises(FolderRefused, match=r"a\.txt: a symbolic link, not followed") as link:
        a.read(100)
    assert link.value.state == "blocked"
    (tmp_path / "b.new").write_text("another file now", encoding="utf-8")
    (tmp_path / "b.new").replace(tmp_path / "b.txt")  # created first, so it cannot reuse b.txt's inode
    with pytest.raises(FolderRefused, match=r"b\.txt: changed while being read"):
        b.read(100)
    (tmp_path / "c.txt").write_text("x" * 500, encoding="utf-8")
    with pytest.raises(FolderRefused, match=r"too_large: c\.txt is 500 bytes") as grown:
        c.read(100)
    assert grown.value.state == "too_large"


def _spy_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path os.open, io.open or open is handed from now on."""
    import builtins
    import io

    opened: list[str] = []
    for owner, name in ((os, "open"), (io, "open"), (builtins, "open")):
        real = getattr(owner, name)

        def spy(path: Any, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            opened.append(str(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    return opened


def test_a_folder_source_records_what_it_did_not_read(tmp_path: Path, outside: Path) -> None:
    """End to end: links and a 2 GiB file in the inbox; nothing of them reaches the store or the archive."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "note.txt").write_text("A local note about consumer lag.", encoding="utf-8")
    (inbox / "env.txt").symlink_to(outside / "environ")
    (inbox / "linked").symlink_to(outside / "papers", target_is_directory=True)
    with (inbox / "huge.pdf").open("wb") as handle:
        handle.truncate(2 * 1024**3)
    (tmp_path / "interviews").mkdir()
    (tmp_path / "gifts.toml").write_text('[sources]\nfolders = ["inbox"]\n', encoding="utf-8")
    config = load(tmp_path / "gifts.toml")

    result = run(config, ("parse",), now=NOW)
    with Store(config.paths.store) as store:
        docs = {r["guid"]: dict(r) for r in store.query("SELECT guid, state, reason, raw_sha FROM documents")}
        source = dict(store.query("SELECT state, reason FROM sources WHERE kind = 'folder'")[0])
    assert set(docs) == {"note.txt", "huge.pdf"}
    assert docs["note.txt"]["state"] == "pending"
    huge = docs["huge.pdf"]
    assert huge["state"] == "too_large" and huge["raw_sha"] is None
    assert re.fullmatch(
        r"too_large: huge\.pdf is 2147483648 bytes, over fetch\.max_bytes \(\d+\); not read", huge["reason"]
    )
    assert source["state"] == "new"
    assert source["reason"] == (
        "skipped 2: env.txt: a symbolic link, not followed; linked: a symbolic link, not followed"
    )
    assert result.counts["too_large"] == 1 and result.counts["skipped_files"] == 2
    for path in config.paths.raw.rglob("*"):
        if path.is_file():
            assert b"TOKEN-" not in path.read_bytes()
    assert sum(p.stat().st_size for p in config.paths.raw.rglob("*") if p.is_file()) < 1024 * 1024

    # The next night records nothing again, and a file that now fits is read.
    again = run(config, ("parse",), now=NOW)
    assert again.counts.get("too_large", 0) == 0
    (inbox / "huge.pdf").unlink()
    (inbox / "huge.pdf").write_bytes(b"%PDF-1.4 small now")
    run(config, ("parse",), now=NOW)
    with Store(config.paths.store) as store:
        state = store.scalar("SELECT state FROM documents WHERE guid = 'huge.pdf'")
    assert state == "pending"
