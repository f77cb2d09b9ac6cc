"""Calls page, agent scorecards and the landing page in headless Chromium, as a person uses them.

The real app (``create_app`` with its token check, no speech model) under uvicorn, over
a store of a few recorded calls (one interrupted) and 3,000 bulk-inserted ones, and a
second, empty store.  Writes screenshots to ``artifacts/screenshots/``.  Skipped where
``/usr/bin/chromium`` or Playwright is missing (never runs ``playwright install``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from benchmarks.calls_page import fill_store
from voice_assist.config import PROJECT_ROOT, Settings, load_settings
from voice_assist.replay.localserver import serve_in_thread
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.server import auth
from voice_assist.server.app import create_app
from voice_assist.store import Store
from voice_assist.store.listing import CallQuery

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]  # fmt: skip
SECRET = "calls-page-secret-0123456789"
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
BULK = 3000
QA = auth.sign_token(SECRET, role="qa", ttl_s=3600)


def _settings(data_dir: Path) -> Settings:
    return load_settings(
        env={}, overrides={"server": {"secret": SECRET}, "store": {"data_dir": str(data_dir)}}
    )


def _record(store: Store, cid: str, agent: str, seconds: float, every_s: float, ago_s: float,
            close: bool = True) -> None:  # fmt: skip
    rec = store.recorder(cid, agent_id=agent, source="native", backpressure=True,
                         started_at_ms=int((time.time() - ago_s) * 1000))  # fmt: skip
    synthetic_call(rec, call_id=cid, duration_s=seconds, seed=len(cid), audio=False,
                   agent_id=agent, episode_every_s=every_s)  # fmt: skip
    if close:
        rec.close("hangup")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Store]]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    full_dir, empty_dir = tmp_path_factory.mktemp("full"), tmp_path_factory.mktemp("empty")
    # a call still open when its store closes is stored as interrupted
    first = Store.open(_settings(full_dir))
    _record(first, "cut-off-call", "alice", 40, 15, ago_s=7200, close=False)
    first.flush()
    first.close()
    store = Store.open(_settings(full_dir))
    _record(store, "alice-upset", "alice", 150, 45, ago_s=600)
    _record(store, "bob-calm", "bob", 60, 500, ago_s=300)
    store.flush()
    fill_store(store.engine, BULK, seed=9, now_ms=int(time.time() * 1000) - 86_400_000)
    empty = Store.open(_settings(empty_dir))
    try:
        with (
            serve_in_thread(create_app(_settings(full_dir), store=store)) as base,
            serve_in_thread(create_app(_settings(empty_dir), store=empty)) as empty_base,
        ):
            yield base, empty_base, store
    finally:
        store.close()
        empty.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser: Any, url: str, width: int = 1400) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    settle(page)
    return page, errors


def settle(page: Any) -> str:
    """Wait for the page to finish loading (a selector: the pages' CSP forbids eval)."""
    page.wait_for_selector("body:not([data-state='loading'])", state="attached", timeout=20_000)
    return str(page.evaluate("document.body.dataset.state"))


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def row_ids(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#calls tbody tr[data-call-id]",
                                          "rows => rows.map(r => r.dataset.callId)"))  # fmt: skip


def page_query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_newest_first_and_paging(stores: tuple[str, str, Store], browser: Any) -> None:
    base, _, store = stores
    page, errors = open_page(browser, f"{base}/calls?token={QA}")
    assert settle(page) == "ready"
    total = BULK + 3
    assert page.inner_text("#headline").replace(",", "").startswith(f"{total} calls")
    newest = store.list_calls(CallQuery(limit=50))
    assert row_ids(page) == [c.call_id for c in newest.calls]
    assert row_ids(page)[:2] == ["bob-calm", "alice-upset"]
    assert page.inner_text("#range") == f"1–50 of {total:,}"
    shot(page, "calls_page")

    page.click("#next")
    settle(page)
    assert page_query(page)["offset"] == ["50"]
    assert row_ids(page) == [c.call_id for c in store.list_calls(CallQuery(offset=50)).calls]
    page.select_option("#page-size", "200")
    settle(page)
    assert len(row_ids(page)) == 200 and "offset" not in page_query(page)
    page.go_back()
    settle(page)
    assert page_query(page)["offset"] == ["50"]
    assert not errors, errors
    page.close()


def test_filters_status_and_sorting(stores: tuple[str, str, Store], browser: Any) -> None:
    base, _, store = stores
    page, errors = open_page(browser, f"{base}/calls?token={QA}")
    page.fill("#f-agent", "alice")
    page.click("#apply")
    settle(page)
    assert set(row_ids(page)) == {"alice-upset", "cut-off-call"}
    assert page_query(page)["agent"] == ["alice"] and page_query(page)["token"] == [QA]
    upset = page.locator("tr[data-call-id='alice-upset'] td")
    assert upset.nth(5).inner_text() == "3"  # episodes: followed, dismissed, expired

    page.select_option("#f-status", "interrupted")
    page.click("#apply")
    settle(page)
    assert row_ids(page) == ["cut-off-call"]
    assert page.inner_text("tr[data-call-id='cut-off-call'] .status") == "interrupted"
    shot(page, "calls_interrupted")

    page.click("#clear")
    settle(page)
    page.fill("#f-min_unacknowledged", "1")
    page.fill("#f-min_duration_s", "5")  # minutes
    page.click("#apply")
    settle(page)
    q = CallQuery(bounds={"unacknowledged": (1, None), "duration_s": (300, None)})
    want = store.list_calls(q)
    assert page_query(page)["min_duration_s"] == ["300"]
    assert row_ids(page) == [c.call_id for c in want.calls]
    assert page.inner_text("#headline").replace(",", "").startswith(f"{want.total} calls match")

    page.click("th[data-sort='duration']")
    settle(page)
    assert page.get_attribute("th[data-sort='duration']", "aria-sort") == "descending"
    want = store.list_calls(CallQuery(bounds=q.bounds, sort="duration"))
    assert row_ids(page) == [c.call_id for c in want.calls]
    page.click("th[data-sort='duration']")
    settle(page)
    assert page.get_attribute("th[data-sort='duration']", "aria-sort") == "ascending"
    want = store.list_calls(CallQuery(bounds=q.bounds, sort="duration", descending=False))
    assert row_ids(page) == [c.call_id for c in want.calls]
    assert not errors, errors
    page.close()


def test_search_highlights_and_links_to_replay(
    stores: tuple[str, str, Store], browser: Any
) -> None:
    base, _, store = stores
    page, errors = open_page(browser, f"{base}/calls?token={QA}")
    page.fill("#f-q", '"charged twice"')
    page.press("#f-q", "Enter")
    settle(page)
    want = store.list_calls(CallQuery(search='"charged twice"'))
    assert want.total > 50
    assert row_ids(page) == [c.call_id for c in want.calls]
    marks = page.eval_on_selector_all("tr.match mark", "ms => ms.map(m => m.textContent)")
    assert marks and {m.lower() for m in marks} <= {"charged", "twice"}
    shot(page, "calls_search")

    page.fill("#f-q", "zebra")
    page.click("#apply")
    settle(page)
    assert row_ids(page) == [] and page.inner_text("#empty") == "No call matches these filters."

    page.fill("#f-q", "refund*")
    page.fill("#f-agent", "alice")
    page.click("#apply")
    settle(page)
    want = store.list_calls(CallQuery(search="refund*", agent_id="alice"))
    assert row_ids(page) == [c.call_id for c in want.calls] and "alice-upset" in row_ids(page)
    with page.expect_navigation():
        page.click("tr[data-call-id='alice-upset'] a.replay")
    assert urlparse(page.url).path == "/replay/alice-upset"
    assert settle(page) == "ready"  # the replay page loads the call with the same QA token
    assert page.locator("#transcript li").count() == len(store.transcript("alice-upset"))
    assert not errors, errors
    page.close()


def test_bad_parameters_and_tokens(stores: tuple[str, str, Store], browser: Any) -> None:
    base, _, _ = stores
    page, errors = open_page(browser, f"{base}/calls?token={QA}&min_episodes=-1")
    assert settle(page) == "invalid"
    assert page.inner_text("#form-error") == "min_episodes must not be negative"
    page.close()
    agent = auth.sign_token(SECRET, role="agent", agent_id="alice", ttl_s=600)
    for url in (f"{base}/calls", f"{base}/calls?token=forged.token", f"{base}/calls?token={agent}",
                f"{base}/agents?token={agent}"):  # fmt: skip
        page, _ = open_page(browser, url)
        assert settle(page) == "error"
        assert "Not authorized" in page.inner_text("#message")
        assert page.locator("#content").is_hidden()
        page.close()


def test_empty_store(stores: tuple[str, str, Store], browser: Any) -> None:
    _, empty_base, _ = stores
    page, errors = open_page(browser, f"{empty_base}/calls?token={QA}")
    assert settle(page) == "ready"
    assert page.inner_text("#empty").startswith("No stored calls yet.")
    assert page.inner_text("#headline").startswith("0 calls")
    shot(page, "calls_empty")
    page.close()
    page, _ = open_page(browser, f"{empty_base}/agents?token={QA}")
    assert page.inner_text("#overview-empty") == "No stored calls in this period."
    assert not errors, errors
    page.close()


def test_agents_overview_and_scorecard(stores: tuple[str, str, Store], browser: Any) -> None:
    base, _, store = stores
    page, errors = open_page(browser, f"{base}/agents?token={QA}")
    agents = store.agents()
    ids = page.eval_on_selector_all("#agents tbody tr", "rows => rows.map(r => r.dataset.agentId)")
    assert ids == [a.agent_id for a in agents]
    page.click("th[data-key='calls']")
    ids = page.eval_on_selector_all("#agents tbody tr", "rows => rows.map(r => r.dataset.agentId)")
    by_calls = sorted(agents, key=lambda a: (-a.figures.calls, a.agent_id))
    assert ids == [a.agent_id for a in by_calls]
    shot(page, "agents_page")

    busiest = by_calls[0].agent_id
    with page.expect_navigation():
        page.click(f"#agents tr[data-agent-id='{busiest}'] a")
    assert settle(page) == "ready"
    card = store.agent_scorecard(busiest)
    assert page.locator("#cards .card").count() == 8
    assert page.inner_text("#headline").startswith(f"{card.figures.calls} calls")
    weeks_with_calls = sum(w.figures.calls > 0 for w in card.weeks)
    assert page.get_attribute("[data-trend='calls'] svg", "data-points") == str(weeks_with_calls)
    acked = sum(w.figures.share_acknowledged is not None for w in card.weeks)
    assert page.get_attribute("[data-trend='share_acknowledged'] svg", "data-points") == str(acked)
    first = page.locator("#behind tbody tr[data-call-id]").first.get_attribute("data-call-id")
    assert first == store.list_calls(CallQuery(agent_id=busiest)).calls[0].call_id

    page.click("#cards .card[data-figure='unacknowledged']")
    settle(page)
    page.wait_for_selector("#behind-title >> text=/^Calls with an episode/")
    want = store.list_calls(CallQuery(agent_id=busiest, bounds={"unacknowledged": (1, None)},
                                      sort="unacknowledged"))  # fmt: skip
    shown = page.eval_on_selector_all("#behind tbody tr[data-call-id]",
                                      "rows => rows.map(r => r.dataset.callId)")  # fmt: skip
    assert shown == [c.call_id for c in want.calls[:25]]
    assert f"({want.total})" in page.inner_text("#behind-title")
    shot(page, "agent_scorecard")

    # a figure's link opens the calls page with the same calls
    with page.expect_navigation():
        page.click("#cards .card[data-figure='script'] a.behind")
    assert settle(page) == "ready"
    assert page.input_value("#f-agent") == busiest
    assert page.input_value("#f-min_script") == "1"
    q = CallQuery(agent_id=busiest, bounds={"script": (1, None)}, sort="script")
    assert row_ids(page) == [c.call_id for c in store.list_calls(q).calls]
    assert page.get_attribute("th[data-sort='script']", "aria-sort") == "descending"

    # a shorter period: fewer weeks, figures of that period only
    page.goto(f"{base}/agents/{busiest}?token={QA}&days=28")
    settle(page)
    assert (
        4
        <= page.locator("[data-trend='calls'] svg circle, [data-trend='calls'] svg rect").count()
        <= 5
    )
    assert not errors, errors
    page.close()


def test_landing_page(stores: tuple[str, str, Store], browser: Any) -> None:
    base, _, _ = stores
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(f"{base}/")
    hrefs = page.eval_on_selector_all(".pages a", "as => as.map(a => a.getAttribute('href'))")
    assert hrefs == ["/overlay", "/supervisor", "/calls", "/agents"]
    assert "voice-assist token qa --url" in page.inner_text("pre")
    page.goto(f"{base}/?token={QA}")
    page.wait_for_selector("#who:not(:empty)")
    assert page.inner_text("#who").startswith("Signed in as qa until")
    assert page.get_attribute("#link-calls", "href") == f"/calls?token={QA}"
    assert "off" in (page.get_attribute("#link-overlay", "class") or "")
    assert "off" not in (page.get_attribute("#link-agents", "class") or "")
    shot(page, "landing_page")
    with page.expect_navigation():
        page.click("#link-calls")
    assert settle(page) == "ready"
    page.close()
