"""The morning digest against a real SMTP server on 127.0.0.1 (aiosmtpd): structure, headers, both parts,
nothing sent when nothing is due, failures recorded and shown without failing the run, STARTTLS, --test."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner
from conftest import NOW, SAMPLE, nightly_fake, uncalibrated
from markupsafe import escape

from pipeline import notify, runner
from pipeline.cli import main
from pipeline.config import Config, load
from pipeline.errors import ConfigError
from pipeline.store import Store

REVIEW_URL = "http://127.0.0.1:8765/?token=abc"


class Sink:
    """An aiosmtpd handler keeping every message it is given, and whether it came over TLS."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Any] = []
        self.tls: list[bool] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        self.tls.append(session.ssl is not None)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


def _with_notify(config_path: Path, **settings: Any) -> Path:
    """Replace the file's [notify] section (the sample's last) with `settings`."""
    text = config_path.read_text(encoding="utf-8")
    text = text[: text.index("[notify]")] if "[notify]" in text else text
    lines = ["[notify]"] + [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    config_path.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    return config_path


def _local(port: int, **extra: Any) -> dict[str, Any]:
    base = {
        "enabled": True,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "security": "none",
        "sender": "kim@example.org",
        "to": ["kim@example.org", "coach@example.org"],
        "review_url": REVIEW_URL,
        "timeout_s": 5,
    }
    return {**base, **extra}


@pytest.fixture(scope="module")
def nightly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One full nightly run of the sample with the digest on, sent to a live server (once per module)."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        target = tmp_path_factory.mktemp("nightly") / "sample"
        shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("interim", "processed"))
        config_path = _with_notify(uncalibrated(target / "gifts.toml"), **_local(controller.port))
        config = load(config_path)
        result = runner.run(config, now=NOW, embedder_factory=nightly_fake)
        with Store(config.paths.store) as store:
            due = notify.due_today(store, config, NOW)
        yield {"folder": target, "config": config, "result": result, "sink": sink, "due": due}
    finally:
        controller.stop()


def _copy(nightly: dict[str, Any], tmp_path: Path, **settings: Any) -> Config:
    """A private copy of the nightly workspace (store included) with its own [notify] settings."""
    target = tmp_path / "sample"
    shutil.copytree(nightly["folder"], target, symlinks=True)
    return load(_with_notify(target / "gifts.toml", **settings))


def _parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    # Lines travel as CRLF; compare with the drafts' own line ends.
    text, html = (p.get_content().replace("\r\n", "\n") for p in parts)  # type: ignore[attr-defined]
    return text, html


# -- the nightly run ----------------------------------------------------------------------------------------


def test_nightly_run_sends_one_digest_with_every_due_gift(nightly: dict[str, Any]) -> None:
    result, sink, due = nightly["result"], nightly["sink"], nightly["due"]
    assert result.status == "ok"
    assert result.counts["notify_sent"] == 1 and "notify_failed" not in result.counts
    assert len(due) >= 2 and any(item.href for item in due)
    assert len(sink.messages) == 1
    message = sink.messages[0]
    assert sink.envelopes[0].rcpt_tos == ["kim@example.org", "coach@example.org"]
    assert message["From"] == "kim@example.org"
    assert message["To"] == "kim@example.org, coach@example.org"
    assert message["Subject"] == f"Research gifts: {len(due)} follow-ups due today (26 November 2026)"
    assert message["Date"].datetime == NOW
    assert re.fullmatch(r"<[^@\s]+@example\.org>", message["Message-ID"])
    assert message["Auto-Submitted"] == "auto-generated"

    text, html = _parts(message)
    for item in due:
        assert item.draft and item.draft in text
        assert str(escape(item.draft)) in html
        assert item.name in text and str(escape(item.name)) in html
        if item.href:
            assert f"Link: {item.href}" in text
            assert f'<a href="{escape(item.href)}">' in html
    assert REVIEW_URL in text and f'href="{escape(REVIEW_URL)}"' in html
    # No remote images, no tracking: the only links are the gifts' and the review app's.
    assert "<img" not in html.lower() and "src=" not in html.lower()
    hrefs = set(re.findall(r'href="([^"]*)"', html))
    assert hrefs == {str(escape(i.href)) for i in due if i.href} | {str(escape(REVIEW_URL))}


def test_status_shows_the_digest_that_was_sent(nightly: dict[str, Any]) -> None:
    out = CliRunner().invoke(main, ["--config", str(nightly["config"].path), "status"])
    assert out.exit_code == 0, out.output
    assert re.search(rf"^digest: sent 2026-11-26T06:00:\d\d\+00:00 \({len(nightly['due'])} due\)$", out.output, re.M)


def test_nothing_is_sent_when_nothing_is_due(nightly: dict[str, Any], tmp_path: Path, server: tuple[Sink, int]) -> None:
    sink, port = server
    config = _copy(nightly, tmp_path, **_local(port))
    with Store(config.paths.store) as store, store.transaction():
        store.db.execute("UPDATE interviews SET status = 'filled'")
    result = runner.run(config, ("report",), now=NOW, embedder_factory=nightly_fake)
    assert result.status == "ok" and "notify_sent" not in result.counts and "notify_failed" not in result.counts
    assert sink.messages == []
    with Store(config.paths.store) as store:
        assert notify.recorded(store)["last"]["outcome"] == "nothing_due"
    assert notify.build_digest(config, [], NOW) is None


def test_gifts_notify_sends_todays_digest_now(
    nightly: dict[str, Any], tmp_path: Path, server: tuple[Sink, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, port = server
    config = _copy(nightly, tmp_path, **_local(port, enabled=False))  # the command works with the nightly one off
    monkeypatch.setattr("pipeline.cli_notify.now", lambda: NOW)  # the CLI's clock, replayed
    out = CliRunner().invoke(main, ["--config", str(config.path), "notify"])
    assert out.exit_code == 0 and "digest sent" in out.output, out.output
    assert len(sink.messages) == 1
    assert sink.messages[0]["Subject"].startswith(f"Research gifts: {len(nightly['due'])} follow-ups due today")


def test_a_server_that_is_down_is_recorded_and_shown_and_never_fails_the_run(
    nightly: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _copy(nightly, tmp_path, **_local(_free_port()))  # nothing listens there
    result = runner.run(config, ("report",), now=NOW, embedder_factory=nightly_fake)
    assert result.status == "ok"  # as it would be without the digest
    assert result.counts["notify_failed"] == 1 and result.counts["failed"] == 0
    assert "morning digest not sent" in caplog.text
    with Store(config.paths.store) as store:
        failed = notify.recorded(store)["last_failed"]
    assert failed["outcome"] == "failed" and "ConnectionRefusedError" in failed["error"]

    out = CliRunner().invoke(main, ["--config", str(config.path), "status"])
    assert out.exit_code == 0, out.output
    assert re.search(
        r"^digest: FAILED 2026-11-26T06:00:\d\d\+00:00: notify: 127\.0\.0\.1:\d+: Connection", out.output, re.M
    )
    info = json.loads(CliRunner().invoke(main, ["--config", str(config.path), "status", "--json"]).output)
    assert info["notify"]["last"]["outcome"] == "failed"

    # The CLI's exit status is the run's, as before.
    out = CliRunner().invoke(main, ["--config", str(config.path), "report", "--offline"])
    assert out.exit_code == 0, out.output


def test_a_refused_login_is_recorded_and_never_fails_the_run(
    nightly: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = Sink()
    tried: list[tuple[str, bytes]] = []

    def refuse(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        tried.append((auth_data.login.decode(), auth_data.password))
        return AuthResult(success=False, handled=False)

    controller = Controller(sink, hostname="127.0.0.1", port=_free_port(), authenticator=refuse, auth_require_tls=False)
    controller.start()
    try:
        monkeypatch.setenv("GIFTS_TEST_SMTP_PASSWORD", "s3cret")
        config = _copy(
            nightly, tmp_path, **_local(controller.port, user="kim", password_env="GIFTS_TEST_SMTP_PASSWORD")
        )
        result = runner.run(config, ("report",), now=NOW, embedder_factory=nightly_fake)
    finally:
        controller.stop()
    assert tried and set(tried) == {("kim", b"s3cret")}  # from the environment (smtplib tries each mechanism)
    assert result.status == "ok" and result.counts["notify_failed"] == 1
    assert sink.messages == []
    with Store(config.paths.store) as store:
        error = notify.recorded(store)["last"]["error"]
    assert "SMTPAuthenticationError: 535" in error and "s3cret" not in error


def test_a_missing_password_variable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, workspace: Path) -> None:
    monkeypatch.delenv("GIFTS_TEST_SMTP_PASSWORD", raising=False)
    config = load(_with_notify(workspace, **_local(1, user="kim", password_env="GIFTS_TEST_SMTP_PASSWORD")))
    with pytest.raises(notify.NotifyError, match="environment variable GIFTS_TEST_SMTP_PASSWORD"):
        notify.send(notify.build_test_message(config, NOW), config.notify)


# -- TLS --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_the_message_goes_over_tls(certificate: tuple[Path, Path], workspace: Path, security: str) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    sink = Sink()
    options: dict[str, Any] = (
        {"tls_context": server_context, "require_starttls": True}
        if security == "starttls"
        else {"ssl_context": server_context}
    )
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port(), **options)
    controller.start()
    try:
        config = load(_with_notify(workspace, **_local(controller.port, security=security)))
        client = ssl.create_default_context(cafile=str(cert))
        notify.send(notify.build_test_message(config, NOW), config.notify, context=client)
        # The system's roots do not trust this certificate: refused, never sent in the clear.
        with pytest.raises(notify.NotifyError, match="CERTIFICATE_VERIFY_FAILED"):
            notify.send(notify.build_test_message(config, NOW), config.notify)
    finally:
        controller.stop()
    assert len(sink.messages) == 1
    assert security == "ssl" or sink.tls == [True]


# -- the message itself, the CLI and the config --------------------------------------------------------------


def test_every_field_is_escaped_in_the_html_part(workspace: Path) -> None:
    config = load(_with_notify(workspace, **_local(25)))
    hostile = "<script>alert(1)</script>\"'&"
    item = notify.DueItem(
        name=hostile, company=hostile, kind="gift", why=hostile, draft=f"Hi,\n{hostile}\n", title=hostile,
        href="https://example.org/a?b=1&c=<x>", path=None,
    )  # fmt: skip
    message = notify.build_digest(config, [item], NOW)
    assert message is not None
    text, html = _parts(message)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="https://example.org/a?b=1&amp;c=&lt;x&gt;"' in html
    assert hostile in text  # plain text is plain


def test_gifts_notify_test_sends_one_test_message(
    workspace: Path, server: tuple[Sink, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, port = server
    config_path = _with_notify(workspace, **_local(port, enabled=False))
    out = CliRunner().invoke(main, ["--config", str(config_path), "notify", "--test"])
    assert out.exit_code == 0, out.output
    assert "test message sent to kim@example.org, coach@example.org" in out.output
    assert len(sink.messages) == 1
    message = sink.messages[0]
    assert message["Subject"] == "Research gifts: test message"
    text, html = _parts(message)
    assert str(config_path.resolve()) in text and REVIEW_URL in text and "<img" not in html

    # A server that is down: one clear line and a non-zero exit.
    down = _with_notify(workspace, **_local(_free_port()))
    out = CliRunner().invoke(main, ["--config", str(down), "notify", "--test"])
    assert out.exit_code == 1 and "gifts: error: notify: 127.0.0.1:" in out.output


def test_a_password_in_the_config_is_refused_with_its_line(workspace: Path) -> None:
    text = workspace.read_text(encoding="utf-8")
    assert "\n[notify]\n" in text
    workspace.write_text(text.replace("\n[notify]\n", '\n[notify]\npassword = "hunter2"\n'), encoding="utf-8")
    line = workspace.read_text(encoding="utf-8").splitlines().index('password = "hunter2"') + 1
    with pytest.raises(ConfigError, match=rf"gifts\.toml:{line}: notify\.password: never put a password") as info:
        load(workspace)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"enabled": True}, "notify.smtp_host: must be set"),
        ({"security": "tls"}, "'tls' is not one of starttls, ssl, none"),
        ({"to": ["kim@example.org\nBcc: x@evil.example"]}, "notify.to: .* is not an email address"),
        ({"user": "kim"}, "notify.password_env: a login"),
        ({"user": "kim", "password_env": "P", "smtp_host": "mail.example.org", "security": "none"}, "unencrypted"),
        ({"password_env": "hunter2 !"}, "must be the name of an environment variable"),
        ({"review_url": "javascript:alert(1)"}, "is not an http"),
    ],
)
def test_bad_notify_settings_name_the_key(workspace: Path, settings: dict[str, Any], message: str) -> None:
    _with_notify(workspace, **settings)
    with pytest.raises(ConfigError, match=message):
        load(workspace)


def test_the_sample_keeps_the_digest_off() -> None:
    config = load(SAMPLE / "gifts.toml")
    assert config.notify.enabled is False and config.notify.password_env == "GIFTS_SMTP_PASSWORD"
    assert dataclasses.fields(config.notify)
