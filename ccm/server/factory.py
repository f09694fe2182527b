"""App factory for `ccm start --workers N`: each worker process builds its own State from the
config path in the environment (uvicorn imports this by name in every worker) and the same app
as a single worker (`run.build_app`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ccm.config.load import load_config
from ccm.runtime import State, build_runtime
from ccm.server.run import build_app, setup_logging, tune_gc

CONFIG_ENV = "CCM_WORKER_CONFIG"
WATCH_ENV = "CCM_WORKER_WATCH"


def _share_logins() -> None:
    """A sign-in started through one worker may come back through another: without Redis the
    logins in progress live in a 0600 file beside the token file."""
    from ccm.oauth.login import SharedLogins, default_manager
    from ccm.oauth.store import default_path

    if default_manager.shared is None:
        tokens = default_path()
        default_manager.shared = SharedLogins(tokens.with_name(tokens.name + ".logins"))


def app_from_env() -> Any:
    path = Path(os.environ[CONFIG_ENV])
    loaded = load_config(path)
    setup_logging(loaded.config.server.log_level)
    state = State(path, build_runtime(loaded))
    _share_logins()
    app = build_app(state, watch=os.environ.get(WATCH_ENV, "1") == "1")
    tune_gc()
    return app
