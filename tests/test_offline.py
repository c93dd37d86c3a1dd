"""Nothing leaves the machine: an audit hook in every process the run starts sees no network attempt.

The hook is the audit's own reproduction: a `sitecustomize.py` on PYTHONPATH that logs
`socket.getaddrinfo`, `socket.connect` and `urllib.Request` (plus the other socket-level events) from
every Python process, workers included. `CI` is unset, because OpenVINO's telemetry stays silent
under `CI=true`, and HOME is a temporary folder, so a consent or client-id file from an earlier run
cannot change the outcome. A stand-in `openvino_telemetry` that tries to reach a collector makes the
test independent of whether `make install` left the real package installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GIFTS = Path(sys.executable).parent / "gifts"

SITECUSTOMIZE = """
import os, sys
_EVENTS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.connect",
           "socket.sendto", "socket.sendmsg", "urllib.Request", "http.client.connect"}
def _hook(event, args):
    if event in _EVENTS:
        with open(os.environ["AUDIT_LOG"], "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {event} {args!r}\\n")
sys.addaudithook(_hook)
"""

# Behaves like the real package where it matters: creating the Telemetry object or sending an
# event looks up the analytics collector's address.
FAKE_TELEMETRY = """
import socket
class Telemetry:
    def __init__(self, *args, **kwargs):
        self._reach()
    def _reach(self, *args, **kwargs):
        try:
            socket.getaddrinfo("collector.invalid", 443)
        except OSError:
            pass
    send_event = send_error = start_session = end_session = force_shutdown = send_stack_trace = _reach
"""


@pytest.fixture
def audited(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    """An environment with the audit hook and the stand-in telemetry; returns (env, log, home)."""
    hook = tmp_path / "hook"
    (hook / "openvino_telemetry" / "backend").mkdir(parents=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    (hook / "openvino_telemetry" / "__init__.py").write_text(FAKE_TELEMETRY, encoding="utf-8")
    (hook / "openvino_telemetry" / "backend" / "__init__.py").write_text("", encoding="utf-8")
    (hook / "openvino_telemetry" / "backend" / "backend_ga4.py").write_text("", encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "audit.log"
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTHONPATH", "HF_HUB_OFFLINE", "DO_NOT_TRACK"}}
    env.update({"HOME": str(home), "PYTHONPATH": str(hook), "AUDIT_LOG": str(log)})
    return env, log, home


def _attempts(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_the_hook_sees_openvino_phone_home_without_the_guard(audited: tuple[dict[str, str], Path, Path]) -> None:
    """The control: plain `import openvino` does reach out, so the checks below can fail."""
    env, log, _ = audited
    subprocess.run([sys.executable, "-c", "import openvino"], env=env, check=True, timeout=120)
    assert any("collector.invalid" in line for line in _attempts(log))


def test_keep_offline_stops_openvino_telemetry(audited: tuple[dict[str, str], Path, Path]) -> None:
    env, log, home = audited
    code = "from pipeline.offline import keep_offline; keep_offline(); import openvino; openvino.Core()"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120, cwd=ROOT)
    assert _attempts(log) == []
    assert list(home.iterdir()) == []


@pytest.mark.slow  # a whole run with the real model in a subprocess
def test_offline_run_on_the_sample_makes_no_network_attempt(
    workspace: Path, audited: tuple[dict[str, str], Path, Path]
) -> None:
    """The whole nightly job (extraction workers, model load, report) with CI unset and a fresh HOME."""
    env, log, home = audited
    result = subprocess.run(
        [str(GIFTS), "--config", str(workspace), "run", "--offline"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=workspace.parent,
    )
    assert result.returncode == 0, result.stderr
    assert (workspace.parent / "data" / "processed" / "reports" / "latest" / "index.html").exists()
    assert _attempts(log) == []
    # matplotlib caches its font list under HOME; OpenVINO's telemetry would leave ~/intel/openvino_ga_cid.
    assert not (home / "intel").exists()


def test_keep_offline_sets_every_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import offline

    for name in offline.OFFLINE_ENV:
        monkeypatch.setenv(name, "something else")
    monkeypatch.delitem(sys.modules, "openvino_telemetry", raising=False)
    offline.keep_offline()
    assert {name: os.environ[name] for name in offline.OFFLINE_ENV} == offline.OFFLINE_ENV
    with pytest.raises(ImportError):
        __import__("openvino_telemetry")
    monkeypatch.delitem(sys.modules, "openvino_telemetry", raising=False)
