"""Signing in and out of the console in a real browser, and the guard on its pages."""

from __future__ import annotations

import re

import httpx
import pytest

from api.api_peers import OWNER_EMAIL, OWNER_PASSWORD
from console.console_peers import open_console

pytestmark = pytest.mark.browser


def test_an_anonymous_browser_is_sent_to_login_and_back_after_signing_in(served, browser) -> None:
    # Given a browser that has not signed in
    api = served()
    console = open_console(api, browser, sign_in=False)
    try:
        page = console.page
        # When it opens a queue's page
        page.goto(console.url("/console/queues/email?state=failed"))
        # Then it lands on the sign-in form, which remembers where it was going
        assert re.search(r"/login\?next=%2Fconsole%2Fqueues%2Femail%3Fstate%3Dfailed$", page.url)
        # When a wrong password is typed, the API's refusal is shown and the browser stays on the form
        page.fill("#email", OWNER_EMAIL)
        page.fill("#password", "not the password")
        page.click("button[type=submit]")
        error = page.locator("#login-error")
        error.wait_for(state="visible")
        assert "email or password is wrong" in error.inner_text()
        # When the right password is typed
        page.fill("#password", OWNER_PASSWORD)
        page.click("button[type=submit]")
        # Then it is taken to the page it asked for, signed in
        page.wait_for_url("**/console/queues/email?state=failed")
        assert page.locator(".actor").inner_text() == OWNER_EMAIL
        assert page.locator("#tab-failed").get_attribute("aria-selected") == "true"
        # When it signs out
        page.click("#sign-out")
        page.wait_for_url("**/login")
        # Then the console's pages send it to the sign-in form again
        page.goto(console.url("/console/audit"))
        assert "/login?next=%2Fconsole%2Faudit" in page.url
    finally:
        console.context.close()


def test_the_login_page_never_redirects_to_another_site(served, browser) -> None:
    # Given the sign-in form asked to go to another site afterwards
    api = served()
    console = open_console(api, browser, sign_in=False)
    try:
        page = console.page
        page.goto(console.url("/login?next=//evil.example/steal"))
        page.fill("#email", OWNER_EMAIL)
        page.fill("#password", OWNER_PASSWORD)
        # When the owner signs in
        page.click("button[type=submit]")
        # Then the browser stays on this site's console
        page.wait_for_url(f"{api.base}/console")
    finally:
        console.context.close()


@pytest.mark.parametrize("control", ["%09", "%0A", "%0D"])
def test_a_control_character_in_next_cannot_lead_to_another_origin(served, browser, control) -> None:
    # Given the sign-in form asked to go to "/<control>/localhost:<port>/x": a browser drops the control character,
    # which would leave "//localhost:<port>/x", another origin than this 127.0.0.1 site
    api = served()
    port = api.base.rsplit(":", 1)[1]
    console = open_console(api, browser, sign_in=False)
    try:
        page = console.page
        page.goto(console.url(f"/login?next=/{control}/localhost:{port}/x"))
        page.fill("#email", OWNER_EMAIL)
        page.fill("#password", OWNER_PASSWORD)
        # When the owner signs in
        page.click("button[type=submit]")
        # Then the browser stays on this origin's console
        page.wait_for_url(f"{api.base}/console")
        assert page.locator(".actor").inner_text() == OWNER_EMAIL
    finally:
        console.context.close()


def test_the_page_itself_keeps_next_on_this_origin(served, browser) -> None:
    # Given the sign-in page's own rule, as the browser runs it
    api = served()
    console = open_console(api, browser, sign_in=False)
    try:
        page = console.page
        page.goto(console.url("/login"))
        check = "(value) => import('/console/static/js/next.js').then((module) => module.safeNext(value))"
        # When values that the server would refuse reach it anyway (decoded, as the page reads them)
        refused = [
            "/\t/localhost:1/x",
            "/\n/localhost:1/x",
            "/\r/localhost:1/x",
            "//localhost:1/x",
            "/\\localhost:1/x",
            "https://localhost:1/x",
            "/%09/localhost:1/x",
        ]
        # Then each becomes the console's first page, and a local path is kept
        assert [page.evaluate(check, value) for value in refused] == ["/console"] * len(refused)
        assert page.evaluate(check, "/console/dlq?queue=email#top") == "/console/dlq?queue=email#top"
    finally:
        console.context.close()


def test_pages_answer_api_clients_with_problems_and_browsers_with_pages(served) -> None:
    # Given the served console
    api = served()
    with httpx.Client(base_url=api.base) as anonymous:
        # When an API client (no text/html in Accept) asks for a page without credentials: a 401 problem
        plain = anonymous.get("/console")
        assert plain.status_code == 401
        assert plain.headers["content-type"].startswith("application/problem+json")
        # When a browser does: a redirect to the sign-in form
        browsing = anonymous.get("/console/dlq?x=1", headers={"Accept": "text/html"})
        assert browsing.status_code == 303
        assert browsing.headers["location"] == "/login?next=%2Fconsole%2Fdlq%3Fx%3D1"
        # And the sign-in form is served with a Content-Security-Policy that forbids inline scripts
        login = anonymous.get("/login")
        policy = login.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    # When a signed-in non-owner's browser asks for a page: an HTML 403 page, not the console
    viewer = api.client(headers={"Authorization": f"Bearer {api.viewer_token}", "Accept": "text/html"})
    refused = viewer.get("/console")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "Not allowed" in refused.text
    # And an owner gets the page with the same policy
    page = api.client(headers={"Authorization": f"Bearer {api.owner_token}", "Accept": "text/html"}).get("/console")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text
