"""The operator panel in a real headless Chromium, against the gateway on the simulated PBX.

One simulator + gateway (real uvicorn on a free loopback port) and one browser serve the module; each
test opens its own browser contexts (own cookies and localStorage). Screenshots of every step go to
``$AJAM_ARTIFACTS`` or ``tests/artifacts/``. Skipped without playwright or chromium unless
``AJAM_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import (
    LiveGateway,
    artifacts_dir,
    chromium_path,
    launch_chromium,
    live_gateway,
    require_playwright,
    write_wav,
)

pytestmark = pytest.mark.timeout(120)

CONTACT_TEMPLATE = "https://crm.example/clients?phone={number}"
INBOUND_CALLER = "79161234567"  # the simulator's caller of the sip_inbound_* scenarios
STEP_TIMEOUT = 15_000  # ms


@pytest.fixture(scope="module")
def sync_api() -> Any:
    api = require_playwright()
    chromium_path()
    return api


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, sync_api: Any) -> Iterator[LiveGateway]:
    with live_gateway(tmp_path_factory.mktemp("browser"), contact_url=CONTACT_TEMPLATE) as running:
        yield running


@pytest.fixture(scope="module")
def browser(sync_api: Any) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser: Any, gateway: LiveGateway) -> Iterator[Callable[..., Any]]:
    """``new_page(locale="en-US")``: a page in a fresh context; JS errors make the test fail."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(locale: str = "en-US", init_script: str | None = None) -> Any:
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 860})
        context.set_default_timeout(STEP_TIMEOUT)
        if init_script is not None:
            context.add_init_script(init_script)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def shot(page: Any, name: str) -> Path:
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_panel(page: Any, gateway: LiveGateway) -> None:
    page.goto(gateway.base_url + "/")
    page.wait_for_selector("body[data-ready='true']")


def login(page: Any, gateway: LiveGateway, username: str) -> None:
    open_panel(page, gateway)
    page.fill("#login-username", username)
    page.fill("#login-password", gateway.passwords[username])
    page.click("#login-submit")
    page.wait_for_selector("#app-view:not([hidden])")
    page.wait_for_selector("#pbx-banner[data-push='open']", state="attached")


def expect_text(page: Any, selector: str, pattern: str) -> None:
    page.wait_for_function(
        "([selector, pattern]) => { const found = document.querySelector(selector);"
        " return found !== null && new RegExp(pattern).test(found.textContent); }",
        arg=[selector, pattern],
    )


def journal_call(
    gateway: LiveGateway, username: str, predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The newest journal entry (as ``username`` sees it) matching ``predicate``; waits for it."""
    with httpx.Client(base_url=gateway.base_url, timeout=5) as client:
        reply = client.post(
            "/api/login", json={"username": username, "password": gateway.passwords[username]}
        )
        reply.raise_for_status()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            items = client.get("/api/journal", params={"limit": 50}).json()["items"]
            for call in items:
                if predicate(call):
                    return dict(call)
            time.sleep(0.1)
    raise AssertionError("the call did not reach the journal")


# ---------------------------------------------------------------------------------------------- tests
def test_login_refuses_a_wrong_password_then_signs_in_and_out(
    new_page: Callable[..., Any], gateway: LiveGateway
) -> None:
    page = new_page()
    open_panel(page, gateway)
    assert page.is_visible("#login-form")
    shot(page, "01_login_form")
    page.fill("#login-username", "operator101")
    page.fill("#login-password", "not-the-password")
    page.click("#login-submit")
    expect_text(page, "#login-error", "Wrong user name or password")
    assert page.is_hidden("#app-view")
    shot(page, "02_login_refused")

    login(page, gateway, "operator101")
    expect_text(page, "#user-info", r"operator101.*101")
    assert page.is_hidden("#tab-board"), "operators get no call-center board"
    assert page.is_hidden("#dial-from-label"), "an operator with one extension dials from it"
    shot(page, "03_logged_in_operator")

    page.reload()  # the session cookie keeps the operator signed in
    page.wait_for_selector("#app-view:not([hidden])")
    page.click("#logout")
    page.wait_for_selector("#login-form")
    assert page.is_hidden("#app-view")
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    assert page.is_visible("#login-form"), "signed out on the server too"


def test_incoming_call_pops_up_for_its_operator_only(
    new_page: Callable[..., Any], gateway: LiveGateway
) -> None:
    page101, page102 = new_page(), new_page()
    login(page101, gateway, "operator101")
    login(page102, gateway, "operator102")

    running = gateway.run_scenario("sip_inbound_answered_recorded")  # DID 74951230001 → 101
    popup = page101.wait_for_selector(".popup")
    expect_text(page101, ".popup .popup-number", INBOUND_CALLER)
    expect_text(page101, ".popup .popup-name", "Мария Иванова")
    expect_text(page101, ".popup .popup-meta", "101")
    link = page101.get_attribute(".popup .popup-contact", "href")
    assert link == f"https://crm.example/clients?phone={INBOUND_CALLER}"
    assert page101.get_attribute("#popups", "aria-live") == "assertive"
    assert popup.is_visible()
    assert "null" not in (page101.text_content(".popup") or "")
    shot(page101, "04_screen_pop_operator101")

    running.result(timeout=30)
    expect_text(page101, ".popup .popup-status", "Ended|Answered")
    shot(page101, "05_screen_pop_after_call")
    assert page102.query_selector(".popup") is None, "102 must not see a call that rang on 101"
    shot(page102, "06_no_pop_operator102")

    page101.keyboard.press("Escape")
    page101.wait_for_selector(".popup", state="detached")


def test_journal_lists_the_finished_call_and_plays_its_recording(
    new_page: Callable[..., Any], gateway: LiveGateway
) -> None:
    caller = "79160000042"
    gateway.run_scenario("sip_inbound_answered_recorded", caller_num=caller).result(timeout=30)
    call = journal_call(gateway, "operator101", lambda found: found["caller"]["number"] == caller)
    assert call["recording"], "the scenario records the call"
    write_wav(gateway.recordings / Path(call["recording"]).name)

    page = new_page()
    login(page, gateway, "operator101")
    page.click("#tab-journal")
    row = f"#journal-body tr[data-call-id='{call['id']}']"
    page.wait_for_selector(row)
    expect_text(page, row, caller)
    expect_text(page, row, "answered")
    assert "missed" not in (page.get_attribute(row, "class") or "")
    expect_text(page, "#journal-range", r"1–\d+ of \d+")
    shot(page, "07_journal")

    page.click(f"{row} .recording button")
    page.wait_for_function(
        "selector => { const audio = document.querySelector(selector + ' audio');"
        " return audio !== null && audio.readyState >= 1 && audio.duration > 0.4; }",
        arg=row,
    )
    download = page.get_attribute(f"{row} .recording a", "href")
    assert download == f"/api/recordings/{call['id']}"
    shot(page, "08_recording_playback")


def test_missed_call_is_highlighted_and_filtered(new_page: Callable[..., Any], gateway: LiveGateway) -> None:
    caller = "79160000077"
    page = new_page()
    login(page, gateway, "operator101")
    page.click("#tab-journal")
    page.wait_for_selector("#journal-range:not(:empty)")
    gateway.run_scenario("sip_inbound_noanswer", caller_num=caller).result(timeout=30)
    call = journal_call(gateway, "operator101", lambda found: found["caller"]["number"] == caller)
    row = f"#journal-body tr[data-call-id='{call['id']}']"
    page.wait_for_selector(row)  # the open first page reloads by itself when a call ends
    assert "missed" in (page.get_attribute(row, "class") or "")
    expect_text(page, f"{row} .missed-mark", "missed")
    shot(page, "09_missed_call_highlighted")

    page.check("#journal-filters input[name='missed']")
    page.fill("#journal-filters input[name='number']", caller)
    page.click("#journal-filters button[type='submit']")
    page.wait_for_function(
        "() => { const rows = document.querySelectorAll('#journal-body tr');"
        " return rows.length === 1 && rows[0].classList.contains('missed'); }"
    )
    expect_text(page, "#journal-range", "1–1 of 1")
    shot(page, "10_journal_missed_filter")

    page.uncheck("#journal-filters input[name='missed']")
    page.fill("#journal-filters input[name='number']", "")
    page.select_option("#journal-outcome", "answered")
    page.click("#journal-filters button[type='submit']")
    page.wait_for_function(
        "() => { const rows = [...document.querySelectorAll('#journal-body tr')];"
        " return rows.length > 0 && rows.every(row => row.dataset.outcome === 'answered'); }"
    )


def test_journal_pages_through_many_calls(new_page: Callable[..., Any], gateway: LiveGateway) -> None:
    from ajam.calls.journal import open_journal
    from ajam.calls.model import Call, Direction, Outcome, Party

    now = time.time() - 3600
    calls = [
        Call(
            id=f"paging-{index}",
            direction=Direction.INBOUND,
            caller=Party(f"7900000{index:04d}", "Paging Test"),
            callee=Party("101"),
            rang=["101"],
            answered_by="101",
            outcome=Outcome.ANSWERED,
            started_at=now + index,
            answered_at=now + index + 2,
            ended_at=now + index + 30,
        )
        for index in range(30)
    ]
    with open_journal(gateway.database) as journal:
        journal.store_many(calls)

    page = new_page()
    login(page, gateway, "operator101")
    page.click("#tab-journal")
    page.fill("#journal-filters input[name='number']", "7900000*")
    page.click("#journal-filters button[type='submit']")
    expect_text(page, "#journal-range", "^1–25 of 30$")
    assert page.is_disabled("#journal-prev")
    first_page = page.eval_on_selector_all("#journal-body tr", "rows => rows.map(row => row.dataset.callId)")
    assert first_page[0] == "paging-29", "newest first"
    page.click("#journal-next")
    expect_text(page, "#journal-range", "^26–30 of 30$")
    assert page.is_disabled("#journal-next")
    second_page = page.eval_on_selector_all("#journal-body tr", "rows => rows.map(row => row.dataset.callId)")
    assert second_page == [f"paging-{index}" for index in range(4, -1, -1)]
    shot(page, "10b_journal_second_page")
    page.click("#journal-prev")
    expect_text(page, "#journal-range", "^1–25 of 30$")


def test_click_to_call_reaches_the_pbx_and_shows_the_outcome(
    new_page: Callable[..., Any], gateway: LiveGateway
) -> None:
    page = new_page()
    login(page, gateway, "operator101")
    number = "74950007777"
    page.fill("#dial-number", number)
    page.click("#dial-submit")
    expect_text(page, "#dial-status", f"Calling {number}")
    shot(page, "11_click_to_call_started")
    deadline = time.monotonic() + 15
    while not gateway.sim_events.find("OriginateResponse", Context="agents", Exten=f"8{number}"):
        assert time.monotonic() < deadline, "no Originate for the number reached the simulator"
        time.sleep(0.05)
    page.wait_for_selector("#dial-status[data-result='answered']", timeout=30_000)
    expect_text(page, "#dial-status", f"{number} answered")
    assert page.query_selector(".popup") is None, (
        "the agent's own phone ringing for a click-to-call is no screen pop"
    )
    shot(page, "12_click_to_call_answered")

    busy = "74950000486"  # the simulated carrier answers 486 Busy Here for numbers ending in 486
    page.fill("#dial-number", busy)
    page.keyboard.press("Enter")
    page.wait_for_selector("#dial-status[data-result='busy']", timeout=30_000)
    expect_text(page, "#dial-status", f"{busy} is busy")
    shot(page, "13_click_to_call_busy")

    # Numbers on the page are click-to-call buttons too: call a missed caller back from the journal.
    caller = "79160000123"
    gateway.run_scenario("sip_inbound_noanswer", caller_num=caller).result(timeout=30)
    page.click("#tab-journal")
    button = page.wait_for_selector(f"#journal-body tr.missed button.phone[data-dial='{caller}']")
    shot(page, "14_call_back_from_journal")
    button.click()
    page.wait_for_selector("#dial-status[data-kind='pending']")
    deadline = time.monotonic() + 15
    while not gateway.sim_events.find("OriginateResponse", Context="agents", Exten=f"8{caller}"):
        assert time.monotonic() < deadline, "clicking a number did not originate a call"
        time.sleep(0.05)
    page.wait_for_selector("#dial-status[data-result]", timeout=30_000)


CHART_TOTAL = "() => [...document.querySelectorAll('#board-chart .bar')].reduce((sum, bar) => sum + Number(bar.dataset.total), 0)"


def test_supervisor_board_follows_a_queue_call(new_page: Callable[..., Any], gateway: LiveGateway) -> None:
    page = new_page()
    login(page, gateway, "supervisor")
    assert page.is_visible("#tab-board")
    page.click("#tab-board")
    queue = page.wait_for_selector(".queue[data-queue='support']")
    answered_before = int(page.text_content(".queue[data-queue='support'] .count-answered") or "0")
    abandoned_before = int(page.text_content(".queue[data-queue='support'] .count-abandoned") or "0")
    assert queue.is_visible()
    page.wait_for_selector(".queue[data-queue='support'] .agents tbody tr")
    page.wait_for_selector("#board-chart svg .bar")
    charted = page.evaluate(CHART_TOTAL)
    shot(page, "15_board_idle")

    # The caller waits (about 7 s of the PBX's time) and hangs up before an agent answers.
    running = gateway.run_scenario("sip_queue_abandoned")
    page.wait_for_selector(".queue[data-queue='support'] .waiting tbody tr")  # the caller waits, timer runs
    expect_text(page, ".queue[data-queue='support'] .waiting tbody tr", INBOUND_CALLER)
    expect_text(page, ".queue[data-queue='support'] .count-waiting", "^1$")
    page.wait_for_selector(".queue[data-queue='support'] .agents [data-state='ringing']")
    shot(page, "16_board_caller_waiting")
    running.result(timeout=30)
    page.wait_for_function(
        "before => Number(document.querySelector(\".queue[data-queue='support'] .count-abandoned\").textContent) > before",
        arg=abandoned_before,
    )
    expect_text(page, ".queue[data-queue='support'] .count-waiting", "^0$")
    shot(page, "17_board_after_abandoned")

    gateway.run_scenario("sip_queue_answered").result(timeout=30)
    page.wait_for_function(
        "before => Number(document.querySelector(\".queue[data-queue='support'] .count-answered\").textContent) > before",
        arg=answered_before,
    )
    page.wait_for_function(f"before => ({CHART_TOTAL})() >= before + 2", arg=charted)  # both calls charted
    page.wait_for_selector(".queue[data-queue='support'] .day-figures")  # the journal's figures of the day
    shot(page, "18_board_after_answered")


def test_pbx_banner_follows_the_connection_without_a_reload(
    new_page: Callable[..., Any], gateway: LiveGateway
) -> None:
    page = new_page()
    login(page, gateway, "operator101")
    assert page.is_hidden("#pbx-banner")
    page.evaluate("() => { window.__sameDocument = true; }")

    restarting = gateway.sim.call_soon(lambda: gateway.sim.faults.restart(downtime=2.0))
    page.wait_for_selector("#pbx-banner[data-pbx='disconnected']:not([hidden])")
    expect_text(page, "#pbx-banner", "PBX disconnected")
    shot(page, "19_pbx_disconnected")
    restarting.result(timeout=30)
    page.wait_for_selector("#pbx-banner[data-pbx='connected']", state="attached", timeout=30_000)
    expect_text(page, "#pbx-banner", "restored")
    shot(page, "20_pbx_reconnected")

    changes = int(page.get_attribute("#pbx-banner", "data-changes") or "0")
    gateway.on_sim(gateway.sim.faults.drop_connections)
    page.wait_for_function(  # disconnected, then connected again
        "before => { const banner = document.querySelector('#pbx-banner');"
        " return Number(banner.dataset.changes) >= before + 2 && banner.dataset.pbx === 'connected'; }",
        arg=changes,
        timeout=30_000,
    )
    assert page.evaluate("() => window.__sameDocument === true"), "the page recovered without a reload"

    # Live updates still arrive after the reconnects.
    gateway.run_scenario("sip_inbound_answered_recorded", caller_num="79160000099")
    expect_text(page, ".popup .popup-number", "79160000099")


# A WebSocket that never opens (as behind a proxy that refuses the upgrade).
FAILING_WEBSOCKET = """
window.WebSocket = class {
  constructor() { setTimeout(() => this.onclose && this.onclose({ code: 1006 }), 10); }
  send() {}
  close() {}
};
"""


def test_live_updates_fall_back_to_server_sent_events(
    new_page: Callable[..., Any], gateway: LiveGateway
) -> None:
    page = new_page(init_script=FAILING_WEBSOCKET)
    login(page, gateway, "operator101")
    page.wait_for_selector("#pbx-banner[data-push='open'][data-transport='sse']", state="attached")
    caller = "79160000555"
    gateway.run_scenario("sip_inbound_answered_recorded", caller_num=caller)
    expect_text(page, ".popup .popup-number", caller)
    expect_text(page, "#live-body", caller)
    shot(page, "23_screen_pop_over_sse")


def test_language_switch_is_remembered_and_defaults_to_the_browser(
    new_page: Callable[..., Any], gateway: LiveGateway
) -> None:
    russian = new_page(locale="ru-RU")
    open_panel(russian, gateway)
    expect_text(russian, "#login-title", "^Вход$")
    assert russian.evaluate("document.documentElement.lang") == "ru"
    shot(russian, "21_login_russian_by_browser_language")

    page = new_page(locale="en-US")
    login(page, gateway, "operator101")
    expect_text(page, "#tab-journal", "^Journal$")
    page.select_option("#lang-select", "ru")
    expect_text(page, "#tab-journal", "^Журнал$")
    expect_text(page, "#dial-submit", "^Позвонить$")
    expect_text(page, "#user-info", "оператор")
    shot(page, "22_panel_russian")
    page.reload()
    page.wait_for_selector("#app-view:not([hidden])")
    expect_text(page, "#tab-journal", "^Журнал$")
    assert page.input_value("#lang-select") == "ru"
    page.select_option("#lang-select", "en")
    expect_text(page, "#tab-journal", "^Journal$")
    assert re.search("Live calls", page.text_content("#view-calls") or "")


def test_keyboard_moves_between_tabs(new_page: Callable[..., Any], gateway: LiveGateway) -> None:
    page = new_page()
    login(page, gateway, "supervisor")
    page.focus("#tab-calls")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#view-journal:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "tab-journal"
    page.keyboard.press("End")
    page.wait_for_selector("#view-board:not([hidden])")
    assert page.get_attribute("#tab-board", "aria-selected") == "true"
    page.keyboard.press("Home")
    page.wait_for_selector("#view-calls:not([hidden])")
