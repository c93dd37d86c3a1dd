"""Tests for pipeline.config: defaults, partial overrides, relative paths and precise load errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.config import (
    Config,
    EmbedSettings,
    FetchSettings,
    RankSettings,
    RetrievalSettings,
    Sources,
    load,
    with_overrides,
)
from pipeline.errors import ConfigError


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gifts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load(path)
    return str(info.value)


def test_empty_file_gives_code_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "ws", "# nothing set\n")
    config = load(path)
    assert config.fetch == FetchSettings()
    assert config.embed == EmbedSettings()
    assert config.rank == RankSettings()
    assert config.sources == Sources()
    assert config.name == "ws"
    assert config.root == (tmp_path / "ws").resolve()
    assert config.path == path.resolve()
    assert config.paths.raw == (tmp_path / "ws" / "data" / "raw").resolve()
    assert config.paths.store == (tmp_path / "ws" / "data" / "interim" / "gifts.sqlite").resolve()
    assert config.paths.reports == (tmp_path / "ws" / "data" / "processed" / "reports").resolve()


def test_load_accepts_the_workspace_folder(tmp_path: Path) -> None:
    write(tmp_path / "ws", '[workspace]\nname = "mine"\n')
    assert load(tmp_path / "ws").name == "mine"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    message = load_error(tmp_path / "absent.toml")
    assert str(tmp_path / "absent.toml") in message
    assert "no such config file" in message


def test_one_key_overrides_and_the_rest_keep_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "[fetch]\ntimeout_s = 7\n\n[rank]\ntop_k = 3\n")
    config = load(path)
    assert config.fetch.timeout_s == 7.0
    assert isinstance(config.fetch.timeout_s, float)  # an int in TOML is coerced for a float field
    assert config.fetch == dataclasses.replace(FetchSettings(), timeout_s=7.0)
    assert config.rank == dataclasses.replace(RankSettings(), top_k=3)
    assert config.embed == EmbedSettings()


def test_the_retrieval_keys_under_rank_set_the_rank_stages_retrieval(tmp_path: Path) -> None:
    path = write(tmp_path, "[rank]\ntop_k = 3\ndense_weight = 0.6\nlexical_weight = 0.4\nann_nprobe = 8\n")
    rank = load(path).rank
    assert rank.top_k == 3
    assert rank.retrieval == RetrievalSettings(dense_weight=0.6, lexical_weight=0.4, ann_nprobe=8)
    assert RankSettings().retrieval == RetrievalSettings()  # one set of defaults, `gifts eval`'s too


def test_retrieval_keys_are_checked_and_named_as_rank_keys(tmp_path: Path) -> None:
    path = write(tmp_path, '[rank]\ndense_weight = "high"\n')
    assert load_error(path) == f"{path.resolve()}:2: rank.dense_weight: expected a number"
    path = write(tmp_path, "[rank]\nann_candidates = 0\n")
    assert load_error(path) == f"{path.resolve()}:2: rank.ann_candidates: must be at least 1"
    path = write(tmp_path, '[rank]\nfusion = "rrf"\n')  # only `gifts eval` varies the fusion
    assert load_error(path).startswith(f"{path.resolve()}:2: rank.fusion: unknown key (known: ann_candidates, ")


def test_sample_workspace_loads(workspace: Path) -> None:
    config = load(workspace)
    assert config.name == "sample"
    assert config.fetch.offline is True
    assert config.sources.opml == (workspace.parent / "sources.opml",)
    assert config.sources.folders == (workspace.parent / "inbox",)
    assert config.rank.min_score == pytest.approx(0.30)


def test_paths_resolve_relative_to_the_file_not_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "deep" / "ws"
    write(
        folder,
        '[paths]\nraw = "store/raw"\ninterim = "../shared-interim"\n'
        '[sources]\nopml = ["feeds/list.opml"]\nfolders = ["drop"]\n'
        '[embed]\nmodel_path = "my-models/mini"\n',
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load(Path("..") / "deep" / "ws" / "gifts.toml")
    base = folder.resolve()
    assert config.paths.raw == base / "store" / "raw"
    assert config.paths.interim == (tmp_path / "deep" / "shared-interim").resolve()
    assert config.paths.interviews == base / "interviews"
    assert config.sources.opml == (base / "feeds" / "list.opml",)
    assert config.sources.folders == (base / "drop",)
    assert config.embed.model_path == base / "my-models" / "mini"


def test_unknown_section_names_file_line_and_section(tmp_path: Path) -> None:
    path = write(tmp_path, "# comment\n\n[fetcher]\ntimeout_s = 3\n")
    message = load_error(path)
    assert message.startswith(f"{path.resolve()}:3: fetcher: unknown section")


def test_unknown_key_names_file_line_and_dotted_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[fetch]\ntimeout_s = 3\nmax_redirect = 2\n")
    message = load_error(path)
    assert message.startswith(f"{path.resolve()}:3: fetch.max_redirect: unknown key")
    assert "max_redirects" in message  # the known keys are listed


def test_unknown_paths_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[paths]\nraww = "x"\n')
    assert load_error(path).startswith(f"{path.resolve()}:2: paths.raww: unknown key")


def test_string_for_int_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, '[rank]\nmin_words = 1\ntop_k = "5"\n')
    assert load_error(path) == f"{path.resolve()}:3: rank.top_k: expected an integer"


def test_float_for_int_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[embed]\nbatch_size = 32.5\n")
    assert load_error(path) == f"{path.resolve()}:2: embed.batch_size: expected an integer"


def test_bool_for_float_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[rank]\n\nmin_score = true\n")
    assert load_error(path) == f"{path.resolve()}:3: rank.min_score: expected a number"


def test_string_for_bool_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, '[fetch]\noffline = "yes"\n')
    assert load_error(path) == f"{path.resolve()}:2: fetch.offline: expected true or false"


def test_negative_number_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[fetch]\nmax_bytes = -1\n")
    assert load_error(path) == f"{path.resolve()}:2: fetch.max_bytes: must not be negative"


def test_top_k_zero_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[rank]\ntop_k = 0\n")
    assert load_error(path) == f"{path.resolve()}:2: rank.top_k: must be at least 1"


def test_overlap_not_smaller_than_passage_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[embed]\npassage_words = 40\npassage_overlap = 40\n")
    assert load_error(path).startswith(f"{path.resolve()}:3: embed.passage_overlap: must be smaller")


@pytest.mark.parametrize(
    "url", ["ftp://example.org/feed.xml", "file:///etc/passwd", "javascript:alert(1)", "example.org"]
)
def test_non_http_feed_url_is_rejected(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f'[sources]\nopml = []\nfeeds = ["https://ok.example/feed", "{url}"]\n')
    message = load_error(path)
    assert message.startswith(f"{path.resolve()}:3: sources.feeds: ")
    assert repr(url) in message


def test_http_feed_urls_are_kept_in_order(tmp_path: Path) -> None:
    path = write(tmp_path, '[sources]\nfeeds = ["https://b.example/rss", "HTTP://a.example/atom"]\n')
    assert load(path).sources.feeds == ("https://b.example/rss", "HTTP://a.example/atom")


def test_bad_toml_syntax_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[fetch]\ntimeout_s = 3\nmax_bytes = = 4\n")
    message = load_error(path)
    assert message.startswith(f"{path.resolve()}:3: ")


def test_non_utf8_bytes_are_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "gifts.toml"
    path.write_bytes(b'# ok\n[workspace]\nname = "caf\xe9"\n')
    message = load_error(path)
    assert "not UTF-8 text" in message


def test_non_utf8_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gifts.toml"
    path.write_bytes(b'# ok\n[workspace]\nname = "caf\xe9"\n')
    assert load_error(path).startswith(f"{path.resolve()}:3:")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "gifts.toml"
    path.write_bytes('\ufeff[workspace]\nname = "café"\n'.encode())
    assert load(path).name == "café"


def test_unknown_workspace_key_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, '[workspace]\nnmae = "typo"\n')
    assert load_error(path).startswith(f"{path.resolve()}:2: workspace.nmae: unknown key")


@pytest.mark.parametrize("text", ["[rank]\nmin_score = nan\n", "[fetch]\ntimeout_s = inf\n"], ids=["nan", "inf"])
def test_non_finite_numbers_are_rejected(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert load_error(path).startswith(f"{path.resolve()}:2:")


def test_with_overrides_offline(tmp_path: Path) -> None:
    path = write(tmp_path, "[fetch]\ntimeout_s = 9\nmax_redirects = 2\n")
    config = load(path)
    assert config.fetch.offline is False
    offline = with_overrides(config, offline=True)
    assert isinstance(offline, Config)
    assert offline.fetch.offline is True
    assert offline.fetch.timeout_s == 9.0
    assert offline.fetch.max_redirects == 2
    assert offline.rank == config.rank
    assert config.fetch.offline is False  # the input is not changed
    assert with_overrides(config) is config
    assert with_overrides(offline, offline=False).fetch.offline is False
