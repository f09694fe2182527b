"""The HTTP side: Litestar app, the proxy endpoints, the admin API and page."""
