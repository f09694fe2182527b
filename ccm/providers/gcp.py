"""Google credentials for Vertex AI: Application Default Credentials through google-auth
(the optional `vertex` extra), refreshed off the event loop, one refresh at a time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


class ADCTokenSource:
    """`gcloud auth application-default login`, a service-account file in
    GOOGLE_APPLICATION_CREDENTIALS, or the metadata server, as google-auth finds them."""

    def __init__(self) -> None:
        self._creds: Any = None
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._creds is None:
                try:
                    import google.auth  # type: ignore[import-not-found]
                except ImportError:
                    raise RuntimeError(
                        "Vertex AI needs google-auth: pip install 'ccm[vertex]'"
                    ) from None
                self._creds, _ = await asyncio.to_thread(google.auth.default, scopes=list(SCOPES))
            creds = self._creds
            expiry = getattr(creds, "expiry", None)
            soon = expiry is not None and expiry.timestamp() - time.time() < 300
            if not creds.valid or soon:
                from google.auth.transport.requests import Request  # type: ignore[import-not-found]

                await asyncio.to_thread(creds.refresh, Request())
            return creds.token
