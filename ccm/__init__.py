"""ccm: a routing proxy for AI coding assistants."""

import sys

# `import httpx` imports httpx's command-line client (httpx._main), which imports rich, click
# and pygments whenever they are installed (typer and litestar bring them): about 5 MB of RSS
# in every ccm process for a CLI ccm never runs. Marked absent before httpx is first imported,
# httpx falls back to its own stub `main` (its `except ImportError` branch); nothing else in
# httpx uses that module. Without effect if httpx was imported first (tests, embedding).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

__version__ = "0.1.0"
