"""Images for a text-only model through the running proxy (real sockets, fake upstreams): an
image in an earlier turn goes to the image route, or reaches the text-only model as a note."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccm.rules.compile import IMAGE_NOTE
from tests.fakes.upstream import FakeUpstream, reply_text
from tests.harness import running_ccm
from tests.proxy_setup import model_toml, provider_toml, write_config

PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 50,
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image", "source": PNG},
            ],
        },
        {"role": "assistant", "content": "A small PNG."},
        {"role": "user", "content": "and what colour was it?"},
    ],
}


@pytest.fixture
def text_only() -> Iterator[FakeUpstream]:
    with FakeUpstream("anthropic") as fake:
        fake.default = reply_text("from glm")
        yield fake


@pytest.fixture
def eyes() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai") as fake:
        fake.default = reply_text("from gpt-4o")
        yield fake


def _ccm(tmp_path: Path, text_only: FakeUpstream, eyes: FakeUpstream, router: str) -> Any:
    cfg = write_config(
        tmp_path / "config.toml",
        provider_toml("zai", text_only)
        + provider_toml("oai", eyes)
        + model_toml("glm", ("zai", "glm-4.6"))  # text only (model data)
        + model_toml("eyes", ("oai", "gpt-4o")),
        router=router,
    )
    return running_ccm(cfg)


def _send(tmp_path: Path, text_only: FakeUpstream, eyes: FakeUpstream, router: str) -> Any:
    """The request with an image, through a ccm with this [router]; it must succeed."""
    with _ccm(tmp_path, text_only, eyes, router) as ccm:
        r = httpx.post(f"{ccm.base_url}/v1/messages", json=BODY, headers={"x-api-key": "k"})
    assert r.status_code == 200, r.text
    return r


def test_an_earlier_image_goes_to_the_image_route(
    tmp_path: Path, text_only: FakeUpstream, eyes: FakeUpstream
) -> None:
    r = _send(tmp_path, text_only, eyes, 'default = "glm"\nimage = "eyes"')
    assert r.headers["x-ccm-route"].startswith("rule=image; model=eyes")
    assert not text_only.requests
    (req,) = eyes.requests
    assert req.json["messages"][0]["content"][1]["type"] == "image_url"


def test_a_text_only_model_gets_a_note_instead(
    tmp_path: Path, text_only: FakeUpstream, eyes: FakeUpstream
) -> None:
    r = _send(tmp_path, text_only, eyes, 'default = "glm"\nvision = "placeholder"')
    assert r.json()["content"][0]["text"] == "from glm"
    (req,) = text_only.requests
    sent = req.json["messages"][0]["content"]
    assert sent == [{"type": "text", "text": "what is this?"}, {"type": "text", "text": IMAGE_NOTE}]
    assert "iVBORw0KGgo" not in json.dumps(req.json)
