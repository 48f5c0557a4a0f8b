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
        # Browsers drop tab, LF and CR from a URL: "/<TAB>/host" becomes "//host" (the values are decoded ones)
        ("/\t/127.0.0.1:18931/x", "/console"),
        ("/\n/127.0.0.1:18931/x", "/console"),
        ("/\r/127.0.0.1:18931/x", "/console"),
        ("\t//evil.example", "/console"),
        ("/console\x00", "/console"),
        ("/console/dlq\x7f", "/console"),
        # Encoded once more: still refused once decoded
        ("/%09/evil.example", "/console"),
        ("/%2F/evil.example", "/console"),
        ("/%5Cevil.example", "/console"),
        ("/console/dlq?search=queue%3Aemail%20timed%20out", "/console/dlq?search=queue%3Aemail%20timed%20out"),
    ],
)
def test_only_local_paths_are_followed_after_signing_in(given: str | None, expected: str) -> None:
    # Given a `next` target, when it is checked, then only a path on this site survives
    assert safe_next(given) == expected
