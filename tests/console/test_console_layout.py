"""Keyboard navigation and the phone layout of the console, in a real browser."""

from __future__ import annotations

import pytest

from console.console_peers import PHONE, open_console

pytestmark = pytest.mark.browser

PAGES = [
    "/console",
    "/console/queues/email",
    "/console/dlq",
    "/console/dlq/analytics",
    "/console/live",
    "/console/audit",
]


def test_keyboard_shortcuts_move_between_pages_focus_search_and_switch_tabs(console) -> None:
    # Given the Queues page
    page = console.goto("/console")
    # When the owner types g then d, the DLQ page opens
    page.keyboard.press("g")
    page.keyboard.press("d")
    page.wait_for_url("**/console/dlq")
    page.wait_for_load_state("networkidle")
    # When / is pressed, the search box has the focus
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    # When ? is pressed outside a field, the shortcuts dialog opens and Escape closes it
    page.locator("h1").click()
    page.keyboard.press("?")
    page.locator("#shortcuts[open]").wait_for()
    page.keyboard.press("Escape")
    page.locator("#shortcuts").wait_for(state="hidden")
    # When the queue page's state tabs are focused, arrow keys move the selection and load that state
    page.keyboard.press("g")
    page.keyboard.press("q")
    page.wait_for_url("**/console")
    console.goto("/console/queues/email")
    page.focus("#tab-waiting")
    page.keyboard.press("ArrowRight")
    assert page.locator("#tab-active").get_attribute("aria-selected") == "true"
    assert page.evaluate("document.activeElement.id") == "tab-active"
    page.wait_for_load_state("networkidle")
    assert "state=active" in page.url
    # And the skip link is the first stop of the tab order
    console.goto("/console/audit")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    console.assert_clean()


def test_every_page_fits_a_phone_screen(served, browser) -> None:
    # Given a phone-sized browser
    phone = open_console(served(), browser, viewport=PHONE)
    try:
        for path in PAGES:
            # When each page is opened
            page = phone.goto(path)
            # Then nothing but the scrollable tables is wider than the screen
            overflow = page.evaluate(
                """() => [...document.querySelectorAll('body *')]
                    .filter(e => !e.closest('.table-wrap, dialog, .tabs, .feed') && e.checkVisibility())
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                    .map(e => e.tagName + '#' + e.id + '.' + e.className)"""
            )
            assert overflow == [], (path, overflow)
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1, path
        phone.assert_clean()
    finally:
        phone.context.close()
