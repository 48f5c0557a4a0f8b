"""The API documentation page runs in a real browser under its Content-Security-Policy."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_swagger_ui_runs_under_the_policy_and_the_policy_blocks_inline_script(console) -> None:
    # Given a signed-in owner's browser
    # When the documentation page is opened
    page = console.goto("/docs")
    # Then Swagger UI's own scripts ran (it drew its interface) and the policy refused nothing they need
    page.locator("#swagger-ui .swagger-ui").wait_for()
    violations = [text for text in console.console_errors if "Content Security Policy" in text]
    assert violations == []
    # And an inline script, as an injection would add, is refused by the policy
    ran = page.evaluate(
        """() => new Promise((resolve) => {
            window.injected = false;
            document.addEventListener("securitypolicyviolation", () => resolve("blocked"), { once: true });
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.appendChild(script);
            setTimeout(() => resolve(window.injected ? "ran" : "blocked"), 2000);
        })"""
    )
    assert ran == "blocked"
