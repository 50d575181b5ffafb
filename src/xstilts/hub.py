"""Whether the Hugging Face Hub can be reached, decided once per process.

Offline, huggingface_hub retries every request and transformers/datasets each log the failure:
a user sees several warnings per file before one error. xstilts asks once (honouring
`HF_HUB_OFFLINE`), and when the Hub cannot be reached it switches the libraries to offline mode,
so that every later load reads the local cache only and fails at once with one line.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
PROBE_SECONDS = 3.0


def offline_requested() -> bool:
    """The user asked for offline mode through the environment."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in OFFLINE_VARIABLES)


def _endpoint() -> str:
    from huggingface_hub import constants  # lazy: loads huggingface_hub

    return constants.ENDPOINT


def _connects(host: str, port: int, timeout: float) -> bool:
    """One TCP connection attempt; name resolution included in the time limit."""
    outcome: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


@lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """False when offline mode is requested or the Hub's endpoint does not answer in PROBE_SECONDS.
    Decided once per process; a False answer also puts the libraries in offline mode."""
    if offline_requested():
        reachable = False
    else:
        url = urlparse(_endpoint())
        reachable = _connects(url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80), PROBE_SECONDS)
    if not reachable:
        force_offline()
    return reachable


def force_offline() -> None:
    """Put huggingface_hub, transformers and datasets in offline mode for the rest of the process
    (their flags are read at import time, so the environment alone is not enough once imported)."""
    for name in OFFLINE_VARIABLES:
        os.environ[name] = "1"

    hub_constants: Any = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:
        hub_constants.HF_HUB_OFFLINE = True
    datasets_config: Any = sys.modules.get("datasets.config")
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = True
        if hasattr(datasets_config, "HF_DATASETS_OFFLINE"):
            datasets_config.HF_DATASETS_OFFLINE = True
