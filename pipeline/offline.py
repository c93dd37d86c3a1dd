"""Keeps third-party libraries off the network: the one place their telemetry and hub lookups are switched off.

Nothing may leave the machine at run time except fetches of the user's own sources. Some libraries
we depend on would otherwise phone home: OpenVINO's `import` sends an analytics event (unless `CI`
is set, so CI never saw it), Ray reports usage statistics from a cluster it starts, and the Hugging
Face libraries may ask the hub about a model. `keep_offline()` runs before any of them is imported,
in every process the project starts (the CLI, the export step, extraction workers and Ray actors
inherit the environment; the modules that import these libraries call it again themselves).
"""

from __future__ import annotations

import os
import sys

# Each variable is the library's documented switch. They are forced, not defaulted: a user's shell
# that says otherwise must not make the nightly run talk to a hub or an analytics collector.
OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",  # huggingface_hub: never resolve a model on the hub
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "RAY_USAGE_STATS_ENABLED": "0",  # Ray's usage statistics from clusters it starts
    "DO_NOT_TRACK": "1",  # the cross-tool convention some libraries honour
}

# OpenVINO imports `openvino_telemetry` inside a try block and falls back to its own no-op stub
# (`openvino.tools.ovc.telemetry_stub`) when that import fails: making the import fail is how we
# opt out without writing a consent file under the user's home (`opt_in_out --opt_out` would put
# `~/intel/openvino_telemetry` there, outside the workspace). `make install` also uninstalls the
# package, since nothing but that telemetry needs it; this covers an environment where pip put it back.
BLOCKED_MODULES = ("openvino_telemetry",)


def keep_offline() -> None:
    """Set the libraries' offline switches and block their telemetry modules in this process.

    Idempotent and cheap; call it before importing openvino, sentence-transformers, transformers or
    ray. A telemetry module already imported (by a caller before us) is left loaded but can no longer
    be imported by anyone else.
    """
    os.environ.update(OFFLINE_ENV)
    for name in BLOCKED_MODULES:
        # A None entry in sys.modules makes `import name` raise ImportError (ModuleNotFoundError).
        if sys.modules.get(name, ...) is not None:
            sys.modules[name] = None  # type: ignore[assignment]
