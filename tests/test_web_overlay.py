"""The overlay and wall board in a real browser (Debian Chromium, headless, via Playwright).

The demo call is streamed into the real server through /v1/ingest; the test waits for
the "pause and acknowledge" prompt to appear on the agent's overlay, acknowledges it,
and checks the wall board.  Screenshots go to artifacts/screenshots/ for a person to
look at.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voice_assist.config import PROJECT_ROOT, Settings, load_settings
from voice_assist.server import auth
from voice_assist.server.ingest_client import StreamResult, load_demo_call, stream_call
from voice_assist.server.local import ServerThread

pytestmark = [pytest.mark.browser, pytest.mark.model]

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
SECRET = "browser-test-secret"
KEY = "browser-test-key"
SPEED = 2.0  # the prompt comes from prosody, which does not care; keeps the test short
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed (make system-deps)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _settings(port: int = 0) -> Settings:
    return load_settings(
        env={}, overrides={"server": {"secret": SECRET, "ingest_keys": [KEY], "port": port}}
    )


@pytest.fixture(scope="module")
def srv() -> Iterator[ServerThread]:
    server = ServerThread(_settings()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def stream_in_background(
    srv: ServerThread, agent_id: str, max_ms: int
) -> tuple[threading.Thread, list[StreamResult]]:
    call = load_demo_call().cut(max_ms)
    results: list[StreamResult] = []

    def main() -> None:
        results.append(
            asyncio.run(
                stream_call(
                    f"{srv.ws_url}/v1/ingest",
                    api_key=KEY,
                    agent_id=agent_id,
                    audio=call.audio,
                    rate_hz=call.rate_hz,
                    speed=SPEED,
                )
            )
        )

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    return thread, results


def test_prompt_appears_on_overlay_and_wall_board(srv: ServerThread, browser: Any) -> None:
    agent = "demo-agent"
    agent_token = auth.sign_token(SECRET, role="agent", agent_id=agent, ttl_s=3600)
    sup_token = auth.sign_token(SECRET, role="supervisor", ttl_s=3600)
    overlay = browser.new_page(viewport={"width": 440, "height": 900}, device_scale_factor=1)
    errors: list[str] = []
    overlay.on("pageerror", lambda exc: errors.append(str(exc)))
    overlay.goto(f"{srv.base_url}/overlay?token={agent_token}")
    overlay.wait_for_selector("#conn[data-state='live']", timeout=15_000)
    assert overlay.inner_text("#agent-id") == agent
    shot(overlay, "overlay-idle")

    board = browser.new_page(viewport={"width": 1400, "height": 820})
    board.on("pageerror", lambda exc: errors.append(str(exc)))
    board.goto(f"{srv.base_url}/supervisor?token={sup_token}")
    board.wait_for_selector("#conn[data-state='live']", timeout=15_000)

    # the episode starts about 37 s into the call; stream the first 52 s
    thread, results = stream_in_background(srv, agent, max_ms=52_000)
    board.wait_for_selector(".call", timeout=30_000)
    # the detail pane, while the call is surely live (an ended call closes its pane)
    board.click(".call")
    board.wait_for_selector("#detail:not([hidden])")
    board.wait_for_selector("#d-transcript li.customer", timeout=30_000)
    shot(board, "wallboard-detail")
    board.click("#d-close")
    board.wait_for_selector("#detail", state="hidden")
    overlay.wait_for_selector(
        "#prompt[data-kind='pause_and_acknowledge']:not([hidden])", timeout=120_000
    )
    assert "Acknowledge" in overlay.inner_text("#prompt-text")
    phrase = overlay.inner_text("#prompt-phrase")
    assert "frustrating" in phrase or "annoying" in phrase or len(phrase) > 10
    assert overlay.inner_text("#distress-level") in ("Elevated", "High")
    time.sleep(1.0)  # let the transcript and the meter catch up for the picture
    shot(overlay, "overlay-prompt")

    board.wait_for_selector(".call.has-alert", timeout=30_000)
    time.sleep(1.5)
    shot(board, "wallboard-alert")

    # acknowledging on the overlay clears the card and tells the server; the call may
    # have raised its next prompt by now (the stock "Fantastic!" comes 4 s after the
    # pause prompt), which then takes the card
    acked = overlay.get_attribute("#prompt", "data-prompt-id")
    overlay.click("#btn-followed")
    overlay.wait_for_function(
        """(acked) => {
            const idle = !document.getElementById("prompt-idle").hidden;
            const box = document.getElementById("prompt");
            return idle || (!box.hidden && box.getAttribute("data-prompt-id") !== acked);
        }""",
        arg=acked,
        timeout=5_000,
    )
    shot(overlay, "overlay-after-ack")

    thread.join(180)
    assert results and results[0].stopped and not results[0].errors
    overlay.wait_for_selector("#call-line[data-state='ended']", timeout=60_000)
    board.wait_for_selector("#empty:not([hidden])", timeout=60_000)
    assert errors == []
    overlay.close()
    board.close()


def test_expired_and_bad_tokens(srv: ServerThread, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 440, "height": 500})
    response = page.goto(f"{srv.base_url}/overlay?token=nonsense")
    assert response.status == 401
    assert "Access refused" in page.inner_text("h1")
    shot(page, "overlay-refused")

    short = auth.sign_token(SECRET, role="agent", agent_id="x", ttl_s=3)
    page.goto(f"{srv.base_url}/overlay?token={short}")
    page.wait_for_selector("#conn[data-state='live']", timeout=15_000)
    page.wait_for_selector("#fatal:not([hidden])", timeout=20_000)  # server closes at expiry
    assert "expired" in page.inner_text("#fatal-text")
    shot(page, "overlay-expired")
    page.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_overlay_reconnects_after_a_server_restart(browser: Any) -> None:
    port = _free_port()
    first = ServerThread(_settings(port), port=port).start()
    token = auth.sign_token(SECRET, role="agent", agent_id="r1", ttl_s=3600)
    page = browser.new_page(viewport={"width": 440, "height": 500})
    page.goto(f"http://127.0.0.1:{port}/overlay?token={token}")
    page.wait_for_selector("#conn[data-state='live']", timeout=15_000)
    first.stop()
    page.wait_for_selector("#conn[data-state='reconnecting']", timeout=20_000)
    shot(page, "overlay-reconnecting")
    second = ServerThread(_settings(port), port=port).start()
    try:
        page.wait_for_selector("#conn[data-state='live']", timeout=60_000)
        assert page.is_hidden("#fatal")
    finally:
        page.close()
        second.stop()
