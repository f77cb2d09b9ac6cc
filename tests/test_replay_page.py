"""Replay page in headless Chromium: the page, the call routes under uvicorn, a real store.

Writes ``artifacts/screenshots/replay_page.png``.  Skipped where ``/usr/bin/chromium`` or
Playwright is missing (never runs ``playwright install``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voice_assist.config import PROJECT_ROOT, StoreOptions
from voice_assist.replay.localserver import calls_app, fixed_token_check, serve_in_thread
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.store import Store

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "page-token"
SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    store = Store.open(StoreOptions(), data_dir=tmp_path_factory.mktemp("page"))
    rec = store.recorder("page-call", agent_id="a42", source="file", backpressure=True)
    synthetic_call(rec, call_id="page-call", duration_s=150, seed=5, episode_every_s=45)
    rec.close("hangup")
    rec = store.recorder("no-audio", agent_id="a7", source="file", backpressure=True)
    synthetic_call(rec, call_id="no-audio", duration_s=20, audio=False, episode_every_s=100)
    rec.close("hangup")
    store.flush()
    try:
        with serve_in_thread(calls_app(store, fixed_token_check(TOKEN))) as base:
            yield base, store
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function("document.body.dataset.state !== 'loading'", timeout=20000)
    return page, errors


def test_replay_page_draws_follows_and_seeks(server: tuple[str, Store], browser: Any) -> None:
    base, store = server
    page, errors = _open(browser, f"{base}/replay/page-call?token={TOKEN}")
    assert page.evaluate("document.body.dataset.state") == "ready", page.content()[:2000]
    transcript = store.transcript("page-call", words=False)
    assert page.locator("#transcript li").count() == len(transcript)
    n_rows = len(store.episodes("page-call")) + len(store.prompts("page-call"))
    assert page.locator("#events tbody tr").count() == n_rows
    assert "acknowledged" in page.locator("#summary").inner_text()
    assert "followed in" in page.locator("#events").inner_text()

    # the canvas has the legs' colours in it (waveforms and curves were drawn)
    colours = page.evaluate(
        """() => {
            const c = document.getElementById('base');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let customer = 0, agent = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (d[i] > 200 && d[i+1] > 60 && d[i+1] < 90 && d[i+2] < 40) customer++;
                if (d[i] < 50 && d[i+1] > 110 && d[i+1] < 140 && d[i+2] > 200) agent++;
            }
            return [customer, agent];
        }"""
    )
    assert colours[0] > 1000 and colours[1] > 1000

    # Chromium decodes the stored FLAC (fetched with ?token=)
    page.wait_for_function("document.getElementById('audio').readyState >= 1", timeout=20000)
    assert page.evaluate("document.getElementById('audio').duration") == pytest.approx(150, abs=0.1)
    assert f"token={TOKEN}" in page.evaluate("document.getElementById('audio').src")

    # clicking an utterance seeks the audio there and highlights it
    target = transcript[6]
    page.locator("#transcript li").nth(6).click()
    page.wait_for_function(
        f"Math.abs(document.getElementById('audio').currentTime - {target['start_ms'] / 1000})"
        " < 0.05"
    )
    assert "current" in (page.locator("#transcript li").nth(6).get_attribute("class") or "")

    # clicking the timeline seeks by position
    box = page.locator("#canvas-wrap").bounding_box()
    assert box is not None
    left = 104  # LEFT margin in replay.js
    x = left + 0.75 * (box["width"] - left - 12)
    page.mouse.click(box["x"] + x, box["y"] + 100)
    page.wait_for_function(
        "Math.abs(document.getElementById('audio').currentTime - 112.5) < 1.0", timeout=5000
    )
    # the transcript follows the new position
    current = page.locator("#transcript li.current")
    assert current.count() == 1
    start = int(current.get_attribute("data-start") or "0")
    later = [u["start_ms"] for u in transcript if u["start_ms"] > start]
    assert start <= 112500 and (not later or later[0] > 112000)

    # playback moves the playhead and the transcript along
    page.evaluate("document.getElementById('audio').play()")
    page.wait_for_function("document.getElementById('audio').currentTime > 113.0", timeout=15000)
    page.evaluate("document.getElementById('audio').pause()")
    assert int(page.evaluate("document.body.dataset.positionMs")) > 112500
    page.locator("#transcript li").nth(6).click()  # back to a moment with a highlighted line
    page.wait_for_timeout(300)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "replay_page.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_replay_page_without_audio(server: tuple[str, Store], browser: Any) -> None:
    base, _ = server
    page, errors = _open(browser, f"{base}/replay/no-audio?token={TOKEN}")
    assert page.evaluate("document.body.dataset.state") == "ready"
    assert page.locator("#virtual-player").is_visible()
    assert not page.locator("#audio").is_visible()
    assert "no audio" in page.locator("#vp-note").inner_text()
    page.locator("#transcript li").nth(2).click()
    assert page.locator("#transcript li").nth(2).get_attribute("class") == "current"
    assert not errors, errors
    page.close()


@pytest.mark.parametrize(
    ("path", "title"),
    [
        (f"/replay/missing-call?token={TOKEN}", "Call not found"),
        ("/replay/page-call", "Not authorized"),
        ("/replay/page-call?token=wrong", "Not authorized"),
    ],
)
def test_replay_page_errors(server: tuple[str, Store], browser: Any, path: str, title: str) -> None:
    base, _ = server
    page, errors = _open(browser, base + path)
    assert page.evaluate("document.body.dataset.state") == "error"
    assert title in page.locator("#message").inner_text()
    assert not errors, errors
    page.close()


def test_screenshot_path_is_ignored_by_git() -> None:
    gitignore = Path(PROJECT_ROOT / ".gitignore").read_text()
    assert "/artifacts/" in gitignore
