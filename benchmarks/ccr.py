"""claude-code-router ("CCR") as a peer for bench_proxy.py.

Installs npm `@musistudio/claude-code-router@2.0.0` into benchmarks/.ccr (only where `node` and
`npm` exist), writes a v1/v2-style `config.json` pointing at the fast fake upstream and runs
`ccr start`, which in v2 serves in the foreground of its own process (one Node process, no
children), so it can be stopped by its pid.

Pinned to 2.0.0 on purpose: it is the last line whose config.json has the Providers/Router
scenario format; 3.x on npm `latest` is a different product (SQLite config, no scenarios,
mandatory gateway key).

Routing in CCR (no custom router, only `Router.default`):

* OpenAI-compatible upstream (provider "oai"): the request body is sent unchanged, its model
  (`claude-*`) matches no `provider,model` and `Router` has only `default`, so it goes to
  `Router.default = "oai,bench-model"`; CCR's `Anthropic` endpoint transformer translates to
  Chat Completions and back.
* Anthropic upstream (provider "anth", `"transformer": {"use": ["Anthropic"]}`): the request
  carries `"model": "anth,bench-model"`; an explicit `provider,model` short-circuits every
  scenario, and since the provider's only transformer is the endpoint's own, llms passes the
  body through (bypass mode) after splitting off the provider name.

    python benchmarks/ccr.py   # install, start against a fake upstream, verify the 4 cases
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
CCR_DIR = HERE / ".ccr"
PACKAGE = "@musistudio/claude-code-router"
VERSION = "2.0.0"
MODEL = "bench-model"
# body "model" per dialect; None = leave the client's model, which falls to Router.default (oai)
ROUTE_MODEL = {"anthropic": f"anth,{MODEL}", "openai": None}
ROUTING = {
    "anthropic": f'model field "anth,{MODEL}" (explicit provider,model; Anthropic pass-through)',
    "openai": f'client model unchanged -> Router.default "oai,{MODEL}" (Anthropic<->OpenAI)',
}


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def node_version() -> str | None:
    node = shutil.which("node")
    if not node:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def _package_dir() -> Path:
    return CCR_DIR / "node_modules" / PACKAGE


def installed_version() -> str | None:
    try:
        return json.loads((_package_dir() / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _entry() -> Path:
    """The `ccr` bin of the package (`bin: {"ccr": "dist/cli.js"}`), run with node directly."""
    pkg = json.loads((_package_dir() / "package.json").read_text())
    return _package_dir() / pkg["bin"]["ccr"]


def ensure_ccr() -> Path | None:
    """Install CCR 2.0.0 into benchmarks/.ccr if needed; return its CLI entry (dist/cli.js).

    None when node/npm are missing, or (with a message on stderr) when npm fails."""
    if not node_available():
        return None
    if installed_version() != VERSION:
        CCR_DIR.mkdir(exist_ok=True)
        manifest = CCR_DIR / "package.json"
        if not manifest.exists():  # keeps npm from walking up to another project
            manifest.write_text('{"name": "ccm-bench-ccr", "private": true}\n')
        proc = subprocess.run(
            [
                shutil.which("npm") or "npm",
                "install",
                "--prefix",
                str(CCR_DIR),
                "--no-audit",
                "--no-fund",
                "--save-exact",
                f"{PACKAGE}@{VERSION}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or installed_version() != VERSION:
            print(
                f"ccr: npm install {PACKAGE}@{VERSION} failed:\n{proc.stdout}{proc.stderr}",
                file=sys.stderr,
            )
            return None
    entry = _entry()
    return entry if entry.exists() else None


def ccr_config(upstream_port: int, port: int) -> dict:
    up = f"http://127.0.0.1:{upstream_port}"
    return {
        "PORT": port,
        "HOST": "127.0.0.1",
        "LOG": False,
        "Providers": [
            {
                "name": "oai",
                "api_base_url": f"{up}/v1/chat/completions",
                "api_key": "sk-bench",
                "models": [MODEL],
            },
            {
                "name": "anth",
                "api_base_url": f"{up}/v1/messages",
                "api_key": "sk-bench",
                "models": [MODEL],
                "transformer": {"use": ["Anthropic"]},
            },
        ],
        "Router": {"default": f"oai,{MODEL}"},
    }


def start_ccr(
    upstream_port: int, port: int, home: Path, entry: Path | None = None, timeout: float = 30
) -> subprocess.Popen:
    """Write home/.claude-code-router/config.json, run `ccr start` (foreground) with HOME=home,
    and return once GET /health answers. Output goes to home/ccr.log."""
    entry = entry or ensure_ccr()
    if entry is None:
        raise RuntimeError("claude-code-router is not available (no node/npm or install failed)")
    cfg_dir = home / ".claude-code-router"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    (cfg_dir / "config.json").write_text(json.dumps(ccr_config(upstream_port, port), indent=2))
    # a stale pid file of a live process makes `ccr start` print "already running" and return
    (cfg_dir / ".claude-code-router.pid").unlink(missing_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in {"service_port", "http_proxy", "https_proxy", "all_proxy"}
    }
    env.update(HOME=str(home), NO_PROXY="127.0.0.1,localhost")
    log = (home / "ccr.log").open("wb")
    proc = subprocess.Popen(
        [shutil.which("node") or "node", str(entry), "start"],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(
                f"ccr start exited with {proc.returncode}: {(home / 'ccr.log').read_text()[-2000:]}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"ccr did not answer on 127.0.0.1:{port} within {timeout} s")


def tree_rss_kb(pid: int) -> int:
    """VmRSS of pid plus all its descendants (kB)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def request_body(body: dict, dialect: str) -> dict:
    model = ROUTE_MODEL[dialect]
    return dict(body, model=model) if model else dict(body)


def check_answer(resp: httpx.Response, stream: bool, text: str) -> str | None:
    """None if resp is a correct Anthropic message / SSE stream carrying `text`, else why not."""
    if resp.status_code != 200:
        return f"HTTP {resp.status_code}: {resp.text[:300]}"
    ctype = resp.headers.get("content-type", "")
    if not stream:
        if "application/json" not in ctype:
            return f"content-type {ctype!r}"
        msg = resp.json()
        if msg.get("type") != "message" or msg.get("role") != "assistant":
            return f"not an Anthropic message: {resp.text[:300]}"
        got = "".join(b.get("text", "") for b in msg.get("content", []) if b.get("type") == "text")
        if got.strip() != text:
            return f"text {got!r}"
        if msg.get("stop_reason") != "end_turn":
            return f"stop_reason {msg.get('stop_reason')!r}"
        return None
    if "text/event-stream" not in ctype:
        return f"content-type {ctype!r}"
    events: list[tuple[str, dict]] = []
    for block in resp.text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                try:
                    data = json.loads(line[5:])
                except ValueError:
                    return f"non-JSON SSE data line {line[:80]!r}"
        if data is not None:
            if name and data.get("type") != name:
                return f"event {name!r} carries type {data.get('type')!r}"
            events.append((data.get("type"), data))
    kinds = [k for k, _ in events]
    if not kinds or kinds[0] != "message_start" or kinds[-1] != "message_stop":
        return f"event sequence {kinds}"
    for required in ("content_block_start", "content_block_stop", "message_delta"):
        if required not in kinds:
            return f"no {required} in {kinds}"
    got = "".join(
        d["delta"].get("text", "")
        for k, d in events
        if k == "content_block_delta" and d["delta"].get("type") == "text_delta"
    )
    if got.strip() != text:
        return f"text {got!r}"
    stop = next(d["delta"].get("stop_reason") for k, d in events if k == "message_delta")
    if stop != "end_turn":
        return f"stop_reason {stop!r}"
    return None


def verify(port: int, body: dict, text: str) -> dict[str, str]:
    """One request per dialect x stream through CCR; {"anthropic json": "ok" | reason, ...}."""
    out = {}
    for dialect in ROUTE_MODEL:
        for stream in (False, True):
            b = request_body(dict(body, stream=stream), dialect)
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/messages", json=b, timeout=30)
                why = check_answer(r, stream, text)
            except (httpx.HTTPError, ValueError, KeyError, StopIteration) as e:
                why = f"{type(e).__name__}: {e}"
            out[f"{dialect} {'stream' if stream else 'json'}"] = why or "ok"
    return out


def _main() -> None:
    import socket
    import tempfile

    from fast_upstream import TEXT

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    entry = ensure_ccr()
    if entry is None:
        sys.exit("no node/npm, or npm install failed")
    print(f"CCR {installed_version()} at {entry}, node {node_version()}")
    up_port, port = free_port(), free_port()
    up = subprocess.Popen([sys.executable, str(HERE / "fast_upstream.py"), str(up_port)])
    ccr = None
    home = Path(tempfile.mkdtemp(prefix="ccr-bench-"))
    try:
        time.sleep(0.3)
        ccr = start_ccr(up_port, port, home, entry)
        small = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "Say hello."}],
        }
        for case, res in verify(port, small, TEXT).items():
            print(f"{case:<20} {res}")
        print(f"RSS {tree_rss_kb(ccr.pid) / 1024:.1f} MB")
    finally:
        for p in (ccr, up):
            if p:
                p.terminate()
                p.wait(10)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    _main()
