"""App factory for `ccm start --workers N`: each worker process builds its own State from the
config path in the environment (uvicorn imports this by name in every worker)."""

from __future__ import annotations

import os
from pathlib import Path

from ccm.config.load import load_config
from ccm.runtime import State, build_runtime
from ccm.server.app import create_app
from ccm.server.fastpath import FastPath
from ccm.server.run import setup_logging, tune_gc

CONFIG_ENV = "CCM_WORKER_CONFIG"
WATCH_ENV = "CCM_WORKER_WATCH"


def app_from_env() -> FastPath:
    path = Path(os.environ[CONFIG_ENV])
    loaded = load_config(path)
    setup_logging(loaded.config.server.log_level)
    state = State(path, build_runtime(loaded))
    app = FastPath(create_app(state, watch=os.environ.get(WATCH_ENV, "1") == "1"), state)
    tune_gc()
    return app
