"""The request-body limit: refused with 413 while the body is read, before parsing or authentication."""

from __future__ import annotations

import socket
from collections.abc import Iterator

from api.api_peers import OWNER_EMAIL, OWNER_PASSWORD

LIMIT = 4_096


def assert_too_large(response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 413 and str(LIMIT) in body["detail"]
    assert body["errors"] == [{"field": "body", "reason": f"at most {LIMIT} bytes"}]


def test_a_declared_body_over_the_limit_is_refused_before_sign_in_reads_it(live_api) -> None:
    # Given the API with a 4 KiB body limit
    api = live_api(max_body_bytes=LIMIT)
    client = api.anonymous()
    # When a sign-in body just over the limit is sent (valid JSON: without the limit it would be parsed, 401)
    padded = {"email": OWNER_EMAIL, "password": "x" * (LIMIT + 1)}
    refused = client.post("/auth/login", json=padded)
    # Then it is refused with 413 as problem+json naming the body
    assert_too_large(refused)
    # And a body within the limit is still read and answered
    assert client.post("/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD}).status_code == 200


def test_a_streamed_body_is_cut_off_at_the_limit(live_api) -> None:
    # Given the API with a 4 KiB body limit
    api = live_api(max_body_bytes=LIMIT)

    def chunks() -> Iterator[bytes]:
        yield b'{"email": "owner@example.com", "password": "'
        for _ in range(64):
            yield b"y" * 1_024
        yield b'"}'

    # When a body without Content-Length (chunked) grows past the limit
    refused = api.anonymous().post("/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
    # Then it is refused with 413 too
    assert_too_large(refused)


def test_the_limit_applies_before_authentication(live_api) -> None:
    # Given the API with a 4 KiB body limit
    api = live_api(max_body_bytes=LIMIT)
    # When an anonymous caller posts a large body to an owner route, and the owner does the same
    anonymous = api.anonymous().post("/owner/jobs", json={"name": "email.send", "payload": {"x": "z" * LIMIT}})
    owner = api.owner().post("/owner/jobs", json={"name": "email.send", "payload": {"x": "z" * LIMIT}})
    # Then both are refused for the size, not for missing credentials or a bad payload
    assert_too_large(anonymous)
    assert_too_large(owner)


def test_a_lying_content_length_is_refused_without_waiting_for_the_body(live_api) -> None:
    # Given the API with a 4 KiB body limit and a raw connection
    api = live_api(max_body_bytes=LIMIT)
    host, port = api.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        # When the request head declares 400 MB and no byte of the body follows
        head = (
            f"POST /auth/login HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            "Content-Length: 400000000\r\n\r\n"
        )
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4_096)
            assert chunk, answer
            answer += chunk
    # Then the answer is a 413 at once (the server did not wait for 400 MB)
    assert answer.startswith(b"HTTP/1.1 413"), answer
