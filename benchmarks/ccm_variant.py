"""`ccm start` with the upstream transport swapped, for bench_proxy.py --transport.

    python benchmarks/ccm_variant.py TRANSPORT start --config ... --port ...

TRANSPORT: `lean` (ccm's LeanTransport, the default), `httpcore` (httpx's own
AsyncHTTPTransport), `aiohttp` (httpx-aiohttp's AiohttpTransport: `pip install
httpx-aiohttp`) or `aiohttp-tuned` (the same on an aiohttp session without a cookie jar or
environment proxies). Each gets the same keep-alive pool size and idle expiry as LeanTransport and
is plugged in where ProviderClient builds its transport; everything else is ccm as it is.
"""

from __future__ import annotations

from pathlib import Path
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
    if name == "aiohttp-tuned":
        # what ccm's use of aiohttp can change: no cookie jar (a filter per request), no
        # environment proxies, one session with a pool as large as LeanTransport's
        import aiohttp
        from httpx_aiohttp import AiohttpTransport

        def session() -> aiohttp.ClientSession:
            return aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=False,
            )

        def make_tuned(**kw: Any) -> httpx.AsyncBaseTransport:
            proxy = kw.get("proxy")
            return AiohttpTransport(
                client=session, proxy=httpx.Proxy(proxy) if proxy else None, trust_env=False
            )

        return make_tuned
    raise SystemExit(f"unknown transport {name!r} (lean, httpcore, aiohttp, aiohttp-tuned)")


def main() -> None:
    """argv: TRANSPORT start --config PATH --port N [--no-watch]: the server process itself
    (`ccm start` would exec a fresh interpreter and lose the swap), from the same config."""
    import argparse

    from ccm.config.load import load_config
    from ccm.server import serve

    ap = argparse.ArgumentParser()
    ap.add_argument("transport")
    ap.add_argument("command", choices=["start"])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--watch", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    if args.transport != "lean":
        import ccm.providers.client as client

        client.LeanTransport = transport_factory(args.transport)  # type: ignore[misc,assignment]
    host = load_config(args.config).config.server.host
    mode = "watch" if args.watch else "no-watch"
    raise SystemExit(serve.main([str(args.config), host, str(args.port), mode, "1"]))


if __name__ == "__main__":
    main()
