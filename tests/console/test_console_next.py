"""Where the sign-in page may send the browser afterwards: local paths only."""

from __future__ import annotations

import pytest

from corral.console.pages import safe_next


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/console/dlq?queue=email", "/console/dlq?queue=email"),
        ("/console/queues/email", "/console/queues/email"),
        (None, "/console"),
        ("", "/console"),
        ("https://evil.example/", "/console"),
        ("//evil.example/path", "/console"),
        ("/\\evil.example", "/console"),
        ("javascript:alert(1)", "/console"),
    ],
)
def test_only_local_paths_are_followed_after_signing_in(given: str | None, expected: str) -> None:
    # Given a `next` target, when it is checked, then only a path on this site survives
    assert safe_next(given) == expected
