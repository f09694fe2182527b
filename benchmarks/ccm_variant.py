"""`ccm start` with the upstream transport swapped, for bench_proxy.py --transport.

    python benchmarks/ccm_variant.py TRANSPORT start --config ... --port ...

TRANSPORT: `lean` (ccm's LeanTransport, the default), `httpcore` (httpx's own
AsyncHTTPTransport) or `aiohttp` (httpx-aiohttp's AiohttpTransport: `pip install
httpx-aiohttp`). Each gets the same keep-alive pool size and idle expiry as LeanTransport and
is plugged in where ProviderClient builds its transport; everything else is ccm as it is.
"""

from __future__ import annotations

import sys
from typing import Any


def transport_factory(name: str) -> Any:
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64, keepalive_expiry=60)
    if name == "httpcore":

        def make(**kw: Any) -> httpx.AsyncBaseTransport:
            return httpx.AsyncHTTPTransport(limits=limits, proxy=kw.get("proxy"), trust_env=False)

        return make
    if name == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        def make_aio(**kw: Any) -> httpx.AsyncBaseTransport:
            proxy = kw.get("proxy")
            return AiohttpTransport(
                limits=limits, proxy=httpx.Proxy(proxy) if proxy else None, trust_env=False
            )

        return make_aio
    raise SystemExit(f"unknown transport {name!r} (lean, httpcore, aiohttp)")


def main() -> None:
    name = sys.argv.pop(1)
    if name != "lean":
        import ccm.providers.client as client

        client.LeanTransport = transport_factory(name)  # type: ignore[misc,assignment]
    from ccm.cli import app

    sys.argv[0] = "ccm"
    app()


if __name__ == "__main__":
    main()
